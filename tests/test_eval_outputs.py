"""`vrt eval` outputs: results.json with its protocol record, the two plots, the page hook."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vrt.cli import app
from vrt.codes import CodeSet, EncoderIdentity, save_codes
from vrt.datasets.clips import ClipSpec
from vrt.metrics import METRIC_DEFINITIONS, METRIC_DEFINITIONS_VERSION, evaluate_retrieval

from .conftest import REPO_ROOT

cli = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.fixture
def code_files(tmp_path) -> tuple[Path, Path]:
    """16-bit codes of 4 named classes around class centres, and one query class the database lacks."""
    rng = np.random.default_rng(0)
    centres = rng.random((5, 16)) < 0.5
    names = ["walk", "run", "jump", "swim", "fly"]
    paths = []
    for name, size, classes in (("q", 30, 5), ("db", 200, 4)):
        labels = np.arange(size) % classes
        bits = centres[labels] ^ (rng.random((size, 16)) < 0.15)
        codes = CodeSet.from_bits(
            bits, labels=labels, ids=[f"{name}{i}" for i in range(size)], class_names=names
        )
        paths.append(save_codes(tmp_path / f"{name}.npz", codes))
    return paths[0], paths[1]


def run_eval(*args: str) -> dict:
    result = cli.invoke(app, ["eval", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_results_json_records_metrics_curves_and_protocol(code_files, tmp_path):
    query_path, database_path = code_files
    out = tmp_path / "out"
    printed = run_eval(
        "--query", str(query_path), "--database", str(database_path), "--topk", "20", "--output", str(out)
    )
    record = json.loads((out / "results.json").read_text())

    assert record["schema"] == "vrt.results/1"
    assert record["metrics"] == printed
    for key in ("map", "map@20", "precision@20", "recall@20"):
        assert {key, f"{key}_database_order"} <= printed.keys()
    assert "precision@H<=2" in printed and "map_tie_aware" not in printed
    assert printed["num_queries_without_relevant"] == 6  # the "fly" queries
    stats = printed["code_stats"]
    assert stats["query"]["size"] == 30 and stats["database"]["size"] == 200
    assert len(stats["database"]["bit_balance"]) == 16 and stats["database"]["constant_bits"] == 0
    assert printed["warnings"] == []

    per_class = {entry["name"]: entry for entry in record["per_class"]}
    assert list(per_class) == ["walk", "run", "jump", "swim", "fly"]
    assert per_class["fly"]["ap"] is None and per_class["fly"]["num_queries_without_relevant"] == 6
    assert all(0 < per_class[name]["ap"] <= 1 for name in ("walk", "run", "jump", "swim"))
    assert all(0 < per_class[name]["ap_database_order"] <= 1 for name in ("walk", "run", "jump", "swim"))

    curve = record["pr_curve"]
    assert curve["radius"] == list(range(17)) and len(curve["precision"]) == len(curve["recall"]) == 17
    assert curve["precision"][2] == printed["precision@H<=2"] and curve["recall"][-1] == 1.0
    map_at_k = record["map_at_k"]
    assert map_at_k["k"][0] == 1 and map_at_k["k"][-1] == 200 and 20 in map_at_k["k"]
    assert map_at_k["ties"] == "database order"
    assert map_at_k["map"][map_at_k["k"].index(20)] == pytest.approx(
        printed["map@20_database_order"], abs=1e-12
    )

    protocol = record["protocol"]
    for side, path, size in (("query", query_path, 30), ("database", database_path, 200)):
        assert protocol[side]["size"] == size and protocol[side]["bits"] == 16
        assert protocol[side]["path"] == str(path)
        assert protocol[side]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert protocol["topk"] == 20 and protocol["radius"] == 2
    assert protocol["metric_definitions"]["version"] == METRIC_DEFINITIONS_VERSION
    assert protocol["metric_definitions"]["definitions"] == METRIC_DEFINITIONS
    assert protocol["checkpoint"] is None and protocol["config_hash"] is None

    assert png_size(out / "pr_curve.png")[0] > 300 and png_size(out / "map_at_k.png")[0] > 300


def test_no_plots_and_no_output(code_files, tmp_path, monkeypatch):
    query_path, database_path = code_files
    out = tmp_path / "out"
    run_eval("--query", str(query_path), "--database", str(database_path), "--output", str(out), "--no-plots")
    assert sorted(path.name for path in out.iterdir()) == ["results.json", "retrieval.html"]

    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    run_eval("--query", str(query_path), "--database", str(database_path))
    assert sorted(tmp_path.rglob("*")) == before  # code files without --output: nothing written


def test_radius_is_checked_and_changes_the_key(code_files):
    query_path, database_path = code_files
    printed = run_eval("--query", str(query_path), "--database", str(database_path), "--radius", "5")
    expected = evaluate_retrieval(*map(_load, code_files), radius=5)
    assert printed["precision@H<=5"] == pytest.approx(expected.precision_at_radius, abs=1e-15)
    result = cli.invoke(
        app, ["eval", "--query", str(query_path), "--database", str(database_path), "--radius", "17"]
    )
    assert result.exit_code != 0 and "radius" in result.output


def _load(path: Path) -> CodeSet:
    from vrt.codes import load_codes

    return load_codes(path)


def test_code_file_outputs_do_not_import_torch(code_files, tmp_path):
    query_path, database_path = code_files
    code = (
        "import sys\n"
        "from vrt.cli import main\n"
        f"sys.argv = ['vrt', 'eval', '--query', r'{query_path}', '--database', r'{database_path}', "
        f"'--output', r'{tmp_path / 'out'}', '--json']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "assert 'torch' not in sys.modules, 'vrt eval on code files imported torch'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "map_at_k.png").is_file()


def run_eval_process(*args: str) -> tuple[dict, list[str]]:
    """`vrt eval ... --json` as a process: the printed JSON and the lines on stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "vrt", "eval", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr.splitlines()


@pytest.fixture
def collapsed_files(tmp_path) -> tuple[Path, Path]:
    """Random query codes against a database whose 40 codes are all identical, sorted by class."""
    rng = np.random.default_rng(5)
    query = CodeSet.from_bits(
        rng.random((12, 16)) < 0.5, labels=np.arange(12) % 4, ids=[f"q{i}" for i in range(12)]
    )
    database = CodeSet.from_bits(
        np.ones((40, 16), dtype=bool), labels=np.repeat(np.arange(4), 10), ids=[f"d{i}" for i in range(40)]
    )  # fmt: skip
    # As vrt writes them: with their model, so the one warning is about the codes themselves.
    model = EncoderIdentity(checkpoint_sha256="c" * 64, bits=16)
    query, database = replace(query, encoder=model), replace(database, encoder=model)
    return save_codes(tmp_path / "q.npz", query), save_codes(tmp_path / "db.npz", database)


def test_collapsed_database_codes_get_the_tie_aware_map_and_a_warning(collapsed_files):
    from .metrics_reference import expected_average_precision

    query_path, database_path = collapsed_files
    printed, stderr = run_eval_process(
        "--query", str(query_path), "--database", str(database_path), "--database-order"
    )
    # Every database item is at the same distance from a query: one tie group of 40 items, 10
    # of them relevant. Database order would rank a class-0 query's items first.
    expected = expected_average_precision([0] * 40, [True] * 10 + [False] * 30)
    assert printed["map"] == pytest.approx(expected, abs=1e-9)
    assert printed["map_database_order"] > printed["map"] + 0.05  # the flattering figure, kept apart
    assert "map_tie_aware" not in printed
    database = printed["code_stats"]["database"]
    assert (database["unique_codes"], database["top_code_share"], database["constant_bits"]) == (1, 1.0, 16)
    assert database["mean_abs_bit_correlation"] is None and database["bit_balance"] == [1.0] * 16
    assert printed["code_stats"]["query"]["size"] == 12
    warning = "warning: degenerate database codes: 100.0% of the 40 items share one code"
    assert any(line.startswith(warning) for line in stderr), stderr
    assert [line for line in stderr if line.startswith("warning: ")] == [
        f"warning: {w}" for w in printed["warnings"]
    ]


def test_k_beyond_the_database_is_a_warning_in_json_and_on_stderr(code_files):
    query_path, database_path = code_files
    printed, stderr = run_eval_process(
        "--query", str(query_path), "--database", str(database_path), "--topk", "500"
    )
    message = "topk 500 exceeds the database size 200: mAP@K, P@K and R@K are computed at K' = 200"
    assert printed["warnings"] == [message]
    assert f"warning: {message}" in stderr
    # The keys name the K used, and "topk" both: a figure never claims a K it was not measured at.
    assert "map@500" not in printed and printed["topk"] == {"asked": 500, "used": 200}
    assert printed["map@200"] == pytest.approx(printed["map"], abs=1e-12)  # K' = Ndb: the whole ranking
    table = subprocess.run(
        [sys.executable, "-m", "vrt", "eval", "--query", str(query_path), "--database", str(database_path),
         "--topk", "500"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    ).stdout  # fmt: skip
    assert "mAP@200 (K=500 asked)" in table and "precision@200 (K=500 asked)" in table and "@500" not in table


def test_eval_hands_the_codes_to_the_retrieval_page(code_files, tmp_path, monkeypatch):
    calls = []

    def write_retrieval_page(out_dir, *, query, database, thumbnails=None, **_):
        calls.append((out_dir, len(query), len(database), thumbnails))
        page = Path(out_dir) / "retrieval.html"
        page.write_text("<html></html>")
        return page

    module = types.ModuleType("vrt.reporting.retrieval_page")
    module.write_retrieval_page = write_retrieval_page
    monkeypatch.setitem(sys.modules, "vrt.reporting.retrieval_page", module)
    query_path, database_path = code_files
    out = tmp_path / "out"
    run_eval("--query", str(query_path), "--database", str(database_path), "--output", str(out), "--no-plots")
    assert calls == [(out, 30, 200, None)]
    assert (out / "retrieval.html").is_file()


def test_checkpoint_eval_writes_where_output_says_and_nothing_without_it(tmp_path, tiny_config_file):
    from vrt.checkpoints.format import save_checkpoint
    from vrt.config import config_hash, config_to_dict, load_config
    from vrt.model import build_model

    # An untrained model is as good as a trained one for the record: no training needed.
    config = load_config(tiny_config_file)
    model = build_model(config.model, load_pretrained=False)
    checkpoint = tmp_path / "run" / "best.pt"
    save_checkpoint(checkpoint, {"model": model.state_dict(), "config": config_to_dict(config), "epoch": 0})

    assert run_eval("--checkpoint", str(checkpoint), "--no-plots") and sorted(
        checkpoint.parent.iterdir()
    ) == [checkpoint]
    printed = run_eval(
        "--checkpoint", str(checkpoint), "--no-plots", "--output", str(tmp_path / "run" / "eval")
    )
    record = json.loads((tmp_path / "run" / "eval" / "results.json").read_text())
    assert record["metrics"] == printed
    protocol = record["protocol"]
    assert protocol["checkpoint"]["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert protocol["config_hash"] == config_hash(config)
    assert protocol["query"]["size"] == 12 and protocol["query"]["source"].startswith("test split")
    assert protocol["database"]["size"] == 32 and protocol["database"]["source"].startswith("train split")
    assert "sha256" not in protocol["query"] and len(protocol["query"]["content_sha256"]) == 64
    assert (tmp_path / "run" / "eval" / "retrieval.html").is_file()


def test_clip_frames_gives_uint8_frames_by_id():
    from vrt.datasets import synthetic  # noqa: F401 - registers the builder
    from vrt.registry import DATASETS
    from vrt.reporting.thumbnails import clip_frames

    dataset = DATASETS.get("synthetic")(
        subset="test", clips=ClipSpec(num_frames=4, frame_size=32), num_classes=2, test_videos_per_class=2
    )
    frames = clip_frames([dataset])(dataset.ids[1])
    assert len(frames) == 4 and frames[0].shape == (32, 32, 3) and frames[0].dtype == np.uint8
    expected = (dataset.load_clip(1, training=False)[:, 0].permute(1, 2, 0).numpy() * 255).round()
    np.testing.assert_array_equal(frames[0], expected.astype(np.uint8))
    with pytest.raises(KeyError, match="no video"):
        clip_frames([dataset])("missing")


def test_eval_gives_the_tie_aware_values_alone_unless_asked(code_files):
    """Without --output or --database-order, vrt eval ranks nothing: the headline values are the
    same, the database-order keys are null (and the table leaves their rows out)."""
    query_path, database_path = code_files
    both, _ = run_eval_process(
        "--query", str(query_path), "--database", str(database_path), "--database-order"
    )
    alone, _ = run_eval_process("--query", str(query_path), "--database", str(database_path))
    for key in ("map", "map@100", "precision@100", "recall@100", "precision@H<=2"):
        assert alone[key] == both[key], key
    assert both["map_database_order"] is not None and alone["map_database_order"] is None
    table = subprocess.run(
        [sys.executable, "-m", "vrt", "eval", "--query", str(query_path), "--database", str(database_path)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    ).stdout  # fmt: skip
    assert "mAP@100" in table and "ties in database order" not in table


def test_a_set_evaluated_against_itself_leaves_each_querys_own_item_out(code_files, tmp_path):
    """`vrt eval --query videos.npz --database videos.npz` counted every query finding itself."""
    from vrt.codes import load_codes
    from vrt.metrics import score_queries

    _, database_path = code_files
    args = ["eval", "--query", str(database_path), "--database", str(database_path), "--topk", "20", "--json"]
    honest = cli.invoke(app, args)
    assert honest.exit_code == 0, honest.output
    assert "200 of the 200 queries are database items too: each one's own item is left out" in honest.stderr
    left_out = json.loads(honest.stdout.strip().splitlines()[-1])
    assert left_out["shared_items"] == {"count": 200, "left_out": True}
    database = load_codes(database_path)
    expected = score_queries(database, database, topk=20, database_order=False, exclude_self=True).report()
    assert left_out["map"] == pytest.approx(expected.map) and left_out["map_database_order"] is None
    kept = cli.invoke(app, [*args, "--keep-self"])
    assert kept.exit_code == 0 and "find themselves first (--keep-self)" in kept.stderr
    inflated = json.loads(kept.stdout.strip().splitlines()[-1])
    assert inflated["shared_items"] == {"count": 200, "left_out": False} and inflated["map"] > left_out["map"]
    query_path, _ = code_files  # no shared ids: nothing is left out, and nothing said
    apart = cli.invoke(app, ["eval", "--query", str(query_path), "--database", str(database_path), "--json"])
    assert json.loads(apart.stdout.strip().splitlines()[-1])["shared_items"] == {
        "count": 0,
        "left_out": False,
    }
    assert "database items too" not in apart.stderr
