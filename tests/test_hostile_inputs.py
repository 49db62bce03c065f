"""Hostile inputs and security, through the commands a user runs (docs/robustness.md lists each case).

Every case ends in one of two ways: a clear error (exit code 2, one ``error:`` line on stderr
naming the problem and the file or config key, no traceback) before anything is overwritten,
or a skip that is counted and reported (``bad_videos.txt``, ``results.json``, warnings,
``vrt data summary --json``) while the run completes. Commands run in-process through
``vrt.cli.main`` (what ``python -m vrt`` calls); one test runs the real entry point as a
subprocess. The unit-level behaviour behind these cases is tested in test_video_io.py,
test_splitfiles.py, test_dataset_adapters.py and test_config.py.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import hashlib
import io
import json
import math
import os
import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import REPO_ROOT, tiny_config_dict
from tests.datasets_fixtures import write_source_video
from vrt.checkpoints.format import load_checkpoint
from vrt.cli import main
from vrt.codes import load_codes

pytestmark = pytest.mark.slow

NFD_NAME = unicodedata.normalize("NFD", "b/naïve.avi")  # as unpacked from a macOS archive
# The training list: CRLF line ends, blank and whitespace-only lines, a comment, a duplicate,
# non-ASCII names (one listed composed, stored decomposed), and videos that are zero bytes,
# random bytes, truncated, shorter than num_frames, grey and 33x27.
TRAIN_LINES = [
    "# path label",
    "a/a1.avi a",
    "a/a2.avi a",
    "",
    "a/vidéo_ü.avi a",
    "a/short.avi a",
    "a/grey.avi a",
    "a/truncated.avi a",
    "   ",
    "b/b1.avi b",
    "b/b2.avi b",
    "b/odd.avi b",
    "b/naïve.avi b",
    "b/zero.avi b",
    "b/corrupt.avi b",
    "b/b1.avi b",
]
BAD = {"a/truncated.avi", "b/zero.avi", "b/corrupt.avi"}
USABLE_TRAIN = [
    "a/a1.avi", "a/a2.avi", "a/vidéo_ü.avi", "a/short.avi", "a/grey.avi",
    "b/b1.avi", "b/b2.avi", "b/odd.avi", "b/naïve.avi",
]  # fmt: skip
TEST_LINES = ["a/a3.avi a", "a/a4.avi a", "b/b3.avi b", "b/b4.avi b"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def vrt(*args: object) -> Result:
    """``python -m vrt ARGS`` in-process: exit code, stdout and stderr (rich's colours removed)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["vrt", *map(str, args)]
    code = 0
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = argv
    return Result(code, ANSI.sub("", stdout.getvalue()), ANSI.sub("", stderr.getvalue()))


def assert_one_line_error(result: Result, *fragments: str) -> str:
    """Exit code 2 and the last stderr line, the only ``error: ...`` one, holding every fragment.

    Progress lines before it (a run that stopped mid-training) are fine; a traceback is not.
    """
    assert result.code == 2, result
    assert "Traceback" not in result.stderr
    errors = [line for line in result.error_lines if line.startswith("error: ")]
    assert len(errors) == 1 and result.error_lines[-1] == errors[0], result.stderr
    line = errors[0]
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_config(path: Path, *, root: Path, train_list: Path, test_list: Path, **train) -> Path:
    config = tiny_config_dict(**{"epochs": 1, **train})
    config["data"]["dataset"] = {
        "name": "video_list",
        "root": str(root),
        "train_list": str(train_list),
        "test_list": str(test_list),
        "class_names": ["a", "b"],
    }
    config["data"]["val_fraction"] = 0.0
    config["data"]["batch"] = {"sampler": "class_balanced", "classes_per_batch": 2, "videos_per_class": 2}
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Tree:
    base: Path
    root: Path
    hostile: Path  # config over the hostile training list
    clean: Path  # config over good videos only


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    base = tmp_path_factory.mktemp("hostile")
    root = base / "clips"
    good = ["a/a1.avi", "a/a2.avi", "a/a3.avi", "a/a4.avi", "b/b1.avi", "b/b2.avi", "b/b3.avi", "b/b4.avi"]
    for seed, relative in enumerate([*good, "a/vidéo_ü.avi", NFD_NAME]):
        write_source_video(root, relative, num_frames=4, seed=seed)
    write_source_video(root, "a/short.avi", num_frames=2)  # data.num_frames is 4
    write_source_video(root, "a/grey.avi", num_frames=4, codec="ffv1", grayscale=True)
    write_source_video(root, "b/odd.avi", num_frames=4, size=(33, 27))
    (root / "b" / "zero.avi").write_bytes(b"")
    (root / "b" / "corrupt.avi").write_bytes(os.urandom(2048))
    whole = write_source_video(base, "whole.avi", num_frames=40).read_bytes()
    (root / "a" / "truncated.avi").write_bytes(whole[:600])  # the header survives, the frames do not

    (base / "train.txt").write_bytes("\r\n".join(TRAIN_LINES).encode() + b"\r\n")
    (base / "test.txt").write_bytes("\r\n".join(TEST_LINES).encode() + b"\r\n")
    (base / "clean_train.txt").write_text("a/a1.avi a\na/a2.avi a\nb/b1.avi b\nb/b2.avi b\n")
    (base / "clean_test.txt").write_text("a/a3.avi a\nb/b3.avi b\n")
    return Tree(
        base,
        root,
        hostile=write_config(
            base / "hostile.yaml", root=root, train_list=base / "train.txt", test_list=base / "test.txt"
        ),
        clean=write_config(
            base / "clean.yaml",
            root=root,
            train_list=base / "clean_train.txt",
            test_list=base / "clean_test.txt",
        ),
    )


@pytest.fixture(scope="module")
def trained_run(tree: Tree, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-epoch run on the clean list; tests must leave its files as they are."""
    run = tmp_path_factory.mktemp("runs") / "clean"
    result = vrt("train", tree.clean, "--output", run)
    assert result.code == 0, result.stderr
    return run


# -- videos: corrupt, truncated, zero bytes, short, grey, odd-sized, non-ASCII names ------------


def test_unreadable_videos_are_skipped_and_reported_and_the_rest_train_and_encode(tree, tmp_path):
    summary = vrt("data", "summary", tree.hostile, "--json", "--check", 50)
    assert summary.code == 0, summary.stderr
    report = json.loads(summary.stdout)
    assert (report["train"], report["test"], report["missing"]) == (12, 4, 0)  # the NFD file was found
    check = report["decode_check"]
    assert check["checked"] == 16 and {item["id"] for item in check["failed"]} == BAD
    assert check["clip_shapes"] == [[3, 4, 32, 32]]  # grey, 33x27 and 2-frame videos included
    assert [w for w in report["warnings"] if "listed more than once" in w] == [
        f"train list: 1 video(s) listed more than once; the first listing is kept: "
        f"b/b1.avi ({tree.base / 'train.txt'}:{len(TRAIN_LINES)})"
    ]

    run = tmp_path / "run"
    with pytest.warns(UserWarning, match="listed more than once") as caught:
        result = vrt("train", tree.hostile, "--output", run)
    assert result.code == 0, result.stderr
    assert len([w for w in caught if "listed more than once" in str(w.message)]) == 1
    listed = dict(line.split("\t", 1) for line in (run / "bad_videos.txt").read_text("utf-8").splitlines())
    assert set(listed) == BAD
    assert "the file is empty (0 bytes)" in listed["b/zero.avi"]
    assert all(Path(video).name in reason for video, reason in listed.items())
    assert json.loads((run / "results.json").read_text())["bad_videos"] == 3
    for video in BAD:  # announced once each, on one line
        assert (
            sum(
                line.startswith(f"warning: skipping unreadable video {video}: ")
                for line in result.error_lines
            )
            == 1
        )
    assert any(line.endswith(f"see {run / 'bad_videos.txt'}") for line in result.error_lines)

    # The odd videos were decoded, not skipped: each has a code, under the name the list gave it.
    codes = tmp_path / "train_codes.npz"
    with pytest.warns(UserWarning, match="listed more than once"):  # each command reports it
        export = vrt("export", "--checkpoint", run / "best.pt", "--split", "train", "--out", codes)
    assert export.code == 0, export.stderr
    assert list(load_codes(codes).ids) == USABLE_TRAIN


def test_video_folder_with_non_ascii_and_undecodable_names(tmp_path):
    root = tmp_path / "clips"
    names = ["a/vidéo_ü.avi", "a/plain.avi", NFD_NAME, "b/日本語 clip.avi", "b/another.avi"]
    for seed, relative in enumerate(names):
        write_source_video(root, relative, num_frames=4, seed=seed)
    undecodable = os.path.join(os.fsencode(root / "b"), b"caf\xe9.avi")  # Latin-1 bytes, not UTF-8
    try:
        with open(undecodable, "wb") as handle:
            handle.write((root / "a" / "plain.avi").read_bytes())
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    config = tiny_config_dict()
    config["data"]["dataset"] = {"name": "video_folder", "root": str(root), "test_fraction": 0.4}
    (tmp_path / "folder.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")

    result = vrt("data", "summary", tmp_path / "folder.yaml", "--json", "--check", 20)
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["train"] + report["val"] + report["test"] == len(names)
    assert report["decode_check"]["checked"] == len(names) and report["decode_check"]["failed"] == []
    assert report["warnings"] == [
        f"video_folder: 1 file name(s) in {root} are not valid UTF-8 (b/caf\\xe9.avi); "
        "they are skipped (rename them to use them)"
    ]
    strict = vrt("data", "summary", tmp_path / "folder.yaml", "--set", "data.strict=true")
    assert_one_line_error(strict, "not valid UTF-8 (b/caf\\xe9.avi)", "data.strict is true")


# -- split files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("b/b3.avi c", "unknown class name 'c'"),
        ("../../etc/passwd a", "path '../../etc/passwd' leaves the dataset root ('..')"),
        ("/etc/passwd a", "absolute path '/etc/passwd'; paths must be relative to the root"),
        ("C:\\Windows\\win.ini a", "absolute path 'C:"),
        ("a/a3.avi", "expected '<relative path> <label>'"),
    ],
    ids=["unknown-class", "dot-dot", "absolute", "drive-letter", "no-label"],
)
def test_bad_split_file_lines_name_the_file_and_line_before_anything_is_written(
    tree, tmp_path, line, expected
):
    listing = tmp_path / "test.txt"
    listing.write_bytes(b"a/a3.avi a\r\n\r\n" + line.encode() + b"\r\n")
    config = write_config(
        tmp_path / "c.yaml", root=tree.root, train_list=tree.base / "clean_train.txt", test_list=listing
    )
    result = vrt("train", config, "--output", tmp_path / "run")
    assert_one_line_error(result, f"{listing}:3: ", expected)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_split_file_that_is_not_utf8_names_the_line(tree, tmp_path):
    listing = tmp_path / "test.txt"
    listing.write_bytes("a/a3.avi a\nb/b3.avi b\n".encode("utf-16"))  # Notepad's "Unicode"
    config = write_config(
        tmp_path / "c.yaml", root=tree.root, train_list=tree.base / "clean_train.txt", test_list=listing
    )
    assert_one_line_error(vrt("data", "summary", config), f"{listing}:1: not valid UTF-8 text")


# -- configs: bits, margins, YAML, dataset root ------------------------------------------------


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model.head.bits=12", "model.head.bits: must be a positive multiple of 8"),
        ("model.head.bits=0", "model.head.bits: must be a positive multiple of 8"),
        ("loss.margin=0", "loss.margin: must be a finite number > 0"),
        ("loss.margin=-2", "loss.margin: must be a finite number > 0"),
        ("loss.margin=.nan", "loss.margin: must be a finite number > 0"),
        ("train.optimizer.lr=.inf", "train.optimizer.lr: must be a finite number > 0"),
        ("loss.weight=.inf", "loss.weight: must be > 0 and finite"),
    ],
)
def test_invalid_values_fail_at_config_time_naming_file_and_key(tree, tmp_path, override, expected):
    result = vrt("train", tree.clean, "--output", tmp_path / "run", "--set", override)
    assert_one_line_error(result, f"{tree.clean}: {expected}")
    assert not (tmp_path / "run").exists()


def test_margin_of_a_weighted_loss_term_is_located(tree, tmp_path):
    config = yaml.safe_load(tree.clean.read_text(encoding="utf-8"))
    config["loss"] = {
        "terms": [{"name": "quantization", "weight": 0.1}, {"name": "contrastive", "margin": -1}]
    }
    path = tmp_path / "terms.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    assert_one_line_error(
        vrt("config", "show", path), f"{path}: loss.terms[1].margin: must be a finite number > 0"
    )


def test_exponent_without_a_dot_is_a_float_where_a_float_is_expected(tree, tmp_path):
    # YAML 1.1 reads `1e-4` as text; a learning rate written that way must not be an error.
    text = tree.clean.read_text(encoding="utf-8").replace("lr: 0.003", "lr: 1e-4")
    assert "lr: 1e-4" in text
    path = tmp_path / "exponent.yaml"
    path.write_text(text, encoding="utf-8")
    result = vrt("config", "show", path, "--set", "train.optimizer.weight_decay=5E-4")
    assert result.code == 0, result.stderr
    optimizer = yaml.safe_load(result.stdout)["train"]["optimizer"]
    assert (optimizer["lr"], optimizer["weight_decay"]) == (1e-4, 5e-4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "model: {backbone: {name: tiny3d}\n  head: [\n",
            "invalid YAML at line 2, column 3: expected ',' or '}'",
        ),
        ("train:\n\tepochs: 1\n", "invalid YAML at line 2, column 1: found character '\\t'"),
        ("- just\n- a list\n", "expected a mapping at the top level, got list"),
    ],
    ids=["unclosed", "tab", "not-a-mapping"],
)
def test_invalid_yaml_is_one_line_with_file_and_position(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert_one_line_error(vrt("train", path, "--output", tmp_path / "run"), f"{path}: {expected}")
    assert not (tmp_path / "run").exists()


def test_config_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: café\n".encode("latin-1"))
    assert_one_line_error(vrt("config", "show", path), f"{path}: not UTF-8 text")


@pytest.mark.parametrize("key", ["root", "train_list"])
def test_missing_dataset_root_or_list_names_the_key(tree, tmp_path, key):
    absent = tmp_path / "not-there"
    result = vrt("train", tree.clean, "--output", tmp_path / "run", "--set", f"data.dataset.{key}={absent}")
    assert_one_line_error(result, f"data.dataset.{key}: {absent} does not exist")
    assert not (tmp_path / "run" / "last.pt").exists()


def test_a_root_without_any_listed_video_is_an_error_not_a_warning_per_file(tree, tmp_path):
    (tmp_path / "empty").mkdir()
    result = vrt("data", "summary", tree.clean, "--set", f"data.dataset.root={tmp_path / 'empty'}")
    assert_one_line_error(result, "4 of 4 listed videos", "is data.dataset.root the folder")


def test_config_errors_on_resume_leave_the_run_untouched(trained_run):
    before = {path.name: digest(path) for path in trained_run.iterdir() if path.is_file()}
    for override in ("model.head.bits=12", "loss.margin=0", "model.head.bits=32"):
        result = vrt("train", "--output", trained_run, "--resume", "--set", override)
        assert result.code == 2 and "Traceback" not in result.stderr
    assert {path.name: digest(path) for path in trained_run.iterdir() if path.is_file()} == before


# -- a loss that stops being finite ------------------------------------------------------------


def test_exploding_learning_rate_stops_with_a_message_and_keeps_the_last_checkpoint(tree, tmp_path):
    # No plugin, no patch: an absurd learning rate makes the weights overflow after epoch 1.
    run = tmp_path / "run"
    overrides = ["--set", "train.optimizer.lr=1e30", "--set", "train.epochs=3"]
    line = assert_one_line_error(vrt("train", tree.clean, "--output", run, *overrides), "the loss became nan")
    assert re.search(r"at epoch 2, step 1; .*last\.pt still holds the last good state", line), line
    state = load_checkpoint(run / "last.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1]
    assert not (run / "results.json").exists()

    # Resuming from that state fails the same way and overwrites nothing.
    before = {name: digest(run / name) for name in ("last.pt", "best.pt", "metrics.jsonl", "config.yaml")}
    assert_one_line_error(vrt("train", "--output", run, "--resume"), "the loss became nan at epoch 2")
    assert {name: digest(run / name) for name in before} == before


def test_infinite_loss_on_resume_keeps_every_file_of_the_run(trained_run, monkeypatch):
    from vrt.losses.triplet_ranking import TripletRankingLoss

    monkeypatch.setattr(
        TripletRankingLoss, "forward", lambda self, codes, labels: (codes * 0).sum() + math.inf
    )
    # config.yaml is left out: resuming for more epochs records the new train.epochs in it; and
    # train.log, which records every attempt (the resume, its failure).
    changing = {"config.yaml", "train.log"}
    kept = [path for path in trained_run.iterdir() if path.is_file() and path.name not in changing]
    before = {path.name: digest(path) for path in kept}
    result = vrt("train", "--output", trained_run, "--resume", "--set", "train.epochs=2")
    assert_one_line_error(result, "the loss became inf at epoch 2, step 1", str(trained_run / "last.pt"))
    assert {path.name: digest(path) for path in kept} == before
    assert sorted(p.name for p in trained_run.iterdir()) == sorted([*before, *changing, "tensorboard"])
    assert "the loss became inf" in (trained_run / "train.log").read_text()
    assert load_checkpoint(trained_run / "last.pt")["epoch"] == 1


# -- security ----------------------------------------------------------------------------------


class _Payload:
    """Pickles to a call of ``open(path, "w")``: loading it with full unpickling creates the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (builtins.open, (str(self.path), "w"))


def test_checkpoint_with_a_pickled_object_is_refused_not_executed(trained_run, tmp_path):
    marker = tmp_path / "code-ran"
    state = torch.load(trained_run / "best.pt", weights_only=True)
    state["class_names"] = _Payload(marker)
    crafted = tmp_path / "crafted.pt"
    torch.save(state, crafted)
    torch.load(crafted, weights_only=False)  # the file is a real threat: full unpickling runs it
    assert marker.exists()
    marker.unlink()

    for command in (
        ["eval", "--checkpoint", crafted],
        ["export", "--checkpoint", crafted, "--split", "test", "--out", tmp_path / "codes.npz"],
    ):
        result = vrt(*command)
        assert result.code == 2 and "Traceback" not in result.stderr, result.stderr
        assert result.error_lines[0].startswith(f"error: checkpoint {crafted} ")
        assert not marker.exists() and not (tmp_path / "codes.npz").exists()


def test_refused_checkpoint_message_is_one_line(trained_run, tmp_path):
    state = torch.load(trained_run / "best.pt", weights_only=True)
    state["class_names"] = _Payload(tmp_path / "code-ran")
    torch.save(state, tmp_path / "crafted.pt")
    assert_one_line_error(vrt("eval", "--checkpoint", tmp_path / "crafted.pt"), str(tmp_path / "crafted.pt"))


def test_yaml_tags_that_would_run_code_are_refused(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.yaml"
    path.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    line = assert_one_line_error(vrt("config", "show", path), f"{path}: invalid YAML at line 1")
    assert "could not determine a constructor for the tag" in line
    assert not marker.exists()


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
        for call in _calls(tree, "np", "load") + _calls(tree, "numpy", "load"):
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


# -- the real entry point ----------------------------------------------------------------------


def test_python_dash_m_vrt_prints_one_line_and_exit_code_2(tree, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "vrt", "train", str(tree.clean), "--output", str(tmp_path / "run")]
        + ["--set", "model.head.bits=12"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "40"},  # a narrow terminal must not wrap the message
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: {tree.clean}: model.head.bits: must be a positive multiple of 8 "
        "(codes are stored 8 bits per byte), got 12; e.g. 16, 32, 48 or 64"
    ]
    assert not (tmp_path / "run").exists()
