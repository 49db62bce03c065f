"""Instance-level retrieval (source relevance, the query left out) and the papers' mAP@K,
against the definitions written out one query at a time."""

from __future__ import annotations

import numpy as np
import pytest

from vrt.codes import CodeSet
from vrt.metrics import score_queries
from vrt.metrics.self_exclusion import own_positions
from vrt.metrics.sources import score_sources

from .metrics_reference import expected_average_precision, hamming


def random_set(
    rng: np.random.Generator, count: int, *, bits: int = 8, classes: int = 3, prefix: str
) -> CodeSet:
    return CodeSet.from_bits(
        rng.random((count, bits)) < 0.5,
        labels=rng.integers(0, classes, count),
        ids=[f"{prefix}{i}" for i in range(count)],
    )


def papers_map_at(query: CodeSet, database: CodeSet, depth: int) -> float:
    """The S5VH/ConMH evaluation written out: rank by distance (ties in database order), sum the
    precision at each relevant rank within the top K, divide by K; mean over every query."""
    distances = hamming(query, database)
    values = []
    for q in range(len(query)):
        order = sorted(range(len(database)), key=lambda j: (distances[q][j], j))
        hits, total = 0, 0.0
        for rank, j in enumerate(order[:depth], start=1):
            if database.labels[j] == query.labels[q]:
                hits += 1
                total += hits / rank
        values.append(total / depth)
    return float(np.mean(values))


def test_papers_map_at_k_divides_by_k_over_every_query():
    rng = np.random.default_rng(3)
    query, database = random_set(rng, 9, prefix="q", classes=4), random_set(rng, 40, prefix="d")
    report = score_queries(query, database, topk=20).report()
    assert [depth for depth, _ in report.papers_map_at] == [5, 20, 40]  # K up to the database size
    for depth, value in report.papers_map_at:
        assert value == pytest.approx(papers_map_at(query, database, depth), abs=1e-12)
    assert report.to_dict()["map@5_papers"] == pytest.approx(papers_map_at(query, database, 5))
    # Ranking every pair is what it needs: the counting path leaves it out.
    assert score_queries(query, database, database_order=False).report().papers_map_at == ()


def test_exclude_self_equals_ranking_the_others():
    rng = np.random.default_rng(5)
    database = random_set(rng, 30, prefix="d")
    picked = [0, 4, 7, 19, 29]
    query = CodeSet(
        codes=database.codes[picked],
        bits=database.bits,
        labels=database.labels[picked],
        ids=database.ids[picked],
    )
    left_out = score_queries(query, database, database_order=False, exclude_self=True)
    for row, position in enumerate(picked):
        others = [j for j in range(len(database)) if j != position]
        rest = CodeSet(
            codes=database.codes[others],
            bits=database.bits,
            labels=database.labels[others],
            ids=database.ids[others],
        )
        alone = score_queries(_one(query, row), rest, database_order=False)
        assert left_out.average_precision[row] == pytest.approx(alone.average_precision[0], abs=1e-12)
        assert left_out.precision_at_k[row] == pytest.approx(alone.precision_at_k[0], abs=1e-12)
        assert left_out.num_relevant[row] == alone.num_relevant[0]


@pytest.mark.parametrize("topk", [5, 100])  # 100: beyond the database, each query at its own K'
def test_exclude_self_leaves_out_the_items_of_queries_that_are_in_the_database_only(topk):
    rng = np.random.default_rng(6)
    database = random_set(rng, 30, prefix="d")
    outsiders = random_set(rng, 3, prefix="q")
    query = CodeSet(
        codes=np.concatenate([database.codes[[2, 9]], outsiders.codes]),
        bits=database.bits,
        labels=np.concatenate([database.labels[[2, 9]], outsiders.labels]),
        ids=np.concatenate([database.ids[[2, 9]], outsiders.ids]),
    )
    left_out = score_queries(query, database, topk=topk, database_order=False, exclude_self=True)
    for row in range(len(query)):
        own = [2, 9][row] if row < 2 else None
        rest = database if own is None else _without(database, own)
        alone = score_queries(_one(query, row), rest, topk=topk, database_order=False)
        for name in ("average_precision", "average_precision_at_k", "precision_at_k", "num_relevant"):
            assert getattr(left_out, name)[row] == pytest.approx(getattr(alone, name)[0], abs=1e-12), name


def _without(codes: CodeSet, row: int) -> CodeSet:
    keep = np.arange(len(codes)) != row
    return CodeSet(codes=codes.codes[keep], bits=codes.bits, labels=codes.labels[keep], ids=codes.ids[keep])


def _one(codes: CodeSet, row: int) -> CodeSet:
    return CodeSet(
        codes=codes.codes[row : row + 1],
        bits=codes.bits,
        labels=codes.labels[row : row + 1],
        ids=codes.ids[row : row + 1],
    )


def test_source_relevance_searches_database_and_queries_leaving_the_query_out():
    rng = np.random.default_rng(11)
    bits = rng.random((12, 8)) < 0.5
    # Three sources cut into windows; source "b" has clips on both sides, "c" only among the queries.
    database = CodeSet.from_bits(
        bits[:6], labels=[0] * 6, ids=["a#t=0,2", "a#t=2,4", "b#t=0,2", "x", "y", "z"]
    )
    query = CodeSet.from_bits(
        bits[6:], labels=[0] * 6, ids=["b#t=2,4", "c#t=0,2", "c#t=2,4", "c#t=4,6", "w", "v"]
    )
    scores = score_sources(query, database, topk=5)
    assert scores is not None
    pool_ids = [*database.ids.tolist(), *query.ids.tolist()]
    pool_bits = np.concatenate([bits[:6], bits[6:]])
    source = [item.split("#t=")[0] for item in pool_ids]
    pool = CodeSet.from_bits(pool_bits, labels=[0] * 12, ids=pool_ids)
    distances = hamming(query, pool)
    for q, item in enumerate(query.ids.tolist()):
        own = pool_ids.index(item)
        others = [j for j in range(12) if j != own]
        relevant = [source[j] == source[own] for j in others]
        if not any(relevant):  # w and v: nothing of their source to find
            assert scores.num_relevant[q] == 0
            continue
        expected = expected_average_precision([distances[q][j] for j in others], relevant)
        assert scores.average_precision[q] == pytest.approx(expected, abs=1e-12)
    assert scores.report().num_queries_without_relevant == 2


def test_source_relevance_is_none_when_no_query_shares_a_source():
    rng = np.random.default_rng(0)
    assert score_sources(random_set(rng, 4, prefix="q"), random_set(rng, 6, prefix="d")) is None


def test_collapsed_codes_score_well_on_class_and_at_chance_on_source():
    """One code per class: class mAP is perfect, source mAP is not (what source relevance is for)."""
    labels = np.repeat(np.arange(4), 6)
    bits = np.zeros((24, 8), dtype=bool)
    bits[:, :4] = np.eye(4, dtype=bool)[labels]
    ids = [f"v{i // 2}#t={i % 2 * 2},{i % 2 * 2 + 2}" for i in range(24)]  # two windows per video
    query = CodeSet.from_bits(bits[::2], labels=labels[::2], ids=ids[::2])
    database = CodeSet.from_bits(bits[1::2], labels=labels[1::2], ids=ids[1::2])
    assert score_queries(query, database, database_order=False).report().map == pytest.approx(1.0)
    source = score_sources(query, database)
    assert source is not None and source.report().map < 0.5


@pytest.mark.parametrize("topk", [5, 100])
def test_exclude_self_of_a_changed_copy_leaves_out_only_what_its_own_item_counted(topk):
    """The shared id's item may differ from the query: re-encoded (another code, so another
    distance), relabelled, of a class the database lacks, or unlabelled in the database. Its own
    item is left out of exactly the counts it was in: every distance from its own, the relevant
    ones only when relevant."""
    rng = np.random.default_rng(9)
    database = random_set(rng, 30, prefix="d")
    labels = database.labels.copy()
    labels[20] = -1  # an unlabelled database item
    database = CodeSet(codes=database.codes, bits=8, labels=labels, ids=database.ids)
    own = [3, 8, 12, 20]
    codes = database.codes[own].copy()
    codes[:, 0] ^= np.array([0b1, 0b110, 0b1000_0001, 0b10], dtype=np.uint8)  # 1, 2, 2, 1 bits flipped
    query_labels = database.labels[own].copy()
    query_labels[1] = (query_labels[1] + 1) % 3  # relabelled: its own item is of another class
    query_labels[2] = 7  # a class the database does not have
    query_labels[3] = 0  # labelled, its own item not
    query = CodeSet(codes=codes, bits=8, labels=query_labels, ids=database.ids[own])
    left_out = score_queries(query, database, topk=topk, database_order=False, exclude_self=True)
    for row, position in enumerate(own):
        alone = score_queries(_one(query, row), _without(database, position), topk=topk, database_order=False)
        for name in ("average_precision", "average_precision_at_k", "precision_at_k", "num_relevant"):
            expected, found = getattr(alone, name)[0], getattr(left_out, name)[row]
            assert found == pytest.approx(expected, abs=1e-12, nan_ok=True), (row, name)


def test_source_relevance_of_queries_that_are_database_items_counts_each_item_once(monkeypatch):
    """Queries from the database file itself (`vrt eval --query X --database X`): each item is in
    the pool once, so a query does not find a second copy of itself. K and the radius asked are
    the ones used; a pool of exactly MAX_CLASSES sources is still scored."""
    import vrt.metrics.sources as sources

    rng = np.random.default_rng(4)
    bits = rng.random((8, 8)) < 0.5
    ids = [f"v{i // 2}#t={i % 2 * 2},{i % 2 * 2 + 2}" for i in range(8)]  # 4 videos, 2 windows each
    database = CodeSet.from_bits(bits, labels=[0] * 8, ids=ids)
    scores = score_sources(database, database, topk=3, radius=1)
    assert scores is not None
    distances = hamming(database, database)
    for q in range(8):
        others = [j for j in range(8) if j != q]
        relevant = [ids[j].split("#")[0] == ids[q].split("#")[0] for j in others]
        expected = expected_average_precision([distances[q][j] for j in others], relevant)
        assert scores.average_precision[q] == pytest.approx(expected, abs=1e-12)
    report = scores.report().to_dict()
    assert "map@3" in report and "precision@H<=1" in report
    defaults = score_sources(database, database).report().to_dict()
    assert defaults["topk"] == {"asked": 100, "used": 7}  # each query ranks the 7 others
    assert "precision@H<=2" in defaults
    monkeypatch.setattr(sources, "MAX_CLASSES", 4)  # as many sources as the limit: scored
    assert score_sources(database, database) is not None
    monkeypatch.setattr(sources, "MAX_CLASSES", 3)
    assert score_sources(database, database) is None


# Edges that mutation testing (make mutation) found untested: source relevance and self-exclusion.


def windows_set() -> CodeSet:
    rng = np.random.default_rng(5)
    return CodeSet.from_bits(
        rng.random((4, 8)) < 0.5, labels=[0, 0, 1, 1], ids=["a#t=0,2", "a#t=2,4", "b#t=0,2", "b#t=2,4"]
    )


EMPTY = CodeSet(codes=np.zeros((0, 1), dtype=np.uint8), bits=8, labels=np.zeros(0, dtype=np.int64), ids=[])


def test_score_sources_of_no_queries_is_none():
    database = windows_set()
    assert score_sources(EMPTY, database) is None


def test_score_sources_passes_workers_on_and_so_refuses_zero():
    database = windows_set()
    assert score_sources(database, database, workers=1) is not None
    with pytest.raises(ValueError, match=r"^workers must be a positive integer, got 0$"):
        score_sources(database, database, workers=0)


def test_own_positions_are_int64_with_minus_one_for_an_id_not_in_the_database():
    database = windows_set()
    query = CodeSet(codes=database.codes[:3], bits=8, labels=[0, 0, 0], ids=["b#t=0,2", "gone", "a#t=0,2"])
    positions = own_positions(query, database)
    assert positions.dtype == np.int64 and positions.tolist() == [2, -1, 0]
    none = own_positions(EMPTY, database)
    assert none.dtype == np.int64 and none.shape == (0,)
