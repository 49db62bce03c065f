"""Feature files: per-frame features of many videos in one HDF5 file (h5py; no torch).

vrt's layout (``vrt features extract`` writes it):

* ``feats``       float16 ``(N, T, D)``: ``T`` frames of ``D`` features per video, chunked per video;
* ``ids``         UTF-8 strings ``(N,)``, unique;
* ``labels``      int64 ``(N,)``: 0-based classes, or -1 for unlabelled videos;
* ``class_names`` UTF-8 strings ``(C,)``, when the labels have names;
* ``groups``      UTF-8 strings ``(N,)``, when known: the source video each item was cut from;
* attribute ``format`` (``vrt-features/1``) and ``encoder``: the JSON of the model that made the
  features (its image encoder and weights, the clip settings), so that features of two models
  are never mixed.

The layout of the published self-supervised video hashing features (SSVH, BTH, ConMH, S5VH:
FCVID, ActivityNet, YFCC, UCF101, HMDB51) is read as well: a ``feats`` dataset alone, with the
labels in a ``.mat`` file beside it (:func:`read_release_labels`); its items get ids
``<file stem>/<index>``.

Reading is lazy: an item's frames are read when asked, through one handle per process (a
DataLoader worker opens its own), so files larger than memory train as well.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vrt.errors import VrtError
from vrt.runtime.file_kinds import describe_file

__all__ = [
    "FEATURES_FORMAT",
    "FeatureFile",
    "FeatureFileError",
    "FeatureFileWriter",
    "is_feature_file",
    "open_feature_file",
    "read_release_labels",
]

FEATURES_FORMAT = "vrt-features/1"


class FeatureFileError(VrtError, ValueError):
    """A feature file (or its labels) that is missing, unreadable or not in a layout vrt reads."""


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:  # a dependency of vrt; an environment without it is broken
        raise FeatureFileError("feature files need the h5py package: pip install h5py") from None
    return h5py


@dataclass
class FeatureFile:
    """The items of a feature file: ids, labels, class names, groups, and their frames on demand.

    Attributes:
        path: the HDF5 file.
        frames, dim: ``T`` and ``D`` of every item's ``(T, D)`` features.
        encoder: what made the features (vrt's files), else None.
    """

    path: Path
    ids: list[str]
    labels: np.ndarray
    frames: int
    dim: int
    class_names: list[str] | None = None
    groups: list[str] | None = None
    encoder: dict[str, Any] | None = None
    _handle: Any = field(default=None, repr=False)
    _pid: int = field(default=-1, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def features(self, index: int) -> np.ndarray:
        """Item ``index``'s features, float32 ``(T, D)``."""
        return np.asarray(self._dataset()[index], dtype=np.float32)

    def read(self, start: int, stop: int) -> np.ndarray:
        """The features of items ``start`` to ``stop`` (excluded), float32 ``(n, T, D)``."""
        return np.asarray(self._dataset()[start:stop], dtype=np.float32)

    def _dataset(self) -> Any:
        if self._handle is None or self._pid != os.getpid():  # a forked worker opens its own
            self._handle = _h5py().File(self.path, "r")
            self._pid = os.getpid()
        return self._handle["feats"]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handle"], state["_pid"] = None, -1  # an HDF5 handle does not travel to a worker
        return state


def is_feature_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an HDF5 file with a ``feats`` dataset (vrt's layout or the published one)."""
    try:
        h5py = _h5py()
        with h5py.File(path, "r") as handle:
            return "feats" in handle
    except (OSError, FeatureFileError):
        return False


def open_feature_file(
    path: str | os.PathLike[str], *, labels: str | os.PathLike[str] | None = None
) -> FeatureFile:
    """A feature file of vrt's layout, or of the published layout (``feats`` alone) with ``labels``.

    Raises:
        FeatureFileError: a missing or unreadable file, a dataset of the wrong shape or type,
            ids that repeat, labels of another count.
    """
    path = Path(path)
    if not path.is_file():
        raise FeatureFileError(f"feature file not found: {path}")
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as handle:
            if "feats" not in handle:
                raise FeatureFileError(f"{path}: no 'feats' dataset (has {', '.join(sorted(handle))})")
            feats = handle["feats"]
            if feats.ndim != 3 or feats.dtype.kind != "f":
                raise FeatureFileError(
                    f"{path}: 'feats' must be floats of shape (videos, frames, dim), got {feats.dtype} {feats.shape}"
                )
            count, frames, dim = (int(n) for n in feats.shape)
            if handle.attrs.get("format") == FEATURES_FORMAT:
                file = _vrt_layout(path, handle, count, frames, dim)
            else:
                file = _release_layout(path, count, frames, dim, labels)
    except OSError as error:  # not HDF5 (say what it is instead), or a truncated one
        kind = describe_file(path)
        if kind.startswith("an HDF5 file"):
            raise FeatureFileError(f"{path}: not a readable HDF5 feature file ({error})") from None
        raise FeatureFileError(f"{path}: not a readable HDF5 feature file: it is {kind}") from None
    if labels is not None and file.encoder is not None:
        raise FeatureFileError(f"{path} holds its own labels; --labels applies to the published layout")
    return file


def _strings(dataset: Any) -> list[str]:
    return [value.decode("utf-8") if isinstance(value, bytes) else str(value) for value in dataset[()]]


def _vrt_layout(path: Path, handle: Any, count: int, frames: int, dim: int) -> FeatureFile:
    ids = _strings(handle["ids"])
    labels = np.asarray(handle["labels"][()], dtype=np.int64)
    if len(ids) != count or labels.shape != (count,):
        raise FeatureFileError(f"{path}: {len(ids)} ids and {labels.shape[0]} labels for {count} items")
    if len(set(ids)) != count:
        raise FeatureFileError(f"{path}: ids must be unique")
    class_names = _strings(handle["class_names"]) if "class_names" in handle else None
    groups = _strings(handle["groups"]) if "groups" in handle else None
    encoder = handle.attrs.get("encoder")
    return FeatureFile(
        path,
        ids,
        labels,
        frames,
        dim,
        class_names=class_names,
        groups=groups,
        encoder=json.loads(encoder) if encoder else None,
    )


def _release_layout(
    path: Path, count: int, frames: int, dim: int, labels: str | os.PathLike[str] | None
) -> FeatureFile:
    values = (
        np.full(count, -1, dtype=np.int64) if labels is None else read_release_labels(labels, count=count)
    )
    ids = [f"{path.stem}/{index:06d}" for index in range(count)]
    return FeatureFile(path, ids, values, frames, dim)


def read_release_labels(path: str | os.PathLike[str], *, count: int) -> np.ndarray:
    """Labels of the published features from a ``.mat`` file: one label per video, as class
    indices or one-hot rows (a multi-label row keeps its first class), or -1 where a row is empty.

    MATLAB v5 files are read with scipy, v7.3 files (HDF5) with h5py; the variable is the one
    array of ``count`` rows (named ``labels`` or ``label`` when there are several).
    """
    path = Path(path)
    if not path.is_file():
        raise FeatureFileError(f"label file not found: {path}")
    arrays = _mat_arrays(path)
    candidates = {name: array for name, array in arrays.items() if count in np.shape(array)}
    for preferred in ("labels", "label", "Labels", "Label"):
        if preferred in candidates:
            candidates = {preferred: candidates[preferred]}
            break
    if len(candidates) != 1:
        found = ", ".join(f"{name} {np.shape(array)}" for name, array in arrays.items()) or "nothing"
        raise FeatureFileError(f"{path}: expected one array of {count} labels, found {found}")
    ((name, array),) = candidates.items()
    array = np.asarray(array)
    if array.ndim == 2 and array.shape[0] != count:
        array = array.T  # MATLAB stores (classes, videos) in v7.3 files
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 1:
        values = array.astype(np.int64)
        return values - 1 if values.min() == 1 else values  # MATLAB's 1-based classes
    if array.ndim == 2:
        hot = array > 0
        return np.where(hot.any(axis=1), hot.argmax(axis=1), -1).astype(np.int64)
    raise FeatureFileError(
        f"{path}: {name} has shape {array.shape}, not one label (or one-hot row) per video"
    )


def _mat_arrays(path: Path) -> dict[str, np.ndarray]:
    h5py = _h5py()
    if h5py.is_hdf5(path):  # MATLAB v7.3
        with h5py.File(path, "r") as handle:
            return {name: handle[name][()] for name in handle if isinstance(handle[name], h5py.Dataset)}
    try:
        from scipy.io import loadmat
    except ImportError:
        raise FeatureFileError("reading .mat labels needs scipy: pip install scipy") from None
    try:
        loaded = loadmat(path)
    except Exception as error:  # scipy raises several types for files that are not MATLAB
        raise FeatureFileError(f"{path}: not a readable .mat file ({error})") from None
    return {name: value for name, value in loaded.items() if not name.startswith("__")}


class FeatureFileWriter:
    """Writes vrt's layout: ``add`` items in order, then ``close`` (HDF5 is written in place,
    so :func:`vrt.inference.features` writes to a temporary file it renames when complete)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        frames: int,
        dim: int,
        class_names: Sequence[str] | None,
        encoder: dict[str, Any] | None,
    ) -> None:
        h5py = _h5py()
        self.path = Path(path)
        self._handle = h5py.File(self.path, "w")
        self._handle.attrs["format"] = FEATURES_FORMAT
        if encoder is not None:
            self._handle.attrs["encoder"] = json.dumps(encoder, sort_keys=True)
        self._feats = self._handle.create_dataset(
            "feats",
            shape=(0, frames, dim),
            maxshape=(None, frames, dim),
            dtype="float16",
            chunks=(1, frames, dim),
        )
        self._class_names = list(class_names) if class_names is not None else None
        self._ids: list[str] = []
        self._labels: list[int] = []
        self._groups: list[str | None] = []

    def add(
        self, features: np.ndarray, ids: Sequence[str], labels: Sequence[int], groups: Sequence[str | None]
    ) -> None:
        """Append items: features ``(n, T, D)`` with their ids, labels and groups."""
        start = self._feats.shape[0]
        self._feats.resize(start + len(ids), axis=0)
        self._feats[start:] = np.asarray(features, dtype=np.float16)
        self._ids += list(ids)
        self._labels += [int(label) for label in labels]
        self._groups += list(groups)

    def close(self) -> None:
        strings = _h5py().string_dtype("utf-8")
        handle = self._handle
        handle.create_dataset("ids", data=np.asarray(self._ids, dtype=object), dtype=strings)
        handle.create_dataset("labels", data=np.asarray(self._labels, dtype=np.int64))
        if self._class_names is not None:
            handle.create_dataset(
                "class_names", data=np.asarray(self._class_names, dtype=object), dtype=strings
            )
        if self._groups and all(group is not None for group in self._groups):
            handle.create_dataset("groups", data=np.asarray(self._groups, dtype=object), dtype=strings)
        handle.close()

    def abort(self) -> None:
        self._handle.close()
