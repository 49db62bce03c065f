"""The index kinds: their parameters, how each builds its faiss index and how each searches.

* ``flat``: ``IndexBinaryFlat``, a linear scan. Exact, with ties in database order.
* ``multihash``: ``IndexBinaryMultiHash``, multi-index hashing. The code is cut into ``nhash``
  substrings of ``hash_bits`` bits, each a hash-table key; a query probes every bucket within
  ``nflip`` flipped bits of each of its substrings. By the pigeonhole principle every item
  within Hamming radius ``nhash * (nflip + 1) - 1`` of the query shares a probed bucket, so
  the search is exact (ties in database order) whenever the query has at least K items within
  that radius; results farther away come from the probed buckets only and may miss items.
* ``hnsw``: ``IndexBinaryHNSW``, a navigable small-world graph. Approximate; sub-linear time on
  large databases, at the cost of recall and a slower build.
* ``ivf``: ``IndexBinaryIVF``, an inverted file. k-means on a sample of the codes picks
  ``nlist`` centroids; each item is stored in the list of its nearest centroid and a query scans
  the ``nprobe`` lists nearest to it. Approximate: an item in a list that is not probed is
  missed. The kind of choice for millions of codes (``docs/benchmarks.md``: index scale).

faiss is imported by the functions that need it, not by this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from vrt.errors import VrtError
from vrt.index.exact import exact_topk

if TYPE_CHECKING:
    import faiss

__all__ = [
    "DEFAULT_KIND",
    "EXACT_KINDS",
    "INDEX_KINDS",
    "INDEX_KIND_SPECS",
    "IndexKind",
    "IndexKindSpec",
    "IndexParameter",
    "IndexParameterError",
    "build_faiss_index",
    "configure_search",
    "exact_radius",
    "resolve_params",
    "search_faiss_index",
]

IndexKind = Literal["flat", "multihash", "hnsw", "ivf"]
INDEX_KINDS: tuple[str, ...] = get_args(IndexKind)
DEFAULT_KIND: IndexKind = "flat"
#: Kinds whose top-K always equals the brute-force ranking.
EXACT_KINDS: frozenset[str] = frozenset({"flat"})

# Bytes that faiss's counting search ("mc") allocates per query: one list of K positions per
# possible distance. Beyond this budget the flat kind ranks in numpy instead.
_COUNTING_MEMORY = 64 * 2**20
_FAISS_QUERY_BATCH = 32  # faiss's default for IndexBinaryFlat
IVF_MAX_LISTS = 65536


class IndexParameterError(VrtError, ValueError):
    """An unknown index kind, or parameters that do not fit the kind or the code length."""


@dataclass(frozen=True, kw_only=True)
class IndexParameter:
    """A build parameter of an index kind: its key in ``params`` (and the manifest), the
    ``vrt index build`` option that sets it, what it does, and its default."""

    name: str
    option: str
    meaning: str
    default: int | None = None
    # For a default that depends on the code length (``default`` None): how, in words.
    default_rule: str | None = None

    @property
    def default_text(self) -> str:
        return str(self.default) if self.default is not None else str(self.default_rule)


@dataclass(frozen=True, kw_only=True)
class IndexKindSpec:
    """What the command line and the docs say about a kind: how exact it is, and its parameters."""

    summary: str
    parameters: tuple[IndexParameter, ...] = ()


# One entry per kind of INDEX_KINDS, in that order; the command line derives its options from these.
INDEX_KIND_SPECS: Mapping[str, IndexKindSpec] = MappingProxyType(
    {
        "flat": IndexKindSpec(summary="exact"),
        "multihash": IndexKindSpec(
            summary="exact within a radius",
            parameters=(
                IndexParameter(
                    name="nhash",
                    option="--nhash",
                    meaning="number of hash tables",
                    default_rule="bits // hash_bits",
                ),
                IndexParameter(
                    name="hash_bits",
                    option="--hash-bits",
                    meaning="bits per hash key",
                    default_rule="min(bits, 16)",
                ),
                IndexParameter(
                    name="nflip", option="--nflip", meaning="bits flipped when probing", default=1
                ),
            ),
        ),
        "hnsw": IndexKindSpec(
            summary="approximate",
            parameters=(
                IndexParameter(name="m", option="--hnsw-m", meaning="neighbours per node", default=32),
                IndexParameter(
                    name="ef_construction", option="--ef-construction", meaning="build beam width", default=64
                ),
                IndexParameter(
                    name="ef_search", option="--ef-search", meaning="search beam width", default=128
                ),
            ),
        ),
        "ivf": IndexKindSpec(
            summary="approximate",
            parameters=(
                IndexParameter(
                    name="nlist",
                    option="--nlist",
                    meaning="inverted lists (k-means centroids)",
                    default_rule="the square root of the number of codes, at most 4096",
                ),
                IndexParameter(
                    name="nprobe",
                    option="--nprobe",
                    meaning="lists a query scans",
                    default_rule="16, at most nlist",
                ),
            ),
        ),
    }
)


def _default_params(kind: str, bits: int, count: int) -> dict[str, int]:
    spec = INDEX_KIND_SPECS.get(kind)
    if spec is None:
        raise IndexParameterError(f"unknown index kind {kind!r}; expected one of {', '.join(INDEX_KINDS)}")
    by_rule = _defaults_by_rule(kind, bits, count)
    return {p.name: by_rule[p.name] if p.default is None else p.default for p in spec.parameters}


def _defaults_by_rule(kind: str, bits: int, count: int) -> dict[str, int]:
    """The defaults that a spec gives by a rule (``default_rule``), for ``count`` codes of ``bits`` bits."""
    if kind == "ivf":
        # faiss's guidance is 4-16 x sqrt(N) lists for float vectors; Hamming codes of a few
        # thousand clusters need fewer, and k-means time grows with the lists (a 16384-list
        # build of 1M codes took 15 x as long as a 4096-list one, for no better recall).
        nlist = max(1, min(4096, round(count**0.5)))
        return {"nlist": nlist, "nprobe": min(16, nlist)}
    if kind == "multihash":
        # 16-bit substrings suit databases of about 2**16 items per bucket table, from
        # thousands to millions of items; one flipped bit per substring keeps a query at
        # nhash * 17 bucket lookups while doubling the exact radius.
        hash_bits = min(bits, 16)
        return {"nhash": bits // hash_bits, "hash_bits": hash_bits}
    return {}


def resolve_params(
    kind: str, bits: int, params: Mapping[str, int | None] | None = None, *, count: int = 0
) -> dict[str, int]:
    """The kind's defaults for ``count`` codes updated with ``params`` (None keeps a default), validated."""
    resolved = _default_params(kind, bits, count)
    given = {name: value for name, value in (params or {}).items() if value is not None}
    unknown = sorted(set(given) - set(resolved))
    if unknown:
        accepted = ", ".join(resolved) or "none"
        raise IndexParameterError(
            f"index kind {kind!r} has no parameter {', '.join(unknown)} (its parameters: {accepted})"
        )
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise IndexParameterError(f"index parameter {name} must be an integer, got {value!r}")
        resolved[name] = int(value)
    if kind == "multihash" and "hash_bits" in given and "nhash" not in given:
        # hash_bits <= 0 is refused below, with the range; it must not divide first.
        resolved["nhash"] = max(1, bits // resolved["hash_bits"]) if resolved["hash_bits"] > 0 else 1
    if kind == "ivf" and "nprobe" not in given:
        resolved["nprobe"] = min(16, resolved["nlist"])
    _check_params(kind, bits, resolved)
    return resolved


def _check_params(kind: str, bits: int, params: dict[str, int]) -> None:
    if kind == "multihash":
        nhash, hash_bits, nflip = params["nhash"], params["hash_bits"], params["nflip"]
        if not 1 <= hash_bits <= 64:
            raise IndexParameterError(f"multihash hash_bits must lie in [1, 64], got {hash_bits}")
        if nhash < 1 or nhash * hash_bits > bits:
            raise IndexParameterError(
                f"multihash needs 1 <= nhash and nhash * hash_bits <= bits, got nhash={nhash}, "
                f"hash_bits={hash_bits} for {bits}-bit codes"
            )
        if not 0 <= nflip <= hash_bits:
            raise IndexParameterError(f"multihash nflip must lie in [0, hash_bits={hash_bits}], got {nflip}")
    elif kind == "hnsw":
        # Upper bounds too: faiss sizes its graph and search buffers by these (an index file's
        # manifest is untrusted input).
        for name, low, high in (("m", 2, 1024), ("ef_construction", 1, 65536), ("ef_search", 1, 65536)):
            if not low <= params[name] <= high:
                raise IndexParameterError(f"hnsw {name} must lie in [{low}, {high}], got {params[name]}")
    elif kind == "ivf":
        nlist, nprobe = params["nlist"], params["nprobe"]
        if not 1 <= nlist <= IVF_MAX_LISTS:
            raise IndexParameterError(f"ivf nlist must lie in [1, {IVF_MAX_LISTS}], got {nlist}")
        if not 1 <= nprobe <= nlist:
            raise IndexParameterError(f"ivf nprobe must lie in [1, nlist={nlist}], got {nprobe}")


def exact_radius(kind: str, params: Mapping[str, int]) -> int | None:
    """The Hamming radius within which ``kind`` finds every item; None for exact kinds."""
    if kind == "multihash":
        return params["nhash"] * (params["nflip"] + 1) - 1
    return None


def build_faiss_index(
    kind: str, bits: int, params: Mapping[str, int], codes: np.ndarray
) -> faiss.IndexBinary:
    import faiss

    if kind == "flat":
        index = faiss.IndexBinaryFlat(bits)
    elif kind == "multihash":
        index = faiss.IndexBinaryMultiHash(bits, params["nhash"], params["hash_bits"])
    elif kind == "hnsw":
        index = faiss.IndexBinaryHNSW(bits, params["m"])
        index.hnsw.efConstruction = params["ef_construction"]
    elif kind == "ivf":
        from vrt.index.ivf import build_ivf  # it raises this module's errors

        index = build_ivf(bits, params, codes)
        configure_search(kind, params, index)
        return index
    else:
        raise IndexParameterError(f"unknown index kind {kind!r}; expected one of {', '.join(INDEX_KINDS)}")
    if len(codes):
        index.add(np.ascontiguousarray(codes))
    configure_search(kind, params, index)
    return index


def configure_search(kind: str, params: Mapping[str, int], index: faiss.IndexBinary) -> None:
    """Set the search-time parameters, which faiss's serialisation does not always keep."""
    if kind == "multihash":
        index.nflip = params["nflip"]
    elif kind == "hnsw":
        index.hnsw.efSearch = params["ef_search"]
    elif kind == "ivf":
        index.nprobe = params["nprobe"]


def search_faiss_index(
    kind: str,
    params: Mapping[str, int],
    index: faiss.IndexBinary,
    database_codes: np.ndarray,
    query_codes: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` ``(distances int32, positions int64)``, ties in database order; ``-1`` pads.

    ``k`` must lie in ``[1, ntotal]``. Only the approximate kinds can pad a row (fewer
    than ``k`` candidates found); padded entries have position -1 and distance ``bits + 1``.
    """
    if kind == "flat":
        return _search_flat(index, database_codes, query_codes, k)
    if kind == "multihash":
        # Everything within the exact radius, found by a range search (strict "<" in faiss) ...
        radius = exact_radius(kind, params)
        assert radius is not None
        limits, range_distances, range_positions = index.range_search(query_codes, radius + 1)
        range_queries = np.repeat(np.arange(len(query_codes)), np.diff(limits.astype(np.int64)))
        # ... and the hashed candidates beyond it, which faiss ranks with a heap (ties arbitrary).
        distances, positions = index.search(query_codes, k)
        heap_queries = np.repeat(np.arange(len(query_codes)), k)
        return _merge_candidates(
            len(query_codes),
            k,
            bits=index.d,
            queries=np.concatenate([range_queries, heap_queries]),
            distances=np.concatenate([range_distances, distances.ravel()]),
            positions=np.concatenate([range_positions, positions.ravel()]),
        )
    if kind in ("hnsw", "ivf"):
        if kind == "hnsw":
            index.hnsw.efSearch = max(params["ef_search"], k)
        distances, positions = index.search(query_codes, k)
        return _merge_candidates(
            len(query_codes),
            k,
            bits=index.d,
            queries=np.repeat(np.arange(len(query_codes)), k),
            distances=distances.ravel(),
            positions=positions.ravel(),
        )
    raise IndexParameterError(f"unknown index kind {kind!r}")


def _search_flat(
    index: faiss.IndexBinary, database_codes: np.ndarray, query_codes: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    # faiss does not promise which items tied at the K-th distance its default heap search
    # keeps. Its counting search ("mc", use_heap=False) keeps one list per distance, filled
    # in scan order, and reads them out distance by distance: exactly the stable ranking. It
    # holds (bits + 1) * K positions per query of a batch, so very large K goes to numpy.
    per_query = (index.d + 1) * (k * 8 + 4)
    batch = min(_FAISS_QUERY_BATCH, _COUNTING_MEMORY // per_query)
    if batch < 1:
        return exact_topk(query_codes, database_codes, k)
    index.use_heap = False
    index.query_batch_size = batch
    distances, positions = index.search(query_codes, k)
    return distances.astype(np.int32, copy=False), positions.astype(np.int64, copy=False)


def _merge_candidates(
    num_queries: int,
    k: int,
    *,
    bits: int,
    queries: np.ndarray,
    distances: np.ndarray,
    positions: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the ``k`` best distinct candidates ordered by (distance, position), vectorised."""
    valid = positions >= 0
    queries, distances, positions = queries[valid], distances[valid].astype(np.int64), positions[valid]
    # Drop duplicates (a candidate found by both searches) after grouping by (query, position).
    order = np.lexsort((positions, queries))
    queries, distances, positions = queries[order], distances[order], positions[order]
    first = np.ones(len(queries), dtype=bool)
    first[1:] = (queries[1:] != queries[:-1]) | (positions[1:] != positions[:-1])
    queries, distances, positions = queries[first], distances[first], positions[first]
    # Rank within each query by (distance, position) and keep the first k.
    order = np.lexsort((positions, distances, queries))
    queries, distances, positions = queries[order], distances[order], positions[order]
    starts = np.searchsorted(queries, np.arange(num_queries))
    rank = np.arange(len(queries)) - starts[queries]
    keep = rank < k
    out_distances = np.full((num_queries, k), bits + 1, dtype=np.int32)
    out_positions = np.full((num_queries, k), -1, dtype=np.int64)
    out_distances[queries[keep], rank[keep]] = distances[keep]
    out_positions[queries[keep], rank[keep]] = positions[keep]
    return out_distances, out_positions
