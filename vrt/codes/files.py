"""The codes file: what ``vrt export``, ``vrt encode`` and training write and ``vrt eval``,
``vrt index`` and ``vrt search`` read.

A codes file is a plain ``.npz`` archive that any numpy can read without vrt and without
pickle, so codes can be evaluated, indexed or shared without the training stack (see
``docs/metrics.md``):

* ``codes``  uint8 ``[N, bits // 8]``, rows packed with ``np.packbits(..., axis=1)`` in
  big-endian bit order (bit 0 of a code is the most significant bit of byte 0);
* ``bits``   integer scalar, the code length (a multiple of 8);
* ``labels`` int64 ``[N]``, 0-based class indices, or ``UNLABELLED`` (-1) for an item of no
  known class (``vrt encode`` of a folder without labels);
* ``ids``    unicode strings ``[N]``, unique, identifying each video;
* ``class_names`` unicode strings ``[C]``, optional;
* ``groups``  unicode strings ``[N]``, optional: the source video of each item (instance retrieval);
* ``encoder`` a 0-d unicode array holding the JSON of the model that made the codes
  (:class:`~vrt.codes.identity.EncoderIdentity`), optional: files written before vrt recorded
  it load with a warning when they are compared.

numpy only, never torch.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from vrt.codes.codeset import CodeSet
from vrt.codes.identity import ENCODER_KEY, EncoderIdentity, read_identity
from vrt.errors import CodesFileError, OutputError
from vrt.runtime.file_kinds import describe_file
from vrt.runtime.fileio import atomic_write
from vrt.runtime.npzfile import npz_members, read_npz

__all__ = ["check_items_kept", "codeset_arrays", "is_codes_file", "load_codes", "save_codes"]

_REQUIRED_KEYS = ("codes", "bits", "labels", "ids")
_OPTIONAL_KEYS = ("class_names", "groups", ENCODER_KEY)


def save_codes(path: str | os.PathLike[str], codeset: CodeSet) -> Path:
    """Write ``codeset`` to ``path`` (an ``.npz`` archive) atomically and return the path.

    The archive is written to a temporary file in the destination directory and renamed over
    ``path``, so a reader never sees a half-written file and an interrupted export leaves the
    previous file intact. The name is used exactly as given: ``np.savez`` would append ``.npz``
    to a bare file name, which is why it is handed an open file instead.
    """
    if not isinstance(codeset, CodeSet):
        raise TypeError(f"save_codes expects a CodeSet, got {type(codeset).__name__}")
    path = Path(path)
    arrays = codeset_arrays(codeset)
    atomic_write(path, lambda handle: np.savez(handle, **arrays))
    return path


def codeset_arrays(codeset: CodeSet) -> dict[str, np.ndarray]:
    """The arrays of a codes file (also the first arrays of an index file, which embeds one)."""
    arrays: dict[str, np.ndarray] = {
        "codes": np.ascontiguousarray(codeset.codes),
        "bits": np.asarray(codeset.bits, dtype=np.int64),
        "labels": codeset.labels,
        "ids": codeset.ids,
    }
    if codeset.class_names is not None:
        arrays["class_names"] = np.asarray(codeset.class_names, dtype=np.str_)
    if codeset.groups is not None:
        arrays["groups"] = codeset.groups
    if codeset.encoder is not None:
        arrays[ENCODER_KEY] = np.asarray(codeset.encoder.to_json(), dtype=np.str_)
    return arrays


def is_codes_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a codes file (its zip directory names the codes arrays, and it is no index)."""
    members = npz_members(Path(path))
    return members is not None and set(_REQUIRED_KEYS) <= members and "manifest" not in members


def load_codes(path: str | os.PathLike[str], *, mmap: bool = False) -> CodeSet:
    """Read a codes file written by :func:`save_codes` (or any tool following the layout).

    Never unpickles: object arrays are refused. Every failure raises :class:`CodesFileError`
    naming the file and what is wrong with it. ``mmap``: map the per-item arrays (codes,
    labels, ids, groups) read-only from the file instead of reading them (large indexes).
    """
    path = Path(path)
    if path.is_dir():
        raise CodesFileError(f"{path} is a folder, not a codes file (.npz)")
    if not path.is_file():
        raise CodesFileError(f"codes file not found: {path}")
    if not zipfile.is_zipfile(path) or not npz_members(path):  # not an .npz: say what it is
        raise CodesFileError(
            f"{path}: expected a codes file (an .npz archive with keys {list(_REQUIRED_KEYS)}), "
            f"got {describe_file(path)}"
        )
    per_item = ("codes", "labels", "ids", "groups") if mmap else ()
    arrays = read_npz(path, (*_REQUIRED_KEYS, *_OPTIONAL_KEYS), error=CodesFileError, mmap=per_item)
    missing = [key for key in _REQUIRED_KEYS if key not in arrays]
    if missing:
        raise CodesFileError(f"{path}: missing keys {missing} (has {sorted(npz_members(path) or ())})")

    codes = arrays["codes"]
    if codes.dtype != np.uint8 or codes.ndim != 2:
        raise CodesFileError(f"{path}: 'codes' must be uint8 [N, bits/8], got {codes.dtype} {codes.shape}")
    bits = arrays["bits"]
    if bits.ndim != 0 or bits.dtype.kind not in "iu":
        raise CodesFileError(f"{path}: 'bits' must be an integer scalar, got {bits.dtype} {bits.shape}")
    labels = arrays["labels"]
    if labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise CodesFileError(f"{path}: 'labels' must be int64 [N], got {labels.dtype} {labels.shape}")
    ids = arrays["ids"]
    if ids.dtype.kind != "U" or ids.ndim != 1:
        raise CodesFileError(f"{path}: 'ids' must be unicode strings [N], got {ids.dtype} {ids.shape}")
    class_names = arrays.get("class_names")
    if class_names is not None and (class_names.dtype.kind != "U" or class_names.ndim != 1):
        raise CodesFileError(
            f"{path}: 'class_names' must be unicode strings [C], got {class_names.dtype} {class_names.shape}"
        )

    groups = arrays.get("groups")
    if groups is not None and (groups.dtype.kind != "U" or groups.ndim != 1):
        raise CodesFileError(
            f"{path}: 'groups' must be unicode strings [N], got {groups.dtype} {groups.shape}"
        )
    encoder: EncoderIdentity | None = None
    if ENCODER_KEY in arrays:
        encoder = read_identity(arrays[ENCODER_KEY], source=path)
    try:
        return CodeSet(
            codes=codes,
            bits=int(bits),
            labels=labels,
            ids=ids,
            class_names=None if class_names is None else class_names.tolist(),
            encoder=encoder,
            groups=groups,
        )
    except ValueError as error:
        raise CodesFileError(f"{path}: {error}") from error


def check_items_kept(
    path: Path, new_ids: np.ndarray, *, kind: str, force: bool = False, option: str = "--out"
) -> None:
    """Refuse to replace the codes file or index at ``path`` with one that lacks some of its items.

    An index grown by ``vrt index add`` and then rebuilt from the older codes file would silently
    lose the added items; ``force`` replaces it all the same. A file that is not of this kind is
    left to :func:`vrt.runtime.writeguard.check_replaceable`.
    """
    members = None if force or not path.is_file() else npz_members(path)
    if members is None or not set(_REQUIRED_KEYS) <= members:  # not a codes file nor an index
        return
    try:
        existing = read_npz(path, ("ids",), error=CodesFileError, mmap=("ids",))["ids"]
    except (CodesFileError, KeyError):
        return
    dropped = int(np.count_nonzero(~np.isin(existing, new_ids)))
    if dropped:
        raise OutputError(
            f"{option} {path} is {kind} of {len(existing)} items, {dropped} of which the new one lacks "
            f"(the new one has {len(new_ids)}): pass --force to drop them, or choose another name"
        )
