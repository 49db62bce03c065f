"""`vrt serve` end to end: a real server process on a free local port, its JSON API, and its page
driven in headless Chromium (Debian's package; .ci/run installs it) through Playwright: upload a
real video, see its results. The server is stopped with Ctrl-C and must leave nothing behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vrt.cli import app

from .conftest import REPO_ROOT
from .served import free_port, wait_until_serving
from .video_collection import encode_args

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MAX_UPLOAD_MB = 1


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    footage: Path
    tmpdir: Path  # the server's TMPDIR
    cwd: Path  # its working directory


@pytest.fixture(scope="module")
def server(footage, encoder_checkpoint, tmp_path_factory) -> Server:
    work = tmp_path_factory.mktemp("serve")
    cli = CliRunner()
    for args in (
        encode_args(encoder_checkpoint, footage, work / "c.npz"),
        ["index", "build", "--codes", work / "c.npz", "--out", work / "db.index.npz"],
    ):
        result = cli.invoke(app, [str(arg) for arg in args])
        assert result.exit_code == 0, result.output
    tmpdir, cwd = work / "tmp", work / "cwd"
    tmpdir.mkdir()
    cwd.mkdir()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "vrt", "serve", "--index", str(work / "db.index.npz"), "--checkpoint",
         str(encoder_checkpoint), "--videos", str(footage), "--port", str(port), "--max-upload-mb", str(MAX_UPLOAD_MB)],
        cwd=cwd,
        env={**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(process, url)
    yield Server(url, process, footage, tmpdir, cwd)
    if process.poll() is None:  # a test failed before stopping it
        process.kill()
        process.communicate()


def upload(server: Server, name: str, content: bytes, k: int = 10) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/search", params={"k": k}, files={"file": (name, content)}, timeout=120
    )


def test_the_json_api_searches_by_id_and_by_uploaded_video(server):
    info = httpx.get(f"{server.url}/api/info").json()
    assert info["items"] == 7 and info["bits"] == 32 and info["labelled"] == 7 and info["thumbnails"]

    by_id = httpx.get(f"{server.url}/api/search", params={"id": "park/clip2.mp4", "k": 3}).json()
    assert by_id["query"] == {**by_id["query"], "id": "park/clip2.mp4", "class_name": "park"}
    assert len(by_id["results"]) == 3 and by_id["results"][0]["distance"] == 0
    assert "park/clip2.mp4" in [row["id"] for row in by_id["results"] if row["distance"] == 0]

    copy = (server.footage / "street" / "clip0 copy.mp4").read_bytes()
    found = upload(server, "holiday clip.mp4", copy, k=7)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["query"]["id"] == "holiday clip.mp4" and body["query"]["label"] == -1
    assert body["query"]["thumbnail"].startswith("data:image/jpeg;base64,")
    distances = {row["id"]: row["distance"] for row in body["results"]}
    assert (
        distances["street/clip0.mp4"] == 0 and distances["street/clip0 copy.mp4"] == 0 and len(distances) == 7
    )

    picture = httpx.get(server.url + body["results"][0]["thumbnail"])
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    assert picture.content[:3] == b"\xff\xd8\xff"
    assert httpx.get(f"{server.url}/api/items", params={"contains": "CLIP0"}).json() == {
        "total": 2, "ids": ["street/clip0 copy.mp4", "street/clip0.mp4"],
    }  # fmt: skip


def test_the_json_api_explains_what_it_refuses(server):
    unknown = httpx.get(f"{server.url}/api/search", params={"id": "park/clip9.mp4"})
    assert unknown.status_code == 404 and "'park/clip9.mp4' is not in the index" in unknown.json()["detail"]
    assert httpx.get(f"{server.url}/api/search", params={"id": "park/clip2.mp4", "k": 0}).status_code == 422

    text = upload(server, "notes.txt", b"shopping list")
    assert text.status_code == 415 and "'notes.txt' is not a video file" in text.json()["detail"]
    fake = upload(server, "fake.mp4", b"\x00\x00\x00\x18ftypmp42 and nothing else")
    assert fake.status_code == 415 and "'fake.mp4' is not a readable video" in fake.json()["detail"]
    large = upload(server, "large.mp4", b"\x00" * (MAX_UPLOAD_MB * 2**20 + 1))
    assert large.status_code == 413 and "larger than this server accepts (1 MiB" in large.json()["detail"]
    assert httpx.get(f"{server.url}/api/thumbnail", params={"id": "../../etc/passwd"}).status_code == 404


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)"
)
def test_the_page_uploads_a_video_and_shows_its_results_in_headless_chromium(server, tmp_path):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(server.url)
            page.wait_for_selector("body[data-state=idle]")
            page.wait_for_function("document.getElementById('info').textContent.includes('7 items')")

            page.set_input_files("#file", str(server.footage / "street" / "clip0 copy.mp4"))
            page.click("#upload-button")
            page.wait_for_selector("body[data-state=done]", timeout=120_000)
            tiles = page.eval_on_selector_all(
                "#results li.tile", "tiles => tiles.map(t => [t.dataset.id, Number(t.dataset.distance)])"
            )
            assert len(tiles) == 7 and ["street/clip0.mp4", 0] in tiles
            assert page.text_content("#query .query-id") == "clip0 copy.mp4"
            page.wait_for_function(
                "[...document.images].length === 8 && [...document.images].every(i => i.complete && i.naturalWidth > 0)"
            )  # the query's frame and a thumbnail per result
            page.screenshot(path=str(tmp_path / "serve.png"), full_page=True)

            page.fill("#item", "park/clip3.mp4")
            page.click("#pick-button")
            page.wait_for_function("document.querySelector('#query').dataset.queryId === 'park/clip3.mp4'")
            first = page.eval_on_selector("#results li.tile", "t => [t.dataset.distance, t.className]")
            assert first[0] == "0" and first[1] in ("tile correct", "tile wrong")  # labelled: judged

            page.set_input_files("#file", {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"})
            page.click("#upload-button")
            page.wait_for_selector("body[data-state=error]")
            assert "is not a video file" in page.text_content("#error")
        finally:
            browser.close()
    assert (tmp_path / "serve.png").stat().st_size > 10_000


def test_ctrl_c_stops_the_server_cleanly_and_it_wrote_nothing_outside_a_temporary_folder(server):
    server.process.send_signal(signal.SIGINT)
    _, stderr = server.process.communicate(timeout=60)
    assert server.process.returncode == 0, stderr
    assert f"at {server.url}/" in stderr and "warning" not in stderr  # localhost: no warning
    assert list(server.cwd.iterdir()) == [] and list(server.tmpdir.iterdir()) == []
