"""`vrt serve` end to end: a real server process on a free local port, its JSON API, and its page
driven in headless Chromium (Debian's package; .ci/run installs it) through Playwright: upload a
real video, see its results. The server is stopped with Ctrl-C and must leave nothing behind."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    index: Path


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
         str(encoder_checkpoint), "--videos", str(footage), "--port", str(port), "--max-upload-mb", str(MAX_UPLOAD_MB),
         "--max-pending-uploads", "1"],
        cwd=cwd,
        env={**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(process, url)
    yield Server(url, process, footage, tmpdir, cwd, work / "db.index.npz")
    if process.poll() is None:  # a test failed before stopping it
        process.kill()
        process.communicate()


@contextmanager
def chromium_page(url: str) -> Iterator[Any]:
    """A page of headless Chromium (Debian's, through Playwright) opened at ``url``; closed after."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url)
            yield page
        finally:
            browser.close()


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
    matches = httpx.get(f"{server.url}/api/items", params={"contains": "CLIP0"}).json()
    assert matches["total"] == 2 and matches["ids"] == ["street/clip0 copy.mp4", "street/clip0.mp4"]


def test_the_json_api_explains_what_it_refuses(server):
    unknown = httpx.get(f"{server.url}/api/search", params={"id": "park/clip9.mp4"})
    assert unknown.status_code == 404 and "'park/clip9.mp4' is not in the index" in unknown.json()["detail"]
    bad_k = httpx.get(f"{server.url}/api/search", params={"id": "park/clip2.mp4", "k": 0})
    # Before: pydantic's list of dictionaries, not the documented {"detail": "..."}.
    assert bad_k.status_code == 422
    assert bad_k.json() == {"detail": "k: Input should be greater than or equal to 1 (got '0')"}
    no_id = httpx.get(f"{server.url}/api/search")
    assert no_id.status_code == 422 and no_id.json() == {"detail": "id: Field required"}

    text = upload(server, "notes.txt", b"shopping list")
    assert text.status_code == 415 and "'notes.txt' is not a video file" in text.json()["detail"]
    fake = upload(server, "fake.mp4", b"\x00\x00\x00\x18ftypmp42 and nothing else")
    assert fake.status_code == 415 and "'fake.mp4' is not a readable video" in fake.json()["detail"]
    large = upload(server, "large.mp4", b"\x00" * (MAX_UPLOAD_MB * 2**20 + 1))
    assert large.status_code == 413 and "larger than this server accepts (1 MiB" in large.json()["detail"]
    for outside in ("../../etc/passwd", "/etc/passwd", "park/../../clip.mp4"):
        assert httpx.get(f"{server.url}/api/thumbnail", params={"id": outside}).status_code == 404


def test_answers_on_a_kept_alive_connection_are_not_held_back(server):
    """Before: every answer on a kept-alive connection waited 40 ms for the client's delayed ACK
    (the listening socket's proto was 0, so asyncio never set TCP_NODELAY on its connections)."""
    from vrt.cli.serve import _listening_socket

    with _listening_socket("127.0.0.1", 0, shown="127.0.0.1") as listening:
        assert listening.proto == socket.IPPROTO_TCP
    with httpx.Client() as client:
        seconds = []
        for _ in range(10):
            started = time.perf_counter()
            assert client.get(f"{server.url}/api/info").status_code == 200
            seconds.append(time.perf_counter() - started)
    assert sorted(seconds)[5] < 0.03, seconds


def _start_upload(server: Server, size: int) -> socket.socket:
    """A client that announces an upload of ``size`` bytes, sends a little of it and waits."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)))
    head = (
        "POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {size}\r\n\r\n--b\r\nContent-Disposition: form-data; name=file; "
        'filename="slow.mp4"\r\nContent-Type: video/mp4\r\n\r\n'
    )
    connection.sendall(head.encode() + b"\0" * 4096)
    return connection


def test_uploads_beyond_the_queue_get_503_and_a_client_gone_mid_upload_leaves_nothing(server):
    """The server was started with --max-pending-uploads 1: a slow upload holds the one place."""
    video = (server.footage / "park" / "clip2.mp4").read_bytes()
    slow = _start_upload(server, 600_000)
    try:
        deadline = time.monotonic() + 30
        while (busy := upload(server, "clip2.mp4", video)).status_code == 200:  # until admitted
            assert time.monotonic() < deadline, "the slow upload was never admitted"
            time.sleep(0.1)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
        assert busy.json()["detail"].startswith("the server is busy: 1 uploads are already being received")
        by_id = httpx.get(f"{server.url}/api/search", params={"id": "park/clip2.mp4", "k": 3})
        assert by_id.status_code == 200  # searches by id are not queued behind uploads
    finally:
        slow.close()  # gone mid-upload
    deadline = time.monotonic() + 30
    while (after := upload(server, "clip2.mp4", video)).status_code == 503:
        assert time.monotonic() < deadline, "the place of the client that went away was not freed"
        time.sleep(0.1)
    assert after.status_code == 200, after.text
    assert [path for path in server.tmpdir.rglob("*") if not path.is_dir()] == []


def test_a_server_reads_no_frame_through_a_link_out_of_its_folder(footage, tmp_path):
    """A video, or a frame of a frame folder, that is a link leading out of the root is not read
    by a server's thumbnails (links_out=False); a report page's may follow it."""
    from vrt.io.video import iter_video_frames
    from vrt.reporting.thumbnails import video_thumbnails

    root, outside = tmp_path / "videos", tmp_path / "outside"
    (root / "frames").mkdir(parents=True)
    outside.mkdir()
    frame = next(iter_video_frames(footage / "park" / "clip2.mp4"))[1].to_image()
    frame.save(outside / "00001.jpg")
    (root / "frames" / "00001.jpg").symlink_to(outside / "00001.jpg")
    (root / "clip.mp4").symlink_to(footage / "park" / "clip2.mp4")
    (root / "inside.mp4").symlink_to(root / "clip.mp4")  # inside, but leading on out
    server, page = (
        video_thumbnails([root], num_frames=1, links_out=False),
        video_thumbnails([root], num_frames=1),
    )
    for item_id in ("frames", "clip.mp4", "inside.mp4"):
        with pytest.raises(KeyError):
            server(item_id)
        assert page(item_id)[0].ndim == 3


def test_thumbnails_never_read_outside_the_videos_folder_through_links(server, encoder_checkpoint, tmp_path):
    """An indexed id whose file is a link out of --videos gets no thumbnail; a link inside does."""
    from fastapi.testclient import TestClient

    from vrt.serve.app import create_app
    from vrt.serve.service import SearchService

    videos = tmp_path / "videos"
    shutil.copytree(server.footage, videos)
    (tmp_path / "outside.mp4").write_bytes((videos / "more" / "clip4.mp4").read_bytes())
    (videos / "more" / "clip4.mp4").unlink()
    (videos / "more" / "clip4.mp4").symlink_to(tmp_path / "outside.mp4")
    (videos / "park" / "clip2.mp4").unlink()
    (videos / "park" / "clip2.mp4").symlink_to(videos / "park" / "clip3.mp4")
    service = SearchService.open(server.index, encoder_checkpoint, videos=videos)
    with TestClient(create_app(service)) as client:
        assert client.get("/api/thumbnail", params={"id": "more/clip4.mp4"}).status_code == 404
        assert client.get("/api/thumbnail", params={"id": "park/clip2.mp4"}).status_code == 200
        assert client.get("/api/thumbnail", params={"id": "street/clip1.mp4"}).status_code == 200


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)"
)
def test_the_page_uploads_a_video_and_shows_its_results_in_headless_chromium(server, tmp_path):
    with chromium_page(server.url) as page:
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
    assert (tmp_path / "serve.png").stat().st_size > 10_000


def test_the_api_pages_and_filters_the_collection_and_previews_clips(server):
    every = httpx.get(f"{server.url}/api/items", params={"limit": 3, "offset": 2}).json()
    assert every["total"] == 7 and every["offset"] == 2 and len(every["items"]) == 3
    assert every["ids"] == [item["id"] for item in every["items"]]
    park = httpx.get(f"{server.url}/api/items", params={"class_name": "park"}).json()
    assert park["ids"] == ["park/clip2.mp4", "park/clip3.mp4"]
    assert park["items"][0] == {
        "id": "park/clip2.mp4", "label": 1, "class_name": "park",
        "thumbnail": "/api/thumbnail?id=park%2Fclip2.mp4",
    }  # fmt: skip
    assert httpx.get(f"{server.url}/api/items", params={"class_name": "nowhere"}).json()["total"] == 0
    assert httpx.get(f"{server.url}/api/info").json()["class_names"] == ["more", "park", "street"]
    frames = [
        httpx.get(f"{server.url}/api/preview", params={"id": "street/clip1.mp4", "frame": f})
        for f in range(4)
    ]
    assert all(f.status_code == 200 and f.content[:3] == b"\xff\xd8\xff" for f in frames)
    assert len({f.content for f in frames}) == 4  # four moments of the clip, not one frame four times
    beyond = httpx.get(f"{server.url}/api/preview", params={"id": "street/clip1.mp4", "frame": 4})
    assert beyond.status_code == 422 and beyond.json()["detail"].startswith(
        "frame: Input should be less than 4"
    )
    assert httpx.get(f"{server.url}/api/preview", params={"id": "../clip1.mp4"}).status_code == 404


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)"
)
def test_the_page_shows_the_collection_and_searches_from_any_tile_with_the_query_in_the_address(server):
    """Before: the page showed a file picker and an empty box, nothing of the collection."""
    tiles = "els => els.map(t => t.dataset.id)"
    with chromium_page(server.url) as page:
        page.wait_for_selector("body[data-grid=ready][data-view=collection]")
        assert len(page.eval_on_selector_all("#collection li.tile", tiles)) == 7
        assert page.text_content("#page-info") == "1-7 of 7"
        page.wait_for_function("document.querySelectorAll('#class option').length === 4")
        page.select_option("#class", "park")
        page.wait_for_function("document.querySelectorAll('#collection li.tile').length === 2")
        page.fill("#filter", "CLIP3")
        page.wait_for_function("document.querySelectorAll('#collection li.tile').length === 1")
        page.click("#collection li.tile button.more")  # more like this, one click
        page.wait_for_selector("body[data-state=done][data-view=results]")
        assert page.url == f"{server.url}/?id=park%2Fclip3.mp4&k=10"
        assert page.get_attribute("#query", "data-query-id") == "park/clip3.mp4"
        assert len(page.eval_on_selector_all("#results li.tile", tiles)) == 7

        page.click("#results li.tile[data-id='street/clip1.mp4'] img")  # a result's frame: its search
        page.wait_for_function("document.querySelector('#query').dataset.queryId === 'street/clip1.mp4'")
        assert page.url == f"{server.url}/?id=street%2Fclip1.mp4&k=10"
        page.hover("#results li.tile[data-id='park/clip2.mp4'] img")  # a preview of its clip
        hovered = "document.querySelector(`#results li.tile[data-id='park/clip2.mp4'] img`)"
        page.wait_for_function(
            f"(i => i.dataset.preview !== undefined && i.src.includes('/api/preview') && i.complete"
            f" && i.naturalWidth > 0)({hovered})"
        )
        page.go_back()  # the browser's history holds the searches
        page.wait_for_function("document.querySelector('#query').dataset.queryId === 'park/clip3.mp4'")

        page.goto(f"{server.url}/?id=street%2Fclip0.mp4&k=3")  # a shared address: the same search
        page.wait_for_selector("body[data-state=done][data-view=results]")
        assert len(page.eval_on_selector_all("#results li.tile", tiles)) == 3
        assert page.input_value("#k") == "3"
        page.click("#browse")
        page.wait_for_selector("body[data-view=collection][data-grid=ready]")
        assert page.url == f"{server.url}/"


# Last: it stops the module's server.
def test_ctrl_c_stops_the_server_cleanly_and_it_wrote_nothing_outside_a_temporary_folder(server):
    server.process.send_signal(signal.SIGINT)
    _, stderr = server.process.communicate(timeout=60)
    assert server.process.returncode == 0, stderr
    assert f"at {server.url}/" in stderr and "warning" not in stderr  # localhost: no warning
    assert list(server.cwd.iterdir()) == [] and list(server.tmpdir.iterdir()) == []
