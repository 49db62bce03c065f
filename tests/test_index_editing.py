"""Indexes that grow and shrink: vrt.index.add_codes / remove_ids and `vrt index add/remove`."""

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
    HammingIndex,
    IndexEditError,
    add_codes,
    exact_topk,
    load_index,
    merge_indexes,
    read_id_list,
    remove_ids,
)

from .conftest import REPO_ROOT


def codes(ids: list[str], labels: list[int], *, seed: int, class_names: list[str] | None = None) -> CodeSet:
    bits = np.random.default_rng(seed).random((len(ids), 32)) < 0.5
    return CodeSet.from_bits(bits, labels=labels, ids=ids, class_names=class_names)


@pytest.mark.parametrize(
    ("kind", "params"), [("flat", {}), ("multihash", {"nflip": 2}), ("hnsw", {"m": 8}), ("ivf", {"nlist": 2})]
)
def test_added_items_are_found_and_the_kind_and_parameters_stay(kind, params):
    first = codes(["a", "b", "c"], [0, 1, 0], seed=0, class_names=["walk", "run"])
    index = HammingIndex.build(first, kind=kind, params=params)
    grown = add_codes(index, codes(["d", "e"], [0, -1], seed=1, class_names=["jump"]))
    assert (grown.kind, grown.params) == (index.kind, index.params)
    assert grown.ids.tolist() == ["a", "b", "c", "d", "e"]
    assert grown.class_names == ["walk", "run", "jump"]  # merged by name: "jump" keeps its meaning
    assert grown.labels.tolist() == [0, 1, 0, 2, -1]
    distances, positions = grown.search_ids(["d", "e"], 1)
    assert distances[:, 0].tolist() == [0, 0] and grown.ids[positions[:, 0]].tolist() == ["d", "e"]


def test_duplicates_are_refused_unless_replaced_in_place():
    index = HammingIndex.build(codes(["a", "b", "c"], [0, 1, 0], seed=0, class_names=["walk", "run"]))
    update = codes(["b", "z"], [0, 1], seed=2, class_names=["run", "walk"])
    with pytest.raises(
        IndexEditError, match=r"1 of the 2 ids are already in the index \(b\); pass --replace"
    ):
        add_codes(index, update)
    replaced = add_codes(index, update, replace=True)
    assert replaced.ids.tolist() == ["a", "b", "c", "z"]  # "b" keeps its place
    np.testing.assert_array_equal(replaced.codes[1], update.codes[0])
    assert replaced.labels.tolist() == [0, 1, 0, 0]  # "run" is 1 in the index, "walk" 0
    np.testing.assert_array_equal(
        replaced.search(update.codes, 4)[0], exact_topk(update.codes, replaced.codes, 4)[0]
    )


def test_labels_that_cannot_be_matched_and_codes_of_another_length_are_refused():
    named = HammingIndex.build(codes(["a"], [0], seed=0, class_names=["walk"]))
    with pytest.raises(IndexEditError, match="bare class numbers"):
        add_codes(named, codes(["b"], [3], seed=1))
    assert add_codes(named, codes(["b"], [-1], seed=1)).labels.tolist() == [0, -1]  # unlabelled: fine
    wide = CodeSet.from_bits(np.zeros((1, 64), dtype=bool), labels=[0], ids=["w"])
    with pytest.raises(
        IncomparableCodesError, match="the codes hold 64-bit codes but the index 32-bit codes"
    ):
        add_codes(named, wide)


def test_remove_drops_exactly_the_ids_or_nothing():
    index = HammingIndex.build(codes(["a", "b", "c", "d"], [0, 1, 0, 1], seed=0), kind="multihash")
    kept = remove_ids(index, ["c", "a", "c"])
    assert kept.ids.tolist() == ["b", "d"] and kept.labels.tolist() == [1, 1] and kept.kind == "multihash"
    with pytest.raises(
        IndexEditError, match=r"'cc' is not in the index .* and 1 more ids; nothing was removed"
    ):
        remove_ids(index, ["b", "cc", "x"])
    assert len(remove_ids(index, ["a", "b", "c", "d"])) == 0


def test_id_lists_keep_ids_as_written(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_bytes("\ufeff#1 odd name.mp4\r\nwalk/a b.mp4#t=0,4\n\n  \n".encode())
    assert read_id_list(path) == ["#1 odd name.mp4", "walk/a b.mp4#t=0,4"]
    with pytest.raises(IndexEditError, match="id list not found"):
        read_id_list(tmp_path / "missing.txt")


def test_index_add_and_remove_commands_rewrite_the_file_without_torch(tmp_path):
    save_codes(tmp_path / "db.npz", codes(["a", "b"], [0, 1], seed=0, class_names=["x", "y"]))
    save_codes(tmp_path / "more.npz", codes(["c"], [-1], seed=1))
    (tmp_path / "gone.txt").write_text("a\n")
    index = str(tmp_path / "db.index.npz")
    commands = [
        ["index", "build", "--codes", str(tmp_path / "db.npz"), "--out", index, "--kind", "hnsw"],
        ["index", "add", "--index", index, "--codes", str(tmp_path / "more.npz")],
        ["index", "remove", "--index", index, "--ids", str(tmp_path / "gone.txt")],
        ["index", "info", index],
    ]
    script = (
        "import sys\nfrom vrt.cli import main\n"
        f"for argv in {commands!r}:\n"
        "    sys.argv = ['vrt', *argv]\n"
        "    try:\n        main()\n    except SystemExit as stop:\n        assert not stop.code, stop.code\n"
        "assert 'torch' not in sys.modules, 'imported torch'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Added 1 and replaced 0 items" in done.stderr and "Removed 1 item:" in done.stderr
    info = json.loads(done.stdout[done.stdout.index("{") :])
    assert info["kind"] == "hnsw" and info["items"] == {
        "count": 2, "labelled": 1, "unlabelled": 1, "classes": 2, "classes_present": 1,
    }  # fmt: skip
    assert load_index(index).ids.tolist() == ["b", "c"] and load_codes(index).class_names == ["x", "y"]
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # written atomically


def test_adding_codes_with_groups_to_an_index_without_keeps_every_items_source():
    index = HammingIndex.build(codes(["v1.mp4#t=0,1", "v1.mp4#t=1,2", "v2.mp4"], [-1, -1, -1], seed=0))
    assert index.codeset.groups is None
    bits = np.random.default_rng(1).random((2, 32)) < 0.5
    added = CodeSet.from_bits(bits, labels=[-1, -1], ids=["clip_a", "clip_b"], groups=["g1", "g1"])
    grown = add_codes(index, added)
    assert grown.codeset.groups.tolist() == ["v1.mp4", "v1.mp4", "v2.mp4", "g1", "g1"]


def test_shard_indexes_merge_into_the_index_of_all_their_items(tmp_path):
    first = codes(["a", "b", "c"], [0, 1, 0], seed=0, class_names=["walk", "run"])
    second = codes(["d", "e"], [0, -1], seed=1, class_names=["jump"])
    whole = add_codes(HammingIndex.build(first, kind="ivf", params={"nlist": 2}), second)
    for number, part in enumerate((first, second)):
        HammingIndex.build(part, kind="ivf", params={"nlist": 2}).save(tmp_path / f"{number}.index.npz")
    result = CliRunner().invoke(
        app,
        [
            "index",
            "merge",
            str(tmp_path / "0.index.npz"),
            str(tmp_path / "1.index.npz"),
            "--out",
            str(tmp_path / "m.index.npz"),
        ],
    )
    assert result.exit_code == 0, result.output
    merged = load_index(tmp_path / "m.index.npz")
    assert (merged.kind, merged.params, merged.ids.tolist()) == ("ivf", whole.params, whole.ids.tolist())
    assert (merged.labels.tolist(), merged.class_names) == (whole.labels.tolist(), whole.class_names)
    np.testing.assert_array_equal(merged.codes, whole.codes)
    with pytest.raises(IndexEditError, match="1 ids of b are already in the shards before it \\(a\\)"):
        merge_indexes(
            [HammingIndex.build(first), HammingIndex.build(codes(["a"], [0], seed=2))], names=["a", "b"]
        )
    with pytest.raises(IndexEditError, match="same kind and options"):
        merge_indexes([HammingIndex.build(first), HammingIndex.build(second, kind="hnsw")])
