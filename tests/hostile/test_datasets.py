"""Hostile datasets: broken videos, odd file names, malformed or absurd list files, hostile folders.

The unit-level behaviour behind these cases is tested in test_video_io.py, test_splitfiles.py
and test_dataset_adapters.py; docs/robustness.md lists every case.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import tiny_config_dict
from tests.datasets_fixtures import write_source_video
from tests.hostile.conftest import BAD, NFD_NAME, TRAIN_LINES, list_config
from tests.hostile.helpers import assert_one_line_error, snapshot, unchanged, vrt, write_yaml
from vrt.codes import load_codes

pytestmark = pytest.mark.slow

USABLE_TRAIN = [
    "a/a1.avi", "a/a2.avi", "a/vidéo_ü.avi", "a/short.avi", "a/grey.avi",
    "b/b1.avi", "b/b2.avi", "b/odd.avi", "b/naïve.avi",
]  # fmt: skip


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
    assert report["problems"] == []

    run = tmp_path / "run"
    with pytest.warns(UserWarning, match="listed more than once") as caught:
        result = vrt("train", tree.hostile, "--output", run)
    assert result.code == 0, result.stderr
    assert len([w for w in caught if "listed more than once" in str(w.message)]) == 1
    listed = dict(line.split("\t", 1) for line in (run / "bad_videos.txt").read_text("utf-8").splitlines())
    assert set(listed) == BAD
    assert "the file is empty (0 bytes)" in listed["b/zero.avi"]
    assert all(Path(video).name in reason for video, reason in listed.items())
    assert json.loads((run / "results.json").read_text())["protocol"]["bad_videos"] == 3
    for video in BAD:  # announced once each, on one line
        announced = [
            line
            for line in result.error_lines
            if line.startswith(f"warning: skipping unreadable video {video}: ")
        ]
        assert len(announced) == 1
    assert any(line.endswith(f"see {run / 'bad_videos.txt'}") for line in result.error_lines)

    # The odd videos were decoded, not skipped: each has a code, under the name the list gave it.
    codes = tmp_path / "train_codes.npz"
    with pytest.warns(UserWarning, match="listed more than once"):  # each command reports it
        export = vrt("export", "--checkpoint", run / "best.pt", "--split", "train", "--out", codes)
    assert export.code == 0, export.stderr
    assert list(load_codes(codes).ids) == USABLE_TRAIN


def folder_config(path: Path, root: Path, **data) -> Path:
    config = tiny_config_dict()
    config["data"]["dataset"] = {"name": "video_folder", "root": str(root), "test_fraction": 0.4}
    config["data"]["batch"]["classes_per_batch"] = 2
    config["data"].update(data)
    return write_yaml(path, config)


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
    config = folder_config(tmp_path / "folder.yaml", root)

    result = vrt("data", "summary", config, "--json", "--check", 20)
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["train"] + report["val"] + report["test"] == len(names)
    assert report["decode_check"]["checked"] == len(names) and report["decode_check"]["failed"] == []
    assert report["warnings"] == [
        f"video_folder: 1 file name(s) in {root} are not valid UTF-8 (b/caf\\xe9.avi); "
        "they are skipped (rename them to use them)"
    ]
    strict = vrt("data", "summary", config, "--set", "data.strict=true")
    assert_one_line_error(strict, "not valid UTF-8 (b/caf\\xe9.avi)", "data.strict is true")


# -- hostile folders: links that loop or lead nowhere, entries and folders that cannot be read ------


def class_folders(root: Path, classes: str = "abc", per_class: int = 3) -> None:
    for index, name in enumerate(f"{c}/{c}{i}.avi" for c in classes for i in range(per_class)):
        write_source_video(root, name, num_frames=4, seed=index)


class UnreadableEntries:
    """``os.scandir`` whose entries named in ``names`` cannot be stat'ed, as without permission."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, names: set[str], folders: set[str] = frozenset()):
        scandir = os.scandir

        class Entry:
            def __init__(self, entry: os.DirEntry) -> None:
                self._entry, self.name, self.path = entry, entry.name, entry.path

            def _check(self) -> None:
                if self.name in names:
                    raise PermissionError(13, "Permission denied", self.path)

            def is_dir(self, **kwargs) -> bool:
                self._check()
                return self._entry.is_dir(**kwargs)

            def is_file(self, **kwargs) -> bool:
                self._check()
                return self._entry.is_file(**kwargs)

            def is_symlink(self) -> bool:
                return self._entry.is_symlink()

        class Scan:
            def __init__(self, path) -> None:  # noqa: ANN001
                if Path(path).name in folders:
                    raise PermissionError(13, "Permission denied", str(path))
                self._scan = scandir(path)

            def __enter__(self):  # noqa: ANN204
                return (Entry(entry) for entry in self._scan)

            def __exit__(self, *exc: object) -> None:
                self._scan.close()

        monkeypatch.setattr(os, "scandir", Scan)


@pytest.mark.parametrize(
    ("hostile", "reason"),
    [
        ("loop", "Too many levels of symbolic links"),
        ("dangling", "a link to gone.avi, which does not exist"),
        ("unreadable", "Permission denied"),
    ],
)
def test_a_bad_entry_in_a_class_folder_is_skipped_alone_with_a_warning(
    tmp_path, monkeypatch, hostile, reason
):
    root = tmp_path / "clips"
    class_folders(root)
    entry = root / "a" / "x.avi"
    if hostile == "loop":
        entry.symlink_to(entry.name)
    elif hostile == "dangling":
        entry.symlink_to("gone.avi")
    else:
        write_source_video(root, "a/x.avi", num_frames=4)
        UnreadableEntries(monkeypatch, {"x.avi"})
    result = vrt("data", "summary", folder_config(tmp_path / "c.yaml", root), "--json", "--check", 0)
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["train"] + report["val"] + report["test"] == 9 and report["classes"] == 3
    assert report["warnings"] == [f"{root / 'a'}: skipped 1 unreadable entry: x.avi ({reason})"]


def summary_with_a_looping_link(tree, tmp_path: Path, name: str) -> dict:  # noqa: ANN001
    """``vrt data summary --json`` of the clean lists over a copy of the clips where a/NAME links to itself."""
    root = Path(shutil.copytree(tree.root, tmp_path / "clips", symlinks=True))
    (root / "a" / name).unlink(missing_ok=True)
    (root / "a" / name).symlink_to(name)
    lists = {"train_list": tree.base / "clean_train.txt", "test_list": tree.base / "clean_test.txt"}
    result = vrt(
        "data", "summary", list_config(tmp_path / "c.yaml", root=root, **lists), "--json", "--check", 0
    )
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def test_a_looping_link_beside_listed_videos_does_not_hide_its_folder(tree, tmp_path):
    report = summary_with_a_looping_link(tree, tmp_path, "loop.avi")
    assert (report["train"], report["test"], report["missing"]) == (4, 2, 0)  # a/*.avi are all found
    assert report["warnings"] == []  # loop.avi is not listed: not part of the dataset


def test_a_listed_video_that_is_a_looping_link_is_reported_missing_with_the_reason(tree, tmp_path):
    report = summary_with_a_looping_link(tree, tmp_path, "a1.avi")
    assert (report["train"], report["missing"], report["missing_files"]) == (3, 1, ["a/a1.avi"])
    assert "a1.avi (Too many levels of symbolic links)" in report["warnings"][0]


def test_a_class_folder_that_cannot_be_listed_keeps_its_label_and_the_others_train(tmp_path, monkeypatch):
    root = tmp_path / "clips"
    class_folders(root)
    UnreadableEntries(monkeypatch, set(), folders={"c"})
    result = vrt("data", "summary", folder_config(tmp_path / "c.yaml", root), "--json", "--check", 0)
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["classes"] == 3 and report["train"] + report["val"] + report["test"] == 6
    assert f"cannot list the class folder {root / 'c'} (Permission denied)" in report["warnings"]


def test_an_empty_class_folder_is_warned_about(tmp_path):
    root = tmp_path / "clips"
    class_folders(root, "ab")
    (root / "empty").mkdir()
    result = vrt("data", "summary", folder_config(tmp_path / "c.yaml", root), "--json", "--check", 0)
    assert result.code == 0, result.stderr
    warnings = json.loads(result.stdout)["warnings"]
    assert warnings == [
        f"1 class folder(s) in {root} hold no videos (empty); they keep their labels, but nothing trains or tests them"
    ]


# -- split and list files ---------------------------------------------------------------------


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
    config = list_config(
        tmp_path / "c.yaml", root=tree.root, train_list=tree.base / "clean_train.txt", test_list=listing
    )
    result = vrt("train", config, "--output", tmp_path / "run")
    assert_one_line_error(result, f"{listing}:3: ", expected)
    assert not (tmp_path / "run").exists()


def test_split_file_that_is_not_utf8_names_the_line(tree, tmp_path):
    listing = tmp_path / "test.txt"
    listing.write_bytes("a/a3.avi a\nb/b3.avi b\n".encode("utf-16"))  # Notepad's "Unicode"
    config = list_config(
        tmp_path / "c.yaml", root=tree.root, train_list=tree.base / "clean_train.txt", test_list=listing
    )
    with unchanged(tmp_path, tree.base):
        assert_one_line_error(vrt("data", "summary", config), f"{listing}:1: not valid UTF-8 text")


def test_a_root_without_any_listed_video_is_an_error_not_a_warning_per_file(tree, tmp_path):
    (tmp_path / "empty").mkdir()
    with unchanged(tmp_path, tree.base):
        result = vrt("data", "summary", tree.clean, "--set", f"data.dataset.root={tmp_path / 'empty'}")
        assert_one_line_error(result, "4 of 4 listed videos", "is data.dataset.root the folder")


def test_a_label_id_of_a_billion_is_refused_without_building_a_billion_class_names(tree, tmp_path):
    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    train.write_text("a/a1.avi 0\nb/b1.avi 1000000000\n")
    test.write_text("a/a3.avi 0\n")
    config = list_config(tmp_path / "c.yaml", root=tree.root, train_list=train, test_list=test)
    data = __import__("yaml").safe_load(config.read_text())
    del data["data"]["dataset"]["class_names"]
    write_yaml(config, data)
    started = time.perf_counter()
    result = vrt("train", config, "--output", tmp_path / "run")
    assert_one_line_error(result, f"{train}:2: label 1000000000 is beyond vrt's limit of 1,000,000 classes")
    assert time.perf_counter() - started < 20  # 10**9 names would take minutes and gigabytes
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("which", ["train", "test"])
def test_an_empty_list_fails_before_the_run_folder_exists(tree, tmp_path, which):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing listed yet\n")
    lists = {"train_list": tree.base / "clean_train.txt", "test_list": tree.base / "clean_test.txt"}
    lists[f"{which}_list"] = empty
    config = list_config(tmp_path / "c.yaml", root=tree.root, **lists)
    split = "training" if which == "train" else "test"
    result = vrt("train", config, "--output", tmp_path / "run")
    assert_one_line_error(
        result, f"data.dataset: the {split} split of video_list {which} (empty.txt) has no videos"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["train", "summary"])
def test_every_training_video_unreadable_fails_before_the_run_folder_exists(tree, tmp_path, command):
    train = tmp_path / "train.txt"
    train.write_text("b/zero.avi b\nb/corrupt.avi b\na/truncated.avi a\n")
    config = list_config(
        tmp_path / "c.yaml", root=tree.root, train_list=train, test_list=tree.base / "clean_test.txt"
    )
    before = snapshot(tmp_path)
    args = (
        ["train", config, "--output", tmp_path / "run"] if command == "train" else ["data", "summary", config]
    )
    line = assert_one_line_error(
        vrt(*args), "none of the 3 videos of the training split can be read (e.g. b/zero.avi"
    )
    assert "vrt data summary CONFIG --check N" in line
    assert snapshot(tmp_path) == before


def test_an_epoch_without_two_readable_clips_in_any_batch_stops_with_the_list_of_bad_videos(tree, tmp_path):
    train = tmp_path / "train.txt"  # one readable video: the check before the run passes, no batch can rank
    train.write_text("a/a1.avi a\nb/zero.avi b\nb/corrupt.avi b\na/truncated.avi a\n")
    config = list_config(
        tmp_path / "c.yaml", root=tree.root, train_list=train, test_list=tree.base / "clean_test.txt"
    )
    run = tmp_path / "run"
    line = assert_one_line_error(vrt("train", config, "--output", run), code=1)
    assert "epoch 1 made no training step: no batch held two readable clips (3 unreadable videos" in line
    assert len((run / "bad_videos.txt").read_text().splitlines()) == 3 and not (run / "last.pt").exists()
