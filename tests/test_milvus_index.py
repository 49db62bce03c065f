"""Milvus as the index backend, against milvus-lite (a local file): build, add, replace, remove,
search and serve give what a flat faiss index file gives, ties included."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from vrt.cli import app
from vrt.codes import CodeSet, EncoderIdentity, save_codes

from .conftest import REPO_ROOT
from .served import free_port, wait_until_serving
from .video_collection import encode_args

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

cli = CliRunner()
MODEL = EncoderIdentity(checkpoint_sha256="ab" * 32, bits=16)
NAMES = ["walk", "run", "jump"]


def vrt(*args: object) -> str:
    result = cli.invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def codes(ids: list[str], *, seed: int) -> CodeSet:
    """16-bit codes of a few centres: many items tie at every distance."""
    rng = np.random.default_rng(seed)
    centres = rng.random((3, 16)) < 0.5
    labels = rng.integers(0, 3, len(ids))
    bits = centres[labels] ^ (rng.random((len(ids), 16)) < 0.1)
    return CodeSet.from_bits(bits, labels=labels, ids=ids, class_names=NAMES, encoder=MODEL)


def results(index: object, *queries: str, topk: int = 10, extra: tuple[str, ...] = ()) -> list:
    options = [item for query in queries for item in ("--query", query)]
    return json.loads(
        vrt("search", "--index", index, *options, "--topk", topk, "--json", *extra).splitlines()[-1]
    )


def test_a_milvus_index_round_trips_every_edit_and_searches_like_a_flat_index(tmp_path):
    milvus, flat = f"milvus://{tmp_path}/vectors.db/videos", tmp_path / "flat.index.npz"
    save_codes(tmp_path / "db.npz", codes([f"v{i}" for i in range(300)], seed=0))
    save_codes(tmp_path / "queries.npz", codes([f"q{i}" for i in range(20)], seed=1))
    save_codes(tmp_path / "more.npz", codes([f"w{i}" for i in range(40)], seed=2))
    save_codes(tmp_path / "again.npz", codes(["v3", "v4", "w0"], seed=3))
    (tmp_path / "gone.txt").write_text("v7\nw5\nv0\n")

    def same_everywhere() -> None:
        assert results(milvus, str(tmp_path / "queries.npz")) == results(flat, str(tmp_path / "queries.npz"))
        for query in ("v3", "v250"):  # indexed throughout (v3 replaced in place)
            for exclude in ((), ("--exclude-self",)):
                assert results(milvus, query, topk=25, extra=exclude) == results(
                    flat, query, topk=25, extra=exclude
                )

    vrt("index", "build", "--codes", tmp_path / "db.npz", "--out", milvus)
    vrt("index", "build", "--codes", tmp_path / "db.npz", "--out", flat)
    same_everywhere()
    again = cli.invoke(app, ["index", "build", "--codes", str(tmp_path / "db.npz"), "--out", milvus])
    assert again.exit_code != 0 and "already exists: pass --force" in str(again.exception)

    for edit in (
        ("add", "--codes", tmp_path / "more.npz"),
        ("add", "--codes", tmp_path / "again.npz", "--replace"),
        ("remove", "--ids", tmp_path / "gone.txt"),
    ):
        vrt("index", edit[0], "--index", milvus, *edit[1:])
        vrt("index", edit[0], "--index", flat, *edit[1:])
        same_everywhere()

    info = json.loads(vrt("index", "info", milvus))
    assert (info["kind"], info["count"], info["collection"]) == ("milvus", 337, "videos")
    assert info["items"]["classes"] == 3 and info["encoder"]["checkpoint_sha256"] == "ab" * 32
    from vrt.index import load_index

    reopened, file_index = load_index(milvus), load_index(flat)
    assert reopened.ids.tolist() == file_index.ids.tolist()  # database order survives the edits
    np.testing.assert_array_equal(reopened.codes, file_index.codes)
    np.testing.assert_array_equal(reopened.labels, file_index.labels)
    assert reopened.exact and reopened.class_names == NAMES

    replaced = cli.invoke(
        app, ["index", "build", "--codes", str(tmp_path / "db.npz"), "--out", milvus, "--force"]
    )
    assert replaced.exit_code == 0, replaced.output
    assert json.loads(vrt("index", "info", milvus))["count"] == 300


def test_malformed_milvus_references_say_what_to_write(tmp_path):
    for reference, message in (
        ("milvus://vectors.db", "write milvus://FILE.db/COLLECTION"),
        ("milvus://vectors.db/9lives", "'9lives' is no Milvus collection name"),
    ):
        result = cli.invoke(app, ["search", "--index", reference, "--query", "x"])
        assert result.exit_code == 1 and message in str(result.exception)
    missing = cli.invoke(app, ["search", "--index", f"milvus://{tmp_path}/none.db/videos", "--query", "x"])
    assert "no such collection" in str(missing.exception)


@pytest.mark.slow
def test_vrt_serve_searches_a_milvus_index_like_a_flat_one(footage, encoder_checkpoint, tmp_path):
    import httpx

    milvus, flat = f"milvus://{tmp_path}/vectors.db/clips", tmp_path / "flat.index.npz"
    vrt(*encode_args(encoder_checkpoint, footage, tmp_path / "c.npz"))
    vrt("index", "build", "--codes", tmp_path / "c.npz", "--out", flat)
    # Built in a process of its own: milvus-lite lets one process open the file at a time.
    built = subprocess.run(
        [sys.executable, "-m", "vrt", "index", "build", "--codes", str(tmp_path / "c.npz"), "--out", milvus],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )  # fmt: skip
    assert built.returncode == 0 and "Wrote 7 codes" in built.stderr, built.stderr
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "vrt", "serve", "--index", milvus, "--checkpoint", str(encoder_checkpoint),
         "--videos", str(footage), "--port", str(port)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, url)
        assert httpx.get(f"{url}/api/info").json()["kind"] == "milvus"
        served = httpx.get(f"{url}/api/search", params={"id": "park/clip2.mp4", "k": 7}).json()["results"]
        expected = results(flat, "park/clip2.mp4", topk=7)[0]
        assert [(row["id"], row["distance"]) for row in served] == [
            (row["id"], row["distance"]) for row in expected
        ]
        video = footage / "street" / "clip1.mp4"
        uploaded = httpx.post(
            f"{url}/api/search",
            params={"k": 7},
            files={"file": ("clip.mp4", video.read_bytes())},
            timeout=120,
        ).json()["results"]
        by_file = results(flat, str(video), topk=7, extra=("--checkpoint", str(encoder_checkpoint)))[0]
        assert [(row["id"], row["distance"]) for row in uploaded] == [
            (row["id"], row["distance"]) for row in by_file
        ]
    finally:
        process.terminate()
        process.communicate(timeout=60)
