"""The Runner end to end on tiny configs: learning, run files, resume equivalence, determinism."""

from __future__ import annotations

import json

import pytest
import torch

from vrt.checkpoints.format import load_checkpoint
from vrt.config import config_from_dict, load_config
from vrt.errors import CheckpointError, OutputError, TrainingError
from vrt.inference import TrainedModel
from vrt.losses.combined import WeightedLossSum
from vrt.training.runner import Runner

from .conftest import tiny_config_dict

pytestmark = pytest.mark.slow


def run(tmp_path, name: str, **train_overrides):
    config = config_from_dict(tiny_config_dict(**train_overrides))
    runner = Runner(config, tmp_path / name)
    report = runner.fit().report
    return runner, report


def read_metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_same_weights(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def test_training_writes_the_run_directory_and_the_loss_decreases(tmp_path):
    runner, report = run(tmp_path, "run", epochs=6)
    root = runner.paths.root
    for name in (
        "config.yaml",
        "metrics.jsonl",
        "last.pt",
        "best.pt",
        "results.json",
        "codes_test.npz",
        "codes_train.npz",
    ):
        assert (root / name).is_file(), name
    records = read_metrics(root)
    assert [r["epoch"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[-1]["loss"] < records[0]["loss"]
    assert all("val_map" in r and r["clips_per_s"] > 0 for r in records)
    record = json.loads((root / "results.json").read_text())
    assert record["schema"] == "vrt.results/1" and record["protocol"]["checkpoint"]["epoch"] >= 1
    results = record["metrics"]
    assert results["map"] == pytest.approx(report.map)
    assert results["num_queries"] == 4 * 3 and results["num_database"] == 4 * 8
    # The saved config is the resolved one and loads back into the same run description.
    assert load_config(root / "config.yaml").train.epochs == 6
    # What the run printed is kept, the curves are drawn, and TensorBoard has every epoch's numbers.
    log = (root / "train.log").read_text()
    assert "Training tiny3d + linear" in log and "epoch 6/6" in log and "Test (best.pt" in log
    assert (root / "curves.png").read_bytes().startswith(b"\x89PNG")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(root / "tensorboard"))
    events.Reload()
    assert {"loss", "lr", "val_map", "clips_per_s"} <= set(events.Tags()["scalars"])
    assert [event.step for event in events.Scalars("val_map")] == [1, 2, 3, 4, 5, 6]


def test_best_checkpoint_is_chosen_on_validation(tmp_path):
    runner, _ = run(tmp_path, "run", epochs=4)
    records = read_metrics(runner.paths.root)
    best = max(records, key=lambda r: r["val_map"])  # first maximum wins: later ties do not improve
    assert load_checkpoint(runner.paths.best)["epoch"] == best["epoch"]
    assert records[-1]["best_epoch"] == best["epoch"]


def test_resume_after_a_crash_gives_the_uninterrupted_weights(tmp_path, monkeypatch):
    straight, _ = run(tmp_path, "straight", epochs=2)

    config = config_from_dict(tiny_config_dict(epochs=2))
    interrupted = Runner(config, tmp_path / "resumed")
    original_print = Runner._print_epoch

    def crash_after_first_epoch(self, record, improved):
        original_print(self, record, improved)
        raise KeyboardInterrupt  # the process dies right after epoch 1's checkpoint

    monkeypatch.setattr(Runner, "_print_epoch", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    monkeypatch.setattr(Runner, "_print_epoch", original_print)
    assert load_checkpoint(interrupted.paths.last)["epoch"] == 1

    Runner(config, tmp_path / "resumed").fit(resume=True)
    assert_same_weights(
        load_checkpoint(straight.paths.last)["model"],
        load_checkpoint(tmp_path / "resumed" / "last.pt")["model"],
    )
    assert [r["epoch"] for r in read_metrics(tmp_path / "resumed")] == [1, 2]


def test_same_config_gives_the_same_codes_twice(tmp_path):
    first, _ = run(tmp_path, "a", epochs=1)
    second, _ = run(tmp_path, "b", epochs=1)
    codes = []
    for runner in (first, second):
        codes.append(runner.encode(TrainedModel.load(runner.paths.best), "test").codes)
    assert (codes[0] == codes[1]).all()


def test_existing_run_is_never_overwritten(tmp_path):
    run(tmp_path, "run", epochs=1)
    with pytest.raises(OutputError, match="--resume"):
        run(tmp_path, "run", epochs=1)


def test_resume_refuses_a_different_config(tmp_path):
    run(tmp_path, "run", epochs=1)
    changed = config_from_dict(tiny_config_dict(epochs=2, seed=5))
    with pytest.raises(CheckpointError, match="train.seed"):
        Runner(changed, tmp_path / "run").fit(resume=True)


def test_resume_may_extend_training(tmp_path):
    run(tmp_path, "run", epochs=1)
    longer = tiny_config_dict(epochs=2)
    # Speed settings that leave the computation as it was may change too (the feeding warning advises them).
    longer["data"] |= {"pipeline": "device", "decoder": {"name": "pyav", "threads": 2}, "load_threads": 1}
    Runner(config_from_dict(longer), tmp_path / "run").fit(resume=True)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 2


def test_non_finite_loss_stops_with_a_clear_message(tmp_path, monkeypatch):
    config = config_from_dict(tiny_config_dict(epochs=1))
    runner = Runner(config, tmp_path / "run")

    class ExplodingLoss(torch.nn.Module):
        def forward(self, codes, labels):
            return codes.sum() * float("nan")

    monkeypatch.setattr(
        "vrt.training.session.build_loss",
        lambda config, **_: WeightedLossSum([("exploding", 1.0, ExplodingLoss())]),
    )
    with pytest.raises(TrainingError, match="loss became nan"):
        runner.fit()


def test_unreadable_videos_are_skipped_counted_and_listed(tmp_path, monkeypatch):
    from vrt.datasets.synthetic import SyntheticVideos
    from vrt.errors import VideoDecodeError

    original = SyntheticVideos.load_clip
    broken = {"synthetic/train/00001", "synthetic/train/00005", "synthetic/test/00002"}

    def flaky_load_clip(self, index, **kwargs):
        if self.ids[index] in broken:
            raise VideoDecodeError(f"{self.ids[index]}: moov atom not found")
        return original(self, index, **kwargs)

    monkeypatch.setattr(SyntheticVideos, "load_clip", flaky_load_clip)
    runner, report = run(tmp_path, "run", epochs=2)

    listed = (runner.paths.bad_videos).read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in listed) == sorted(broken)  # each once, despite 2 epochs
    assert all("moov atom" in line for line in listed)
    assert json.loads(runner.paths.results.read_text())["protocol"]["bad_videos"] == 3
    assert report.num_queries == 4 * 3 - 1 and report.num_database == 4 * 8 - 2


@pytest.fixture
def collapsed_codes(monkeypatch) -> list[str]:
    """Every clip gets the same code (the collapse a broken recipe produces); the run's warnings
    are collected in the list returned."""
    from vrt.model import HashingModel

    monkeypatch.setattr(
        HashingModel,
        "forward",
        lambda self, clips: self.head.fc.bias.tanh().expand(len(clips), -1) + 0 * clips.sum(),
    )
    messages: list[str] = []
    monkeypatch.setattr(Runner, "log_warning", lambda self, text: messages.append(text))
    return messages


def test_validation_warns_about_collapsed_codes_and_records_their_spread(tmp_path, collapsed_codes):
    messages = collapsed_codes
    runner, _ = run(tmp_path, "collapsed", epochs=3, max_steps_per_epoch=1)
    records = read_metrics(runner.paths.root)
    assert records[0]["val_top_code_share"] == 1.0 and records[0]["val_constant_bits"] == 16
    # Each sentence is shown after the first validation, then once more at the end with a count
    # (a 3-epoch run printed the same warnings after every epoch).
    first = [m for m in messages if m.startswith("validation after epoch 1: degenerate")]
    assert first and not any(
        m.startswith(("validation after epoch 2", "validation after epoch 3")) for m in messages
    )
    repeated = [
        m for m in messages if m.startswith("validation after 3 epochs (1-3), latest after epoch 3: ")
    ]
    assert len(repeated) == len(first), messages
    # results.json judges the test codes by the same thresholds: 16 constant bits are said.
    warnings = json.loads(runner.paths.results.read_text())["metrics"]["warnings"]
    assert any("16 of the 16 bits never change over the 32 items" in w for w in warnings), warnings


def test_repeated_validation_warnings_are_counted_when_the_run_fails(tmp_path, monkeypatch, collapsed_codes):
    messages = collapsed_codes
    train_one_epoch = Runner._train_one_epoch

    def fail_in_epoch_3(self, session, epoch, stop):
        if epoch == 2:
            raise RuntimeError("the disk went away")
        return train_one_epoch(self, session, epoch, stop)

    monkeypatch.setattr(Runner, "_train_one_epoch", fail_in_epoch_3)
    with pytest.raises(RuntimeError, match="the disk went away"):
        run(tmp_path, "fails", epochs=4, max_steps_per_epoch=1)
    # Validated after epochs 1 and 2, then failed: the repeats are still said, once each.
    first = [m for m in messages if m.startswith("validation after epoch 1: degenerate")]
    repeated = [
        m for m in messages if m.startswith("validation after 2 epochs (1-2), latest after epoch 2: ")
    ]
    assert first and len(repeated) == len(first), messages
