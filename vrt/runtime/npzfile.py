"""Reading an untrusted ``.npz`` archive without letting it decide how much memory is allocated.

``np.load`` trusts an archive: a member that inflates to gigabytes is inflated, and an array
header that declares a huge shape is allocated before a byte of data is read. :func:`read_npz`
first checks what the archive declares, from the zip directory and the ``.npy`` headers, against
the file's own size (see :mod:`vrt.runtime.limits`), then reads the arrays; it never unpickles.
Used by codes files and index files. numpy only.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from vrt.runtime.limits import EXPANSION_VARIABLE, MIN_INFLATE_BUDGET, max_expansion

__all__ = ["npz_members", "read_npz"]

ErrorFactory = Callable[[str], Exception]


def npz_members(path: Path) -> set[str] | None:
    """The array names of an ``.npz`` archive from its zip directory (nothing inflated); None if not one."""
    try:
        with zipfile.ZipFile(path) as archive:
            return {name.removesuffix(".npy") for name in archive.namelist() if name.endswith(".npy")}
    except (OSError, zipfile.BadZipFile, ValueError):
        return None


def read_npz(
    path: Path, keys: Iterable[str], *, error: ErrorFactory, mmap: Iterable[str] = ()
) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of the archive at ``path`` (those it has), after checking their sizes.

    The arrays named in ``mmap`` are mapped read-only from the file rather than read, when the
    archive stores them uncompressed (as ``np.savez`` does): a ten-million-item index opens
    without reading its ids, and its pages stay the file's, not the process's.

    Raises ``error(message)`` for a file that is not an ``.npz`` archive, a member that would
    inflate beyond ``max(VRT_MAX_EXPANSION x file size, 16 MiB)``, a header whose shape does not
    match the member's size, or an object array (which only pickle could read).
    """
    mapped = set(mmap)
    size, expansion = path.stat().st_size, max_expansion()
    budget = max(size * expansion, MIN_INFLATE_BUDGET)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError) as problem:
        raise error(f"{path}: not a readable .npz archive ({problem})") from None
    with archive:
        infos = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
        wanted = [key for key in keys if key in infos]
        declared = sum(infos[key].file_size for key in wanted)
        if declared > budget:
            raise error(
                f"{path}: its arrays would inflate to {declared:,} bytes from a file of {size:,}, beyond "
                f"vrt's limit of {budget:,.0f} ({expansion:g} times the file's size, at least "
                f"{MIN_INFLATE_BUDGET >> 20} MiB); refused as a likely zip bomb (set {EXPANSION_VARIABLE} "
                "to a larger factor if the file is genuine)"
            )
        arrays = {}
        for key in wanted:
            info = infos[key]
            try:
                with archive.open(info) as member:
                    shape, dtype, header = _read_header(member)
            except (OSError, EOFError, zipfile.BadZipFile, ValueError) as problem:
                raise error(f"{path}: key {key!r} is corrupt ({problem})") from None
            _check_declared(path, key, shape, dtype, info.file_size - header, error=error)
            if key in mapped and info.compress_type == zipfile.ZIP_STORED and math.prod(shape):
                arrays[key] = _mapped(path, archive, info, shape, dtype, header)
                continue
            try:
                with archive.open(info) as member:
                    arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
            except (OSError, EOFError, zipfile.BadZipFile, ValueError) as problem:
                raise error(f"{path}: key {key!r} is corrupt ({problem})") from None
    return arrays


def _mapped(
    path: Path,
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    shape: tuple[int, ...],
    dtype: np.dtype,
    header: int,
) -> np.ndarray:
    """A stored member's array, mapped from the file: its data follows the member's local header
    (whose name and extra field may differ in length from the central directory's) and the
    ``.npy`` header."""
    assert archive.fp is not None
    archive.fp.seek(info.header_offset)
    local = archive.fp.read(30)
    name_length, extra_length = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
    start = info.header_offset + 30 + name_length + extra_length + header
    return np.memmap(path, dtype=dtype, mode="r", offset=start, shape=shape)


def _read_header(member) -> tuple[tuple[int, ...], np.dtype, int]:  # noqa: ANN001 - a zip member
    """The shape and dtype an ``.npy`` header declares, and where its data starts."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version in ((2, 0), (3, 0)):
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise ValueError(f"unknown .npy format version {version}")
    return shape, dtype, member.tell()


def _check_declared(
    path: Path, key: str, shape: tuple[int, ...], dtype: np.dtype, stored: int, *, error: ErrorFactory
) -> None:
    """The header's shape and dtype must describe exactly the bytes the member holds."""
    if dtype.hasobject:
        raise error(
            f"{path}: key {key!r} cannot be read without pickle (it holds Python objects); "
            "store strings as a unicode array"
        )
    declared = math.prod(shape) * dtype.itemsize  # Python integers: no overflow
    if declared != stored:
        raise error(
            f"{path}: key {key!r} declares shape {tuple(shape)} of {dtype} ({declared:,} bytes) "
            f"but holds {stored:,} bytes; the file is damaged or crafted"
        )
