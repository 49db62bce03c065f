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
# XOR words held at once by HammingScanner.distances (1 MiB: a few rows, within L2).
_XOR_BUFFER_BYTES = 1 << 20


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

    def distances(
        self,
        query_codes: np.ndarray,
        *,
        start: int = 0,
        stop: int | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Hamming distances ``[Nq, stop - start]`` from each query to database items ``start:stop``.

        ``out`` (dtype :attr:`dtype`, any strides, e.g. a column slice of a larger buffer) receives
        the result in place: the rankers write distances next to their sentinel columns this way.
        """
        query_codes = _check_packed(query_codes, what="query codes")
        if query_codes.shape[1] != self.num_bytes:
            raise ValueError(
                f"query codes have {8 * query_codes.shape[1]} bits but the database has {self.bits}"
            )
        database = self._database[:, start:stop]
        query = self._words(query_codes)
        shape = (query.shape[0], database.shape[1])
        if out is None:
            out = np.empty(shape, dtype=self.dtype)
        elif out.shape != shape or out.dtype != self.dtype:
            raise ValueError(f"out must be {self.dtype} {shape}, got {out.dtype} {out.shape}")
        # A few rows at a time through one reused XOR buffer that stays in cache: a fresh
        # [Nq, Ndb] word array per call costs about half again as much here.
        step = max(1, _XOR_BUFFER_BYTES // max(1, shape[1] * database.dtype.itemsize))
        xor = np.empty((min(step, shape[0]), shape[1]), dtype=database.dtype)
        count = np.empty(xor.shape, dtype=np.uint8) if query.shape[1] > 1 or out.dtype != np.uint8 else None
        for start_row in range(0, shape[0], step):
            rows = slice(start_row, min(start_row + step, shape[0]))
            self._accumulate(query[rows], database, xor[: rows.stop - rows.start], count, out[rows])
        return out

    def _accumulate(
        self,
        query: np.ndarray,
        database: np.ndarray,
        xor: np.ndarray,
        count: np.ndarray | None,
        out: np.ndarray,
    ) -> None:
        """Sum the per-word bit counts of ``query`` XOR ``database`` into ``out``."""
        count = None if count is None else count[: xor.shape[0]]
        for column in range(query.shape[1]):
            np.bitwise_xor(query[:, column, None], database[None, column], out=xor)
            # A uint8 result takes the first word's counts directly: for codes of up to 64 bits
            # that is the whole computation.
            direct = column == 0 and out.dtype == np.uint8
            target = out if direct else count
            if self.use_bitwise_count:
                np.bitwise_count(xor, out=target)
            else:
                np.take(POPCOUNT_TABLE, xor, out=target, mode="clip")  # indices are bytes: no check needed
            if direct:
                continue
            if column == 0:
                out[...] = count
            else:
                np.add(out, count, out=out)


def hamming_distances(query_codes: np.ndarray, database_codes: np.ndarray) -> np.ndarray:
    """Hamming distances ``[Nq, Ndb]`` between packed codes uint8 ``[Nq, B]`` and ``[Ndb, B]``.

    Returns the smallest unsigned dtype holding ``8 * B`` (see :func:`distance_dtype`). For
    repeated blocks against one database, build a :class:`HammingScanner` once instead.
    """
    return HammingScanner(database_codes).distances(query_codes)


def paired_distances(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Hamming distances of the pairs ``(first[i], second[i])`` of packed codes, int64 ``[N]``."""
    first = _check_packed(first, what="codes")
    second = _check_packed(second, what="codes")
    if first.shape != second.shape:
        raise ValueError(f"paired codes must have the same shape, got {first.shape} and {second.shape}")
    return POPCOUNT_TABLE[np.bitwise_xor(first, second)].sum(axis=1, dtype=np.int64)
