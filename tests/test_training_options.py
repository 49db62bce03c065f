"""Speed options: loader workers never change a run; channels_last trains; the throughput benchmark runs."""

from __future__ import annotations

import runpy
import sys

import pytest
import torch

from vrt.checkpoints.format import load_checkpoint
from vrt.config import config_from_dict
from vrt.training.runner import Runner

from .conftest import REPO_ROOT, tiny_config_dict

pytestmark = pytest.mark.slow


def train(tmp_path, name: str, *, epochs: int = 2, data: dict | None = None, **train_overrides) -> dict:
    config_dict = tiny_config_dict(epochs=epochs, max_steps_per_epoch=2, **train_overrides)
    config_dict["data"].update(data or {})
    Runner(config_from_dict(config_dict), tmp_path / name).fit()
    return load_checkpoint(tmp_path / name / "last.pt")["model"]


def clips_by_epoch_and_video(loader, epochs: int) -> dict[tuple[int, int], torch.Tensor]:
    seen = {}
    for epoch in range(epochs):
        loader.batch_sampler.set_epoch(epoch)
        for batch in loader:
            for clip, index in zip(batch.clips, batch.indices.tolist(), strict=True):
                seen[(epoch, index)] = clip
    return seen


def test_training_clips_depend_on_epoch_and_video_not_on_the_workers():
    from vrt.data.pipeline import build_data_splits, train_loader

    config_dict = tiny_config_dict()
    config_dict["data"]["dataset"]["noise"] = 0.2
    config = config_from_dict(config_dict)
    view = build_data_splits(config).view("fit", training=True, augment_seed=5)
    in_main = clips_by_epoch_and_video(train_loader(view, config), epochs=2)
    config_dict["data"] |= {"num_workers": 2, "persistent_workers": True}
    in_workers = clips_by_epoch_and_video(train_loader(view, config_from_dict(config_dict)), epochs=2)
    assert in_main.keys() == in_workers.keys() and len(in_main) == 2 * len(view)
    for key, clip in in_main.items():
        assert torch.equal(clip, in_workers[key]), key
    first = min(index for _, index in in_main)
    assert not torch.equal(in_workers[(0, first)], in_workers[(1, first)])  # each epoch, new noise


def test_persistent_workers_give_the_weights_of_loading_in_the_main_process(tmp_path):
    # Two epochs: persistent workers keep their copy of the view, so the epoch that seeds each
    # clip's augmentation must reach them with the batch, not through the main process's view.
    reference = train(tmp_path, "main")
    workers = train(
        tmp_path, "workers", data={"num_workers": 2, "persistent_workers": True, "prefetch_factor": 3}
    )
    for key in reference:
        assert torch.equal(reference[key], workers[key]), key


def test_channels_last_trains_to_nearly_the_same_weights(tmp_path):
    reference = train(tmp_path, "contiguous", epochs=1)
    channels_last = train(tmp_path, "channels_last", epochs=1, channels_last=True)
    for key in reference:
        torch.testing.assert_close(channels_last[key], reference[key], rtol=1e-3, atol=1e-4)


def test_train_throughput_benchmark_prints_its_table(monkeypatch, capsys):
    script = REPO_ROOT / "benchmarks" / "train_throughput.py"
    argv = ["--backbone", "tiny3d", "--param", "width=4", "--frames", "4", "--size", "32"]
    argv += ["--batch-size", "4", "--steps", "2", "--warmup", "1", "--workers", "0", "--device", "cpu"]
    monkeypatch.setattr(sys, "argv", [str(script), *argv])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "train_throughput.py --backbone tiny3d" in out  # the command, for the record
    row = next(line for line in out.splitlines() if line.startswith("| tiny3d"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "4×32×32" and cells[2] == "4" and cells[3] == "cpu"
    data_ms, step_ms, clips_per_s = map(float, cells[-3:])
    assert data_ms >= 0 and step_ms > 0 and clips_per_s > 0


def test_warmup_and_a_classification_term_train_the_classifier_with_the_model(tmp_path):
    import json

    from vrt.losses.classification import ClassificationLoss

    config_dict = tiny_config_dict(epochs=3, max_steps_per_epoch=2, warmup_epochs=2)
    config_dict["loss"] = {
        "terms": [{"name": "triplet_ranking", "margin": 4.0}, {"name": "classification", "weight": 0.5}]
    }
    Runner(config_from_dict(config_dict), tmp_path / "run").fit()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    # lr 0.003 reached in steps of lr / (w + 1) over the w = 2 warmup epochs, then the cosine's start.
    assert [record["lr"] for record in records] == pytest.approx([0.001, 0.002, 0.003])
    trained = load_checkpoint(tmp_path / "run" / "last.pt")["loss"]["terms.1.classifier.weight"]
    initial = ClassificationLoss(bits=16, num_classes=4).classifier.weight
    assert trained.shape == initial.shape and not torch.allclose(trained, initial)
