"""A set of binary codes with their labels, ids and class names, and the model that made them.

numpy only, never torch: loading and evaluating codes must stay fast for command-line tools.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vrt.codes.identity import EncoderIdentity
from vrt.codes.idhash import duplicated_ids
from vrt.errors import ClassNamesError
from vrt.runtime.limits import MAX_BITS, MAX_CLASSES

__all__ = [
    "UNLABELLED",
    "ClassNamesError",
    "CodeSet",
    "check_bits",
    "merge_class_names",
    "source_groups",
    "pack_bits",
    "unpack_bits",
]

#: The label of an item whose class is not known. Metrics refuse such queries and count such
#: database items as relevant to no query; indexes, search and pages show them as unlabelled.
UNLABELLED = -1


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
    encoder: EncoderIdentity | None = field(default=None)
    groups: np.ndarray | None = field(default=None)

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
        # Hashed in numpy (vrt.codes.idhash): ten million ids load without a Python string each.
        duplicates = duplicated_ids(ids)
        if duplicates:
            raise ValueError(f"ids must be unique; duplicated: {duplicates}")

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
        if self.groups is not None:
            groups = _as_str_array(self.groups, what="groups")
            if groups.shape[0] != n:
                raise ValueError(f"groups must have one entry per code, got {groups.shape[0]} for {n}")
            object.__setattr__(self, "groups", groups)

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
        encoder: EncoderIdentity | None = None,
        groups: Sequence[str] | np.ndarray | None = None,
    ) -> CodeSet:
        """Build from unpacked binary codes ``[N, bits]`` (bool or 0/1), e.g. ``embeddings >= 0``."""
        packed = pack_bits(bits)
        return cls(
            codes=packed,
            bits=int(np.shape(bits)[1]),
            labels=np.asarray(labels),
            ids=np.asarray(ids),
            class_names=None if class_names is None else list(class_names),
            encoder=encoder,
            groups=None if groups is None else np.asarray(groups, dtype=np.str_),
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


def merge_class_names(
    first_names: list[str] | None, second: CodeSet, *, first_labelled: bool
) -> tuple[list[str] | None, np.ndarray]:
    """The class names ``first_names`` and ``second``'s together, and ``second``'s labels in that list.

    ``first_names`` keep their labels; names only ``second`` has are appended. A side without
    class names is fine while none of its items is labelled (``first_labelled``: whether any of
    the first side's is); bare class numbers cannot be matched with names
    (:class:`ClassNamesError`). Only the first side's names are needed, not its code set: the
    query files of ``vrt search`` are merged one after the other into names already merged.
    """
    if first_names is None or second.class_names is None:
        unnamed_labelled = first_labelled if first_names is None else bool(second.labelled.any())
        named = first_names if second.class_names is None else second.class_names
        if named is not None and unnamed_labelled:
            raise ClassNamesError(
                "the two code sets label their items differently: one names its classes, the other has "
                "bare class numbers; encode both with named classes (or without labels)"
            )
        return named, second.labels
    names = list(first_names)
    names += [name for name in second.class_names if name not in names]
    if not second.labelled.any():
        return names, second.labels
    lookup = np.asarray([names.index(name) for name in second.class_names], dtype=np.int64)
    return names, np.where(second.labelled, lookup[np.maximum(second.labels, 0)], UNLABELLED)


def source_groups(codes: CodeSet) -> np.ndarray:
    """The source video of each item: the set's ``groups``, else the id without its ``#t=``
    window (each whole video is its own source)."""
    if codes.groups is not None:
        return codes.groups
    return np.asarray([item_id.split("#t=", 1)[0] for item_id in codes.ids.tolist()], dtype=np.str_)
