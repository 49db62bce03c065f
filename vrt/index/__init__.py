"""Hamming indexes over binary codes (faiss binary indexes; numpy and faiss only, never torch).

``HammingIndex.build(codeset, kind=...)`` indexes a code set; ``index.search(codes, topk)``
returns distances and database positions, ties in database order; ``index.save(path)`` and
``load_index(path)`` persist it as one ``.npz`` file. Kinds and format: ``docs/retrieval.md``.
faiss is imported when an index is built, searched or loaded, not by importing this package.
"""

from __future__ import annotations

from vrt.index.editing import IndexEditError, add_codes, describe_items, read_id_list, remove_ids
from vrt.index.exact import exact_topk
from vrt.index.hamming_index import HammingIndex, QueryMismatchError, UnknownIdError
from vrt.index.kinds import (
    DEFAULT_KIND,
    EXACT_KINDS,
    INDEX_KIND_SPECS,
    INDEX_KINDS,
    IndexKind,
    IndexKindSpec,
    IndexParameter,
    IndexParameterError,
    resolve_params,
)
from vrt.index.storage import FORMAT_VERSION, IndexFileError, load_index, read_manifest, save_index

__all__ = [
    "DEFAULT_KIND",
    "EXACT_KINDS",
    "FORMAT_VERSION",
    "INDEX_KINDS",
    "INDEX_KIND_SPECS",
    "HammingIndex",
    "IndexEditError",
    "IndexFileError",
    "IndexKind",
    "IndexKindSpec",
    "IndexParameter",
    "IndexParameterError",
    "QueryMismatchError",
    "UnknownIdError",
    "add_codes",
    "describe_items",
    "exact_topk",
    "load_index",
    "read_id_list",
    "read_manifest",
    "remove_ids",
    "resolve_params",
    "save_index",
]
