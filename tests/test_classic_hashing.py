"""LSH and ITQ: their definitions, their files, and `vrt features hash` on feature files."""

from __future__ import annotations

import numpy as np
import pytest

from vrt.codes import CodeSet, load_codes
from vrt.errors import VrtError
from vrt.hashing import fit_hasher, hash_feature_files, is_hasher_file, load_hasher
from vrt.metrics import score_queries

from .feature_fixtures import write_vrt_features


def clustered(rng: np.random.Generator, count: int, *, dim: int = 32, classes: int = 4, spread: float = 0.4):
    centres = rng.standard_normal((classes, dim)) * 2
    labels = np.arange(count) % classes
    return centres[labels] + spread * rng.standard_normal((count, dim)), labels


def test_itq_projection_is_pca_then_a_rotation_and_lowers_the_quantisation_error():
    rng = np.random.default_rng(0)
    features, _ = clustered(rng, 200)
    itq = fit_hasher(features, method="itq", bits=8, seed=0)
    centred = features - features.mean(axis=0)
    # The projection spans the top 8 principal directions: it is PCA's basis times a rotation.
    _, _, right = np.linalg.svd(centred, full_matrices=False)
    pca = right[:8].T
    rotation = pca.T @ itq.projection
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(8), atol=1e-8)
    np.testing.assert_allclose(pca @ rotation, itq.projection, atol=1e-8)

    def quantisation_error(projection: np.ndarray) -> float:
        values = centred @ projection
        return float(np.square(np.sign(values) - values).sum())

    assert quantisation_error(itq.projection) < quantisation_error(pca)


def test_the_same_seed_gives_the_same_hasher_and_another_seed_another():
    rng = np.random.default_rng(1)
    features, _ = clustered(rng, 60)
    for method in ("lsh", "itq"):
        first = fit_hasher(features, method=method, bits=16, seed=3)
        assert first.sha256() == fit_hasher(features, method=method, bits=16, seed=3).sha256()
        assert first.sha256() != fit_hasher(features, method=method, bits=16, seed=4).sha256()


def test_itq_retrieves_better_than_lsh_on_clustered_features():
    rng = np.random.default_rng(2)
    train, train_labels = clustered(rng, 400, dim=64, classes=8, spread=1.5)
    test, test_labels = clustered(np.random.default_rng(2), 400, dim=64, classes=8, spread=1.5)

    def mean_ap(method: str) -> float:
        values = []
        for seed in range(3):
            hasher = fit_hasher(train, method=method, bits=16, seed=seed)
            query = CodeSet.from_bits(
                hasher.encode(test[:100]), labels=test_labels[:100], ids=[f"q{i}" for i in range(100)]
            )
            database = CodeSet.from_bits(
                hasher.encode(train), labels=train_labels, ids=[f"d{i}" for i in range(400)]
            )
            values.append(score_queries(query, database, database_order=False).report().map)
        return float(np.mean(values))

    assert mean_ap("itq") > mean_ap("lsh") + 0.05


def test_bad_fits_and_bad_files_say_so(tmp_path):
    features = np.zeros((5, 4))
    with pytest.raises(VrtError, match="at most"):
        fit_hasher(features, method="itq", bits=8)
    with pytest.raises(VrtError, match="unknown hashing method"):
        fit_hasher(features, method="pq", bits=2)  # type: ignore[arg-type]
    with pytest.raises(VrtError, match="two videos"):
        fit_hasher(features[:1], method="lsh", bits=2)
    hasher = fit_hasher(np.random.default_rng(0).standard_normal((6, 4)), method="lsh", bits=3)
    with pytest.raises(VrtError, match="fitted on 4 features"):
        hasher.encode(np.zeros((2, 5)))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert not is_hasher_file(tmp_path / "junk.npz")
    saved = hasher.save(tmp_path / "hasher.npz")
    assert is_hasher_file(saved) and load_hasher(saved).sha256() == hasher.sha256()


def test_hash_feature_files_writes_codes_that_evaluate_like_a_models(tmp_path):
    train = write_vrt_features(tmp_path / "train.h5", count=40, seed=0)
    test = write_vrt_features(tmp_path / "test.h5", count=12, seed=1)
    done = hash_feature_files(train, test, method="itq", bits=8, out=tmp_path / "itq")
    database, query = load_codes(done.train), load_codes(done.test)
    assert len(database) == 40 and len(query) == 12 and database.bits == 8
    assert database.class_names == ["a", "b", "c", "d"]
    assert database.encoder is not None and database.encoder.head == {"name": "itq", "bits": 8, "seed": 0}
    assert database.encoder.checkpoint_sha256 == load_hasher(done.hasher).sha256()
    assert database.groups is not None and database.groups[0] == "train/g0"
    again = hash_feature_files(train, test, method="lsh", bits=8, out=tmp_path / "lsh")
    assert load_codes(again.train).encoder.checkpoint_sha256 != database.encoder.checkpoint_sha256
