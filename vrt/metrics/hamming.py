"""Hamming distances between packed binary codes (numpy only).

Distances are XOR + popcount. With numpy >= 2, ``np.bitwise_count`` counts bits of whole
64-bit words in C; older numpy falls back to a 256-entry lookup table applied byte by byte.
Both produce identical results and the smallest unsigned dtype that holds ``bits`` (uint8 up
to 255 bits), which keeps the Nq x Ndb distance blocks, and the sorts that follow, cheap.
"""

from __future__ import annotations

import numpy as np

__all__ = ["HammingScanner", "POPCOUNT_TABLE", "distance_dtype", "hamming_distances"]

#: Number of set bits of every byte value.
POPCOUNT_TABLE = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint8)

_HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")


def distance_dtype(bits: int) -> np.dtype:
    """The smallest unsigned integer dtype that holds every distance in ``[0, bits]``."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if bits <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


def _check_packed(codes: np.ndarray, *, what: str) -> np.ndarray:
    if not isinstance(codes, np.ndarray) or codes.dtype != np.uint8 or codes.ndim != 2:
        got = f"{codes.dtype} {codes.shape}" if isinstance(codes, np.ndarray) else type(codes).__name__
        raise ValueError(f"{what} must be a 2-D uint8 array of packed bits, got {got}")
    if codes.shape[1] == 0:
        raise ValueError(f"{what} must have at least one byte per code")
    return codes


class HammingScanner:
    """Database codes laid out once for many query blocks.

    The database is stored transposed (one contiguous row per word) so that each pass XORs a
    query column against a contiguous database row; with ``np.bitwise_count`` rows are padded
    with zero bytes to whole 64-bit words, which XOR to zero and leave the counts unchanged.

    Args:
        database_codes: packed codes uint8 ``[Ndb, B]``.
        use_bitwise_count: force (True) or forbid (False) the ``np.bitwise_count`` path;
            None uses it when numpy provides it. Forbidding it exercises the lookup-table path.
    """

    def __init__(self, database_codes: np.ndarray, *, use_bitwise_count: bool | None = None):
        database_codes = _check_packed(database_codes, what="database codes")
        if use_bitwise_count is None:
            use_bitwise_count = _HAS_BITWISE_COUNT
        elif use_bitwise_count and not _HAS_BITWISE_COUNT:
            raise ValueError("np.bitwise_count needs numpy >= 2.0")
        self.use_bitwise_count = use_bitwise_count
        self.num_bytes = int(database_codes.shape[1])
        self.bits = 8 * self.num_bytes
        self.num_database = int(database_codes.shape[0])
        self.dtype = distance_dtype(self.bits)
        self._database = np.ascontiguousarray(self._words(database_codes).T)

    def _words(self, codes: np.ndarray) -> np.ndarray:
        if not self.use_bitwise_count:
            return codes
        num_words = -(-self.num_bytes // 8)
        padded = np.zeros((codes.shape[0], num_words * 8), dtype=np.uint8)
        padded[:, : self.num_bytes] = codes
        return padded.view(np.uint64)

    def bytes_per_pair(self) -> int:
        """Peak bytes of working memory per (query, database) pair during :meth:`distances`."""
        word_bytes = self._database.dtype.itemsize
        return word_bytes + 1 + self.dtype.itemsize  # XOR buffer + per-word count + result

    def distances(self, query_codes: np.ndarray) -> np.ndarray:
        """Hamming distances ``[Nq, Ndb]`` from each query to every database code."""
        query_codes = _check_packed(query_codes, what="query codes")
        if query_codes.shape[1] != self.num_bytes:
            raise ValueError(
                f"query codes have {8 * query_codes.shape[1]} bits but the database has {self.bits}"
            )
        query = self._words(query_codes)
        shape = (query.shape[0], self.num_database)
        result = np.empty(shape, dtype=self.dtype)
        xor = np.empty(shape, dtype=self._database.dtype)
        count = np.empty(shape, dtype=np.uint8) if query.shape[1] > 1 else result
        for column in range(query.shape[1]):
            np.bitwise_xor(query[:, column, None], self._database[None, column], out=xor)
            # The first column's counts go straight into the result when the dtypes allow it:
            # one full pass fewer for codes of up to 64 bits, the common case.
            target = result if column == 0 and result.dtype == np.uint8 else count
            if self.use_bitwise_count:
                np.bitwise_count(xor, out=target)
            else:
                np.take(POPCOUNT_TABLE, xor, out=target, mode="clip")  # indices are bytes: no check needed
            if target is result:
                continue
            if column == 0:
                result[...] = count
            else:
                np.add(result, count, out=result)
        return result


def hamming_distances(query_codes: np.ndarray, database_codes: np.ndarray) -> np.ndarray:
    """Hamming distances ``[Nq, Ndb]`` between packed codes uint8 ``[Nq, B]`` and ``[Ndb, B]``.

    Returns the smallest unsigned dtype holding ``8 * B`` (see :func:`distance_dtype`). For
    repeated blocks against one database, build a :class:`HammingScanner` once instead.
    """
    return HammingScanner(database_codes).distances(query_codes)
