"""LSH or ITQ codes of the videos of feature files: what ``vrt features hash`` runs.

    from vrt.hashing import hash_feature_files

    done = hash_feature_files("train.h5", "test.h5", method="itq", bits=48, out="runs/itq48")
    # runs/itq48/hasher.npz, codes_train.npz, codes_test.npz: `vrt eval --query ... --database ...`

The hasher is fitted on the train file's videos (the database), each pooled to the mean of its
frames, and applied to both files. The codes files carry the items' ids, labels, class names and
source groups, and an encoder identity naming the hasher by its SHA-256, so that they can be
evaluated, indexed and searched like the codes of a trained model, and never mixed with codes
of another fit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vrt.codes import CodeSet, EncoderIdentity, save_codes
from vrt.hashing.classic import LinearHasher, Method, fit_hasher
from vrt.io.feature_files import FeatureFile, open_feature_file

__all__ = ["HashedFeatures", "hash_feature_files", "pooled_features"]

HASHER_FILE = "hasher.npz"


@dataclass(frozen=True)
class HashedFeatures:
    """What :func:`hash_feature_files` wrote: the hasher and the two codes files."""

    hasher: Path
    train: Path
    test: Path


def pooled_features(file: FeatureFile, *, chunk: int = 512) -> np.ndarray:
    """Every item's mean over its frames, float64 ``(N, D)``, read ``chunk`` items at a time."""
    pooled = np.empty((len(file), file.dim))
    for start in range(0, len(file), chunk):
        block = file.read(start, start + chunk)
        pooled[start : start + block.shape[0]] = block.mean(axis=1, dtype=np.float64)
    return pooled


def hash_feature_files(
    train: str | os.PathLike[str],
    test: str | os.PathLike[str],
    *,
    method: Method,
    bits: int,
    out: str | os.PathLike[str],
    seed: int = 0,
    train_labels: str | os.PathLike[str] | None = None,
    test_labels: str | os.PathLike[str] | None = None,
) -> HashedFeatures:
    """Fit ``method`` on ``train``'s videos, write the hasher and the codes of both files to ``out``."""
    files = {
        "train": open_feature_file(train, labels=train_labels),
        "test": open_feature_file(test, labels=test_labels),
    }
    pooled = {split: pooled_features(file) for split, file in files.items()}
    hasher = fit_hasher(pooled["train"], method=method, bits=bits, seed=seed)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    hasher_path = hasher.save(folder / HASHER_FILE)
    identity = _identity(hasher, files["train"], hasher_path)
    class_names = files["train"].class_names or files["test"].class_names
    written = {}
    for split, file in files.items():
        codes = CodeSet.from_bits(
            hasher.encode(pooled[split]),
            labels=file.labels,
            ids=file.ids,
            class_names=class_names,
            encoder=identity,
            groups=file.groups,
        )
        written[split] = save_codes(folder / f"codes_{split}.npz", codes)
    return HashedFeatures(hasher_path, written["train"], written["test"])


def _identity(hasher: LinearHasher, file: FeatureFile, path: Path) -> EncoderIdentity:
    """The hasher's identity: its SHA-256 stands for the checkpoint's, the features' maker for the backbone."""
    return EncoderIdentity(
        checkpoint_sha256=hasher.sha256(),
        backbone={"name": "feature_file", "features": file.encoder},
        head={"name": hasher.method, "bits": hasher.bits, "seed": hasher.seed},
        bits=hasher.bits,
        checkpoint=str(path),
    )
