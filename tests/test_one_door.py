"""Each job has one door: one encoder, one evaluation, one comparability check.

Each test breaks the door and runs every command (and the search app) that should pass through
it: every one of them must fail with the planted error. A command with a second, private way to
do the job would go on working and fail its test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vrt.cli import app
from vrt.errors import VrtError

from .conftest import tiny_config_dict

cli = CliRunner()


class Planted(VrtError):
    """The error a broken door raises."""


def broken(*_args, **_kwargs):
    raise Planted("the planted door was used")


@pytest.fixture(scope="module")
def setting(footage, encoder_checkpoint, tmp_path_factory) -> dict[str, Path]:
    """Codes files and an index made before any door is broken, and a tiny training config."""
    folder = tmp_path_factory.mktemp("door")
    for args in (
        [
            "encode",
            "--checkpoint",
            encoder_checkpoint,
            "--videos",
            footage / "street",
            "--out",
            folder / "db.npz",
        ],
        [
            "encode",
            "--checkpoint",
            encoder_checkpoint,
            "--videos",
            footage / "more",
            "--out",
            folder / "q.npz",
        ],
        ["index", "build", "--codes", folder / "db.npz", "--out", folder / "db.index.npz"],
    ):
        done = cli.invoke(app, [str(arg) for arg in args])
        assert done.exit_code == 0, done.output
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict(epochs=1)))
    return {
        "checkpoint": encoder_checkpoint,
        "video": footage / "more" / "clip4.mp4",
        "videos": footage / "more",
        "db": folder / "db.npz",
        "q": folder / "q.npz",
        "index": folder / "db.index.npz",
        "config": config,
    }


def commands(s: dict[str, Path], out: Path) -> dict[str, list]:
    return {
        "export": ["export", "--checkpoint", s["checkpoint"], "--split", "test", "--out", out / "e.npz"],
        "eval --checkpoint": ["eval", "--checkpoint", s["checkpoint"]],
        "eval codes": ["eval", "--query", s["q"], "--database", s["db"]],
        "encode": ["encode", "--checkpoint", s["checkpoint"], "--videos", s["videos"], "--out", out / "c.npz"],
        "search video": ["search", "--index", s["index"], "--query", s["video"], "--checkpoint", s["checkpoint"]],
        "search codes": ["search", "--index", s["index"], "--query", s["q"]],
        "index add": ["index", "add", "--index", out / "copy.index.npz", "--codes", s["q"]],
        "train": ["train", s["config"], "--output", out / "run"],
    }  # fmt: skip


def run_all(setting: dict[str, Path], names: list[str], out: Path) -> dict[str, str]:
    """Each command's outcome: its error if it failed, "ran" if it did not."""
    import shutil

    shutil.copy(setting["index"], out / "copy.index.npz")
    outcomes = {}
    for name in names:
        result = cli.invoke(app, [str(arg) for arg in commands(setting, out)[name]])
        outcomes[name] = str(result.exception) if result.exception is not None else "ran"
    return outcomes


def serve_upload(setting: dict[str, Path]) -> str:
    from vrt.serve.service import SearchService

    try:
        service = SearchService.open(setting["index"], setting["checkpoint"])
        service.search_video(setting["video"], 3, name="clip4.mp4")
    except Planted as error:
        return str(error)
    return "ran"


PLANTED = "the planted door was used"


@pytest.mark.slow
def test_every_command_that_encodes_goes_through_trained_model_encode(setting, tmp_path, monkeypatch):
    from vrt.inference.trained import TrainedModel

    monkeypatch.setattr(TrainedModel, "encode", broken)
    names = ["export", "eval --checkpoint", "encode", "search video", "train"]
    outcomes = run_all(setting, names, tmp_path)
    assert outcomes == dict.fromkeys(names, PLANTED)
    assert serve_upload(setting) == PLANTED


@pytest.mark.slow
def test_every_command_that_scores_goes_through_the_one_evaluation(setting, tmp_path, monkeypatch):
    from vrt.inference import evaluation

    monkeypatch.setattr(evaluation, "score_queries", broken)
    names = ["eval codes", "eval --checkpoint", "train"]
    assert run_all(setting, names, tmp_path) == dict.fromkeys(names, PLANTED)


@pytest.mark.slow
def test_every_command_that_compares_codes_goes_through_the_one_check(setting, tmp_path, monkeypatch):
    from vrt.codes import identity

    monkeypatch.setattr(identity, "compare", broken)
    names = ["eval codes", "eval --checkpoint", "search video", "search codes", "index add", "train"]
    assert run_all(setting, names, tmp_path) == dict.fromkeys(names, PLANTED)
    try:
        from vrt.serve.service import SearchService

        SearchService.open(setting["index"], setting["checkpoint"])
        opened = "ran"
    except Planted as error:
        opened = str(error)
    assert opened == PLANTED
