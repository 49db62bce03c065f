"""A Hamming index over a :class:`~vrt.codes.CodeSet`: faiss binary search plus the items' metadata.

The index keeps, beside the faiss structure, the packed codes, ids, labels, class names and
bits of every item, so a search answers with ids and classes and a query can be an item
of the index. Positions returned by :meth:`HammingIndex.search` are rows of the code set the
index was built from (its "database order"), which is also the order ties are broken in.

On disk an index is one ``.npz`` file (see :mod:`vrt.index.storage` and ``docs/retrieval.md``).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vrt.codes import CodeSet, EncoderIdentity
from vrt.codes.identity import check_lengths
from vrt.codes.idhash import IdLookup
from vrt.errors import VrtError
from vrt.index.ivf import build_ivf, ivf_layout
from vrt.index.kinds import (
    DEFAULT_KIND,
    EXACT_KINDS,
    INDEX_KINDS,
    IndexParameterError,
    build_faiss_index,
    configure_search,
    exact_radius,
    resolve_params,
    search_faiss_index,
)
from vrt.index.storage import IndexFileError, read_index_file, write_index_file

if TYPE_CHECKING:
    import faiss

_CLOSE_MATCH_POOL = 50_000  # ids an unknown id is compared with, for its close matches

__all__ = ["HammingIndex", "QueryMismatchError", "UnknownIdError", "load_index"]

# faiss class written for each kind; checked on load so a tampered file cannot mislabel itself.
_FAISS_CLASS = {
    "flat": "IndexBinaryFlat",
    "multihash": "IndexBinaryMultiHash",
    "hnsw": "IndexBinaryHNSW",
    "ivf": "IndexBinaryIVF",
}


class UnknownIdError(VrtError, LookupError):
    """A query id that is not in the index; the message lists close matches."""


class QueryMismatchError(VrtError, ValueError):
    """Query codes that are not packed codes at all (wrong dtype or shape); codes of another
    length than the index's raise :class:`~vrt.codes.IncomparableCodesError`, as everywhere."""


def _checked_topk(topk: object) -> int:
    """``topk`` as an int, or the one-line error of a value that is not a positive integer."""
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or topk < 1:
        raise ValueError(f"topk must be a positive integer, got {topk!r}")
    return int(topk)


class HammingIndex:
    """Nearest neighbours by Hamming distance among the items of a code set.

    Build with :meth:`build`, persist with :meth:`save`, reopen with :meth:`load`. Attributes
    ``codes``, ``labels``, ``ids``, ``class_names`` and ``bits`` describe the indexed items in
    database order; ``kind`` and ``params`` the faiss structure.
    """

    def __init__(
        self, *, codeset: CodeSet, kind: str, params: Mapping[str, int], faiss_index: faiss.IndexBinary
    ) -> None:
        if kind not in INDEX_KINDS:
            raise IndexParameterError(
                f"unknown index kind {kind!r}; expected one of {', '.join(INDEX_KINDS)}"
            )
        if int(faiss_index.d) != codeset.bits or int(faiss_index.ntotal) != len(codeset):
            raise ValueError(
                f"the faiss index holds {faiss_index.ntotal} codes of {faiss_index.d} bits but the "
                f"code set has {len(codeset)} of {codeset.bits}"
            )
        self.codeset = codeset
        self.kind = kind
        self.params = dict(params)
        self._faiss = faiss_index
        configure_search(kind, self.params, faiss_index)

    @classmethod
    def build(
        cls, codeset: CodeSet, *, kind: str = DEFAULT_KIND, params: Mapping[str, int | None] | None = None
    ) -> HammingIndex:
        """Index every code of ``codeset``; ``params`` override the kind's defaults (None keeps one)."""
        resolved = resolve_params(kind, codeset.bits, params, count=len(codeset))
        faiss_index = build_faiss_index(kind, codeset.bits, resolved, codeset.codes)
        return cls(codeset=codeset, kind=kind, params=resolved, faiss_index=faiss_index)

    def rebuilt(self, codeset: CodeSet) -> HammingIndex:
        """An index of the same kind and parameters over ``codeset`` (an edit of this index's items)."""
        return HammingIndex.build(codeset, kind=self.kind, params=self.params)

    # -- the indexed items -------------------------------------------------------------

    @property
    def bits(self) -> int:
        return self.codeset.bits

    @property
    def codes(self) -> np.ndarray:
        return self.codeset.codes

    @property
    def labels(self) -> np.ndarray:
        return self.codeset.labels

    @property
    def ids(self) -> np.ndarray:
        return self.codeset.ids

    @property
    def class_names(self) -> list[str] | None:
        return self.codeset.class_names

    @property
    def encoder(self) -> EncoderIdentity | None:
        """The model that made the indexed codes (None for an index built before vrt recorded it)."""
        return self.codeset.encoder

    @property
    def faiss_index(self) -> faiss.IndexBinary:
        return self._faiss

    @property
    def exact(self) -> bool:
        """Whether every search equals the brute-force ranking (ties in database order)."""
        return self.kind in EXACT_KINDS

    @property
    def exact_radius(self) -> int | None:
        """For ``multihash``: the Hamming radius within which every item is found."""
        return exact_radius(self.kind, self.params)

    def __len__(self) -> int:
        return len(self.codeset)

    def memory_bytes(self) -> int:
        """Bytes the index holds: its items' arrays and the faiss structure (its serialised size)."""
        import faiss

        arrays = (self.codes, self.labels, self.ids, self.codeset.groups)
        held = sum(array.nbytes for array in arrays if array is not None)
        return held + (0 if self._faiss is None else len(faiss.serialize_index_binary(self._faiss)))

    def __repr__(self) -> str:
        return f"HammingIndex(kind={self.kind!r}, bits={self.bits}, count={len(self)}, params={self.params})"

    @cached_property
    def _lookup(self) -> IdLookup:
        return IdLookup(self.ids)

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and self._lookup.position(item_id) is not None

    def position_of(self, item_id: str) -> int:
        """The database position of ``item_id``; :class:`UnknownIdError` with close matches if absent."""
        position = self._lookup.position(item_id)
        if position is None:
            raise UnknownIdError(self.unknown_id_message(item_id))
        return position

    def unknown_id_message(self, item_id: str) -> str:
        """Says that ``item_id`` is not indexed and names up to five close matches."""
        candidates = self.ids
        if len(candidates) > _CLOSE_MATCH_POOL:  # difflib compares one by one: narrow the pool first
            candidates = candidates[np.char.startswith(candidates, item_id[:3])][:_CLOSE_MATCH_POOL]
        close = difflib.get_close_matches(item_id, candidates.tolist(), n=5, cutoff=0.6)
        hint = f" (close matches: {', '.join(close)})" if close else ""
        return f"id {item_id!r} is not in the index of {len(self)} items{hint}"

    def class_name(self, label: int) -> str | None:
        names = self.class_names
        return names[label] if names is not None and 0 <= label < len(names) else None

    # -- search --------------------------------------------------------------------------

    def search(self, query_codes: np.ndarray, topk: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``topk`` nearest items of each query: ``(distances int32 [Nq, k], positions int64 [Nq, k])``.

        ``k = min(topk, len(self))``; rows are nearest first, ties in database order. Exact
        kinds equal the brute-force ranking. ``multihash`` and ``hnsw`` may pad a row in which
        they found fewer than ``k`` candidates with position -1 and distance ``bits + 1``.
        """
        query_codes = self._check_queries(query_codes)
        k = min(_checked_topk(topk), len(self))
        if k == 0 or len(query_codes) == 0:
            return np.empty((len(query_codes), k), dtype=np.int32), np.empty(
                (len(query_codes), k), dtype=np.int64
            )
        return search_faiss_index(self.kind, self.params, self._faiss, self.codes, query_codes, k)

    def search_ids(
        self, item_ids: Sequence[str], topk: int, *, exclude_self: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` with the codes of indexed items as queries.

        The item itself is a result (distance 0; rank 1 unless an earlier item has the same
        code) unless ``exclude_self``, which drops it and keeps ``topk`` others.
        """
        positions = np.asarray([self.position_of(item_id) for item_id in item_ids], dtype=np.int64)
        if not exclude_self:
            return self.search(self.codes[positions], topk)
        k = min(_checked_topk(topk), len(self) - 1)
        if k < 1:  # an index of one item or none: nothing but the item itself to find
            shape = (len(positions), 0)
            return np.empty(shape, dtype=np.int32), np.empty(shape, dtype=np.int64)
        distances, found = self.search(self.codes[positions], k + 1)
        # Drop the query's own position when present, else the last (farthest) result.
        is_self = found == positions[:, None]
        drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), found.shape[1] - 1)
        keep = np.ones(found.shape, dtype=bool)
        keep[np.arange(len(positions)), drop] = False
        shape = (len(positions), found.shape[1] - 1)
        return distances[keep].reshape(shape), found[keep].reshape(shape)

    def results(self, distances: np.ndarray, positions: np.ndarray) -> list[list[dict[str, Any]]]:
        """Search output as plain data: per query, a list of ``{rank, id, label, class_name, distance}``.

        ``rank`` counts from 1; ``label`` is the integer class, ``class_name`` its name (None
        when the codes carry no class names). Padding (position -1) is left out.
        """
        ids, labels = self.ids, self.labels
        rows = []
        for row_distances, row_positions in zip(distances.tolist(), positions.tolist(), strict=True):
            row = []
            for rank, (distance, position) in enumerate(zip(row_distances, row_positions, strict=True), 1):
                if position < 0:
                    continue
                label = int(labels[position])
                row.append(
                    {
                        "rank": rank,
                        "id": str(ids[position]),
                        "label": label,
                        "class_name": self.class_name(label),
                        "distance": int(distance),
                    }
                )
            rows.append(row)
        return rows

    def _check_queries(self, query_codes: np.ndarray) -> np.ndarray:
        if not isinstance(query_codes, np.ndarray) or query_codes.dtype != np.uint8 or query_codes.ndim != 2:
            got = (
                f"{query_codes.dtype} {query_codes.shape}"
                if isinstance(query_codes, np.ndarray)
                else type(query_codes).__name__
            )
            raise QueryMismatchError(f"query codes must be packed uint8 [N, bits/8], got {got}")
        check_lengths(
            query_codes.shape[1] * 8, self.bits, first_name="the query codes", second_name="the index"
        )
        return np.ascontiguousarray(query_codes)

    # -- persistence ---------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the index to one ``.npz`` file, atomically; returns the path."""
        import faiss

        structure, lists = self._faiss, None
        if self.kind == "ivf":
            centroids, lists = ivf_layout(self._faiss)
            structure = faiss.IndexBinaryFlat(self.bits)
            structure.add(centroids)
        return write_index_file(
            path,
            codeset=self.codeset,
            kind=self.kind,
            params=self.params,
            faiss_blob=faiss.serialize_index_binary(structure),
            ivf_lists=lists,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> HammingIndex:
        """Read an index written by :meth:`save`, without pickle.

        The faiss structure has been checked against the manifest and the codes before faiss
        reads it; flat and multi-hash indexes, which the codes determine, are rebuilt from the
        codes rather than deserialised, and an ivf index from its centroids and lists.
        """
        import faiss

        stored = read_index_file(path)
        kind, params, codeset = stored.kind, stored.params, stored.codeset
        if kind in ("flat", "multihash"):
            faiss_index = build_faiss_index(kind, codeset.bits, params, codeset.codes)
        elif kind == "ivf":
            quantizer = faiss.deserialize_index_binary(stored.faiss_blob)  # held while its codes are read
            centroids = faiss.vector_to_array(quantizer.xb)
            faiss_index = build_ivf(
                codeset.bits,
                params,
                codeset.codes,
                centroids=centroids.reshape(params["nlist"], codeset.bits // 8),
                lists=stored.ivf_lists,
            )
        else:
            try:
                faiss_index = faiss.deserialize_index_binary(stored.faiss_blob)
            except RuntimeError as error:  # faiss reports corrupt data as RuntimeError
                raise IndexFileError(f"{path}: the faiss index cannot be read ({error})") from error
        if type(faiss_index).__name__ != _FAISS_CLASS[kind]:
            raise IndexFileError(
                f"{path}: kind {kind!r} should hold a faiss {_FAISS_CLASS[kind]}, found {type(faiss_index).__name__}"
            )
        try:
            return cls(codeset=codeset, kind=kind, params=params, faiss_index=faiss_index)
        except ValueError as error:  # the faiss structure and the codes disagree on count or bits
            raise IndexFileError(f"{path}: {error}") from None


def load_index(path: str | os.PathLike[str]) -> HammingIndex:
    """Read an index file written by :meth:`HammingIndex.save` (see :meth:`HammingIndex.load`),
    or open a Milvus collection named ``milvus://LOCATION/COLLECTION`` (:mod:`vrt.index.milvus`)."""
    if isinstance(path, str) and path.startswith("milvus://"):
        from vrt.index.milvus import MilvusIndex  # it subclasses HammingIndex

        return MilvusIndex.open(path)
    return HammingIndex.load(path)
