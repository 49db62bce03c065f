"""Feature files in vrt's layout and the published one, and the `features` dataset that trains,
validates and evaluates from them, with and without labels."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import scipy.io
import torch
import yaml
from typer.testing import CliRunner

from vrt.cli import app
from vrt.codes import EncoderIdentity
from vrt.datasets.clips import ClipSpec
from vrt.errors import VrtError
from vrt.io.feature_files import FeatureFileError, open_feature_file, read_release_labels
from vrt.registry import DATASETS

from .feature_fixtures import CLASSES, DIM, FRAMES, write_release_features, write_vrt_features

cli = CliRunner()


def test_vrt_layout_round_trips(tmp_path):
    path = write_vrt_features(tmp_path / "train.h5", count=10, seed=0)
    file = open_feature_file(path)
    assert (len(file), file.frames, file.dim) == (10, FRAMES, DIM)
    assert file.ids[3] == "train/v3" and file.groups[3] == "train/g1"
    assert file.class_names == CLASSES and file.labels.tolist()[:5] == [0, 1, 2, 3, 0]
    assert file.encoder == {"test": 0}
    with h5py.File(path) as handle:  # float16 on disk, float32 when read
        assert handle["feats"].dtype == np.float16
        np.testing.assert_array_equal(file.features(2), handle["feats"][2].astype(np.float32))
    assert file.read(2, 4).shape == (2, FRAMES, DIM)


def test_release_layout_reads_one_hot_and_one_based_labels(tmp_path):
    feats, labels = write_release_features(tmp_path, "ucf", count=8, seed=0)
    file = open_feature_file(feats, labels=labels)
    assert file.labels.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert file.ids[0] == "ucf_feats/000000" and file.encoder is None and file.groups is None
    one_based = tmp_path / "one_based.mat"
    scipy.io.savemat(one_based, {"label": np.array([[1], [4], [2]])})
    assert read_release_labels(one_based, count=3).tolist() == [0, 3, 1]
    # MATLAB v7.3 files are HDF5, stored (classes, videos).
    v73 = tmp_path / "v73.mat"
    with h5py.File(v73, "w") as handle:
        handle["labels"] = np.eye(4)[[2, 0, 1]].T
    assert read_release_labels(v73, count=3).tolist() == [2, 0, 1]
    # Without labels every item is unlabelled.
    assert (open_feature_file(feats).labels == -1).all()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.h5", "not found"),
        (lambda d: _write(d / "no_feats.h5", other=np.zeros(3)), "no 'feats' dataset"),
        (lambda d: _write(d / "flat.h5", feats=np.zeros((3, 4))), "shape \\(videos, frames, dim\\)"),
        (lambda d: _text(d / "text.h5"), "not a readable HDF5"),
    ],
)
def test_bad_feature_files_fail_in_one_line(tmp_path, make, message):
    with pytest.raises(FeatureFileError, match=message):
        open_feature_file(make(tmp_path))


def test_labels_of_another_count_are_refused(tmp_path):
    feats, _ = write_release_features(tmp_path, "x", count=5, seed=0)
    wrong = tmp_path / "wrong.mat"
    scipy.io.savemat(wrong, {"labels": np.eye(4)[[0, 1, 2]]})
    with pytest.raises(FeatureFileError, match="expected one array of 5 labels"):
        open_feature_file(feats, labels=wrong)


def _text(path):
    path.write_text("not hdf5")
    return path


def _write(path, **datasets):
    with h5py.File(path, "w") as handle:
        for name, data in datasets.items():
            handle[name] = data
    return path


def clip_spec(frames: int) -> ClipSpec:
    from vrt.config import config_from_dict
    from vrt.data.pipeline import clip_spec as from_config

    from .conftest import tiny_config_dict

    raw = tiny_config_dict()
    raw["data"]["num_frames"] = frames
    return from_config(config_from_dict(raw))


def test_the_features_dataset_picks_frames_and_drops_some_in_training(tmp_path):
    train = write_vrt_features(tmp_path / "train.h5", count=8, seed=0)
    test = write_vrt_features(tmp_path / "test.h5", count=4, seed=1)
    dataset = DATASETS.get("features")(
        subset="train", clips=clip_spec(4), train=str(train), test=str(test), frame_dropout=0.5
    )
    assert dataset.input_kind == "features" and dataset.made_by == {"test": 0}
    assert dataset.class_names == CLASSES and dataset.groups[:4] == [
        "train/g0",
        "train/g0",
        "train/g1",
        "train/g1",
    ]
    clip = dataset.load_clip(0, training=False)
    assert clip.shape == (4, DIM) and clip.dtype == torch.float32
    torch.manual_seed(0)
    dropped = [int((dataset.load_clip(0, training=True).abs().sum(dim=1) == 0).sum()) for _ in range(20)]
    assert 0 < np.mean(dropped) < 4 and max(dropped) < 4  # about half, never every frame
    assert not (dataset.load_clip(0, training=False).abs().sum(dim=1) == 0).any()
    with pytest.raises(VrtError, match="frame_dropout"):
        DATASETS.get("features")(
            subset="train",
            clips=clip_spec(4),
            train=str(train),
            test=str(test),
            frame_dropout=1.0,
        )


def features_config(tmp_path, dataset: dict, *, loss: dict, sampler: str = "shuffle") -> dict:
    return {
        "name": "features",
        "model": {
            "backbone": {"name": "frame_features", "dim": DIM, "temporal": {"name": "tconv", "width": 8}},
            "head": {"name": "linear", "bits": 16},
        },
        "loss": loss,
        "data": {
            "dataset": {"name": "features", **dataset},
            "num_frames": 4,
            "num_workers": 0,
            "val_fraction": 0.2,
            "batch": {"sampler": sampler, "batch_size": 8}
            if sampler == "shuffle"
            else {"sampler": sampler, "classes_per_batch": 4, "videos_per_class": 2},
        },
        "train": {"epochs": 2, "device": "cpu", "amp": False, "val_every": 1},
        "eval": {"topk": 10},
    }


def train(tmp_path, config: dict, name: str = "run") -> CliRunner:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return cli.invoke(app, ["train", str(path), "--output", str(tmp_path / name)])


def test_the_published_layout_trains_and_evaluates_with_vrt_train(tmp_path):
    train_feats, train_labels = write_release_features(tmp_path, "train", count=32, seed=0)
    test_feats, test_labels = write_release_features(tmp_path, "test", count=12, seed=1)
    dataset = {
        "train": str(train_feats),
        "test": str(test_feats),
        "train_labels": str(train_labels),
        "test_labels": str(test_labels),
    }
    result = train(
        tmp_path, features_config(tmp_path, dataset, loss={"name": "csq"}, sampler="class_balanced")
    )
    assert result.exit_code == 0, result.output
    assert "val mAP" in result.output and "Test queries vs training database" in result.output
    evaluated = cli.invoke(app, ["eval", "--checkpoint", str(tmp_path / "run" / "best.pt"), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert metrics["num_queries"] == 12 and metrics["num_database"] == 32
    assert metrics["map"] > 0.5  # four well-separated classes


def test_unlabelled_features_train_with_a_self_supervised_loss_and_select_on_the_validation_loss(tmp_path):
    train_feats = write_vrt_features(tmp_path / "train.h5", count=24, seed=0, labelled=False)
    dataset = {"train": str(train_feats), "test": str(train_feats)}
    refused = train(tmp_path, features_config(tmp_path, dataset, loss={"name": "csq"}), name="refused")
    assert refused.exit_code != 0 and "have no label" in str(refused.exception)
    assert "self-supervised loss" in str(refused.exception)
    config = features_config(
        tmp_path, dataset, loss={"name": "conmh", "decoder_width": 12, "decoder_heads": 2}
    )
    result = train(tmp_path, config)
    assert result.exit_code == 0, result.output
    assert "val loss" in result.output and "unlabelled" in result.output
    # Test queries are the collection itself: scored by source (two items per group), each query left out.
    assert "relevant: the same source video" in result.output
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all("val_loss" in record and "val_map" not in record for record in records)
    best = min(records, key=lambda record: record["val_loss"])
    assert records[-1]["best_epoch"] == best["epoch"]


def test_a_backbone_of_the_wrong_input_or_width_is_refused_before_training(tmp_path):
    train_feats = write_vrt_features(tmp_path / "train.h5", count=16, seed=0)
    dataset = {"train": str(train_feats), "test": str(train_feats)}
    config = features_config(tmp_path, dataset, loss={"name": "csq"})
    config["model"]["backbone"]["dim"] = DIM + 1
    result = train(tmp_path, config, name="wide")
    assert result.exit_code != 0 and f"set it to {DIM}" in str(result.exception)
    config["model"]["backbone"] = {"name": "tiny3d", "width": 4}
    result = train(tmp_path, config, name="clips")
    assert result.exit_code != 0 and "gives frame features; use frame_features" in str(result.exception)


def test_clips_per_video_and_files_of_two_encoders_are_refused_before_training(tmp_path):
    train_feats = write_vrt_features(tmp_path / "train.h5", count=16, seed=0)
    config = features_config(
        tmp_path, {"train": str(train_feats), "test": str(train_feats)}, loss={"name": "csq"}
    )
    config["data"]["clips_per_video"] = 2
    result = train(tmp_path, config, name="multi")
    assert result.exit_code != 0 and "data.clips_per_video: 2" in str(result.exception)
    # Fresh files: the failed run above (in this process) may still hold the first one open.
    train_feats = write_vrt_features(tmp_path / "small.h5", count=16, seed=0)
    other = write_vrt_features(tmp_path / "large.h5", count=8, seed=1)
    for path, size in ((train_feats, 112), (other, 224)):
        made_by = EncoderIdentity(backbone={"name": "frames", "image_size": size}, bits=8)
        with h5py.File(path, "r+") as handle:
            handle.attrs["encoder"] = made_by.to_json()
    config = features_config(tmp_path, {"train": str(train_feats), "test": str(other)}, loss={"name": "csq"})
    result = train(tmp_path, config, name="mixed")
    assert result.exit_code != 0 and "features of different encoders" in str(result.exception)
