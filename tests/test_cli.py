"""The command line: fast start, listing, config errors, train/export/eval round trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from vrt.cli import app
from vrt.codes import CodeSet, load_codes, save_codes

from .conftest import REPO_ROOT, tiny_config_dict

cli = CliRunner()


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )


def test_help_starts_fast_without_torch():
    started = time.perf_counter()
    result = run_python(
        "import sys\n"
        "from vrt.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'vrt --help imported torch'\n"
    )
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert "train" in result.stdout and "eval" in result.stdout
    assert elapsed < 3.0  # ~0.3 s here; importing torch alone takes ~3 s


def test_list_backbones():
    result = cli.invoke(app, ["list", "backbones"])
    assert result.exit_code == 0, result.output
    assert "r3d_18" in result.output and "tiny3d" in result.output


def test_list_rejects_unknown_kind():
    result = cli.invoke(app, ["list", "gizmos"])
    assert result.exit_code != 0


def train_as_a_user_would(config: dict, tmp_path) -> subprocess.CompletedProcess:
    """``vrt train`` in a fresh interpreter on 80 columns, into tmp_path/run."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [sys.executable, "-m", "vrt", "train", str(path), "--output", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80"},
    )


def test_misspelt_backbone_fails_before_training_with_a_suggestion(tmp_path):
    data = tiny_config_dict()
    data["model"]["backbone"]["name"] = "r3d18"
    result = train_as_a_user_would(data, tmp_path)
    assert result.returncode == 2
    assert "model.backbone.name" in result.stderr and "r3d_18" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_missing_pretrained_weights_end_in_one_error_line(tmp_path):
    weights = tmp_path / "nowhere" / "r3d_18_kinetics.pth"
    data = tiny_config_dict()
    data["model"]["backbone"] = {"name": "r3d_18", "pretrained": str(weights)}
    result = train_as_a_user_would(data, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()  # longer than the 80 columns, yet one line
    assert line.startswith("error: pretrained weights") and str(weights) in line


def test_config_show_prints_the_resolved_config(tiny_config_file):
    result = cli.invoke(app, ["config", "show", str(tiny_config_file), "--set", "model.head.bits=64"])
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.output)
    assert resolved["model"]["head"]["bits"] == 64
    # Defaults are filled in, component parameters included; adam takes no momentum.
    assert resolved["train"]["optimizer"] == {
        "name": "adam",
        "lr": 0.003,
        "weight_decay": 0.0,
        "betas": [0.9, 0.999],
    }
    assert resolved["data"]["augment"]["resize_short"] == 37 and resolved["loss"]["miner"] == "all"


def brute_force_map(query: CodeSet, database: CodeSet, topk: int) -> tuple[float, float]:
    """Independent reference: unpack bits, stable sort per query, average precision by hand."""
    q_bits = np.unpackbits(query.codes, axis=1)
    db_bits = np.unpackbits(database.codes, axis=1)
    aps, aps_at_k = [], []
    for bits, label in zip(q_bits, query.labels, strict=True):
        distances = (bits[None, :] != db_bits).sum(axis=1)
        order = np.argsort(distances, kind="stable")
        relevant = database.labels[order] == label
        if not relevant.any():
            continue
        hits = np.flatnonzero(relevant)
        aps.append(np.mean([(i + 1) / (rank + 1) for i, rank in enumerate(hits)]))
        top_hits = hits[hits < topk]
        aps_at_k.append(
            np.mean([(i + 1) / (r + 1) for i, r in enumerate(top_hits)]) if len(top_hits) else 0.0
        )
    return float(np.mean(aps)), float(np.mean(aps_at_k))


def test_eval_on_code_files_matches_brute_force_without_torch(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("q", 40), ("db", 300)):
        bits = rng.random((n, 16)) < 0.5
        save_codes(
            tmp_path / f"{name}.npz",
            CodeSet.from_bits(bits, labels=rng.integers(0, 5, n), ids=[f"{name}{i}" for i in range(n)]),
        )
    result = run_python(
        "import sys\n"
        "from vrt.cli import main\n"
        f"sys.argv = ['vrt', 'eval', '--query', r'{tmp_path / 'q.npz'}', '--database', r'{tmp_path / 'db.npz'}', "
        "'--topk', '100', '--json', '--database-order']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "assert 'torch' not in sys.modules, 'vrt eval on code files imported torch'\n"
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    expected_map, expected_map_at_100 = brute_force_map(
        load_codes(tmp_path / "q.npz"), load_codes(tmp_path / "db.npz"), 100
    )
    # The reference breaks ties in database order, as the *_database_order values do.
    assert metrics["map_database_order"] == pytest.approx(expected_map, abs=1e-12)
    assert metrics["map@100_database_order"] == pytest.approx(expected_map_at_100, abs=1e-12)
    assert {"precision@100", "num_queries", "num_database"} <= metrics.keys()
    assert metrics["num_queries"] == 40 and metrics["num_database"] == 300


# A valid value for every index parameter option, on 32-bit codes; a new option needs one here.
INDEX_OPTION_VALUES = {
    "--nhash": 2,
    "--hash-bits": 8,
    "--nflip": 0,
    "--hnsw-m": 8,
    "--ef-construction": 16,
    "--ef-search": 20,
    "--nlist": 4,
    "--nprobe": 2,
}


def test_index_build_takes_its_kinds_and_options_from_vrt_index(tmp_path):
    """`vrt index build` offers exactly vrt.index's kinds and parameters (options, defaults in
    the help), passes the values on, and refuses an option of another kind."""
    from vrt.cli.index import KindChoice
    from vrt.index import INDEX_KINDS, read_manifest
    from vrt.index.kinds import DEFAULT_KIND, INDEX_KIND_SPECS

    assert [choice.value for choice in KindChoice] == list(INDEX_KINDS) == list(INDEX_KIND_SPECS)
    usage = cli.invoke(app, ["index", "build", "--help"], env={"COLUMNS": "300"})
    assert f"[default: {DEFAULT_KIND}]" in usage.stdout
    rng = np.random.default_rng(0)
    bits = rng.random((60, 32)) < 0.5
    save_codes(
        tmp_path / "db.npz",
        CodeSet.from_bits(bits, labels=rng.integers(0, 3, 60), ids=[f"v{i}" for i in range(60)]),
    )
    for kind, spec in INDEX_KIND_SPECS.items():
        options = [item for p in spec.parameters for item in (p.option, str(INDEX_OPTION_VALUES[p.option]))]
        out = tmp_path / f"{kind}.index.npz"
        args = ["index", "build", "--codes", str(tmp_path / "db.npz"), "--out", str(out), "--kind", kind]
        result = cli.invoke(app, [*args, *options])
        assert result.exit_code == 0, result.output
        assert read_manifest(out)["params"] == {
            p.name: INDEX_OPTION_VALUES[p.option] for p in spec.parameters
        }
        for parameter in spec.parameters:
            assert f"{kind}: {parameter.meaning} (default {parameter.default_text})" in usage.stdout
            other = next(k for k in INDEX_KINDS if parameter not in INDEX_KIND_SPECS[k].parameters)
            misplaced = cli.invoke(app, [*args[:-1], other, parameter.option, "1"])
            assert (
                misplaced.exit_code == 2 and f"apply to --kind {kind}, not --kind {other}" in misplaced.output
            )
    unknown = cli.invoke(
        app, ["index", "build", "--codes", str(tmp_path / "db.npz"), "--out", "x", "--kind", "pq"]
    )
    assert unknown.exit_code == 2


@pytest.mark.slow
def test_train_export_eval_round_trip(tmp_path, tiny_config_file, monkeypatch):
    run_dir = tmp_path / "run"
    result = cli.invoke(
        app, ["train", str(tiny_config_file), "--output", str(run_dir), "--set", "train.epochs=1"]
    )
    assert result.exit_code == 0, result.output
    checkpoint = run_dir / "best.pt"
    # Export and eval are inference: no Runner (no process group, no run-directory writes).
    from vrt.training.runner import Runner

    def no_runner(*_args, **_kwargs):
        raise AssertionError("a Runner was constructed")

    monkeypatch.setattr(Runner, "__init__", no_runner)
    run_files = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}

    for split in ("train", "val", "test"):
        out = tmp_path / f"{split}.npz"
        result = cli.invoke(
            app, ["export", "--checkpoint", str(checkpoint), "--split", split, "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
    test_codes, train_codes, val_codes = (load_codes(tmp_path / f"{s}.npz") for s in ("test", "train", "val"))
    for split, exported in (("test", test_codes), ("train", train_codes)):  # the run exported the same codes
        in_run = load_codes(run_dir / f"codes_{split}.npz")
        assert (in_run.codes == exported.codes).all() and (in_run.ids == exported.ids).all()
    assert test_codes.bits == 16 and test_codes.codes.shape == (12, 2)
    assert len(train_codes) == 32 and len(val_codes) == 8
    assert set(val_codes.ids) < set(train_codes.ids)  # val is carved from the training split
    assert not set(test_codes.ids) & set(train_codes.ids)

    from_checkpoint = cli.invoke(app, ["eval", "--checkpoint", str(checkpoint), "--json"])
    from_files = cli.invoke(
        app,
        [
            "eval",
            "--query",
            str(tmp_path / "test.npz"),
            "--database",
            str(tmp_path / "train.npz"),
            "--topk",
            "10",
            "--json",
        ],
    )
    assert from_checkpoint.exit_code == 0 and from_files.exit_code == 0, (
        from_checkpoint.output + from_files.output
    )
    by_checkpoint = json.loads(from_checkpoint.stdout.strip().splitlines()[-1])
    by_files = json.loads(from_files.stdout.strip().splitlines()[-1])
    assert by_checkpoint == by_files
    stored = json.loads((run_dir / "results.json").read_text())
    assert stored["metrics"]["map"] == pytest.approx(by_files["map"])

    assert {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()} == run_files

    monkeypatch.undo()  # training again needs its Runner
    resumed = cli.invoke(app, ["train", "--output", str(run_dir), "--resume", "--set", "train.epochs=2"])
    assert resumed.exit_code == 0, resumed.output
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2
