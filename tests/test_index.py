"""Hamming index and `vrt search`: exact kinds equal a brute-force stable ranking, the file round
trips without pickle and is written atomically, and the commands run without torch."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from typer.testing import CliRunner

from vrt.cli import app
from vrt.codes import CodeSet, IncomparableCodesError, load_codes, save_codes
from vrt.index import (
    INDEX_KINDS,
    HammingIndex,
    IndexFileError,
    IndexParameterError,
    UnknownIdError,
    exact_topk,
    load_index,
    read_manifest,
)
from vrt.index import kinds as index_kinds
from vrt.index import storage as index_storage
from vrt.index.hamming_index import QueryMismatchError
from vrt.index.ivf import ivf_layout
from vrt.metrics import hamming as hamming_module
from vrt.metrics.hamming import HammingScanner, distance_dtype, hamming_distances

from .conftest import REPO_ROOT, exact_message
from .datasets_fixtures import write_source_video

cli = CliRunner()
CLASS_NAMES = ["Apply & Eye", "Body(Weight)!", "Jump @ Rope #2"]


def random_codes(n: int, bits: int, *, seed: int, prefix: str = "v", flip: float | None = None) -> CodeSet:
    """Uniform codes (flip=None: few bits mean many ties), or class centres with bits flipped."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASS_NAMES), n)
    if flip is None:
        bits_array = rng.random((n, bits)) < 0.5
    else:
        centres = np.random.default_rng(1234).random((len(CLASS_NAMES), bits)) < 0.5
        bits_array = centres[labels] ^ (rng.random((n, bits)) < flip)
    return CodeSet.from_bits(
        bits_array, labels=labels, ids=[f"{prefix}{i}" for i in range(n)], class_names=CLASS_NAMES
    )


def brute_force(query: np.ndarray, database: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference: unpacked bits compared one by one, stable sort, so ties stay in database order."""
    q_bits, db_bits = np.unpackbits(query, axis=1), np.unpackbits(database, axis=1)
    distances, positions = [], []
    for bits in q_bits:
        row = (bits[None, :] != db_bits).sum(axis=1)
        order = np.argsort(row, kind="stable")[:k]
        distances.append(row[order])
        positions.append(order)
    return np.array(distances), np.array(positions)


@pytest.mark.parametrize("bits", [8, 16, 64])
@pytest.mark.parametrize("topk", [1, 10, 700])
def test_flat_equals_brute_force_with_ties(bits, topk):
    database = random_codes(600, bits, seed=bits)
    query = random_codes(40, bits, seed=bits + 1, prefix="q")
    index = HammingIndex.build(database)
    distances, positions = index.search(query.codes, topk)
    expected_distances, expected_positions = brute_force(query.codes, database.codes, topk)
    assert positions.shape == (40, min(topk, 600))  # K larger than the database is clipped
    np.testing.assert_array_equal(distances, expected_distances)
    np.testing.assert_array_equal(positions, expected_positions)
    assert distances.dtype == np.int32 and positions.dtype == np.int64


def test_flat_numpy_fallback_for_large_k_equals_brute_force(monkeypatch):
    database = random_codes(500, 16, seed=3)
    query = random_codes(30, 16, seed=4, prefix="q")
    monkeypatch.setattr(index_kinds, "_COUNTING_MEMORY", 1)  # faiss's counting search never fits
    distances, positions = HammingIndex.build(database).search(query.codes, 50)
    expected = brute_force(query.codes, database.codes, 50)
    np.testing.assert_array_equal(distances, expected[0])
    np.testing.assert_array_equal(positions, expected[1])
    # And the blocked numpy ranking itself, with blocks of one query.
    small = exact_topk(query.codes, database.codes, 50, memory_budget=1)
    np.testing.assert_array_equal(small[1], expected[1])


def test_multihash_is_exact_within_its_radius():
    database = random_codes(2000, 64, seed=5, flip=0.05)
    query = random_codes(60, 64, seed=6, prefix="q", flip=0.05)
    index = HammingIndex.build(database, kind="multihash")
    assert index.exact_radius == 7  # 4 tables of 16 bits, one flipped bit: 4 * 2 - 1
    distances, positions = index.search(query.codes, 10)
    expected_distances, expected_positions = brute_force(query.codes, database.codes, 10)
    within = expected_distances[:, -1] <= index.exact_radius
    assert within.sum() >= 30  # the check below must cover many queries
    np.testing.assert_array_equal(positions[within], expected_positions[within])
    np.testing.assert_array_equal(distances[within], expected_distances[within])
    # Beyond the radius results may be missing, but what is returned is true and well ordered.
    found = positions >= 0
    true = np.unpackbits(query.codes[:, None, :] ^ database.codes[np.maximum(positions, 0)], axis=2).sum(2)
    np.testing.assert_array_equal(distances[found], true[found])
    keys = np.where(found, distances.astype(np.int64) * len(database) + positions, np.iinfo(np.int64).max)
    assert (np.diff(keys, axis=1) > 0).all()  # (distance, position) strictly increasing: no duplicates


def test_multihash_with_a_radius_covering_every_bit_equals_brute_force():
    database = random_codes(400, 8, seed=7)
    query = random_codes(30, 8, seed=8, prefix="q")
    index = HammingIndex.build(database, kind="multihash", params={"nhash": 1, "hash_bits": 8, "nflip": 8})
    assert index.exact_radius >= 8
    distances, positions = index.search(query.codes, 25)
    expected = brute_force(query.codes, database.codes, 25)
    np.testing.assert_array_equal(distances, expected[0])
    np.testing.assert_array_equal(positions, expected[1])


@pytest.mark.parametrize(("kind", "params"), [("hnsw", {}), ("ivf", {"nlist": 16, "nprobe": 4})])
def test_approximate_kinds_recall_against_brute_force(kind, params):
    """A result counts as found when it is as near as the true K-th item (ties cannot flatter)."""
    database = random_codes(2000, 64, seed=9, flip=0.1)
    query = random_codes(60, 64, seed=10, prefix="q", flip=0.1)
    index = HammingIndex.build(database, kind=kind, params=params)
    assert not index.exact
    distances, positions = index.search(query.codes, 10)
    expected_distances, _ = brute_force(query.codes, database.codes, 10)
    recall = ((distances <= expected_distances[:, -1:]) & (positions >= 0)).mean()
    assert recall >= 0.95
    assert (np.diff(distances, axis=1) >= 0).all()
    found = positions >= 0  # every distance reported is the item's true distance
    true = np.count_nonzero(
        np.unpackbits(
            database.codes[positions[found]] ^ np.repeat(query.codes, 10, axis=0)[found.ravel()], axis=1
        ),
        axis=1,
    )
    np.testing.assert_array_equal(distances[found], true)


def test_ivf_defaults_follow_the_collection_and_too_few_codes_are_refused():
    assert HammingIndex.build(random_codes(400, 16, seed=0), kind="ivf").params == {"nlist": 20, "nprobe": 16}
    assert HammingIndex.build(random_codes(40, 16, seed=0), kind="ivf").params == {"nlist": 6, "nprobe": 6}
    with pytest.raises(IndexParameterError, match="needs at least 64 codes to train on, got 40"):
        HammingIndex.build(random_codes(40, 16, seed=0), kind="ivf", params={"nlist": 64})
    with pytest.raises(IndexParameterError, match=r"nprobe must lie in \[1, nlist=4\], got 5"):
        HammingIndex.build(random_codes(40, 16, seed=0), kind="ivf", params={"nlist": 4, "nprobe": 5})


def test_ivf_lists_out_of_range_are_refused(tmp_path):
    """faiss would index its lists with a stored list number unchecked."""
    path = HammingIndex.build(random_codes(300, 32, seed=12), kind="ivf").save(tmp_path / "db.index.npz")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["ivf_lists"][3] = 10_000
    np.savez(tmp_path / "crafted.index.npz", **arrays)
    with pytest.raises(IndexFileError, match="'ivf_lists' names lists outside"):
        load_index(tmp_path / "crafted.index.npz")
    del arrays["ivf_lists"]
    np.savez(tmp_path / "missing.index.npz", **arrays)
    with pytest.raises(IndexFileError, match="an ivf index needs 'ivf_lists'"):
        load_index(tmp_path / "missing.index.npz")


def test_search_rejects_codes_of_another_length():
    index = HammingIndex.build(random_codes(50, 16, seed=0))
    with pytest.raises(
        IncomparableCodesError, match="the query codes hold 32-bit codes but the index 16-bit"
    ):
        index.search(random_codes(3, 32, seed=1).codes, 5)


def test_unknown_id_names_close_matches():
    index = HammingIndex.build(random_codes(50, 16, seed=0))
    with pytest.raises(UnknownIdError, match=r"'v12x' is not in the index.*close matches: v12"):
        index.position_of("v12x")


def test_id_query_returns_the_item_first_or_leaves_it_out():
    database = random_codes(300, 16, seed=11)
    index = HammingIndex.build(database)
    distances, positions = index.search_ids(["v7"], 5)
    expected = brute_force(database.codes[7:8], database.codes, 5)
    np.testing.assert_array_equal(positions, expected[1])
    assert distances[0, 0] == 0 and 7 in positions[0]
    _, without = index.search_ids(["v7"], 5, exclude_self=True)
    assert without.shape == (1, 5) and 7 not in without[0]
    np.testing.assert_array_equal(
        without[0], [p for p in brute_force(database.codes[7:8], database.codes, 6)[1][0] if p != 7][:5]
    )


def test_unknown_kind_and_misplaced_parameters_fail_clearly():
    codes = random_codes(20, 16, seed=0)
    with pytest.raises(IndexParameterError, match="unknown index kind 'pq'"):
        HammingIndex.build(codes, kind="pq")
    with pytest.raises(IndexParameterError, match="has no parameter nflip"):
        HammingIndex.build(codes, kind="flat", params={"nflip": 1})
    with pytest.raises(IndexParameterError, match="nhash \\* hash_bits <= bits"):
        HammingIndex.build(codes, kind="multihash", params={"nhash": 2, "hash_bits": 12})


@pytest.mark.parametrize("kind", INDEX_KINDS)
def test_save_load_round_trip_without_pickle(tmp_path, kind):
    database = random_codes(300, 32, seed=12, flip=0.1)
    query = random_codes(20, 32, seed=13, prefix="q", flip=0.1)
    index = HammingIndex.build(database, kind=kind)
    path = index.save(tmp_path / "db.index.npz")

    with np.load(path, allow_pickle=False) as archive:  # every array readable without pickle
        arrays = {key: archive[key] for key in archive.files}
    assert {"manifest", "faiss_index", "codes", "bits", "labels", "ids", "class_names"} <= arrays.keys()
    manifest = json.loads(str(arrays["manifest"]))
    assert manifest == read_manifest(path)
    assert (manifest["format"], manifest["version"], manifest["kind"]) == ("vrt-hamming-index", 1, kind)
    assert (manifest["bits"], manifest["count"]) == (32, 300) and manifest["params"] == index.params

    loaded = load_index(path)
    assert (loaded.kind, loaded.bits, loaded.params, loaded.class_names) == (
        kind,
        32,
        index.params,
        CLASS_NAMES,
    )
    np.testing.assert_array_equal(loaded.ids, database.ids)
    np.testing.assert_array_equal(loaded.labels, database.labels)
    for before, after in zip(index.search(query.codes, 10), loaded.search(query.codes, 10), strict=True):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(load_codes(path).codes, database.codes)  # an index is also a codes file


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "db.index.npz"
    HammingIndex.build(random_codes(40, 16, seed=0)).save(path)
    before = path.read_bytes()

    def fail_midway(handle, **arrays):
        handle.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(index_storage.np, "savez", fail_midway)
    with pytest.raises(OSError, match="disk full"):
        HammingIndex.build(random_codes(80, 16, seed=1)).save(path)
    with pytest.raises(OSError, match="disk full"):
        HammingIndex.build(random_codes(80, 16, seed=1)).save(tmp_path / "new.index.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.index.npz"]  # no partial file, no temp file
    assert path.read_bytes() == before


def test_load_rejects_codes_files_and_foreign_versions(tmp_path):
    codes = random_codes(30, 16, seed=0)
    save_codes(tmp_path / "codes.npz", codes)
    with pytest.raises(IndexFileError, match="no manifest.*codes file"):
        load_index(tmp_path / "codes.npz")
    with pytest.raises(IndexFileError, match="not found"):
        load_index(tmp_path / "missing.npz")

    path = HammingIndex.build(codes).save(tmp_path / "db.index.npz")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    manifest = json.loads(str(arrays["manifest"]))
    manifest["version"] = 99
    arrays["manifest"] = np.asarray(json.dumps(manifest))
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(IndexFileError, match="version 99 is not supported"):
        load_index(tmp_path / "future.npz")


# -- command line ---------------------------------------------------------------------------


@pytest.fixture
def built(tmp_path):
    database = random_codes(400, 16, seed=20)
    query = random_codes(6, 16, seed=21, prefix="q")
    save_codes(tmp_path / "db.npz", database)
    save_codes(tmp_path / "q.npz", query)
    result = cli.invoke(
        app, ["index", "build", "--codes", str(tmp_path / "db.npz"), "--out", str(tmp_path / "db.index.npz")]
    )
    assert result.exit_code == 0, result.output
    return tmp_path, database, query


def check_results(results, database: CodeSet, expected_distances, expected_positions):
    assert isinstance(results, list) and all(isinstance(row, list) for row in results)
    assert len(results) == len(expected_positions)
    for row, distances, positions in zip(results, expected_distances, expected_positions, strict=True):
        assert [item["rank"] for item in row] == list(range(1, len(positions) + 1))
        assert [item["id"] for item in row] == [str(database.ids[p]) for p in positions]
        assert [item["distance"] for item in row] == distances.tolist()
        assert [item["label"] for item in row] == database.labels[positions].tolist()
        assert [item["class_name"] for item in row] == [CLASS_NAMES[database.labels[p]] for p in positions]
        assert all({"id", "label", "distance", "rank"} <= item.keys() for item in row)


def test_search_json_with_a_codes_file_matches_brute_force(built):
    tmp_path, database, query = built
    result = cli.invoke(
        app,
        [
            "search",
            "--index",
            str(tmp_path / "db.index.npz"),
            "--query",
            str(tmp_path / "q.npz"),
            "--topk",
            "12",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    check_results(json.loads(result.stdout), database, *brute_force(query.codes, database.codes, 12))


def test_search_by_id_and_table_output(built):
    tmp_path, database, _ = built
    index_path = str(tmp_path / "db.index.npz")
    result = cli.invoke(app, ["search", "--index", index_path, "--query", "v3", "--topk", "4", "--json"])
    assert result.exit_code == 0, result.output
    check_results(json.loads(result.stdout), database, *brute_force(database.codes[3:4], database.codes, 4))

    table = cli.invoke(app, ["search", "--index", index_path, "--query", "v3", "--topk", "4"])
    assert table.exit_code == 0, table.output
    assert "rank" in table.stdout and "distance" in table.stdout and "v3" in table.stdout
    assert CLASS_NAMES[database.labels[3]] in table.stdout


def run_vrt(*args: str) -> subprocess.CompletedProcess:
    """The real command in a fresh interpreter (one-line errors, exit codes, imported modules)."""
    code = (
        "import sys\n"
        "from vrt.cli import main\n"
        f"sys.argv = ['vrt', *{list(args)!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
        "assert 'torch' not in sys.modules, 'imported torch'\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, "COLUMNS": "200"}  # rich wraps error messages at the terminal width
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, env=env
    )


def test_index_build_and_search_run_without_torch(tmp_path):
    database = random_codes(300, 16, seed=30)
    query = random_codes(4, 16, seed=31, prefix="q")
    save_codes(tmp_path / "db.npz", database)
    save_codes(tmp_path / "q.npz", query)
    index_path = str(tmp_path / "db.index.npz")
    built = run_vrt(
        "index", "build", "--codes", str(tmp_path / "db.npz"), "--out", index_path, "--kind", "flat"
    )
    assert built.returncode == 0, built.stderr
    found = run_vrt(
        "search", "--index", index_path, "--query", str(tmp_path / "q.npz"), "--topk", "5", "--json"
    )
    assert found.returncode == 0, found.stderr
    check_results(json.loads(found.stdout), database, *brute_force(query.codes, database.codes, 5))


def test_search_errors_are_one_line_and_helpful(built):
    tmp_path, _, _ = built
    index_path = str(tmp_path / "db.index.npz")

    unknown = run_vrt("search", "--index", index_path, "--query", "v12x")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert "'v12x' is not in the index" in unknown.stderr and "v12" in unknown.stderr

    save_codes(tmp_path / "wide.npz", random_codes(2, 32, seed=0))
    mismatch = run_vrt("search", "--index", index_path, "--query", str(tmp_path / "wide.npz"))
    assert (
        mismatch.returncode == 2
        and "wide.npz hold 32-bit codes but the index 16-bit codes" in mismatch.stderr
    )

    write_source_video(tmp_path, "clip.avi", num_frames=2)
    video = run_vrt("search", "--index", index_path, "--query", str(tmp_path / "clip.avi"))
    assert video.returncode == 2 and "--checkpoint" in video.stderr

    # A file that is no video: saying so at once, not advising a --checkpoint that would fail to decode it.
    (tmp_path / "notes.avi").write_bytes(b"not a video at all")
    text = run_vrt("search", "--index", index_path, "--query", str(tmp_path / "notes.avi"))
    assert text.returncode == 2 and "not a readable video" in text.stderr
    assert "--checkpoint" not in text.stderr

    not_index = run_vrt("search", "--index", str(tmp_path / "db.npz"), "--query", "v1")
    assert not_index.returncode == 2 and "vrt index build" in not_index.stderr


@pytest.mark.slow
def test_video_query_is_encoded_like_the_exported_codes(tmp_path):
    """A video file as the query, encoded with --checkpoint, finds itself at distance 0: the
    file path (sampler, transform, model) agrees with what `vrt export` wrote for the split."""
    import yaml

    from vrt.io.synthetic_video import write_test_video

    from .conftest import tiny_config_dict

    root = tmp_path / "videos"
    for c, name in enumerate(["alpha & co", "beta (b)"]):
        for v in range(4):
            write_test_video(root / name / f"clip{v}.avi", num_frames=10, seed=10 * c + v)
    config = tiny_config_dict(epochs=1)
    config["data"]["dataset"] = {"name": "video_folder", "root": str(root), "test_fraction": 0.25}
    config["data"]["val_fraction"] = 0.0
    config["data"]["batch"] = {"sampler": "class_balanced", "classes_per_batch": 2, "videos_per_class": 2}
    config_path = tmp_path / "videos.yaml"
    config_path.write_text(yaml.safe_dump(config))

    run_dir = tmp_path / "run"
    steps = [
        ["train", str(config_path), "--output", str(run_dir)],
        [
            "export",
            "--checkpoint",
            str(run_dir / "best.pt"),
            "--split",
            "train",
            "--out",
            str(tmp_path / "db.npz"),
        ],
        ["index", "build", "--codes", str(tmp_path / "db.npz"), "--out", str(tmp_path / "db.index.npz")],
    ]
    for args in steps:
        result = cli.invoke(app, args)
        assert result.exit_code == 0, result.output
    database = load_codes(tmp_path / "db.npz")
    target = str(database.ids[-1])  # a training video, e.g. "beta (b)/clip3.avi"

    found = cli.invoke(
        app,
        [
            "search",
            "--index",
            str(tmp_path / "db.index.npz"),
            "--query",
            str(root / target),
            "--checkpoint",
            str(run_dir / "best.pt"),
            "--topk",
            "100",
            "--json",
        ],
    )
    assert found.exit_code == 0, found.output
    (results,) = json.loads(found.stdout.strip().splitlines()[-1])
    # A one-epoch model gives many videos the same code, so the video need not be first among
    # the distance-0 ties; its own entry must be at distance 0.
    assert len(results) == len(database)
    assert {item["id"]: item["distance"] for item in results}[target] == 0


def test_a_loaded_index_maps_its_items_from_the_file_and_finds_ids_by_hash(tmp_path):
    """Ten million items must open without a Python string per id: arrays are mapped, ids hashed."""
    from vrt.codes.idhash import IdLookup, duplicated_ids

    path = HammingIndex.build(random_codes(500, 32, seed=3)).save(tmp_path / "db.index.npz")
    loaded = load_index(path)
    # Mapped read-only from the file (np.asarray views of the maps are plain arrays, still read-only).
    assert not any(array.flags.writeable for array in (loaded.codes, loaded.labels, loaded.ids))
    assert load_codes(path).ids.flags.writeable  # a codes file is read, as before
    assert (
        loaded.position_of("v123") == 123 and "v123" in loaded and "v1234" not in loaded and 5 not in loaded
    )
    ids = np.asarray(["a", "bb", "", "ccc", "bb", "a"])
    assert duplicated_ids(ids) == ["a", "bb"] and duplicated_ids(ids[1:4]) == []
    assert [IdLookup(ids[:4]).position(item) for item in ("", "ccc", "cc", "dddd")] == [2, 3, None, None]
    with pytest.raises(ValueError, match="ids must be unique; duplicated: \\['a', 'bb'\\]"):
        CodeSet.from_bits(np.zeros((6, 8), dtype=bool), labels=[0] * 6, ids=ids)


def test_index_info_reports_the_file_and_memory_sizes(tmp_path):
    path = HammingIndex.build(random_codes(300, 64, seed=4), kind="ivf").save(tmp_path / "db.index.npz")
    result = CliRunner().invoke(app, ["index", "info", str(path)])
    assert result.exit_code == 0, result.output
    size = json.loads(result.stdout)["size"]
    assert size["file_bytes"] == path.stat().st_size
    assert size["memory_bytes"] > 300 * 8  # at least the codes


@pytest.mark.slow
def test_the_scale_benchmark_measures_every_kind_side_by_side(tmp_path):
    """benchmarks/index_scale.py end to end at a tiny size: one table row per kind, recall from the
    exact ranking, speed-ups against flat."""
    command = [sys.executable, str(REPO_ROOT / "benchmarks" / "index_scale.py"), "--output", str(tmp_path),
               "--sizes", "3000", "--shapes", "centres", "--kinds", "flat", "ivf", "--no-serve"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [row["kind"] for row in rows] == ["flat", "ivf"]
    assert rows[0]["recall_at_10"] == 1.0 and rows[0]["exact"] and not rows[1]["exact"]
    assert "| centres | 3,000 | ivf |" in done.stdout


def test_exact_topk_of_one_and_its_refusal_of_zero():
    database = random_codes(20, 16, seed=3)
    distances, positions = exact_topk(database.codes[:4], database.codes, 1)
    np.testing.assert_array_equal(positions[:, 0], [0, 1, 2, 3])  # each query's own code first
    assert distances.shape == (4, 1) and not distances.any()
    with pytest.raises(ValueError, match=r"^topk must be at least 1, got 0$"):
        exact_topk(database.codes[:4], database.codes, 0)


def test_an_unknown_id_message_names_the_index_size_and_at_most_five_close_matches(monkeypatch):
    import vrt.index.hamming_index as hamming_index

    index = HammingIndex.build(random_codes(50, 16, seed=0))
    assert index.unknown_id_message("v1x") == (
        "id 'v1x' is not in the index of 50 items (close matches: v1, v41, v31, v21, v19)"
    )
    assert index.unknown_id_message("zzz") == "id 'zzz' is not in the index of 50 items"
    # Past the pool, only the ids sharing the first three characters are compared.
    monkeypatch.setattr(hamming_index, "_CLOSE_MATCH_POOL", 10)
    assert index.unknown_id_message("v1x") == "id 'v1x' is not in the index of 50 items"
    assert (
        index.unknown_id_message("v12x") == "id 'v12x' is not in the index of 50 items (close matches: v12)"
    )


# Edges that mutation testing (make mutation) found untested: index.


def test_an_index_exactly_the_size_of_the_close_match_pool_compares_every_id(monkeypatch):
    import vrt.index.hamming_index as hamming_index

    ids = [f"v{i}" for i in range(50)]
    rng = np.random.default_rng(0)
    index = HammingIndex.build(
        CodeSet.from_bits(rng.random((50, 16)) < 0.5, labels=np.zeros(50, dtype=np.int64), ids=ids)
    )
    monkeypatch.setattr(hamming_index, "_CLOSE_MATCH_POOL", 50)
    # Past the pool only ids starting "v1x"[:3] would be compared, and none does.
    assert index.unknown_id_message("v1x") == (
        "id 'v1x' is not in the index of 50 items (close matches: v1, v41, v31, v21, v19)"
    )


# Edges that mutation testing (make mutation) found untested: exact messages, dtypes and shapes
# of empty results, memory per block, and the file's flat, multi-hash and ivf structures.


def packed(rows: list[list[int]]) -> np.ndarray:
    return np.asarray(rows, dtype=np.uint8)


def rewrite_index_file(path, **replaced: np.ndarray) -> None:
    """Replace arrays of a saved index file (as a crafted or edited file would)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays.update(replaced)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


# -- exact_topk -------------------------------------------------------------------------------


def test_exact_topk_answers_int32_distances_and_int64_positions_even_when_empty():
    database = random_codes(30, 16, seed=5)
    query = random_codes(4, 16, seed=6, prefix="q")
    for queries, rows in ((query.codes, 4), (query.codes[:0], 0)):
        distances, positions = exact_topk(queries, database.codes, 3)
        assert (distances.dtype, positions.dtype) == (np.int32, np.int64)
        assert distances.shape == positions.shape == (rows, 3)
    # An empty database: no result per query, and no division by a zero-sized block.
    distances, positions = exact_topk(query.codes, database.codes[:0], 3)
    assert distances.shape == positions.shape == (4, 0)
    assert (distances.dtype, positions.dtype) == (np.int32, np.int64)


def test_exact_topk_of_a_single_query_equals_brute_force():
    database = random_codes(50, 16, seed=7)
    query = random_codes(1, 16, seed=8, prefix="q")
    distances, positions = exact_topk(query.codes, database.codes, 6)
    expected_distances, expected_positions = brute_force(query.codes, database.codes, 6)
    np.testing.assert_array_equal(positions, expected_positions)
    np.testing.assert_array_equal(distances, expected_distances)


def test_exact_topk_scans_each_query_once_in_blocks_that_fit_the_budget(monkeypatch):
    database = random_codes(200, 16, seed=9)
    query = random_codes(5, 16, seed=10, prefix="q")
    blocks = []
    scan = HammingScanner.distances

    def recording(self, query_codes, **kwargs):
        blocks.append(len(query_codes))
        return scan(self, query_codes, **kwargs)

    monkeypatch.setattr(HammingScanner, "distances", recording)
    expected = brute_force(query.codes, database.codes, 7)
    for budget, expected_blocks in ((None, [5]), (1, [1, 1, 1, 1, 1])):
        blocks.clear()
        options = {} if budget is None else {"memory_budget": budget}
        distances, positions = exact_topk(query.codes, database.codes, 7, **options)
        # The default 64 MiB holds all five; a budget below one query's need scans one at a time.
        assert blocks == expected_blocks
        np.testing.assert_array_equal(distances, expected[0])
        np.testing.assert_array_equal(positions, expected[1])


def test_exact_topk_holds_blocks_of_its_budget_not_every_query_at_once():
    rng = np.random.default_rng(11)
    database = rng.integers(0, 256, (4096, 8), dtype=np.uint8)
    query = rng.integers(0, 256, (64, 8), dtype=np.uint8)
    # Eight queries' worth of the documented per-pair cost: the scan's buffers plus the sort order.
    budget = 8 * len(database) * (HammingScanner(database).bytes_per_pair() + 8)

    def peak(memory_budget: int) -> int:
        tracemalloc.start()
        try:
            exact_topk(query, database, 10, memory_budget=memory_budget)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # 64 queries at once against blocks of about eight (the buffers of the block being ranked
    # and of the next one being scanned, but never all 64).
    assert peak(budget) < peak(2**40) / 2


# -- HammingIndex: construction, queries, class names -------------------------------------------


def test_an_index_refuses_an_unknown_kind_and_a_faiss_structure_of_another_size():
    import faiss

    codeset = random_codes(10, 16, seed=12)
    structure = faiss.IndexBinaryFlat(16)
    structure.add(codeset.codes)
    with pytest.raises(
        IndexParameterError,
        match="^" + re.escape("unknown index kind 'pq'; expected one of flat, multihash, hnsw, ivf") + "$",
    ):
        HammingIndex(codeset=codeset, kind="pq", params={}, faiss_index=structure)
    fewer = faiss.IndexBinaryFlat(16)
    fewer.add(codeset.codes[:9])  # the same bits, one code fewer
    with pytest.raises(
        ValueError,
        match="^" + re.escape("the faiss index holds 9 codes of 16 bits but the code set has 10 of 16") + "$",
    ):
        HammingIndex(codeset=codeset, kind="flat", params={}, faiss_index=fewer)


@pytest.mark.parametrize(
    ("queries", "got"),
    [
        ([[1, 2]], "list"),
        (np.zeros((2, 2), dtype=np.float32), "float32 (2, 2)"),
        (np.zeros(2, dtype=np.uint8), "uint8 (2,)"),
    ],
)
def test_queries_that_are_not_packed_uint8_rows_are_refused_with_what_they_are(queries, got):
    index = HammingIndex.build(random_codes(20, 16, seed=13))
    message = f"query codes must be packed uint8 [N, bits/8], got {got}"
    with pytest.raises(QueryMismatchError, match=exact_message(message)):
        index.search(queries, 3)


def test_class_name_is_none_outside_the_names_and_without_names():
    index = HammingIndex.build(random_codes(20, 16, seed=14))
    names = [index.class_name(label) for label in (0, 2, 3, -1)]
    assert names == [CLASS_NAMES[0], CLASS_NAMES[2], None, None]
    codes = random_codes(20, 16, seed=14)
    unnamed = HammingIndex.build(CodeSet(codes=codes.codes, bits=16, labels=codes.labels, ids=codes.ids))
    assert unnamed.class_name(0) is None


# -- search, search_ids, results ----------------------------------------------------------------


def test_search_of_no_queries_or_an_empty_index_is_empty_int32_and_int64():
    index = HammingIndex.build(random_codes(20, 16, seed=15))
    empty = HammingIndex.build(random_codes(0, 16, seed=15))
    for distances, positions, shape in (
        (*index.search(index.codes[:0], 4), (0, 4)),
        (*empty.search(index.codes[:3], 4), (3, 0)),
    ):
        assert distances.shape == positions.shape == shape
        assert (distances.dtype, positions.dtype) == (np.int32, np.int64)


@pytest.mark.parametrize("topk", [0, -2, True, 2.5, "3"])
def test_search_refuses_a_topk_that_is_not_a_positive_integer(topk):
    index = HammingIndex.build(random_codes(20, 16, seed=16))
    message = f"topk must be a positive integer, got {topk!r}"
    with pytest.raises(ValueError, match=exact_message(message)):
        index.search(index.codes[:2], topk)


def duplicated_index() -> HammingIndex:
    """v0..v3 share one code (ties broken by position), v4..v7 are each 8 bits or more away."""
    rows = [[0, 0]] * 4 + [[255, 0], [0, 255], [255, 255], [15, 15]]
    ids = [f"v{i}" for i in range(8)]
    return HammingIndex.build(
        CodeSet(codes=packed(rows), bits=16, labels=np.zeros(8, dtype=np.int64), ids=ids)
    )


def test_search_ids_excluding_self_drops_the_item_or_else_the_farthest_per_query():
    index = duplicated_index()
    # Top 3 of v0: [v0, v1, v2] (drop v0); of v1: [v0, v1, v2] (drop v1); of v3: [v0, v1, v2],
    # where v3 itself is not found among its equals (drop the farthest, v2).
    distances, positions = index.search_ids(["v0", "v1", "v3"], 2, exclude_self=True)
    np.testing.assert_array_equal(positions, [[1, 2], [0, 2], [0, 1]])
    np.testing.assert_array_equal(distances, np.zeros((3, 2)))
    assert distances.shape == (3, 2)


def test_search_ids_excluding_self_with_topk_past_the_index_gives_every_other_item():
    index = duplicated_index()
    distances, positions = index.search_ids(["v5"], 8, exclude_self=True)
    np.testing.assert_array_equal(positions, [[0, 1, 2, 3, 6, 7, 4]])
    np.testing.assert_array_equal(distances, [[8, 8, 8, 8, 8, 8, 16]])


@pytest.mark.parametrize("exclude_self", [False, True])
def test_search_ids_of_no_ids_is_empty(exclude_self):
    distances, positions = duplicated_index().search_ids([], 3, exclude_self=exclude_self)
    assert distances.shape == positions.shape == (0, 3)


def test_results_keep_position_zero_and_skip_padding_wherever_it_is():
    index = duplicated_index()
    rows = index.results(np.array([[0, 17, 8]]), np.array([[0, -1, 4]]))
    assert [(item["rank"], item["id"], item["distance"]) for item in rows[0]] == [(1, "v0", 0), (3, "v4", 8)]


@pytest.mark.parametrize(
    ("distances", "positions"),
    [
        (np.zeros((2, 2)), np.zeros((3, 2), dtype=np.int64)),  # rows differ
        (np.zeros((1, 3)), np.zeros((1, 2), dtype=np.int64)),  # a row's lengths differ
    ],
)
def test_results_refuse_distances_and_positions_of_different_shapes(distances, positions):
    with pytest.raises(ValueError, match="zip"):
        duplicated_index().results(distances, positions)


def test_memory_bytes_counts_the_items_and_the_serialised_faiss_structure():
    import faiss

    from vrt.index.milvus import MilvusIndex, MilvusLocation

    index = HammingIndex.build(random_codes(40, 16, seed=17))
    items = index.codes.nbytes + index.labels.nbytes + index.ids.nbytes
    structure = len(faiss.serialize_index_binary(index.faiss_index))
    assert structure > 0 and index.memory_bytes() == items + structure
    # A Milvus index holds no faiss structure (its search goes to Milvus): only its items count.
    milvus = MilvusIndex(
        codeset=index.codeset,
        positions=np.arange(40),
        location=MilvusLocation(uri="vectors.db", collection="videos"),
        client=None,
    )
    assert milvus.memory_bytes() == items


# -- loading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["flat", "multihash"])
def test_flat_and_multihash_files_are_searched_by_their_codes_never_their_faiss_bytes(tmp_path, kind):
    import faiss

    database = random_codes(60, 32, seed=18, flip=0.1)
    query = random_codes(5, 32, seed=19, prefix="q", flip=0.1)
    path = HammingIndex.build(database, kind=kind).save(tmp_path / "db.index.npz")
    expected = HammingIndex.build(database, kind=kind).search(query.codes, 5)
    # A well-formed structure of other codes in place of the file's own (same kind, count, bits).
    other = HammingIndex.build(random_codes(60, 32, seed=20, flip=0.1), kind=kind)
    rewrite_index_file(path, faiss_index=faiss.serialize_index_binary(other.faiss_index))
    loaded = load_index(path)
    for got, want in zip(loaded.search(query.codes, 5), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_an_ivf_file_is_rebuilt_from_its_stored_centroids_and_lists(tmp_path):
    import faiss

    database = random_codes(300, 32, seed=21, flip=0.1)
    query = random_codes(10, 32, seed=22, prefix="q", flip=0.1)
    index = HammingIndex.build(database, kind="ivf", params={"nlist": 4, "nprobe": 4})
    path = index.save(tmp_path / "db.index.npz")
    centroids, lists = ivf_layout(index.faiss_index)
    # The same index with its lists numbered backwards: not what k-means on the codes gives.
    quantizer = faiss.IndexBinaryFlat(32)
    quantizer.add(np.ascontiguousarray(centroids[::-1]))
    rewrite_index_file(
        path, faiss_index=faiss.serialize_index_binary(quantizer), ivf_lists=(3 - lists).astype(np.int32)
    )
    loaded = load_index(path)
    loaded_centroids, loaded_lists = ivf_layout(loaded.faiss_index)
    np.testing.assert_array_equal(loaded_centroids, centroids[::-1])
    np.testing.assert_array_equal(loaded_lists, 3 - lists)
    for got, want in zip(loaded.search(query.codes, 5), index.search(query.codes, 5), strict=True):
        np.testing.assert_array_equal(got, want)


def test_an_hnsw_file_faiss_cannot_read_is_an_index_file_error_naming_the_file(tmp_path):
    index = HammingIndex.build(random_codes(20, 16, seed=23), kind="hnsw")
    path = index.save(tmp_path / "db.index.npz")
    with np.load(path, allow_pickle=False) as archive:
        blob = archive["faiss_index"].copy()
    blob[21:25] = np.frombuffer(np.int32(99).tobytes(), dtype=np.uint8)  # the header's metric type
    rewrite_index_file(path, faiss_index=blob)
    with pytest.raises(IndexFileError, match="^" + re.escape(f"{path}: the faiss index cannot be read (")):
        load_index(path)


def test_a_milvus_reference_is_opened_as_milvus_not_as_a_file():
    from vrt.index.milvus import MilvusError

    message = (
        "'milvus://videos' is not a Milvus index: write milvus://FILE.db/COLLECTION (milvus-lite) "
        "or milvus://HOST:PORT/COLLECTION (a server)"
    )
    with pytest.raises(MilvusError, match=exact_message(message)):
        load_index("milvus://videos")


# -- the Hamming scanner ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bits", "dtype"),
    [(255, np.uint8), (256, np.uint16), (65535, np.uint16), (65536, np.uint32), (2**32, np.uint64)],
)
def test_distance_dtype_is_the_smallest_unsigned_type_holding_every_distance(bits, dtype):
    assert distance_dtype(bits) == np.dtype(dtype)


@pytest.mark.parametrize(
    ("query", "database", "message"),
    [
        (packed([[1]]), [[1]], "database codes must be a 2-D uint8 array of packed bits, got list"),
        (packed([[1]]), np.zeros((2, 1)), "database codes must be a 2-D uint8 array of packed bits, got float64 (2, 1)"),
        (packed([[1]]), np.zeros((2, 0), dtype=np.uint8), "database codes must have at least one byte per code"),
        ((1, 2), packed([[1]]), "query codes must be a 2-D uint8 array of packed bits, got tuple"),
        (np.zeros(1, dtype=np.uint8), packed([[1]]), "query codes must be a 2-D uint8 array of packed bits, got uint8 (1,)"),
        (np.zeros((1, 0), dtype=np.uint8), packed([[1]]), "query codes must have at least one byte per code"),
        (packed([[1, 2, 3]]), packed([[1]]), "query codes have 24 bits but the database has 8"),
    ],
)  # fmt: skip
def test_hamming_distances_refuse_what_is_not_packed_codes_with_exact_messages(query, database, message):
    with pytest.raises(ValueError, match=exact_message(message)):
        hamming_distances(query, database)


def test_distances_into_an_out_of_another_shape_are_refused():
    scanner = HammingScanner(packed([[1], [2], [3]]))
    out = np.zeros((3, 2), dtype=np.uint8)  # the right dtype, transposed
    with pytest.raises(ValueError, match="^" + re.escape("out must be uint8 (2, 3), got uint8 (3, 2)") + "$"):
        scanner.distances(packed([[0], [255]]), out=out)


def test_the_scanner_uses_np_bitwise_count_when_numpy_has_it_unless_forbidden(monkeypatch):
    database = packed([[1, 2], [3, 4]])
    assert HammingScanner(database).use_bitwise_count is hasattr(np, "bitwise_count")
    assert HammingScanner(database, use_bitwise_count=False).use_bitwise_count is False
    # As with numpy < 2: the lookup table by default, and forcing np.bitwise_count is refused.
    monkeypatch.setattr(hamming_module, "_HAS_BITWISE_COUNT", False)
    scanner = HammingScanner(database)
    assert scanner.use_bitwise_count is False
    np.testing.assert_array_equal(scanner.distances(packed([[0, 0]])), [[2, 3]])  # popcounts of 1|2, 3|4
    with pytest.raises(ValueError, match="^" + re.escape("np.bitwise_count needs numpy >= 2.0") + "$"):
        HammingScanner(database, use_bitwise_count=True)


@pytest.mark.skipif(not hasattr(np, "bitwise_count"), reason="numpy < 2")
@pytest.mark.parametrize("num_bytes", [8, 32])  # a uint8 result, and a uint16 one
def test_bytes_per_pair_bounds_the_working_memory_of_distances(num_bytes):
    rng = np.random.default_rng(num_bytes)
    database = rng.integers(0, 256, (4096, num_bytes), dtype=np.uint8)
    query = rng.integers(0, 256, (16, num_bytes), dtype=np.uint8)  # the XOR buffer holds every row
    scanner = HammingScanner(database, use_bitwise_count=True)
    tracemalloc.start()
    try:
        scanner.distances(query)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    pairs = len(query) * len(database)
    # The buffers are what is counted; 5% covers the query's words and small temporaries.
    assert peak <= 1.05 * scanner.bytes_per_pair() * pairs


@pytest.mark.parametrize("topk", [0, -1, True, 2.0])
def test_search_ids_excluding_self_checks_topk_as_search_does(topk):
    message = f"topk must be a positive integer, got {topk!r}"
    with pytest.raises(ValueError, match=exact_message(message)):
        duplicated_index().search_ids(["v0"], topk, exclude_self=True)


def test_topk_1_finds_the_nearest_item_with_and_without_the_item_itself():
    index = duplicated_index()
    distances, positions = index.search(index.codes[4:5], 1)
    assert positions.tolist() == [[4]] and distances.tolist() == [[0]]
    distances, positions = index.search_ids(["v4"], 1, exclude_self=True)
    assert positions.tolist() == [[0]] and distances.tolist() == [[8]]  # ties in database order


def test_search_ids_excluding_self_of_an_index_of_two_items_finds_the_other():
    two = HammingIndex.build(
        CodeSet(codes=packed([[0, 0], [0, 3]]), bits=16, labels=np.zeros(2, dtype=np.int64), ids=["a", "b"])
    )
    distances, positions = two.search_ids(["a", "b"], 5, exclude_self=True)
    assert positions.tolist() == [[1], [0]] and distances.tolist() == [[2], [2]]


def test_search_ids_excluding_self_of_an_index_of_one_or_no_item_finds_nothing():
    one = HammingIndex.build(
        CodeSet(codes=packed([[7, 7]]), bits=16, labels=np.zeros(1, dtype=np.int64), ids=["v0"])
    )
    distances, positions = one.search_ids(["v0"], 5, exclude_self=True)
    assert distances.shape == positions.shape == (1, 0)
    assert distances.dtype == np.int32 and positions.dtype == np.int64
    empty = HammingIndex.build(
        CodeSet(codes=np.zeros((0, 2), dtype=np.uint8), bits=16, labels=np.zeros(0, dtype=np.int64), ids=[])
    )
    distances, positions = empty.search_ids([], 5, exclude_self=True)
    assert distances.shape == positions.shape == (0, 0)
