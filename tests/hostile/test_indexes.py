"""Hostile index files and index commands: absurd parameters, crafted faiss structures, foreign outputs.

An index file's faiss structure is checked against its manifest and codes before faiss reads
it (faiss allocates whatever length a file declares); test_index.py tests the indexes themselves.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from tests.hostile.helpers import assert_one_line_error, digest, snapshot, unchanged, vrt

pytestmark = pytest.mark.slow


@pytest.fixture
def index_file(codes_pair, tmp_path) -> Path:
    def build(kind: str = "flat") -> Path:
        out = tmp_path / f"{kind}.index.npz"
        result = vrt("index", "build", "--codes", codes_pair[1], "--out", out, "--kind", kind)
        assert result.code == 0, result.stderr
        return out

    return build


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--kind", "multihash", "--hash-bits", "0"], "multihash hash_bits must lie in [1, 64], got 0"),
        (["--kind", "multihash", "--hash-bits", "65"], "multihash hash_bits must lie in [1, 64], got 65"),
        (["--kind", "multihash", "--nhash", "0"], "multihash needs 1 <= nhash"),
        (["--kind", "hnsw", "--ef-search", "1000000000"], "hnsw ef_search must lie in [1, 65536]"),
        (["--kind", "hnsw", "--hnsw-m", "1"], "hnsw m must lie in [2, 1024], got 1"),
    ],
    ids=["hash-bits-0", "hash-bits-65", "nhash-0", "ef-search-huge", "m-1"],
)
def test_absurd_index_parameters_are_one_line(codes_pair, tmp_path, options, expected):
    out = tmp_path / "db.index.npz"
    assert_one_line_error(vrt("index", "build", "--codes", codes_pair[1], "--out", out, *options), expected)
    assert not out.exists()


@pytest.mark.parametrize("target", ["empty", "blank", "folder", "user-file", "codes-file"])
def test_index_build_never_replaces_what_is_not_an_index(codes_pair, tmp_path, target):
    out = {"empty": "", "blank": "   ", "folder": tmp_path / "folder"}.get(target, tmp_path / "out.npz")
    expected = {
        "empty": "--out is empty ('')",
        "blank": "--out is empty ('   ')",
        "folder": f"--out {out} is a folder; an index file is written to a file",
        "user-file": f"--out {out} exists and is not an index file; vrt replaces only an index file there",
        "codes-file": f"--out {out} exists and is not an index file",
    }[target]
    if target == "folder":
        (tmp_path / "folder").mkdir()
    elif target == "user-file":
        (tmp_path / "out.npz").write_text("my notes\n")
    elif target == "codes-file":
        (tmp_path / "out.npz").write_bytes(codes_pair[0].read_bytes())
    before = snapshot(tmp_path)
    assert_one_line_error(vrt("index", "build", "--codes", codes_pair[1], "--out", out), expected)
    assert snapshot(tmp_path) == before


def test_index_build_replaces_an_index_and_with_force_anything(codes_pair, tmp_path, index_file):
    flat = index_file("flat")  # the 30 items of db.npz
    assert (
        vrt("index", "build", "--codes", codes_pair[1], "--out", flat).code == 0
    )  # the same items: replaced
    before = snapshot(tmp_path)
    assert_one_line_error(
        vrt("index", "build", "--codes", codes_pair[0], "--out", flat),
        f"--out {flat} is an index of 30 items, 24 of which the new one lacks (the new one has 6): pass --force",
    )  # an index grown by `index add`, rebuilt from an older codes file, would lose items silently
    assert snapshot(tmp_path) == before
    result = vrt("index", "build", "--codes", codes_pair[0], "--out", flat, "--force")
    assert result.code == 0 and json.loads(vrt("index", "info", flat).stdout)["count"] == 6
    notes = tmp_path / "notes.npz"
    notes.write_text("my notes\n")
    assert vrt("index", "build", "--codes", codes_pair[0], "--out", notes, "--force").code == 0
    assert json.loads(vrt("index", "info", notes).stdout)["count"] == 6


def rewrite(path: Path, **changes: np.ndarray) -> Path:
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays.update(changes)
    with path.open("wb") as handle:
        np.savez(handle, **arrays)
    return path


def blob_of(path: Path) -> bytearray:
    with np.load(path) as archive:
        return bytearray(archive["faiss_index"].tobytes())


def tamper(path: Path, kind: str) -> None:
    blob = blob_of(path)
    if kind == "huge-vector":  # the codes vector of a flat index claims 2**38 bytes
        at = 4 + 4 + 4 + 8 + 1 + 4
        blob[at : at + 8] = struct.pack("<Q", 1 << 38)
        rewrite(path, faiss_index=np.frombuffer(bytes(blob), np.uint8))
    elif kind == "hnsw-neighbour":  # an HNSW neighbour id far beyond the 30 codes
        tail = blob.rindex(b"IBxF")  # the storage index follows the graph and its five int32 fields
        neighbours_end = tail - 5 * 4
        blob[neighbours_end - 4 : neighbours_end] = struct.pack("<i", 10**6)
        rewrite(path, faiss_index=np.frombuffer(bytes(blob), np.uint8))
    elif kind == "wrong-structure":
        other = blob_of(path.with_name("hnsw.index.npz"))
        rewrite(path, faiss_index=np.frombuffer(bytes(other), np.uint8))
    elif kind == "count":
        manifest = json.loads(str(np.load(path)["manifest"][()]))
        rewrite(path, manifest=np.asarray(json.dumps(manifest | {"count": 10**9})))
    elif kind == "manifest-not-json":
        rewrite(path, manifest=np.asarray("{not json"))
    elif kind == "trailing-bytes":
        rewrite(path, faiss_index=np.frombuffer(bytes(blob) + b"\0" * 16, np.uint8))


TAMPERED = {
    "huge-vector": "the faiss index is damaged or crafted: a vector at byte 25 declares 274,877,906,944 items",
    "hnsw-neighbour": "its HNSW graph is inconsistent: a neighbour id is out of range",
    "wrong-structure": "a flat index starts with b'IBxF', this one with b'IBHf'",
    "count": "the manifest says 1000000000 codes of 16 bits but the file holds 30 of 16",
    "manifest-not-json": "the manifest is not valid JSON",
    "trailing-bytes": "16 bytes follow the index",
}


@pytest.mark.parametrize("kind", list(TAMPERED))
def test_a_tampered_index_is_refused_before_faiss_reads_it(index_file, kind):
    path = index_file("hnsw" if kind == "hnsw-neighbour" else "flat")
    if kind == "wrong-structure":
        index_file("hnsw")
    tamper(path, kind)
    before = digest(path)
    assert_one_line_error(vrt("search", "--index", path, "--query", "v1"), str(path), TAMPERED[kind])
    assert digest(path) == before


def test_an_index_whose_manifest_inflates_beyond_the_limit_is_refused(index_file, tmp_path):
    path = index_file("flat")
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["manifest"] = np.asarray(" " * (8 << 20))  # 32 MiB of UTF-32 spaces, deflated to kilobytes
    with path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)
    with unchanged(tmp_path):
        assert_one_line_error(vrt("index", "info", path), str(path), "refused as a likely zip bomb")


def test_a_codes_file_given_as_an_index_says_how_to_build_one(codes_pair):
    with unchanged(codes_pair[1].parent):
        assert_one_line_error(vrt("index", "info", codes_pair[1]), "not a vrt index file", "vrt index build")


def test_a_query_that_is_no_video_says_so_instead_of_asking_for_a_checkpoint(index_file, tmp_path):
    index = index_file("flat")
    (tmp_path / "notes.txt").write_text("not a video\n")
    (tmp_path / "frames").mkdir()
    for query, *expected in (
        (tmp_path / "notes.txt", "not a readable video", "no such video file"),
        (tmp_path / "frames", "not a readable video", "no video files or frame folders"),
    ):
        with unchanged(tmp_path):
            line = assert_one_line_error(vrt("search", "--index", index, "--query", query), *expected)
        assert "--checkpoint" not in line
