"""Command-line misuse: every mistake is one ``error:`` line with exit code 2, never a usage box or a
traceback (``VRT_DEBUG=1`` shows the traceback, for a bug report); the real entry point too."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.hostile.helpers import assert_one_line_error, snapshot, unchanged, vrt
from vrt.config import ConfigError

pytestmark = pytest.mark.slow

MISUSE = {
    "bad-choice": (
        ["export", "--checkpoint", "x.pt", "--split", "nope", "--out", "y.npz"],
        "Invalid value for '--split'",
        "export",
    ),
    "resume-without-output": (
        ["train", "--resume"],
        "--resume needs --output, the run directory to continue",
        "train",
    ),
    "query-alone": (
        ["eval", "--query", "q.npz"],
        "give --checkpoint, or both --query and --database",
        "eval",
    ),
    "both-inputs": (
        ["eval", "--checkpoint", "x.pt", "--query", "q.npz"],
        "give either --checkpoint or --query",
        "eval",
    ),
    "unknown-option": (["train", "--epochs", "3"], "No such option: --epochs", "train"),
    "unknown-command": (["trian"], "No such command 'trian'", None),
    "missing-option": (
        ["export", "--split", "test", "--out", "y.npz"],
        "Missing option '--checkpoint'",
        "export",
    ),
    "unknown-kind": (["list", "nothing"], "unknown kind 'nothing'", "list"),
    "misplaced-index-option": (
        ["index", "build", "--codes", "x.npz", "--out", "y.npz", "--kind", "flat", "--nhash", "2"],
        "--nhash apply to --kind multihash, not --kind flat",
        "index build",
    ),
    "negative-topk": (
        ["search", "--index", "i.npz", "--query", "v1", "--topk", "0"],
        "Invalid value for '--topk'",
        "search",
    ),
}


@pytest.mark.parametrize("case", list(MISUSE))
def test_a_usage_mistake_is_one_line_pointing_at_the_help(tmp_path, monkeypatch, case):
    args, expected, command = MISUSE[case]
    monkeypatch.chdir(tmp_path)
    line = assert_one_line_error(vrt(*args), expected)
    if command is not None:
        assert re.search(rf"\(see: [\w .-]*vrt {command} --help\)$", line), line
    assert snapshot(tmp_path) == {}


def test_radius_beyond_the_code_length(codes_pair):
    with unchanged(codes_pair[0].parent):
        result = vrt("eval", "--query", codes_pair[0], "--database", codes_pair[1], "--radius", "99")
        assert_one_line_error(result, "--radius must be at most the code length (16 bits)")


@pytest.mark.parametrize("command", [["config", "show"], ["data", "summary"], ["train"]])
def test_a_config_that_does_not_exist(tmp_path, command):
    with unchanged(tmp_path):
        assert_one_line_error(
            vrt(*command, tmp_path / "nope.yaml"), f"config file {tmp_path / 'nope.yaml'} does not exist"
        )


def test_report_of_a_folder_that_is_not_a_run(tmp_path):
    with unchanged(tmp_path):
        assert_one_line_error(vrt("report", tmp_path), str(tmp_path))


def test_vrt_debug_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("VRT_DEBUG", "1")
    with pytest.raises(ConfigError, match="does not exist"):
        vrt("config", "show", tmp_path / "nope.yaml")


def python_m_vrt(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vrt", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "40", **env},  # a narrow terminal must not wrap the message
        timeout=120,
    )


def test_python_dash_m_vrt_prints_one_line_and_exit_code_2(tree, tmp_path):
    result = python_m_vrt(
        "train", str(tree.clean), "--output", str(tmp_path / "run"), "--set", "model.head.bits=12"
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: {tree.clean}: model.head.bits: must be a positive multiple of 8 "
        "(codes are stored 8 bits per byte), got 12; e.g. 16, 32, 48 or 64"
    ]
    assert not (tmp_path / "run").exists()
    usage = python_m_vrt("train", "--resume")
    assert usage.returncode == 2 and usage.stderr.splitlines() == [
        "error: Invalid value: --resume needs --output, the run directory to continue (see: python -m vrt train --help)"
    ]
    debug = python_m_vrt("train", "--resume", VRT_DEBUG="1")
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "--resume needs --output" in debug.stderr


def test_serve_on_a_busy_port_is_one_line_and_never_says_serving(tmp_path):
    """`vrt serve --port BUSY` printed "Serving ... at http://..." and then uvicorn's [Errno 98]."""
    import socket

    pytest.importorskip("uvicorn")
    from tests.hostile.conftest import random_codes
    from vrt.codes import save_codes

    save_codes(tmp_path / "db.npz", random_codes(10))
    assert vrt("index", "build", "--codes", tmp_path / "db.npz", "--out", tmp_path / "db.index.npz").code == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        from tests.video_collection import save_untrained_checkpoint

        checkpoint = save_untrained_checkpoint(tmp_path / "m.pt", bits=16)
        result = vrt(
            "serve", "--index", tmp_path / "db.index.npz", "--checkpoint", checkpoint, "--port", port
        )
    message = assert_one_line_error(
        result, f"cannot serve at http://127.0.0.1:{port}/: the port is in use", code=1
    )
    assert "Serving" not in result.stderr + result.stdout, message
