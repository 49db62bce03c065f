"""A serialised faiss binary index, checked before faiss reads a byte of it.

faiss trusts what it deserialises: a vector's declared length is allocated before it is read
(a 40-byte blob can ask for 256 GB) and stored neighbour ids are followed without bounds checks
when searching. :func:`check_faiss_blob` walks the layout faiss writes for the kinds vrt builds
(``IBxF`` flat, ``IBHm`` multi-hash, ``IBHf`` HNSW over a flat storage) and holds every length,
count and id to what the index file's manifest and codes say. numpy only (no faiss, no torch).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

import numpy as np

__all__ = ["FaissBlobError", "check_faiss_blob"]

_FOURCC = {"flat": b"IBxF", "multihash": b"IBHm", "hnsw": b"IBHf"}


class FaissBlobError(ValueError):
    """The blob does not hold the index its manifest describes (damaged or crafted)."""


class _Reader:
    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.at = 0

    def take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.at + size > len(self.blob):
            raise FaissBlobError(f"it ends at byte {len(self.blob)}, inside a field")
        (value,) = struct.unpack_from(fmt, self.blob, self.at)
        self.at += size
        return value

    def vector(self, dtype: str) -> np.ndarray:
        """A faiss vector: its length (uint64), then its items; the length must fit in what is left."""
        length = self.take("<Q")
        itemsize = np.dtype(dtype).itemsize
        if length * itemsize > len(self.blob) - self.at:
            raise FaissBlobError(
                f"a vector at byte {self.at - 8} declares {length:,} items, more than the "
                f"{len(self.blob) - self.at:,} bytes left"
            )
        array = np.frombuffer(self.blob, dtype=dtype, count=length, offset=self.at)
        self.at += length * itemsize
        return array


def check_faiss_blob(blob: bytes, *, kind: str, bits: int, count: int, params: Mapping[str, int]) -> None:
    """Raise :class:`FaissBlobError` unless ``blob`` is a faiss ``kind`` index of ``count`` ``bits``-bit codes."""
    reader = _Reader(bytes(blob))
    _index(reader, kind, bits=bits, count=count, params=params)
    if reader.at != len(reader.blob):
        raise FaissBlobError(f"{len(reader.blob) - reader.at} bytes follow the index")


def _index(reader: _Reader, kind: str, *, bits: int, count: int, params: Mapping[str, int]) -> None:
    fourcc = reader.blob[reader.at : reader.at + 4]
    if fourcc != _FOURCC[kind]:
        raise FaissBlobError(f"a {kind} index starts with {_FOURCC[kind]!r}, this one with {fourcc!r}")
    reader.at += 4
    dimension, code_size, total = reader.take("<i"), reader.take("<i"), reader.take("<q")
    reader.take("<?"), reader.take("<i")  # is_trained, metric_type
    if (dimension, code_size, total) != (bits, bits // 8, count):
        raise FaissBlobError(
            f"its header says {total} codes of {dimension} bits ({code_size} bytes), the manifest {count} of {bits}"
        )
    if kind == "flat":
        if len(reader.vector("u1")) != count * (bits // 8):
            raise FaissBlobError("the stored codes do not fill count x bits / 8 bytes")
    elif kind == "multihash":
        _multihash(reader, bits=bits, count=count, params=params)
    else:
        _hnsw(reader, count=count)
        _index(reader, "flat", bits=bits, count=count, params=params)


def _multihash(reader: _Reader, *, bits: int, count: int, params: Mapping[str, int]) -> None:
    _index(reader, "flat", bits=bits, count=count, params=params)
    hash_bits, nhash = reader.take("<i"), reader.take("<i")
    reader.take("<i")  # nflip: a search parameter, set from the manifest
    if (hash_bits, nhash) != (params["hash_bits"], params["nhash"]):
        raise FaissBlobError(
            f"it hashes {nhash} x {hash_bits} bits, the manifest {params['nhash']} x {params['hash_bits']}"
        )
    for _ in range(nhash):
        id_bits, buckets = reader.take("<i"), reader.take("<Q")
        if not 0 <= id_bits <= 64 or buckets > count:
            raise FaissBlobError(
                f"a hash table declares {buckets:,} buckets of {id_bits}-bit ids for {count} codes"
            )
        expected = ((hash_bits + id_bits) * buckets + count * id_bits + 7) // 8
        if len(reader.vector("u1")) != expected:
            raise FaissBlobError("a hash table's bit string does not match its bucket count")


def _hnsw(reader: _Reader, *, count: int) -> None:
    reader.vector("<f8")  # assign_probas
    cumulative = reader.vector("<i4")  # neighbours up to each level
    levels = reader.vector("<i4")  # 1 + the top level of each node
    offsets = reader.vector("<u8")  # where each node's neighbours start
    neighbors = reader.vector("<i4")
    entry_point, max_level = reader.take("<i"), reader.take("<i")
    for _ in range(3):  # efConstruction, efSearch, a deprecated field
        reader.take("<i")
    problems = []
    if len(cumulative) == 0 or cumulative[0] != 0 or np.any(np.diff(cumulative) < 0):
        problems.append("the per-level neighbour counts are not cumulative")
    elif len(levels) != count or np.any(levels < 1) or np.any(levels >= len(cumulative)):
        problems.append("a node's level is out of range")
    elif len(offsets) != count + 1 or offsets[0] != 0 or int(offsets[-1]) != len(neighbors):
        problems.append("the neighbour offsets do not span the neighbour list")
    elif np.any(np.diff(offsets.astype(np.int64)) != cumulative[levels]):
        problems.append("a node's neighbour slots do not match its level")
    elif np.any((neighbors < -1) | (neighbors >= count)):
        problems.append("a neighbour id is out of range")
    elif not (-1 <= entry_point < count and -1 <= max_level < len(cumulative) - 1):
        problems.append("the entry point or the top level is out of range")
    elif count and (entry_point < 0 or max_level < 0):
        problems.append("the graph has no entry point")
    if problems:
        raise FaissBlobError(f"its HNSW graph is inconsistent: {problems[0]}")
