"""Unlabelled items (label -1): the codes format holds them, metrics refuse or discount them
honestly, indexes, search and pages show them as unlabelled."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

from vrt.codes import UNLABELLED, CodeSet, load_codes, save_codes
from vrt.index import HammingIndex
from vrt.metrics import UnlabelledQueryError, evaluate_retrieval
from vrt.reporting.retrieval_page import QueryResult, RankedItem, write_retrieval_page, write_search_page

from .conftest import REPO_ROOT


def codes(labels: list[int], *, seed: int, prefix: str, class_names: list[str] | None = None) -> CodeSet:
    rng = np.random.default_rng(seed)
    return CodeSet.from_bits(
        rng.random((len(labels), 16)) < 0.5,
        labels=labels,
        ids=[f"{prefix}{i}" for i in range(len(labels))],
        class_names=class_names,
    )


def test_the_codes_format_holds_unlabelled_items(tmp_path):
    saved = codes([0, UNLABELLED, 1, UNLABELLED], seed=0, prefix="v", class_names=["a", "b"])
    loaded = load_codes(save_codes(tmp_path / "c.npz", saved))
    assert loaded.labels.tolist() == [0, -1, 1, -1] and loaded.class_names == ["a", "b"]
    assert loaded.labelled.tolist() == [True, False, True, False]
    with pytest.raises(ValueError, match=r"or -1 \(unlabelled\), got range \[-2, 0\]"):
        codes([0, -2], seed=0, prefix="v")
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        codes([0, 2], seed=0, prefix="v", class_names=["a", "b"])


def test_metrics_refuse_unlabelled_queries_with_one_clear_error():
    database = codes([0, 1, 0, 1], seed=1, prefix="d")
    with pytest.raises(UnlabelledQueryError, match=r"1 of 3 queries are unlabelled \(label -1\)"):
        evaluate_retrieval(codes([0, UNLABELLED, 1], seed=2, prefix="q"), database)


def test_unlabelled_database_items_are_relevant_to_no_query_and_announced():
    """The figures equal those of the same items under a class no query has: distractors."""
    query = codes([0, 1, 0], seed=3, prefix="q")
    labels = [0, UNLABELLED, 1, 0, UNLABELLED, 1, 1, 0]
    with_unlabelled = evaluate_retrieval(query, codes(labels, seed=4, prefix="d"), topk=5)
    as_other_class = evaluate_retrieval(
        query, codes([7 if label == UNLABELLED else label for label in labels], seed=4, prefix="d"), topk=5
    )
    assert with_unlabelled.map == pytest.approx(as_other_class.map, abs=1e-15)
    assert with_unlabelled.precision_at_k == pytest.approx(as_other_class.precision_at_k, abs=1e-15)
    assert with_unlabelled.warnings[-1].startswith("2 of the 8 database items are unlabelled (label -1)")
    assert not any("unlabelled" in warning for warning in as_other_class.warnings)


def test_vrt_eval_on_unlabelled_queries_is_one_line(tmp_path):
    save_codes(tmp_path / "q.npz", codes([UNLABELLED] * 3, seed=5, prefix="q"))
    save_codes(tmp_path / "db.npz", codes([0, 1, 0, 1], seed=6, prefix="d"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vrt",
            "eval",
            "--query",
            str(tmp_path / "q.npz"),
            "--database",
            str(tmp_path / "db.npz"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "3 of 3 queries are unlabelled" in done.stderr and "vrt search" in done.stderr


def test_search_results_and_index_info_show_unlabelled_items(tmp_path):
    from typer.testing import CliRunner

    from vrt.cli import app

    save_codes(
        tmp_path / "db.npz",
        codes([0, UNLABELLED, 1, UNLABELLED, 0], seed=7, prefix="d", class_names=["a", "b"]),
    )
    cli = CliRunner()
    assert (
        cli.invoke(
            app, ["index", "build", "--codes", str(tmp_path / "db.npz"), "--out", str(tmp_path / "i.npz")]
        ).exit_code
        == 0
    )
    info = cli.invoke(app, ["index", "info", str(tmp_path / "i.npz")])
    assert info.exit_code == 0, info.output
    assert json.loads(info.stdout)["items"] == {
        "count": 5, "labelled": 3, "unlabelled": 2, "classes": 2, "classes_present": 2,
    }  # fmt: skip
    found = cli.invoke(
        app, ["search", "--index", str(tmp_path / "i.npz"), "--query", "d1", "--topk", "5", "--json"]
    )
    assert found.exit_code == 0, found.output
    (rows,) = json.loads(found.stdout)
    by_id = {row["id"]: row for row in rows}
    assert by_id["d1"] == {**by_id["d1"], "label": -1, "class_name": None, "distance": 0}
    assert by_id["d0"]["class_name"] == "a"
    table = cli.invoke(app, ["search", "--index", str(tmp_path / "i.npz"), "--query", "d1", "--topk", "5"])
    assert "unlabelled" in table.stdout


class _Tiles(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "li" and "tile" in (attributes.get("class") or ""):
            self.statuses.append(attributes["class"].split()[1])
            self.ids.append(attributes["data-id"])


def test_pages_judge_only_what_has_labels_and_show_full_ids(tmp_path):
    long_id = "a/very/long/folder/name/that/goes/on/and/on/clip_with_a_long_name.mp4#t=12,16"
    queries = [
        QueryResult(id="q-labelled", label=0, results=[RankedItem("x", 0, 0), RankedItem("y", 1, 2), RankedItem(long_id, UNLABELLED, 3)]),
        QueryResult(id="q-unlabelled", label=UNLABELLED, results=[RankedItem("x", 0, 1)]),
    ]  # fmt: skip
    path = write_search_page(tmp_path / "results.html", queries, class_names=["walk", "run"])
    html = path.read_text(encoding="utf-8")
    tiles = _Tiles()
    tiles.feed(html)
    assert tiles.statuses == ["correct", "wrong", "unjudged", "unjudged"]
    assert f">{long_id}</span>" in html  # the whole id is on the page, wrapped, not cut
    assert "1 of the 2 labelled results share the query&#x27;s class" in html
    assert "the query has no label, so none is judged" in html

    query = codes([UNLABELLED, 0], seed=8, prefix="q", class_names=["walk"])
    database = codes([0, UNLABELLED, 0], seed=9, prefix="d", class_names=["walk"])
    page = write_retrieval_page(tmp_path, query=query, database=database, num_queries=2)
    tiles = _Tiles()
    tiles.feed(page.read_text(encoding="utf-8"))
    assert tiles.statuses[:3] == ["unjudged"] * 3  # the unlabelled query's results
    assert sorted(tiles.statuses[3:]) == ["correct", "correct", "unjudged"]


def test_an_index_of_unlabelled_items_searches_like_any_other():
    database = codes([UNLABELLED] * 6, seed=10, prefix="d")
    index = HammingIndex.build(database)
    (row,) = index.results(*index.search_ids(["d2"], 3))
    assert row[0]["id"] == "d2" and row[0]["label"] == -1 and row[0]["class_name"] is None


def test_query_files_with_classes_of_their_own_keep_their_own_names(tmp_path):
    from vrt.inference.queries import resolve_queries

    index = HammingIndex.build(codes([0, 1], seed=1, prefix="d", class_names=["a", "b"]))
    save_codes(tmp_path / "q1.npz", codes([0, UNLABELLED], seed=2, prefix="x", class_names=["x"]))
    save_codes(tmp_path / "q2.npz", codes([1, 0], seed=3, prefix="y", class_names=["a", "y"]))
    queries = resolve_queries(index, [str(tmp_path / "q1.npz"), str(tmp_path / "q2.npz"), "d1"])
    names = [None if label == UNLABELLED else queries.class_names[label] for label in queries.labels]
    assert queries.ids == ["x0", "x1", "y0", "y1", "d1"]
    assert names == ["x", None, "y", "a", "b"] and queries.class_names == ["a", "b", "x", "y"]
