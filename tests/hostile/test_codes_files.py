"""Hostile codes files: zip bombs, lying headers, pickles, wrong layouts, codes that cannot be compared.

What a codes file says is checked against what it is before anything is inflated (the zip
directory, the ``.npy`` headers, the file's size): nothing in it can make vrt allocate more than
a bounded multiple of its size. test_codes.py tests the format itself.
"""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.hostile.conftest import random_codes
from tests.hostile.helpers import assert_one_line_error, snapshot, unchanged, vrt
from vrt.codes import CodesFileError, codeset_arrays, save_codes
from vrt.runtime.npzfile import read_npz

pytestmark = pytest.mark.slow


def npy(array: np.ndarray, *, shape: tuple[int, ...] | None = None, descr: str | None = None) -> bytes:
    """``array`` as .npy bytes, its header declaring ``shape``/``descr`` when given (a lying header)."""
    out = io.BytesIO()
    header = np.lib.format.header_data_from_array_1_0(array)
    header["shape"] = shape if shape is not None else header["shape"]
    header["descr"] = descr if descr is not None else header["descr"]
    np.lib.format.write_array_header_1_0(out, header)
    out.write(array.tobytes())
    return out.getvalue()


def archive(path: Path, members: dict[str, bytes], *, compress: bool = False) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(f"{name}.npy", data)
    return path


def codes_members(count: int = 4, **replace: bytes) -> dict[str, bytes]:
    members = {key: npy(value) for key, value in codeset_arrays(random_codes(count)).items()}
    return members | replace


def zip_bomb(path: Path) -> Path:
    """A codes file whose 'codes' member is 32 MiB of zeros squeezed into a few kilobytes."""
    zeros = np.zeros((1 << 24, 2), dtype=np.uint8)
    return archive(path, codes_members(codes=npy(zeros)), compress=True)


def hostile_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.npz"
    if kind == "zip-bomb":
        return zip_bomb(path)
    if kind == "huge-shape":
        return archive(path, codes_members(codes=npy(np.zeros((4, 2), np.uint8), shape=(10**12, 8))))
    if kind == "short-shape":
        return archive(path, codes_members(codes=npy(np.zeros((4, 2), np.uint8), shape=(1, 2))))
    if kind == "huge-string":
        return archive(path, codes_members(ids=npy(np.array(["a", "b", "c", "d"]), descr="<U100000000")))
    if kind == "pickled-ids":
        return archive(path, codes_members(ids=npy(np.array(["a", "b", "c", "d"]), descr="|O")))
    if kind == "single-array":
        np.save(tmp_path / "codes.npy", np.zeros((4, 2), np.uint8))
        return (tmp_path / "codes.npy").rename(path)
    if kind == "text":
        path.write_text("v1 0101\n")
        return path
    if kind == "truncated":
        good = save_codes(tmp_path / "good.npz", random_codes(20)).read_bytes()
        (tmp_path / "good.npz").unlink()
        path.write_bytes(good[: len(good) // 2])
        return path
    if kind == "missing-ids":
        members = codes_members()
        del members["ids"]
        return archive(path, members)
    if kind == "negative-label":
        return archive(path, codes_members(labels=npy(np.array([0, -2, 0, 1]))))  # -1 means unlabelled
    if kind == "huge-label":
        return archive(path, codes_members(labels=npy(np.array([0, 10**12, 0, 1]))))
    if kind == "bits-12":
        return archive(path, codes_members(bits=npy(np.asarray(12))))
    if kind == "bits-8192":
        wide = np.zeros((4, 1024), np.uint8)
        return archive(path, codes_members(codes=npy(wide), bits=npy(np.asarray(8192))))
    if kind == "folder":
        path.mkdir()
        return path
    assert kind == "missing"
    return path


CASES = {
    "zip-bomb": "refused as a likely zip bomb (set VRT_MAX_EXPANSION",
    "huge-shape": "key 'codes' declares shape (1000000000000, 8) of uint8 (8,000,000,000,000 bytes) but holds 8 bytes",
    "short-shape": "key 'codes' declares shape (1, 2) of uint8 (2 bytes) but holds 8 bytes",
    "huge-string": "key 'ids' declares shape (4,) of <U100000000",
    "pickled-ids": "key 'ids' cannot be read without pickle",
    "single-array": "got a single numpy array (.npy), not an .npz archive",
    "text": "got a text file (it starts 'v1 0101'",
    "truncated": "got a zip archive cut short (truncated by a copy or a full disk?)",
    "missing-ids": "missing keys ['ids']",
    "negative-label": "labels must be class ids in [0, 1,000,000) or -1 (unlabelled), got range [-2, 1]",
    "huge-label": "labels must be class ids in [0, 1,000,000) or -1 (unlabelled), got range [0, 1000000000000]",
    "bits-12": "bits must be a positive multiple of 8",
    "bits-8192": "bits must be at most 4096, got 8192",
    "folder": "is a folder, not a codes file",
    "missing": "codes file not found",
}


@pytest.mark.parametrize("kind", list(CASES))
def test_a_hostile_codes_file_is_one_line_naming_it(tmp_path, codes_pair, kind):
    path = hostile_file(tmp_path, kind)
    before = snapshot(tmp_path)
    tracemalloc.start()
    try:
        result = vrt("eval", "--query", path, "--database", codes_pair[1], "--output", tmp_path / "eval")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_one_line_error(result, str(path), CASES[kind])
    assert peak < 16 * 2**20  # nothing the file declares was allocated (the bomb holds 32 MiB)
    assert snapshot(tmp_path) == before  # and nothing was written


def test_a_larger_expansion_is_allowed_on_request(tmp_path, monkeypatch):
    path = zip_bomb(tmp_path / "bomb.npz")
    monkeypatch.setenv("VRT_MAX_EXPANSION", "100000")
    assert read_npz(path, ["codes"], error=CodesFileError)["codes"].shape == (1 << 24, 2)
    monkeypatch.setenv("VRT_MAX_EXPANSION", "lots")
    assert_one_line_error(
        vrt("eval", "--query", path, "--database", path), "VRT_MAX_EXPANSION='lots': expected a number >= 1"
    )


@pytest.mark.parametrize("which", ["query", "database"])
def test_an_empty_codes_file_is_one_line(tmp_path, codes_pair, which):
    empty = save_codes(tmp_path / "empty.npz", random_codes(0))
    files = {"query": codes_pair[0], "database": codes_pair[1]} | {which: empty}
    with unchanged(tmp_path):
        result = vrt("eval", "--query", files["query"], "--database", files["database"])
        assert_one_line_error(result, f"{empty} holds no codes: nothing to evaluate")


def test_codes_of_different_lengths_are_one_line(tmp_path, codes_pair):
    wide = save_codes(tmp_path / "wide.npz", random_codes(5, 32))
    with unchanged(tmp_path):
        result = vrt("eval", "--query", wide, "--database", codes_pair[1])
        assert_one_line_error(
            result, f"{wide} hold 32-bit codes but {codes_pair[1]} 16-bit codes; compare codes of one model"
        )
