"""Hashing without deep training: LSH and ITQ fitted on pooled frame features (numpy only)."""

from vrt.hashing.classic import METHODS, LinearHasher, fit_hasher, is_hasher_file, load_hasher
from vrt.hashing.features import HashedFeatures, hash_feature_files, pooled_features

__all__ = [
    "METHODS",
    "HashedFeatures",
    "LinearHasher",
    "fit_hasher",
    "hash_feature_files",
    "is_hasher_file",
    "load_hasher",
    "pooled_features",
]
