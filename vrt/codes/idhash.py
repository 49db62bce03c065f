"""64-bit hashes of a unicode id array, computed column by column in numpy (no Python string per id).

Ten million ids are checked for duplicates, and looked up, without a set or a dict of ten million
Python strings: hash every id (FNV-1a over its UTF-32 code units, one vectorised pass per
character position), sort the hashes, and compare the strings only where two hashes agree.
"""

from __future__ import annotations

import numpy as np

__all__ = ["IdLookup", "duplicated_ids", "id_hashes"]

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_CHUNK = 1 << 20  # ids hashed at a time: bounds the temporary arrays


def id_hashes(ids: np.ndarray) -> np.ndarray:
    """``uint64 [N]``: a hash of each id of the unicode array ``ids``."""
    if ids.dtype.kind != "U" or ids.ndim != 1:
        raise ValueError(f"ids must be a 1-D unicode array, got {ids.dtype} {ids.shape}")
    width = ids.dtype.itemsize // 4
    hashes = np.empty(len(ids), dtype=np.uint64)
    if width == 0:
        hashes.fill(_FNV_OFFSET)
        return hashes
    with np.errstate(over="ignore"):
        for start in range(0, len(ids), _CHUNK):
            units = np.ascontiguousarray(ids[start : start + _CHUNK]).view(np.uint32).reshape(-1, width)
            value = np.full(len(units), _FNV_OFFSET, dtype=np.uint64)
            for column in range(width):  # trailing zeros of shorter ids are hashed too: still distinct
                value ^= units[:, column].astype(np.uint64)
                value *= _FNV_PRIME
            hashes[start : start + len(units)] = value
    return hashes


def duplicated_ids(ids: np.ndarray, *, limit: int = 5) -> list[str]:
    """Up to ``limit`` ids that occur more than once, sorted; empty when every id is unique."""
    hashes = id_hashes(ids)
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    if not len(same):
        return []
    # Equal hashes: compare the strings themselves (a collision is not a duplicate).
    rows = np.unique(np.concatenate([order[same], order[same + 1]]))
    candidates = ids[rows].tolist()
    seen: set[str] = set()
    duplicates = sorted({item for item in candidates if item in seen or seen.add(item)})
    return duplicates[:limit]


class IdLookup:
    """Positions of ids in a unicode array, by binary search over sorted hashes."""

    def __init__(self, ids: np.ndarray) -> None:
        self._ids = ids
        hashes = id_hashes(ids)
        self._order = np.argsort(hashes, kind="stable")
        self._sorted = hashes[self._order]

    def position(self, item_id: str) -> int | None:
        """Where ``item_id`` is in the array, or None."""
        if not isinstance(item_id, str):
            return None
        probe = np.asarray([item_id], dtype=np.str_)
        if probe.dtype.itemsize > max(self._ids.dtype.itemsize, 4):
            return None  # longer than every id
        key = id_hashes(probe.astype(self._ids.dtype))[0]
        first = int(np.searchsorted(self._sorted, key, side="left"))
        last = int(np.searchsorted(self._sorted, key, side="right"))
        for candidate in self._order[first:last]:
            if self._ids[candidate] == item_id:
                return int(candidate)
        return None
