"""Hashing without deep training: LSH and ITQ over pooled frame features (numpy only).

The two baselines every video hashing paper compares with, as methods anyone can run on the
same features as a trained model:

* ``lsh``: random hyperplanes (Charikar 2002): the sign of ``(x - mean) @ W`` with ``W`` drawn
  from a standard normal. Nothing is learned from the data except its mean.
* ``itq``: iterative quantisation (Gong & Lazebnik, CVPR 2011): PCA to ``bits`` dimensions, then
  the orthogonal rotation that brings the projected data closest to the corners of the
  hypercube, found by alternating ``B = sign(VR)`` and the orthogonal Procrustes solution for
  ``R`` (50 iterations, as in the paper).

Both see one vector per video: the mean of its frames' features (what the papers' baselines
use), fitted on the database (train) videos and applied to every set. A fitted hasher is a
mean, a projection and a seed, saved as a small ``.npz``; its SHA-256 is the identity of the
codes it makes, so that codes of two fits are never mixed.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from vrt.errors import VrtError
from vrt.runtime.fileio import atomic_write

__all__ = ["METHODS", "LinearHasher", "fit_hasher", "is_hasher_file", "load_hasher"]

Method = Literal["lsh", "itq"]
METHODS: tuple[str, ...] = ("lsh", "itq")
ITQ_ITERATIONS = 50


@dataclass(frozen=True, eq=False)
class LinearHasher:
    """``code = sign((x - mean) @ projection) > 0`` per bit: what LSH and ITQ both fit."""

    method: str
    mean: np.ndarray  # float64 [D]
    projection: np.ndarray  # float64 [D, bits]
    seed: int

    @property
    def bits(self) -> int:
        return int(self.projection.shape[1])

    @property
    def dim(self) -> int:
        return int(self.projection.shape[0])

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Bits ``(N, bits)`` (bool) of pooled features ``(N, D)``."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise VrtError(
                f"{self.method} was fitted on {self.dim} features per video, got an array of shape {features.shape}"
            )
        return (features - self.mean) @ self.projection > 0

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            method=np.asarray(self.method),
            mean=self.mean,
            projection=self.projection,
            seed=np.asarray(self.seed),
        )
        return buffer.getvalue()

    def sha256(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def save(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        data = self.to_bytes()
        atomic_write(path, lambda handle: handle.write(data))
        return path


def is_hasher_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds a hasher :meth:`LinearHasher.save` wrote."""
    try:
        load_hasher(path)
    except VrtError:
        return False
    return True


def load_hasher(path: str | os.PathLike[str]) -> LinearHasher:
    """A hasher :meth:`LinearHasher.save` wrote."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return LinearHasher(
                method=str(archive["method"]),
                mean=archive["mean"],
                projection=archive["projection"],
                seed=int(archive["seed"]),
            )
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise VrtError(f"{path}: not a hasher saved by vrt ({error})") from None


def fit_hasher(features: np.ndarray, *, method: Method, bits: int, seed: int = 0) -> LinearHasher:
    """Fit LSH or ITQ of ``bits`` bits on pooled features ``(N, D)`` (the database videos').

    Raises:
        VrtError: an unknown method, or (ITQ) more bits than the features have dimensions or
            the data has videos: PCA cannot give more directions than that.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise VrtError(f"fitting a hasher needs features of two videos or more, got shape {features.shape}")
    if bits < 1:
        raise VrtError(f"bits must be a positive number, got {bits}")
    mean = features.mean(axis=0)
    rng = np.random.default_rng(seed)
    if method == "lsh":
        projection = rng.standard_normal((features.shape[1], bits))
    elif method == "itq":
        projection = _itq(features - mean, bits, rng)
    else:
        raise VrtError(f"unknown hashing method {method!r}; expected one of {', '.join(METHODS)}")
    return LinearHasher(method=method, mean=mean, projection=projection, seed=seed)


def _itq(centred: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    """PCA to ``bits`` directions, then the ITQ rotation: the projection ``(D, bits)``."""
    count, dim = centred.shape
    if bits > min(dim, count):
        raise VrtError(
            f"itq gives at most min(feature dimensions, videos) = {min(dim, count)} bits here, not {bits}"
        )
    # The principal directions from the SVD of the data (no D x D covariance for wide features).
    _, _, right = np.linalg.svd(centred, full_matrices=False)
    pca = right[:bits].T  # (D, bits)
    projected = centred @ pca
    # A random orthogonal start, as in the paper.
    rotation, _ = np.linalg.qr(rng.standard_normal((bits, bits)))
    for _ in range(ITQ_ITERATIONS):
        codes = np.where(projected @ rotation >= 0, 1.0, -1.0)
        # Orthogonal Procrustes: the rotation R minimising ||B - V R|| is U W^T of svd(V^T B).
        left, _, right_t = np.linalg.svd(projected.T @ codes)
        rotation = left @ right_t
    return pca @ rotation
