"""Hostile checkpoints and training that goes wrong: pickles, damaged files, a loss that explodes.

A checkpoint is only ever read with ``torch.load(weights_only=True)``; test_checkpointing.py
tests the format and the resume policy behind these cases.
"""

from __future__ import annotations

import ast
import builtins
import json
import math
import os
import re
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO_ROOT
from tests.hostile.helpers import RUNTIME, assert_one_line_error, digest, snapshot, vrt
from vrt.checkpoints.format import load_checkpoint

pytestmark = pytest.mark.slow


class _Payload:
    """Pickles to a call of ``open(path, "w")``: loading it with full unpickling creates the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (builtins.open, (str(self.path), "w"))


def crafted_checkpoint(trained_run: Path, folder: Path) -> tuple[Path, Path]:
    marker = folder / "code-ran"
    state = torch.load(trained_run / "best.pt", weights_only=True)
    state["class_names"] = _Payload(marker)
    torch.save(state, folder / "crafted.pt")
    return folder / "crafted.pt", marker


def test_checkpoint_with_a_pickled_object_is_refused_not_executed(trained_run, tmp_path):
    crafted, marker = crafted_checkpoint(trained_run, tmp_path)
    torch.load(crafted, weights_only=False)  # the file is a real threat: full unpickling runs it
    assert marker.exists()
    marker.unlink()
    for command in (
        ["eval", "--checkpoint", crafted],
        ["export", "--checkpoint", crafted, "--split", "test", "--out", tmp_path / "codes.npz"],
    ):
        assert_one_line_error(vrt(*command), f"error: checkpoint {crafted} ")
        assert not marker.exists() and not (tmp_path / "codes.npz").exists()


DAMAGE = {  # what is given as a checkpoint -> what the one line says it is
    "missing": "does not exist",
    "truncated": "cannot be read: it is a zip archive cut short",
    "text": "cannot be read: it is a text file (it starts 'weights: none'",
    "random": "cannot be read: it is a file of unknown binary content",
    "folder": "is a folder, not a checkpoint file",
    "run-folder": "is a folder, not a checkpoint file (a run? its checkpoint is",
    "codes": "cannot be read: it is a codes file",
    "index": "cannot be read: it is a vrt index",
    "hdf5": "cannot be read: it is an HDF5 file",
    "empty": "cannot be read: it is an empty file",
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_checkpoint_that_is_missing_damaged_or_another_file_is_one_line_naming_it(
    trained_run, codes_pair, tmp_path, damage
):
    """A random file said it "holds Python objects", a text file "(truncated or corrupt?): 101"."""
    checkpoint = tmp_path / "model.pt"
    if damage == "truncated":
        checkpoint.write_bytes((trained_run / "best.pt").read_bytes()[:4096])
    elif damage == "text":
        checkpoint.write_text("weights: none\n")
    elif damage == "random":
        checkpoint.write_bytes(bytes(range(256)) * 8)
    elif damage in ("folder", "run-folder"):
        checkpoint.mkdir()
        if damage == "run-folder":
            (checkpoint / "best.pt").write_bytes((trained_run / "best.pt").read_bytes())
    elif damage == "codes":
        checkpoint.write_bytes(codes_pair[0].read_bytes())
    elif damage == "index":
        assert vrt("index", "build", "--codes", codes_pair[1], "--out", checkpoint).code == 0
    elif damage == "hdf5":
        checkpoint.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    elif damage == "empty":
        checkpoint.write_bytes(b"")
    before = snapshot(tmp_path)
    out = tmp_path / "codes.npz"
    message = assert_one_line_error(
        vrt("export", "--checkpoint", checkpoint, "--split", "test", "--out", out), str(checkpoint)
    )
    assert DAMAGE[damage] in message and "Python objects" not in message
    assert snapshot(tmp_path) == before


def test_a_missing_run_folder_points_to_the_runs_named_like_it(trained_run, tmp_path, monkeypatch):
    """Before: `make demo` wrote runs/demo-<time>/, the tour used runs/demo/best.pt, and the error
    gave no hint."""
    for hour, stamp in enumerate(("20261206-2100", "20261206-2200")):
        (tmp_path / "runs" / f"demo-{stamp}").mkdir(parents=True)
        (tmp_path / "runs" / f"demo-{stamp}" / "best.pt").write_bytes(b"")
        os.utime(tmp_path / "runs" / f"demo-{stamp}" / "best.pt", (3600.0 * hour, 3600.0 * hour))
    (tmp_path / "runs" / "other").mkdir()
    monkeypatch.chdir(tmp_path)
    message = assert_one_line_error(vrt("eval", "--checkpoint", "runs/demo/best.pt"), "does not exist")
    assert message.endswith(
        "; did you mean runs/demo-20261206-2200/best.pt or runs/demo-20261206-2100/best.pt? (newest first)"
    )
    (tmp_path / "runs" / "demo-20261206-2100" / "best.pt").unlink()
    message = assert_one_line_error(vrt("eval", "--checkpoint", "runs/demo/best.pt"), "does not exist")
    assert message.endswith("; did you mean runs/demo-20261206-2200/best.pt?")


def test_resume_from_a_damaged_last_checkpoint_names_it_and_keeps_its_bytes(run_copy):
    damaged = (run_copy / "last.pt").read_bytes()[:-100]
    (run_copy / "last.pt").write_bytes(damaged)
    kept = {name: digest(run_copy / name) for name in ("best.pt", "metrics.jsonl", "results.json")}
    result = vrt("train", "--output", run_copy, "--resume", "--set", "train.epochs=2")
    assert_one_line_error(result, f"cannot resume {run_copy}: none of its checkpoints can be read")
    assert (run_copy / "last.pt.corrupt").read_bytes() == damaged  # moved aside, not deleted
    assert {name: digest(run_copy / name) for name in kept} == kept


def test_the_code_only_deserialises_data_never_objects():
    """Every torch.load uses weights_only=True, YAML is read with safe_load, numpy never unpickles."""
    problems, torch_loads = [], 0
    for path in sorted((REPO_ROOT / "vrt").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(REPO_ROOT)
        for call in _calls(tree, "torch", "load") + _calls(tree, "hub", "load_state_dict_from_url"):
            torch_loads += 1
            if _keyword(call, "weights_only") is not True:
                problems.append(f"{where}:{call.lineno}: {ast.unparse(call.func)} without weights_only=True")
        for name in ("load", "load_all", "unsafe_load", "full_load", "unsafe_load_all", "full_load_all"):
            problems += [f"{where}:{c.lineno}: yaml.{name}" for c in _calls(tree, "yaml", name)]
        for call in (
            _calls(tree, "np", "load") + _calls(tree, "numpy", "load") + _calls(tree, "format", "read_array")
        ):
            if _keyword(call, "allow_pickle") not in (False, "<absent>"):
                problems.append(f"{where}:{call.lineno}: np.load with allow_pickle")
        for node in ast.walk(tree):
            modules = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            problems += [
                f"{where}:{node.lineno}: imports {m}"
                for m in modules
                if m in ("pickle", "dill", "marshal", "shelve")
            ]
    assert torch_loads >= 2  # the checkpoint reader and the pretrained-weights reader
    assert problems == []


def _calls(tree: ast.AST, owner: str, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == name
        and isinstance(node.func.value, ast.Name | ast.Attribute)
        and ast.unparse(node.func.value).split(".")[-1] == owner
    ]


def _keyword(call: ast.Call, name: str) -> object:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value.value if isinstance(keyword.value, ast.Constant) else "<expression>"
    return "<absent>"


# -- a loss that stops being finite: exit code 1, the last good checkpoint kept ------------------


def test_exploding_learning_rate_stops_with_a_message_and_keeps_the_last_checkpoint(tree, tmp_path):
    # No plugin, no patch: an absurd learning rate makes the weights overflow after epoch 1.
    run = tmp_path / "run"
    overrides = ["--set", "train.optimizer.lr=1e30", "--set", "train.epochs=3"]
    line = assert_one_line_error(
        vrt("train", tree.clean, "--output", run, *overrides), "the loss became nan", code=RUNTIME
    )
    assert re.search(r"at epoch 2, step 1; .*last\.pt still holds the last good state", line), line
    state = load_checkpoint(run / "last.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1]
    assert not (run / "results.json").exists()

    # Resuming from that state fails the same way and overwrites nothing.
    before = {name: digest(run / name) for name in ("last.pt", "best.pt", "metrics.jsonl", "config.yaml")}
    assert_one_line_error(
        vrt("train", "--output", run, "--resume"), "the loss became nan at epoch 2", code=RUNTIME
    )
    assert {name: digest(run / name) for name in before} == before


def test_infinite_loss_on_resume_keeps_every_file_of_the_run(run_copy, monkeypatch):
    from vrt.losses.triplet_ranking import TripletRankingLoss

    monkeypatch.setattr(
        TripletRankingLoss, "forward", lambda self, codes, labels: (codes * 0).sum() + math.inf
    )
    # config.yaml is left out: resuming for more epochs records the new train.epochs in it; and
    # train.log, which records every attempt (the resume, its failure).
    changing = {"config.yaml", "train.log"}
    kept = [path for path in run_copy.iterdir() if path.is_file() and path.name not in changing]
    before = {path.name: digest(path) for path in kept}
    result = vrt("train", "--output", run_copy, "--resume", "--set", "train.epochs=2")
    assert_one_line_error(
        result, "the loss became inf at epoch 2, step 1", str(run_copy / "last.pt"), code=RUNTIME
    )
    assert {path.name: digest(path) for path in kept} == before
    assert sorted(p.name for p in run_copy.iterdir()) == sorted([*before, *changing, "tensorboard"])
    assert "the loss became inf" in (run_copy / "train.log").read_text()
    assert load_checkpoint(run_copy / "last.pt")["epoch"] == 1
