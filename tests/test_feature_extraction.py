"""`vrt features extract`: a frame backbone's per-frame features of a split or of videos, into a
feature file, resumably; and a model trained on them encoding videos through the same encoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from vrt.cli import app
from vrt.errors import VrtError
from vrt.inference import TrainedModel
from vrt.inference.features import extract_features, parts_folder
from vrt.io.feature_files import open_feature_file

from .video_collection import save_untrained_checkpoint

pytest.importorskip("timm")

cli = CliRunner()


def frames_config() -> dict:
    """A frame backbone with an untrained EfficientNet-Lite0 (no weights needed) on tiny clips."""
    return {
        "name": "frames",
        "model": {
            "backbone": {
                "name": "frames",
                "encoder": {"name": "efficientnet_lite0", "pretrained": None},
                "temporal": {"name": "mean"},
            },
            "head": {"name": "linear", "bits": 16},
        },
        "loss": {"name": "csq"},
        "data": {
            "dataset": {
                "name": "synthetic",
                "num_classes": 2,
                "videos_per_class": 3,
                "test_videos_per_class": 2,
            },
            "num_frames": 4,
            "frame_size": 32,
            "num_workers": 0,
            "eval_batch_size": 2,
        },
        "train": {"device": "cpu", "amp": False},
    }


@pytest.fixture(scope="module")
def extractor(tmp_path_factory) -> TrainedModel:
    """The frame backbone, from a checkpoint (its random weights are then on record)."""
    path = tmp_path_factory.mktemp("extractor") / "frames.pt"
    return TrainedModel.load(save_untrained_checkpoint(path, config=frames_config()))


def test_the_file_holds_each_items_frame_features_with_its_record(extractor, tmp_path):
    view = extractor.splits.view("train")
    done = extract_features(extractor, view, out=tmp_path / "train.h5")
    assert done.complete and done.encoded == len(view) == 6 and not done.skipped
    file = open_feature_file(done.path)
    assert (len(file), file.frames, file.dim) == (6, 4, 1280)
    assert file.class_names == extractor.splits.train_source.class_names
    assert file.encoder["backbone"]["name"] == "frames" and file.encoder["clips"]["num_frames"] == 4
    clip = view.dataset.load_clip(view.indices[1], training=False)
    with torch.no_grad():
        expected = extractor.model.frame_features(clip[None])[0].numpy()
    np.testing.assert_allclose(file.features(1), expected, rtol=2e-3, atol=2e-3)  # float16 on disk
    assert not parts_folder(done.path).exists()


def test_an_interrupted_extraction_resumes_to_the_same_file(extractor, tmp_path):
    view = extractor.splits.view("train")
    whole = extract_features(extractor, view, out=tmp_path / "whole.h5")
    out = tmp_path / "part.h5"
    stopped = extract_features(extractor, view, out=out, batch_size=2, stop=lambda: True)
    assert not stopped.complete and stopped.encoded == 2 and not out.exists()
    with pytest.raises(VrtError, match="--resume"):
        extract_features(extractor, view, out=out)
    resumed = extract_features(extractor, view, out=out, resume=True, batch_size=2)
    assert resumed.complete and resumed.reused == 2 and resumed.encoded == 4
    first, second = open_feature_file(whole.path), open_feature_file(out)
    assert first.ids == second.ids
    np.testing.assert_array_equal(first.read(0, 6), second.read(0, 6))


def test_the_command_extracts_a_split_and_refuses_a_model_that_reads_features(tmp_path):
    path = tmp_path / "frames.yaml"
    path.write_text(yaml.safe_dump(frames_config()))
    result = cli.invoke(
        app,
        ["features", "extract", "--config", str(path), "--split", "test", "--out", str(tmp_path / "t.h5")],
    )
    assert result.exit_code == 0, result.output
    assert "Wrote the features of 4 items" in result.output
    both = cli.invoke(app, ["features", "extract", "--config", str(path), "--out", str(tmp_path / "x.h5")])
    assert both.exit_code != 0 and "--split" in both.output


def test_a_model_trained_on_features_encodes_videos_through_the_recorded_encoder(extractor, tmp_path):
    """Training keeps the features' record; the video model is the encoder, then the trained part."""
    view = extractor.splits.view("train")
    done = extract_features(extractor, view, out=tmp_path / "train.h5")
    raw = {
        "name": "on_features",
        "model": {
            "backbone": {"name": "frame_features", "dim": 1280, "temporal": {"name": "mean"}},
            "head": {"name": "linear", "bits": 16},
        },
        "loss": {"name": "csq"},
        "data": {
            "dataset": {"name": "features", "train": str(done.path), "test": str(done.path)},
            "num_frames": 4,
            "num_workers": 0,
            "val_fraction": 0.0,
            "batch": {"sampler": "shuffle", "batch_size": 4},
        },
        "train": {"epochs": 1, "device": "cpu", "amp": False},
        "eval": {"topk": 5},
    }
    config = tmp_path / "on_features.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = cli.invoke(app, ["train", str(config), "--output", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    trained = TrainedModel.load(tmp_path / "run" / "best.pt")
    video = trained.for_videos()
    assert video.model.input_kind == "clips" and video.config.data.num_frames == 4
    # The same items, once from the file and once from their pixels: the same codes but where a
    # value sits on a sign's edge (features are float16 in the file).
    from_file = trained.encode(trained.splits.view("train"))
    from_pixels = trained.encode(extractor.splits.view("train"))
    assert (
        from_pixels.encoder.backbone["name"] == "frames"
        and from_file.encoder.backbone["name"] == "frame_features"
    )
    agreement = (np.unpackbits(from_file.codes) == np.unpackbits(from_pixels.codes)).mean()
    assert agreement > 0.95
    # A pretrained encoder without weights on record (here: none at all) cannot be rebuilt...
    record = trained.state["features_made_by"]
    record["checkpoint_sha256"] = None
    trained._video = None
    with pytest.raises(VrtError, match="no weights"):
        trained.for_videos()
    # ... nor can features of an encoder no one recorded (the published files).
    trained.state.pop("features_made_by")
    trained._video = None
    with pytest.raises(VrtError, match="feature files only"):
        trained.for_videos()


def test_shards_extract_their_blocks_and_a_final_resume_writes_the_whole_file(extractor, tmp_path):
    from vrt.inference.shards import Shard

    view = extractor.splits.view("train")
    whole = extract_features(extractor, view, out=tmp_path / "whole.h5")
    out = tmp_path / "sharded.h5"
    done = [extract_features(extractor, view, out=out, shard=Shard(rank, 2)) for rank in (1, 0)]
    assert [(d.complete, d.encoded) for d in done] == [(True, 3), (True, 3)] and not out.exists()
    assert len(list(parts_folder(out).glob("part-r*.npz"))) == 2
    final = extract_features(extractor, view, out=out, resume=True)
    assert final.complete and (final.encoded, final.reused) == (0, 6) and not parts_folder(out).exists()
    first, second = open_feature_file(whole.path), open_feature_file(out)
    assert first.ids == second.ids
    np.testing.assert_array_equal(first.read(0, 6), second.read(0, 6))


@pytest.mark.slow
def test_torchrun_extraction_writes_the_file_of_one_process(tmp_path):
    import os
    import subprocess
    import sys

    from .conftest import REPO_ROOT

    # A checkpoint, not the config: an untrained encoder built from a config is random in each process.
    checkpoint = save_untrained_checkpoint(tmp_path / "frames.pt", config=frames_config())
    args = ["features", "extract", "--checkpoint", str(checkpoint), "--split", "train"]
    one = cli.invoke(app, [*args, "--out", str(tmp_path / "one.h5")])
    assert one.exit_code == 0, one.output
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "vrt", *args,
               "--out", str(tmp_path / "two.h5")]  # fmt: skip
    two = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stderr.count("Wrote the features of 6 items") == 1
    first, second = open_feature_file(tmp_path / "one.h5"), open_feature_file(tmp_path / "two.h5")
    assert first.ids == second.ids and first.labels.tolist() == second.labels.tolist()
    # Each process computes with its own threads: the float16 features agree to their precision.
    np.testing.assert_allclose(first.read(0, 6), second.read(0, 6), rtol=2e-3, atol=2e-3)
    assert not parts_folder(tmp_path / "two.h5").exists()
