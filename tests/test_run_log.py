"""RunLog: a run's lines reach the console and train.log; TensorBoard stays optional."""

from __future__ import annotations

import io
import sys
import warnings

from rich.console import Console
from rich.table import Table

from vrt.training.run_log import RunLog


def test_lines_warnings_and_tables_reach_the_console_and_the_log(tmp_path):
    screen = io.StringIO()
    log = RunLog(Console(file=screen, width=200), log_file=tmp_path / "train.log")
    log.print("epoch 1/2 [b]not markup[/b]")
    log.warn("3 videos missing")
    table = Table()
    table.add_column("metric")
    table.add_row("mAP")
    log.show(table)
    with log.capturing_warnings(), warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a python warning", UserWarning, stacklevel=1)
    text = (tmp_path / "train.log").read_text()
    for expected in ("epoch 1/2 [b]not markup[/b]", "warning: 3 videos missing", "mAP", "a python warning"):
        assert expected in text, expected
    assert "epoch 1/2 [b]not markup[/b]" in screen.getvalue()


def test_without_tensorboard_the_log_says_so_and_scalars_are_a_no_op(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    log = RunLog(Console(file=io.StringIO()), log_file=tmp_path / "train.log", events=tmp_path / "tb")
    log.scalars({"epoch": 1, "loss": 0.5}, step=1)
    log.close()
    assert "install tensorboard" in (tmp_path / "train.log").read_text()
    assert not (tmp_path / "tb").exists()
