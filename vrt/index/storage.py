"""The index file: one ``.npz`` archive, readable by numpy without vrt and without pickle.

An index file is a codes file (``vrt.codes`` layout: ``codes``, ``bits``, ``labels``, ``ids``,
optional ``class_names``) with two more arrays, so ``load_codes`` reads the items of an index:

* ``manifest``     0-d unicode array holding a JSON object: ``format`` (``"vrt-hamming-index"``),
  ``version`` (:data:`FORMAT_VERSION`), ``kind``, ``bits``, ``count``, ``params`` (the kind's
  resolved parameters) and ``faiss_version`` (of the writer, for the record);
* ``faiss_index``  uint8 ``[nbytes]``: ``faiss.serialize_index_binary`` of the faiss structure.

One file rather than a directory, so that writing it is a single atomic rename
(:func:`vrt.runtime.fileio.atomic_write`): a reader sees the old index or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from vrt.codes import CodesFileError, codeset_arrays, load_codes
from vrt.errors import VrtError
from vrt.index.blobcheck import FaissBlobError, check_faiss_blob
from vrt.index.hamming_index import HammingIndex
from vrt.index.kinds import INDEX_KINDS, IndexParameterError, build_faiss_index, resolve_params
from vrt.runtime.fileio import atomic_write
from vrt.runtime.npzfile import npz_members, read_npz

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "IndexFileError",
    "is_index_file",
    "load_index",
    "read_manifest",
    "save_index",
]

FORMAT = "vrt-hamming-index"
FORMAT_VERSION = 1

# faiss class written for each kind; checked on load so a tampered file cannot mislabel itself.
_FAISS_CLASS = {"flat": "IndexBinaryFlat", "multihash": "IndexBinaryMultiHash", "hnsw": "IndexBinaryHNSW"}


class IndexFileError(VrtError, ValueError):
    """An index file that is missing, unreadable, not a vrt index, or inconsistent."""


def save_index(path: str | os.PathLike[str], index: HammingIndex) -> Path:
    """Write ``index`` to ``path`` (the name is used as given) atomically; returns the path."""
    import faiss

    path = Path(path)
    if path.is_dir():
        raise IndexFileError(
            f"{path} is a directory; an index is written to a single file (e.g. db.index.npz)"
        )
    codeset = index.codeset
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": index.kind,
        "bits": index.bits,
        "count": len(index),
        "params": index.params,
        "faiss_version": faiss.__version__,
    }
    arrays: dict[str, np.ndarray] = {
        "manifest": np.asarray(json.dumps(manifest, sort_keys=True), dtype=np.str_),
        "faiss_index": faiss.serialize_index_binary(index.faiss_index),
        **codeset_arrays(codeset),
    }
    atomic_write(path, lambda handle: np.savez(handle, **arrays))
    return path


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of an index file, checked for format and version; cheap (no faiss, no codes)."""
    path = Path(path)
    return _manifest(path, _read_arrays(path, "manifest"))


def is_index_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a vrt index file (its manifest says so)."""
    try:
        read_manifest(path)
    except VrtError:
        return False
    return True


def load_index(path: str | os.PathLike[str]) -> HammingIndex:
    """Read an index file written by :func:`save_index`; never unpickles.

    The faiss structure is checked against the manifest and the codes before faiss reads it
    (:mod:`vrt.index.blobcheck`); flat and multi-hash indexes, which the codes determine, are
    then rebuilt from the codes rather than deserialised.
    """
    import faiss

    path = Path(path)
    arrays = _read_arrays(path, "manifest", "faiss_index")
    manifest = _manifest(path, arrays)
    if "faiss_index" not in arrays:
        raise IndexFileError(f"{path}: the index file has no 'faiss_index' array")
    blob = arrays["faiss_index"]
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise IndexFileError(f"{path}: 'faiss_index' must be uint8 bytes, got {blob.dtype} {blob.shape}")
    try:
        codeset = load_codes(path)
    except CodesFileError as error:
        raise IndexFileError(str(error)) from error

    kind, bits, count = manifest["kind"], manifest["bits"], manifest["count"]
    if codeset.bits != bits or len(codeset) != count:
        raise IndexFileError(
            f"{path}: the manifest says {count} codes of {bits} bits but the file holds "
            f"{len(codeset)} of {codeset.bits}"
        )
    try:
        params = resolve_params(kind, bits, manifest["params"])
    except IndexParameterError as error:
        raise IndexFileError(f"{path}: {error}") from error
    try:
        check_faiss_blob(blob, kind=kind, bits=bits, count=count, params=params)
    except FaissBlobError as error:
        raise IndexFileError(f"{path}: the faiss index is damaged or crafted: {error}") from None
    if kind != "hnsw":
        faiss_index = build_faiss_index(kind, bits, params, codeset.codes)
    else:
        try:
            faiss_index = faiss.deserialize_index_binary(blob)
        except RuntimeError as error:  # faiss reports corrupt data as RuntimeError
            raise IndexFileError(f"{path}: the faiss index cannot be read ({error})") from error
    if type(faiss_index).__name__ != _FAISS_CLASS[kind]:
        raise IndexFileError(
            f"{path}: kind {kind!r} should hold a faiss {_FAISS_CLASS[kind]}, found {type(faiss_index).__name__}"
        )
    if int(faiss_index.d) != bits or int(faiss_index.ntotal) != count:
        raise IndexFileError(
            f"{path}: the faiss index holds {faiss_index.ntotal} codes of {faiss_index.d} bits, "
            f"the manifest {count} of {bits}"
        )
    return HammingIndex(codeset=codeset, kind=kind, params=params, faiss_index=faiss_index)


def _read_arrays(path: Path, *keys: str) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of an index file, read with the checks of :func:`read_npz`."""
    if not path.exists():
        raise IndexFileError(f"index file not found: {path}")
    if path.is_dir():
        raise IndexFileError(f"{path} is a directory, not an index file")
    if not zipfile.is_zipfile(path):
        raise IndexFileError(f"{path}: not an index file (not an .npz archive)")
    arrays = read_npz(path, keys, error=IndexFileError)
    if "manifest" not in arrays:
        members = npz_members(path) or set()
        hint = (
            " (it looks like a codes file: build an index with `vrt index build --codes FILE --out INDEX`)"
            if "codes" in members
            else ""
        )
        raise IndexFileError(f"{path}: not a vrt index file, it has no manifest{hint}")
    return arrays


def _manifest(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    raw = arrays["manifest"]
    try:
        manifest = json.loads(str(raw[()]))
    except (json.JSONDecodeError, IndexError, TypeError) as error:
        raise IndexFileError(f"{path}: the manifest is not valid JSON ({error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexFileError(f"{path}: not a vrt index file (manifest format is not {FORMAT!r})")
    version = manifest.get("version")
    if version != FORMAT_VERSION:
        raise IndexFileError(
            f"{path}: index format version {version!r} is not supported by this vrt (reads version "
            f"{FORMAT_VERSION}); rebuild the index with `vrt index build`"
        )
    for key, kind_check in (("kind", str), ("bits", int), ("count", int), ("params", dict)):
        if not isinstance(manifest.get(key), kind_check) or isinstance(manifest.get(key), bool):
            raise IndexFileError(f"{path}: manifest key {key!r} is missing or has the wrong type")
    if manifest["kind"] not in INDEX_KINDS:
        raise IndexFileError(
            f"{path}: unknown index kind {manifest['kind']!r}; expected one of {', '.join(INDEX_KINDS)}"
        )
    return manifest
