"""The feeding check: each epoch's data-wait share in metrics.jsonl, and a warning when it is high."""

from __future__ import annotations

import json
import re
import time

import pytest

from vrt.config import config_from_dict
from vrt.datasets.synthetic import SyntheticVideos
from vrt.training.feeding import DATA_WAIT_LIMIT, feeding_record, starved_warning
from vrt.training.runner import Runner

from .conftest import tiny_config_dict


def records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_a_slow_dataset_is_reported_with_the_setting_that_helps(tmp_path, monkeypatch):
    load_clip = SyntheticVideos.load_clip

    def slow_load_clip(self, index, **options):
        time.sleep(0.05)  # a slow disk: far longer than tiny3d's step on 4 x 32 x 32 clips
        return load_clip(self, index, **options)

    monkeypatch.setattr(SyntheticVideos, "load_clip", slow_load_clip)
    runner = Runner(config_from_dict(tiny_config_dict(epochs=2)), tmp_path / "run")
    runner.fit()
    epochs = records(tmp_path / "run")
    for record in epochs:
        assert record["data_wait_share"] > DATA_WAIT_LIMIT
        assert record["data_wait_s"] + record["compute_s"] == pytest.approx(record["seconds"])
        assert record["data_wait_share"] == pytest.approx(record["data_wait_s"] / record["seconds"])
    log = (tmp_path / "run" / "train.log").read_text()
    # Warned once (not every epoch), naming the setting that helps this run: more workers.
    assert log.count("the training step waited for data") == 1
    assert "epoch 1: the training step waited for data" in log and "data.num_workers is 0" in log
    assert re.search(r"epoch 1/2 .*data wait \d+%", log) and re.search(r"epoch 2/2 .*data wait \d+%", log)


def test_the_warning_names_what_helps_for_the_storage_and_the_device():
    config = config_from_dict(tiny_config_dict())
    config.data.num_workers = 64  # more workers than cores: not the advice
    config.data.persistent_workers = True
    starved = {"epoch": 3, "seconds": 10.0, **feeding_record(seconds=10.0, data_seconds=6.0)}
    assert starved["data_wait_share"] == pytest.approx(0.6) and starved["compute_s"] == pytest.approx(4.0)

    videos = starved_warning(starved, config=config, storage={"video"}, device_type="cuda")
    assert (
        videos is not None
        and "60%" in videos
        and f"vrt prepare frames --short-side {config.data.augment.resize_short}" in videos
    )
    assert "data.pipeline: device" not in videos and "num_workers" not in videos

    frames = starved_warning(starved, config=config, storage={"frames"}, device_type="cuda")
    assert frames is not None and "data.pipeline: device" in frames and "prepare" not in frames
    # On the CPU, moving the work to the device moves it to the same cores: not offered.
    assert "data.pipeline" not in (
        starved_warning(starved, config=config, storage={"frames"}, device_type="cpu") or ""
    )

    config.data.persistent_workers = False
    restarts = starved_warning(starved, config=config, storage=(), device_type="cpu")
    assert restarts is not None and "data.persistent_workers: true" in restarts

    fed = {"epoch": 1, "seconds": 10.0, **feeding_record(seconds=10.0, data_seconds=2.0)}
    assert starved_warning(fed, config=config, storage={"video"}, device_type="cuda") is None
    assert feeding_record(seconds=0.0, data_seconds=0.0)["data_wait_share"] == 0.0
