"""`vrt report`: one row per run directory, markdown or csv, and a clear error for a non-run."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vrt.cli import app
from vrt.reporting.runs import RunDirectoryError, read_run

from .conftest import run_torch_free, tiny_config_dict

cli = CliRunner()


def fake_run(
    root: Path,
    name: str,
    *,
    bits: int,
    margin: float,
    results: dict,
    evaluated: dict | None = None,
    seed: int = 0,
) -> Path:
    """A run directory as `vrt train` leaves it (the checkpoints play no part in the table)."""
    config = tiny_config_dict()
    config["model"]["head"]["bits"] = bits
    config["loss"]["margin"] = margin
    config["train"]["seed"] = seed
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
            json.dumps({"schema": "vrt.eval.metrics/2", "metrics": evaluated})
        )
    return run


def current_results(map_: float, *, k: int = 100, unique: float = 0.9) -> dict:
    """results.json as vrt writes it now: tie-aware headline, database order beside it, code stats."""
    return {
        "map": map_,
        "map_database_order": map_ + 0.01,
        f"map@{k}": map_ + 0.1,
        f"map@{k}_database_order": map_ + 0.11,
        f"precision@{k}": map_ - 0.1,
        f"precision@{k}_database_order": map_ - 0.09,
        "code_stats": {"database": {"unique_fraction": unique}, "query": {"unique_fraction": 1.0}},
        "warnings": [],
    }


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("|").split("|")]


def table(stdout: str) -> list[dict[str, str]]:
    lines = [line for line in stdout.strip().splitlines() if line.startswith("|")]
    header = cells(lines[0])
    return [dict(zip(header, cells(line), strict=True)) for line in lines[2:]]


@pytest.fixture
def two_runs(tmp_path) -> list[Path]:
    # Written before tie-aware values existed (metric definitions 1): database order only.
    old = fake_run(
        tmp_path, "r48", bits=48, margin=14.0, results={"map": 0.71234, "map@100": 0.8, "precision@100": 0.65}
    )
    # Metric definitions 2: "map" in database order, "map_tie_aware" beside it (from eval/metrics.json).
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
    assert len(lines) == 6  # header, rule, two rows, a blank line and the note on †
    assert cells(lines[0]) == [
        "run", "dataset", "split", "bits", "margin", "frames", "seeds", "mAP", "mAP (db order)", "mAP@100",
        "P@100", "unique codes", "epochs", "epoch kept", "backbone", "pretrained",
    ]  # fmt: skip
    first, second = table(result.stdout)
    # An old file's mAP is in database order: the tie-aware column stays empty, the @K cells are
    # its database-order values, marked.
    assert first | {"run": ""} == {
        "run": "", "dataset": "synthetic", "split": "1", "bits": "48", "margin": "14", "frames": "4",
        "seeds": "1", "mAP": "-", "mAP (db order)": "0.7123", "mAP@100": "0.8000 †", "P@100": "0.6500 †",
        "unique codes": "-", "epochs": "2", "epoch kept": "-", "backbone": "r3d_18", "pretrained": "kinetics400",
    }  # fmt: skip
    # eval/metrics.json, when present, is preferred to results.json; it has the tie-aware mAP,
    # which becomes the headline.
    assert (second["mAP"], second["mAP (db order)"], second["pretrained"]) == ("0.4900", "0.5000", "no")
    assert lines[-1].startswith("† ties in database order")


def test_current_results_fill_every_column(tmp_path):
    run = fake_run(tmp_path, "now", bits=16, margin=8.0, results=current_results(0.5, unique=0.875))
    result = cli.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    (row,) = table(result.stdout)
    assert (row["mAP"], row["mAP (db order)"], row["mAP@100"], row["P@100"]) == (
        "0.5000",
        "0.5100",
        "0.6000",
        "0.4000",
    )
    assert row["unique codes"] == "0.8750" and "†" not in result.stdout


def test_csv_has_raw_values_and_k(two_runs):
    result = cli.invoke(app, ["report", *map(str, two_runs), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["run"] for row in rows] == [str(path) for path in two_runs]
    assert rows[0]["mAP"] == "" and rows[0]["mAP_database_order"] == "0.71234" and rows[0]["K"] == "100"
    assert rows[0]["mAP@K"] == "" and rows[0]["mAP@K_database_order"] == "0.8"  # no fallback in csv
    assert rows[0]["seeds"] == "1" and rows[0]["seed_values"] == "0" and rows[0]["mAP_std"] == ""
    assert rows[1]["bits"] == "16" and rows[1]["margin"] == "8.0" and rows[1]["mAP"] == "0.49"
    assert rows[1]["P@K_database_order"] == "0.55"


def test_runs_with_different_k_say_it_per_cell(two_runs, tmp_path):
    other = fake_run(
        tmp_path, "k10", bits=16, margin=8.0, results={"map": 0.3, "map@10": 0.4, "precision@10": 0.2}
    )
    result = cli.invoke(app, ["report", str(two_runs[0]), str(other)])
    assert result.exit_code == 0, result.output
    assert (
        "mAP@K" in result.stdout
        and "0.4000 (K=10) †" in result.stdout
        and "0.8000 (K=100) †" in result.stdout
    )


def test_seeds_of_one_configuration_share_a_row(tmp_path):
    seeds = [
        fake_run(tmp_path, f"s{seed}", bits=16, margin=8.0, seed=seed, results=current_results(value))
        for seed, value in ((0, 0.5), (1, 0.6), (2, 0.7))
    ]
    other_margin = fake_run(tmp_path, "m4", bits=16, margin=4.0, seed=1, results=current_results(0.2))
    result = cli.invoke(app, ["report", str(seeds[0]), str(other_margin), str(seeds[1]), str(seeds[2])])
    assert result.exit_code == 0, result.output
    grouped, single = table(result.stdout)
    assert grouped["run"] == ", ".join(map(str, seeds)) and grouped["seeds"] == "3"
    # mean 0.6, sample standard deviation 0.1 (n - 1 in the denominator)
    assert grouped["mAP"] == "0.6000 ± 0.1000" and grouped["mAP (db order)"] == "0.6100 ± 0.1000"
    assert grouped["mAP@100"] == "0.7000 ± 0.1000" and grouped["unique codes"] == "0.9000 ± 0.0000"
    assert (single["seeds"], single["mAP"], single["margin"]) == ("1", "0.2000", "4")

    result = cli.invoke(app, ["report", *map(str, seeds), str(other_margin), "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 2 and rows[0]["seeds"] == "3" and rows[0]["seed_values"] == "0;1;2"
    assert float(rows[0]["mAP"]) == pytest.approx(0.6) and float(rows[0]["mAP_std"]) == pytest.approx(0.1)
    assert float(rows[0]["P@K_database_order_std"]) == pytest.approx(0.1)
    assert rows[1]["mAP_std"] == "" and rows[1]["run"] == str(other_margin)


def test_a_differing_name_or_k_keeps_runs_apart(tmp_path):
    first = fake_run(tmp_path, "a", bits=16, margin=8.0, seed=0, results=current_results(0.5))
    renamed = fake_run(tmp_path, "b", bits=16, margin=8.0, seed=1, results=current_results(0.6))
    config = yaml.safe_load((renamed / "config.yaml").read_text())
    (renamed / "config.yaml").write_text(yaml.safe_dump({**config, "name": "other"}))
    other_k = fake_run(tmp_path, "c", bits=16, margin=8.0, seed=2, results=current_results(0.7, k=10))
    result = cli.invoke(app, ["report", str(first), str(renamed), str(other_k)])
    assert result.exit_code == 0, result.output
    assert [row["seeds"] for row in table(result.stdout)] == ["1", "1", "1"]


def test_a_directory_that_is_not_a_run_is_refused(tmp_path, two_runs):
    with pytest.raises(RunDirectoryError, match="no config.yaml"):
        read_run(tmp_path)
    unfinished = two_runs[0]
    (unfinished / "results.json").unlink()
    with pytest.raises(RunDirectoryError, match="has not finished"):
        read_run(unfinished)
    # From the shell: one line, exit status 2, no traceback, and no torch.
    done = run_torch_free(
        "from vrt.cli import main\n"
        f"sys.argv = ['vrt', 'report', r'{two_runs[1]}', r'{tmp_path / 'nothing'}']\n"
        "main()\n",
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "is not a directory" in done.stderr and "Traceback" not in done.stderr


def test_the_table_names_the_epoch_best_pt_holds(tmp_path):
    """Model selection's choice, from the last record of metrics.jsonl; a tie went to the later epoch."""
    from vrt.training.selection import improves

    assert improves(1.0, 1.0) and improves(0.9, 0.8) and not improves(0.8, 0.9)
    run = fake_run(tmp_path, "now", bits=16, margin=8.0, results=current_results(0.5, unique=0.875))
    records = [{"epoch": 1, "val_map": 1.0, "best_epoch": 1}, {"epoch": 2, "val_map": 1.0, "best_epoch": 2}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    result = cli.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    (row,) = table(result.stdout)
    assert (row["epochs"], row["epoch kept"]) == ("2", "2")
    csv_out = cli.invoke(app, ["report", str(run), "--format", "csv"])
    assert csv_out.exit_code == 0 and ",2,2," in csv_out.stdout.splitlines()[1]
