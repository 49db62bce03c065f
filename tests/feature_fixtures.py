"""Small feature files in both layouts: vrt's (``vrt features extract``) and the published one
(``feats`` alone, labels in a ``.mat`` file), with features that cluster by class and by source
so that a model trained on them can be seen to learn."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import scipy.io

from vrt.io.feature_files import FeatureFileWriter

CLASSES = ["a", "b", "c", "d"]
FRAMES, DIM = 6, 16


def clustered_features(
    count: int, *, seed: int, frames: int = FRAMES, dim: int = DIM
) -> tuple[np.ndarray, np.ndarray]:
    """``(count, frames, dim)`` features around one centre per class (classes in turn), plus a
    per-source offset shared by the two items of a source (items ``2i`` and ``2i + 1``)."""
    centres = np.random.default_rng(1234).standard_normal((len(CLASSES), dim)) * 2
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % len(CLASSES)
    sources = np.repeat(rng.standard_normal(((count + 1) // 2, dim)), 2, axis=0)[:count]
    feats = centres[labels][:, None] + sources[:, None] + 0.3 * rng.standard_normal((count, frames, dim))
    return feats.astype(np.float32), labels


def write_vrt_features(path: Path, *, count: int, seed: int, labelled: bool = True) -> Path:
    """vrt's layout: ids ``<stem>/v<i>``, groups ``<stem>/g<i // 2>``, class names when labelled."""
    feats, labels = clustered_features(count, seed=seed)
    writer = FeatureFileWriter(
        path, frames=FRAMES, dim=DIM, class_names=CLASSES if labelled else None, encoder={"test": seed}
    )
    writer.add(
        feats,
        [f"{path.stem}/v{i}" for i in range(count)],
        labels.tolist() if labelled else [-1] * count,
        [f"{path.stem}/g{i // 2}" for i in range(count)],
    )
    writer.close()
    return path


def write_release_features(folder: Path, name: str, *, count: int, seed: int) -> tuple[Path, Path]:
    """The published layout: ``<name>_feats.h5`` with ``feats`` only, and ``<name>_labels.mat``
    (MATLAB v5) with one-hot ``labels``."""
    feats, labels = clustered_features(count, seed=seed)
    features = folder / f"{name}_feats.h5"
    with h5py.File(features, "w") as handle:
        handle.create_dataset("feats", data=feats)
    labels_path = folder / f"{name}_labels.mat"
    scipy.io.savemat(labels_path, {"labels": np.eye(len(CLASSES), dtype=np.uint8)[labels]})
    return features, labels_path
