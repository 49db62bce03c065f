"""The index file: one ``.npz`` archive, readable by numpy without vrt and without pickle.

An index file is a codes file (``vrt.codes`` layout: ``codes``, ``bits``, ``labels``, ``ids``,
optional ``class_names``) with two more arrays, so ``load_codes`` reads the items of an index:

* ``manifest``     0-d unicode array holding a JSON object: ``format`` (``"vrt-hamming-index"``),
  ``version`` (:data:`FORMAT_VERSION`), ``kind``, ``bits``, ``count``, ``params`` (the kind's
  resolved parameters) and ``faiss_version`` (of the writer, for the record);
* ``faiss_index``  uint8 ``[nbytes]``: ``faiss.serialize_index_binary`` of the faiss structure;
  for ``ivf``, of its quantizer (the ``nlist`` centroids as a flat index), with
* ``ivf_lists``    int32 ``[count]`` (``ivf`` only): the list of each item, so that loading
  rebuilds the inverted lists by copying rather than by k-means and assignment.

One file rather than a directory, so that writing it is a single atomic rename
(:func:`vrt.runtime.fileio.atomic_write`): a reader sees the old index or the new one, never a mix.
The codes' ``encoder`` record (the model that made them) travels with them, as in a codes file.

This module reads and writes the arrays; :class:`~vrt.index.hamming_index.HammingIndex` builds
the index from them (it imports this module, never the other way round).
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vrt.codes import CodeSet, CodesFileError, codeset_arrays, load_codes
from vrt.errors import VrtError
from vrt.index.blobcheck import FaissBlobError, check_faiss_blob
from vrt.index.kinds import INDEX_KINDS, IndexParameterError, resolve_params
from vrt.runtime.file_kinds import describe_file
from vrt.runtime.fileio import atomic_write
from vrt.runtime.npzfile import npz_members, read_npz

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "IndexFile",
    "IndexFileError",
    "is_index_file",
    "read_index_file",
    "read_manifest",
    "write_index_file",
]

FORMAT = "vrt-hamming-index"
FORMAT_VERSION = 1


class IndexFileError(VrtError, ValueError):
    """An index file that is missing, unreadable, not a vrt index, or inconsistent."""


def write_index_file(
    path: str | os.PathLike[str],
    *,
    codeset: CodeSet,
    kind: str,
    params: dict[str, Any],
    faiss_blob: np.ndarray,
    ivf_lists: np.ndarray | None = None,
) -> Path:
    """Write an index's items and serialised faiss structure to ``path`` (the name as given),
    atomically; returns the path."""
    import faiss

    path = Path(path)
    if path.is_dir():
        raise IndexFileError(
            f"{path} is a directory; an index is written to a single file (e.g. db.index.npz)"
        )
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": kind,
        "bits": codeset.bits,
        "count": len(codeset),
        "params": params,
        "faiss_version": faiss.__version__,
    }
    arrays: dict[str, np.ndarray] = {
        "manifest": np.asarray(json.dumps(manifest, sort_keys=True), dtype=np.str_),
        "faiss_index": faiss_blob,
        **codeset_arrays(codeset),
    }
    if ivf_lists is not None:
        arrays["ivf_lists"] = np.ascontiguousarray(ivf_lists, dtype=np.int32)
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


@dataclass(frozen=True)
class IndexFile:
    """What an index file holds, checked: its items, kind, resolved parameters and faiss bytes.

    ``faiss_blob`` has been checked against the manifest and the codes (:mod:`vrt.index.blobcheck`)
    before anyone hands it to faiss.
    """

    codeset: CodeSet
    kind: str
    params: dict[str, Any]
    faiss_blob: np.ndarray
    ivf_lists: np.ndarray | None = None


def read_index_file(path: str | os.PathLike[str]) -> IndexFile:
    """Read and check an index file written by :func:`write_index_file`; never unpickles."""
    path = Path(path)
    arrays = _read_arrays(path, "manifest", "faiss_index", "ivf_lists")
    manifest = _manifest(path, arrays)
    if "faiss_index" not in arrays:
        raise IndexFileError(f"{path}: the index file has no 'faiss_index' array")
    blob = arrays["faiss_index"]
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise IndexFileError(f"{path}: 'faiss_index' must be uint8 bytes, got {blob.dtype} {blob.shape}")
    try:
        codeset = load_codes(path, mmap=True)
    except CodesFileError as error:
        raise IndexFileError(str(error)) from error

    kind, bits, count = manifest["kind"], manifest["bits"], manifest["count"]
    if codeset.bits != bits or len(codeset) != count:
        raise IndexFileError(
            f"{path}: the manifest says {count} codes of {bits} bits but the file holds "
            f"{len(codeset)} of {codeset.bits}"
        )
    try:
        params = resolve_params(kind, bits, manifest["params"], count=count)
    except IndexParameterError as error:
        raise IndexFileError(f"{path}: {error}") from error
    lists = _ivf_lists(path, arrays, params, count=count) if kind == "ivf" else None
    try:
        if kind == "ivf":  # the blob is the quantizer: nlist centroids in a flat index
            check_faiss_blob(blob, kind="flat", bits=bits, count=params["nlist"], params={})
        else:
            check_faiss_blob(blob, kind=kind, bits=bits, count=count, params=params)
    except FaissBlobError as error:
        raise IndexFileError(f"{path}: the faiss index is damaged or crafted: {error}") from None
    return IndexFile(codeset=codeset, kind=kind, params=params, faiss_blob=blob, ivf_lists=lists)


def _ivf_lists(
    path: Path, arrays: dict[str, np.ndarray], params: dict[str, Any], *, count: int
) -> np.ndarray:
    """An ivf index's list of every item, checked: faiss would index its lists with them unchecked."""
    lists = arrays.get("ivf_lists")
    if lists is None or lists.dtype != np.int32 or lists.shape != (count,):
        got = "none" if lists is None else f"{lists.dtype} {lists.shape}"
        raise IndexFileError(f"{path}: an ivf index needs 'ivf_lists', int32 [{count}], got {got}")
    if count and (int(lists.min()) < 0 or int(lists.max()) >= params["nlist"]):
        raise IndexFileError(f"{path}: 'ivf_lists' names lists outside [0, {params['nlist']})")
    return lists


def _read_arrays(path: Path, *keys: str) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of an index file, read with the checks of :func:`read_npz`."""
    if not path.exists():
        raise IndexFileError(f"index file not found: {path}")
    if path.is_dir():
        raise IndexFileError(f"{path} is a directory, not an index file")
    if not zipfile.is_zipfile(path) or not npz_members(path):  # not an .npz: say what it is
        raise IndexFileError(f"{path}: not an index file: it is {describe_file(path)}")
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
