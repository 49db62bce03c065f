"""The binary-codes interchange: what ``vrt export`` writes and ``vrt eval``/``vrt search`` read.

A codes file is a plain ``.npz`` archive that any numpy can read without vrt and without
pickle, so codes can be evaluated, indexed or shared without the training stack. This module
imports numpy only (never torch): loading codes must stay fast for command-line tools.

Layout (see ``docs/metrics.md``):

* ``codes``  uint8 ``[N, bits // 8]``, rows packed with ``np.packbits(..., axis=1)`` in
  big-endian bit order (bit 0 of a code is the most significant bit of byte 0);
* ``bits``   integer scalar, the code length (a multiple of 8);
* ``labels`` int64 ``[N]``, 0-based class indices, or ``UNLABELLED`` (-1) for an item of no
  known class (``vrt encode`` of a folder without labels);
* ``ids``    unicode strings ``[N]``, unique, identifying each video;
* ``class_names`` unicode strings ``[C]``, optional.
"""

from __future__ import annotations

import os
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vrt.errors import VrtError
from vrt.runtime.fileio import atomic_write
from vrt.runtime.limits import MAX_BITS, MAX_CLASSES
from vrt.runtime.npzfile import npz_members, read_npz

__all__ = [
    "UNLABELLED",
    "CodeSet",
    "CodesFileError",
    "check_comparable",
    "is_codes_file",
    "load_codes",
    "pack_bits",
    "save_codes",
    "unpack_bits",
]

#: The label of an item whose class is not known. Metrics refuse such queries and count such
#: database items as relevant to no query; indexes, search and pages show them as unlabelled.
UNLABELLED = -1

_REQUIRED_KEYS = ("codes", "bits", "labels", "ids")
_OPTIONAL_KEYS = ("class_names",)


class CodesFileError(VrtError, ValueError):
    """A codes file that is missing, unreadable or does not follow the interchange layout."""


def check_bits(bits: int) -> int:
    """Codes are stored packed, 8 bits per byte, so a code length is a positive multiple of 8,
    at most :data:`~vrt.runtime.limits.MAX_BITS` (4096).

    Every head is held to this (its ``bits``), and so is every codes file.
    """
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or bits <= 0 or bits % 8:
        raise ValueError(
            f"bits must be a positive multiple of 8 (an integer: 16, 32, 48, 64, ...), got {bits!r}"
        )
    if bits > MAX_BITS:
        raise ValueError(f"bits must be at most {MAX_BITS}, got {bits}")
    return int(bits)


def _as_int64_labels(labels: Any, *, what: str) -> np.ndarray:
    array = np.asarray(labels)
    if array.size == 0 and array.dtype.kind == "f":
        # ``np.asarray([])`` is float64; an empty label list is still a valid (empty) label list.
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu" or not np.can_cast(array.dtype, np.int64, casting="safe"):
        raise ValueError(f"{what} must be integers (int64), got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {array.shape}")
    return array.astype(np.int64, copy=False)


def _as_str_array(values: Any, *, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.size == 0 and array.dtype.kind != "U":
        array = np.empty(array.shape, dtype=np.str_)
    if array.dtype.kind != "U":
        # Object arrays would need pickle to store and bytes would need a decoding convention.
        raise ValueError(f"{what} must be unicode strings (numpy dtype '<U...'), got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {array.shape}")
    return array


@dataclass(frozen=True, eq=False)  # array fields: element-wise == would make __eq__ ambiguous
class CodeSet:
    """Binary codes of N videos with their labels and ids: the unit that is saved, loaded and evaluated.

    Validation happens here rather than in the readers so that every producer (export, tests,
    third-party tools) gets the same guarantees: codes are packed uint8 with ``bits == 8 * width``,
    labels are int64, ids are unique unicode strings, and all three have N rows. Lossless
    conversions are applied (a list of ids becomes a unicode array, int32 labels become int64);
    anything that would need guessing (float labels, unpacked or wrongly sized codes) is rejected.
    """

    codes: np.ndarray
    bits: int
    labels: np.ndarray
    ids: np.ndarray
    class_names: list[str] | None = field(default=None)

    def __post_init__(self) -> None:
        codes = self.codes
        if not isinstance(codes, np.ndarray) or codes.dtype != np.uint8:
            got = codes.dtype if isinstance(codes, np.ndarray) else type(codes).__name__
            raise ValueError(f"codes must be a uint8 array of packed bits (see pack_bits), got {got}")
        if codes.ndim != 2:
            raise ValueError(f"codes must be 2-D [N, bits // 8], got shape {codes.shape}")

        bits = check_bits(self.bits)
        if codes.shape[1] * 8 != bits:
            raise ValueError(
                f"codes have {codes.shape[1]} bytes per row ({codes.shape[1] * 8} bits) but bits={bits}"
            )

        labels = _as_int64_labels(self.labels, what="labels")
        ids = _as_str_array(self.ids, what="ids")
        n = codes.shape[0]
        if labels.shape[0] != n or ids.shape[0] != n:
            raise ValueError(
                f"codes, labels and ids must have the same length, got {n}, {labels.shape[0]}, {ids.shape[0]}"
            )
        # A set of Python strings is about 3x faster than np.unique's sort on a million ids.
        id_list = ids.tolist()
        if len(set(id_list)) != n:
            duplicates = sorted(name for name, count in Counter(id_list).items() if count > 1)
            raise ValueError(f"ids must be unique; duplicated: {duplicates[:5]}")

        if n and (labels.min() < UNLABELLED or labels.max() >= MAX_CLASSES):
            raise ValueError(
                f"labels must be class ids in [0, {MAX_CLASSES:,}) or {UNLABELLED} (unlabelled), "
                f"got range [{labels.min()}, {labels.max()}]"
            )
        class_names = self.class_names
        if class_names is not None:
            if isinstance(class_names, str) or not all(isinstance(name, str) for name in class_names):
                raise ValueError("class_names must be a list of strings or None")
            class_names = list(class_names)
            if n and labels.max() >= len(class_names):
                raise ValueError(
                    f"labels must lie in [0, {len(class_names)}) to index class_names "
                    f"(or be {UNLABELLED}, unlabelled), got range [{labels.min()}, {labels.max()}]"
                )

        # Frozen dataclass: store the normalised values through object.__setattr__.
        object.__setattr__(self, "bits", bits)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "class_names", class_names)

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    @property
    def labelled(self) -> np.ndarray:
        """Bool ``[N]``: which items have a class (label other than :data:`UNLABELLED`)."""
        return self.labels != UNLABELLED

    @classmethod
    def from_bits(
        cls,
        bits: np.ndarray,
        *,
        labels: Sequence[int] | np.ndarray,
        ids: Sequence[str] | np.ndarray,
        class_names: Sequence[str] | None = None,
    ) -> CodeSet:
        """Build from unpacked binary codes ``[N, bits]`` (bool or 0/1), e.g. ``embeddings >= 0``."""
        packed = pack_bits(bits)
        return cls(
            codes=packed,
            bits=int(np.shape(bits)[1]),
            labels=np.asarray(labels),
            ids=np.asarray(ids),
            class_names=None if class_names is None else list(class_names),
        )


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack binary codes ``[N, bits]`` into uint8 ``[N, bits // 8]``, big-endian within each byte.

    Accepts bool arrays, or integer arrays holding only 0 and 1; real-valued embeddings are
    rejected so that the binarisation rule (``u >= 0``) stays explicit at the call site.
    """
    array = np.asarray(bits)
    if array.ndim != 2:
        raise ValueError(f"bits must be 2-D [N, bits], got shape {array.shape}")
    if array.shape[1] == 0 or array.shape[1] % 8 != 0:
        raise ValueError(f"the number of bits must be a positive multiple of 8, got {array.shape[1]}")
    if array.dtype != np.bool_:
        if array.dtype.kind not in "iu":
            raise ValueError(f"bits must be bool or 0/1 integers, got dtype {array.dtype} (binarise first)")
        if array.size and not np.isin(array, (0, 1)).all():
            raise ValueError("integer bits must contain only 0 and 1")
        array = array.astype(np.bool_)
    return np.packbits(array, axis=1, bitorder="big")


def unpack_bits(codes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_bits`: uint8 ``[N, B]`` to bool ``[N, 8 * B]``."""
    if not isinstance(codes, np.ndarray) or codes.dtype != np.uint8 or codes.ndim != 2:
        raise ValueError("codes must be a 2-D uint8 array of packed bits")
    return np.unpackbits(codes, axis=1, bitorder="big").view(np.bool_)


def save_codes(path: str | os.PathLike[str], codeset: CodeSet) -> Path:
    """Write ``codeset`` to ``path`` (an ``.npz`` archive) atomically and return the path.

    The archive is written to a temporary file in the destination directory and renamed over
    ``path``, so a reader never sees a half-written file and an interrupted export leaves the
    previous file intact. The name is used exactly as given: ``np.savez`` would append ``.npz``
    to a bare file name, which is why it is handed an open file instead.
    """
    if not isinstance(codeset, CodeSet):
        raise TypeError(f"save_codes expects a CodeSet, got {type(codeset).__name__}")
    path = Path(path)
    arrays = codeset_arrays(codeset)
    atomic_write(path, lambda handle: np.savez(handle, **arrays))
    return path


def codeset_arrays(codeset: CodeSet) -> dict[str, np.ndarray]:
    """The arrays of a codes file (also the first arrays of an index file, which embeds one)."""
    arrays: dict[str, np.ndarray] = {
        "codes": np.ascontiguousarray(codeset.codes),
        "bits": np.asarray(codeset.bits, dtype=np.int64),
        "labels": codeset.labels,
        "ids": codeset.ids,
    }
    if codeset.class_names is not None:
        arrays["class_names"] = np.asarray(codeset.class_names, dtype=np.str_)
    return arrays


def check_comparable(
    query: CodeSet, database: CodeSet, *, query_name: str = "the queries", database_name: str = "the database"
) -> None:
    """Refuse to rank ``query`` against ``database`` when there is nothing to rank or the lengths differ."""
    for name, codeset in ((query_name, query), (database_name, database)):
        if len(codeset) == 0:
            raise CodesFileError(f"{name} holds no codes: nothing to evaluate (was its split empty?)")
    if query.bits != database.bits:
        raise CodesFileError(
            f"{query_name} hold {query.bits}-bit codes but {database_name} {database.bits}-bit codes; "
            "compare codes of one model"
        )


def is_codes_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a codes file (its zip directory names the codes arrays, and it is no index)."""
    members = npz_members(Path(path))
    return members is not None and set(_REQUIRED_KEYS) <= members and "manifest" not in members


def load_codes(path: str | os.PathLike[str]) -> CodeSet:
    """Read a codes file written by :func:`save_codes` (or any tool following the layout).

    Never unpickles: object arrays are refused. Every failure raises :class:`CodesFileError`
    naming the file and what is wrong with it.
    """
    path = Path(path)
    if path.is_dir():
        raise CodesFileError(f"{path} is a folder, not a codes file (.npz)")
    if not path.is_file():
        raise CodesFileError(f"codes file not found: {path}")
    if not zipfile.is_zipfile(path):
        with path.open("rb") as handle:
            single = handle.read(6) == b"\x93NUMPY"
        raise CodesFileError(
            f"{path}: expected an .npz archive with keys {list(_REQUIRED_KEYS)}, got "
            + ("a single array (.npy)" if single else "a file that is not an .npz archive")
        )
    arrays = read_npz(path, (*_REQUIRED_KEYS, *_OPTIONAL_KEYS), error=CodesFileError)
    missing = [key for key in _REQUIRED_KEYS if key not in arrays]
    if missing:
        raise CodesFileError(f"{path}: missing keys {missing} (has {sorted(npz_members(path) or ())})")

    codes = arrays["codes"]
    if codes.dtype != np.uint8 or codes.ndim != 2:
        raise CodesFileError(f"{path}: 'codes' must be uint8 [N, bits/8], got {codes.dtype} {codes.shape}")
    bits = arrays["bits"]
    if bits.ndim != 0 or bits.dtype.kind not in "iu":
        raise CodesFileError(f"{path}: 'bits' must be an integer scalar, got {bits.dtype} {bits.shape}")
    labels = arrays["labels"]
    if labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise CodesFileError(f"{path}: 'labels' must be int64 [N], got {labels.dtype} {labels.shape}")
    ids = arrays["ids"]
    if ids.dtype.kind != "U" or ids.ndim != 1:
        raise CodesFileError(f"{path}: 'ids' must be unicode strings [N], got {ids.dtype} {ids.shape}")
    class_names = arrays.get("class_names")
    if class_names is not None and (class_names.dtype.kind != "U" or class_names.ndim != 1):
        raise CodesFileError(
            f"{path}: 'class_names' must be unicode strings [C], got {class_names.dtype} {class_names.shape}"
        )

    try:
        return CodeSet(
            codes=codes,
            bits=int(bits),
            labels=labels,
            ids=ids,
            class_names=None if class_names is None else class_names.tolist(),
        )
    except ValueError as error:
        raise CodesFileError(f"{path}: {error}") from error
