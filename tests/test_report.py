"""`vrt report`: one row per run directory, markdown or csv, and a clear error for a non-run."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vrt.cli import app
from vrt.run_table import RunDirectoryError, read_run

from .conftest import REPO_ROOT, tiny_config_dict

cli = CliRunner()


def fake_run(
    root: Path, name: str, *, bits: int, margin: float, results: dict, evaluated: dict | None = None
) -> Path:
    """A run directory as `vrt train` leaves it (the checkpoints play no part in the table)."""
    config = tiny_config_dict()
    config["model"]["head"]["bits"] = bits
    config["loss"]["margin"] = margin
    config["model"]["backbone"] = (
        {"name": "r3d_18", "pretrained": "kinetics400"} if bits == 48 else config["model"]["backbone"]
    )
    config["data"]["dataset"]["split"] = 1
    run = root / name
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (run / "results.json").write_text(json.dumps({"checkpoint": str(run / "best.pt"), "epoch": 2, **results}))
    if evaluated is not None:
        (run / "eval").mkdir()
        (run / "eval" / "metrics.json").write_text(
            json.dumps({"schema": "vrt.eval.metrics/1", "metrics": evaluated})
        )
    return run


@pytest.fixture
def two_runs(tmp_path) -> list[Path]:
    old = fake_run(
        tmp_path, "r48", bits=48, margin=14.0, results={"map": 0.71234, "map@100": 0.8, "precision@100": 0.65}
    )
    new = fake_run(
        tmp_path,
        "r16",
        bits=16,
        margin=8.0,
        results={"map": 0.1, "map@100": 0.1, "precision@100": 0.1},
        evaluated={
            "map": 0.5,
            "map_tie_aware": 0.49,
            "map@100": 0.6,
            "precision@100": 0.55,
            "recall@100": 0.3,
        },
    )
    return [old, new]


def test_markdown_table_has_one_row_per_run(two_runs):
    result = cli.invoke(app, ["report", *map(str, two_runs)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == [
        "run", "dataset", "split", "bits", "margin", "frames", "mAP", "mAP@100", "P@100",
        "tie-aware mAP", "epochs", "backbone", "pretrained",
    ]  # fmt: skip
    first = dict(zip(header, (cell.strip() for cell in lines[2].strip("|").split("|")), strict=True))
    assert first | {"run": ""} == {
        "run": "", "dataset": "synthetic", "split": "1", "bits": "48", "margin": "14", "frames": "4",
        "mAP": "0.7123", "mAP@100": "0.8000", "P@100": "0.6500", "tie-aware mAP": "-", "epochs": "2",
        "backbone": "r3d_18", "pretrained": "kinetics400",
    }  # fmt: skip
    second = dict(zip(header, (cell.strip() for cell in lines[3].strip("|").split("|")), strict=True))
    # eval/metrics.json, when present, is preferred to results.json: it has the tie-aware mAP.
    assert (second["mAP"], second["tie-aware mAP"], second["pretrained"]) == ("0.5000", "0.4900", "no")


def test_csv_has_raw_values_and_k(two_runs):
    result = cli.invoke(app, ["report", *map(str, two_runs), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["run"] for row in rows] == [str(path) for path in two_runs]
    assert rows[0]["mAP"] == "0.71234" and rows[0]["tie-aware mAP"] == "" and rows[0]["K"] == "100"
    assert rows[1]["bits"] == "16" and rows[1]["margin"] == "8.0" and rows[1]["P@K"] == "0.55"


def test_runs_with_different_k_say_it_per_cell(two_runs, tmp_path):
    other = fake_run(
        tmp_path, "k10", bits=16, margin=8.0, results={"map": 0.3, "map@10": 0.4, "precision@10": 0.2}
    )
    result = cli.invoke(app, ["report", str(two_runs[0]), str(other)])
    assert result.exit_code == 0, result.output
    assert "mAP@K" in result.stdout and "0.4000 (K=10)" in result.stdout and "0.8000 (K=100)" in result.stdout


def test_a_directory_that_is_not_a_run_is_refused(tmp_path, two_runs):
    with pytest.raises(RunDirectoryError, match="no config.yaml"):
        read_run(tmp_path)
    unfinished = two_runs[0]
    (unfinished / "results.json").unlink()
    with pytest.raises(RunDirectoryError, match="has not finished"):
        read_run(unfinished)
    # From the shell: one line, exit status 2, no traceback, and no torch.
    code = (
        "import sys\nfrom vrt.cli import main\n"
        f"sys.argv = ['vrt', 'report', r'{two_runs[1]}', r'{tmp_path / 'nothing'}']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert 'torch' not in sys.modules\n    raise\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "is not a directory" in done.stderr and "Traceback" not in done.stderr
