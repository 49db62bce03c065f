"""Hamming index and `vrt search`: exact kinds equal a brute-force stable ranking, the file round
trips without pickle and is written atomically, and the commands run without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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

from .conftest import REPO_ROOT
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
