"""Hamming indexes over binary codes (faiss binary indexes; numpy and faiss only, never torch).

``HammingIndex.build(codeset, kind=...)`` indexes a code set; ``index.search(codes, topk)``
returns distances and database positions, ties in database order; ``index.save(path)`` and
``load_index(path)`` persist it as one ``.npz`` file. Kinds and format: ``docs/retrieval.md``.
faiss is imported when an index is built, searched or loaded, not by importing this package.
The kinds' parameters and defaults are described in :mod:`vrt.index.kinds`.
"""

from __future__ import annotations

from vrt.index.editing import (
    IndexEditError,
    add_codes,
    describe_items,
    describe_size,
    merge_indexes,
    read_id_list,
    remove_ids,
)
from vrt.index.exact import exact_topk
from vrt.index.hamming_index import HammingIndex, QueryMismatchError, UnknownIdError, load_index
from vrt.index.kinds import INDEX_KINDS, IndexParameterError
from vrt.index.storage import IndexFileError, read_manifest

__all__ = [
    "INDEX_KINDS",
    "HammingIndex",
    "IndexEditError",
    "IndexFileError",
    "IndexParameterError",
    "QueryMismatchError",
    "UnknownIdError",
    "add_codes",
    "describe_items",
    "describe_size",
    "exact_topk",
    "load_index",
    "merge_indexes",
    "read_id_list",
    "read_manifest",
    "remove_ids",
]
