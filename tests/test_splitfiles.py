"""Split-file parsing, on the real official files and on small hand-written ones (no videos)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.datasets_fixtures import HMDB51_SPLITS, JHMDB_SPLITS, UCF101_LISTS, require_split_files
from vrt.datasets.listing import scan_class_folders
from vrt.datasets.splitfiles import (
    ListLine,
    SplitEntry,
    check_relative_path,
    label_video_lists,
    parse_tagged_splits,
    parse_ucf101_classes,
    parse_ucf101_list,
    read_video_list,
    stratified_split,
)
from vrt.errors import SplitFileError, VrtError


def write(path: Path, text: str, *, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode())
    return path


# -- the real files ---------------------------------------------------------------------------


@pytest.mark.parametrize(("split", "train", "test"), [(1, 9537, 3783), (2, 9586, 3734), (3, 9624, 3696)])
def test_ucf101_official_splits(split: int, train: int, test: int) -> None:
    require_split_files()
    classes = parse_ucf101_classes(UCF101_LISTS / "classInd.txt")
    assert len(classes) == 101
    assert classes[0] == "ApplyEyeMakeup" and classes[-1] == "YoYo"
    train_entries = parse_ucf101_list(UCF101_LISTS / f"trainlist0{split}.txt", classes)
    test_entries = parse_ucf101_list(UCF101_LISTS / f"testlist0{split}.txt", classes)
    assert (len(train_entries), len(test_entries)) == (train, test)
    assert not {e.path for e in train_entries} & {e.path for e in test_entries}
    # The official splits are cut by group: no recording on both sides.
    assert not {e.group for e in train_entries} & {e.group for e in test_entries}
    for entry in train_entries + test_entries:
        assert entry.path.split("/")[0] == classes[entry.label]
        assert "\r" not in entry.path


def test_ucf101_handstand_pushups_spelling_and_groups() -> None:
    require_split_files()
    classes = parse_ucf101_classes(UCF101_LISTS / "classInd.txt")
    test_entries = parse_ucf101_list(UCF101_LISTS / "testlist01.txt", classes)
    handstand = [e for e in test_entries if e.path.startswith("HandstandPushups/")]
    assert handstand, "split 1 tests HandstandPushups"
    assert all("v_HandStandPushups_" in e.path for e in handstand)
    assert {classes[e.label] for e in handstand} == {"HandstandPushups"}
    # Group keys use the class folder's spelling, whatever the file name says.
    assert {e.group for e in handstand} == {f"HandstandPushups_g{g:02d}" for g in range(1, 8)}


@pytest.mark.parametrize(
    ("folder", "classes", "counts"),
    [
        ("hmdb51", 51, {1: (3570, 1530), 2: (3570, 1530), 3: (3570, 1530)}),
        ("jhmdb", 21, {1: (660, 268), 2: (658, 270), 3: (663, 265)}),
    ],
)
def test_tagged_official_splits(folder: str, classes: int, counts: dict[int, tuple[int, int]]) -> None:
    require_split_files()
    annotations = HMDB51_SPLITS if folder == "hmdb51" else JHMDB_SPLITS
    for split, (train, test) in counts.items():
        names, train_entries = parse_tagged_splits(annotations, split, "train")
        same_names, test_entries = parse_tagged_splits(annotations, split, "test")
        assert names == same_names == sorted(names) and len(names) == classes
        assert (len(train_entries), len(test_entries)) == (train, test)
        assert not {e.path for e in train_entries} & {e.path for e in test_entries}
        assert all(e.group is None and e.path.split("/")[0] == names[e.label] for e in train_entries)
        # Trailing spaces and CR are gone; the odd characters of the real names are kept.
        assert not any(e.path != e.path.strip() for e in train_entries + test_entries)


def test_hmdb51_names_starting_with_hash_are_videos_not_comments() -> None:
    require_split_files()
    _, entries = parse_tagged_splits(HMDB51_SPLITS, 1, "train")
    assert any(e.path.split("/")[1].startswith("#") for e in entries)
    assert any(set("()!&") & set(e.path) for e in entries)


# -- hand-written files: quirks and errors ----------------------------------------------------


def test_ucf101_crlf_blank_lines_duplicates(tmp_path: Path) -> None:
    classes_file = write(tmp_path / "classInd.txt", "1 Archery\n2 HandstandPushups\n\n", newline="\r\n")
    classes = parse_ucf101_classes(classes_file)
    assert classes == ["Archery", "HandstandPushups"]
    listing = write(
        tmp_path / "trainlist01.txt",
        "Archery/v_Archery_g01_c01.avi 1\n\n"
        "HandstandPushups/v_HandStandPushups_g02_c01.avi 2\n"
        "Archery/v_Archery_g01_c01.avi 1\n",
        newline="\r\n",
    )
    with pytest.warns(UserWarning, match=r"1 video\(s\) listed more than once.*trainlist01.txt:4"):
        entries = parse_ucf101_list(listing, classes)
    assert entries == [
        SplitEntry("Archery/v_Archery_g01_c01.avi", 0, "Archery_g01"),
        SplitEntry("HandstandPushups/v_HandStandPushups_g02_c01.avi", 1, "HandstandPushups_g02"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Bowling/v_Bowling_g01_c01.avi", r"testlist01.txt:2: class folder 'Bowling' is not in classInd"),
        ("Archery/v_Archery_g01_c01.avi 2", r"testlist01.txt:2: class id 2 disagrees with folder 'Archery'"),
        ("Archery/v_Archery_g01_c01.avi x", r"testlist01.txt:2: class id must be an integer"),
        ("Archery/a.avi 1 extra", r"testlist01.txt:2: expected '<Class>/<video> \[<id>\]'"),
        ("v_Archery_g01_c01.avi", r"testlist01.txt:2: expected '<Class>/<video>'"),
        ("../Archery/v_Archery_g01_c01.avi", r"testlist01.txt:2: .*leaves the dataset root"),
        ("/data/Archery/v_Archery_g01_c01.avi", r"testlist01.txt:2: absolute path"),
    ],
)
def test_ucf101_bad_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    listing = write(tmp_path / "testlist01.txt", f"Archery/v_Archery_g02_c01.avi\n{line}\n")
    with pytest.raises(SplitFileError, match=message):
        parse_ucf101_list(listing, ["Archery", "Basketball"])


def test_ucf101_folder_case_mismatch_resolves_and_odd_names_are_own_group(tmp_path: Path) -> None:
    listing = write(tmp_path / "trainlist01.txt", "archery/v_Archery_g03_c02.avi 1\nArchery/clip.avi 1\n")
    entries = parse_ucf101_list(listing, ["Archery"])
    assert [e.label for e in entries] == [0, 0]
    assert [e.group for e in entries] == ["Archery_g03", "Archery/clip.avi"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 A\n1 B\n", r"classInd.txt:2: class id 1 is listed twice"),
        ("1 A\n2 A\n", r"classInd.txt:2: class name 'A' is listed twice"),
        ("1 A\n3 B\n", r"class ids must be 1..2 without gaps"),
        ("1 A\nB\n", r"classInd.txt:2: expected '<id> <ClassName>'"),
        ("\n\n", r"no classes listed"),
    ],
)
def test_ucf101_bad_class_index(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SplitFileError, match=message):
        parse_ucf101_classes(write(tmp_path / "classInd.txt", text))


def test_tagged_split_parsing(tmp_path: Path) -> None:
    write(tmp_path / "wave_test_split1.txt", "a.avi 1 \nb.avi 2 \nc.avi 0 \n\n", newline="\r\n")
    write(tmp_path / "clap_test_split1.txt", "#1_(x)!.avi 2\nd&e.avi 1\n")
    write(tmp_path / "clap_test_split2.txt", "d&e.avi 2\n")
    names, train = parse_tagged_splits(tmp_path, 1, "train")
    _, test = parse_tagged_splits(tmp_path, 1, "test")
    assert names == ["clap", "wave"]
    assert train == [SplitEntry("clap/d&e.avi", 0), SplitEntry("wave/a.avi", 1)]
    assert test == [SplitEntry("clap/#1_(x)!.avi", 0), SplitEntry("wave/b.avi", 1)]
    # Split 2 has only one class file: only that class exists there.
    names, test = parse_tagged_splits(tmp_path, 2, "test")
    assert names == ["clap"] and test == [SplitEntry("clap/d&e.avi", 0)]


def test_tagged_split_errors(tmp_path: Path) -> None:
    with pytest.raises(VrtError, match="no '<class>_test_split3.txt' files"):
        parse_tagged_splits(tmp_path, 3, "train")
    write(tmp_path / "wave_test_split1.txt", "a.avi 1\nb.avi 3\n")
    with pytest.raises(SplitFileError, match=r"wave_test_split1.txt:2: expected '<video> <tag>'"):
        parse_tagged_splits(tmp_path, 1, "train")
    write(tmp_path / "wave_test_split1.txt", "a.avi 1\nsub/b.avi 1\n")
    with pytest.raises(SplitFileError, match=r"wave_test_split1.txt:2: expected a file name"):
        parse_tagged_splits(tmp_path, 1, "train")
    write(tmp_path / "wave_test_split1.txt", "a.avi 1\na.avi 1\n")
    with pytest.warns(UserWarning, match=r"listed more than once.*wave_test_split1.txt:2"):
        _, entries = parse_tagged_splits(tmp_path, 1, "train")
    assert entries == [SplitEntry("wave/a.avi", 0)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a/b.avi", "a/b.avi"),
        ("./a/./b.avi", "a/b.avi"),
        ("a\\b.avi", "a/b.avi"),
        ("odd (1)!/#x&y@.avi", "odd (1)!/#x&y@.avi"),
    ],
)
def test_relative_paths_are_normalised(text: str, expected: str) -> None:
    assert check_relative_path(text, source="f", line=1) == expected


@pytest.mark.parametrize("text", ["/abs/a.avi", "C:/videos/a.avi", "a/../../b.avi", "..", "./."])
def test_paths_escaping_the_root_are_rejected(text: str) -> None:
    with pytest.raises(SplitFileError, match="f:7"):
        check_relative_path(text, source="f", line=7)


def test_video_list_separators_comments_and_spaces(tmp_path: Path) -> None:
    listing = write(
        tmp_path / "train.txt",
        "# my clips\nrun/a.avi 1\n\nrun/b.avi,1\n  jump/c.avi\t0  \nmy clips/d e.avi 0\n./#odd.avi, 1\n",
        newline="\r\n",
    )
    lines = read_video_list(listing)
    assert [(line.path, line.label, line.line) for line in lines] == [
        ("run/a.avi", "1", 2),
        ("run/b.avi", "1", 4),
        ("jump/c.avi", "0", 5),
        ("my clips/d e.avi", "0", 6),
        ("#odd.avi", "1", 7),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a.avi 0\nlonely.avi\n", r"train.txt:2: expected '<relative path> <label>'"),
        ("a.avi 0\n../b.avi 1\n", r"train.txt:2: .*leaves the dataset root"),
        ("a.avi 0\n/b.avi 1\n", r"train.txt:2: absolute path"),
    ],
)
def test_video_list_malformed_lines(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SplitFileError, match=message):
        read_video_list(write(tmp_path / "train.txt", text))


def _lines(source: str, *pairs: tuple[str, str]) -> list[ListLine]:
    return [ListLine(source, i + 1, path, label) for i, (path, label) in enumerate(pairs)]


def test_video_list_labels_indices_and_names() -> None:
    lists = {"train": _lines("tr", ("a", "0"), ("b", "2")), "test": _lines("te", ("c", "1"))}
    names, entries = label_video_lists(lists)
    assert names == ["0", "1", "2"]
    assert [e.label for e in entries["train"]] == [0, 2] and [e.label for e in entries["test"]] == [1]
    names, _ = label_video_lists(lists, ["run", "jump", "swim"])
    assert names == ["run", "jump", "swim"]
    with pytest.raises(SplitFileError, match=r"tr:2: label 2 is out of range for 2 class names"):
        label_video_lists(lists, ["run", "jump"])

    named = {"train": _lines("tr", ("a", "swim"), ("b", "run")), "test": _lines("te", ("c", "run"))}
    names, entries = label_video_lists(named)
    assert names == ["run", "swim"] and [e.label for e in entries["train"]] == [1, 0]
    with pytest.raises(SplitFileError, match=r"tr:2: unknown class name 'run'"):
        label_video_lists(named, ["swim", "jump"])


def test_video_list_label_errors_and_duplicates() -> None:
    mixed = {"train": _lines("tr", ("a", "0"), ("b", "run"))}
    with pytest.raises(
        SplitFileError, match=r"tr:2: label 'run' is a class name but tr:1 uses a class index"
    ):
        label_video_lists(mixed)
    with pytest.raises(SplitFileError, match=r"tr:1: negative label -1"):
        label_video_lists({"train": _lines("tr", ("a", "-1"))})
    with pytest.warns(UserWarning, match=r"listed more than once.*a \(tr:2\)"):
        _, entries = label_video_lists({"train": _lines("tr", ("a", "0"), ("a", "1"))})
    assert entries["train"] == [SplitEntry("a", 0)]


def test_scan_class_folders_and_stratified_split(tmp_path: Path) -> None:
    for name in ("b/v1.mp4", "b/v2.avi", "b/notes.txt", "b/.hidden.avi", "a/x.avi"):
        write(tmp_path / name, "")
    (tmp_path / "a" / "frames_clip").mkdir()
    (tmp_path / ".cache").mkdir()
    classes, entries = scan_class_folders(tmp_path)
    assert classes == ["a", "b"]
    assert entries == [
        SplitEntry("a/frames_clip", 0),
        SplitEntry("a/x.avi", 0),
        SplitEntry("b/v1.mp4", 1),
        SplitEntry("b/v2.avi", 1),
    ]

    many = [SplitEntry(f"c{label}/v{i:02d}", label) for label in range(3) for i in range(10 + label)]
    train, test = stratified_split(many, test_fraction=0.3, seed=0)
    assert sorted(train + test, key=many.index) == many and not set(train) & set(test)
    assert [sum(e.label == k for e in test) for k in range(3)] == [3, 3, 4]  # round(0.3 * n)
    # Which videos go to test does not depend on the order they were listed in.
    assert set(stratified_split(list(reversed(many)), test_fraction=0.3, seed=0)[1]) == set(test)
    again = stratified_split(many, test_fraction=0.3, seed=0)
    other = stratified_split(many, test_fraction=0.3, seed=1)
    assert again == (train, test) and other[1] != test
    # Tiny classes keep a video on each side; fraction 0 keeps everything in train.
    pair = [SplitEntry("p/1", 0), SplitEntry("p/2", 0), SplitEntry("q/1", 1)]
    train, test = stratified_split(pair, test_fraction=0.1, seed=0)
    assert len(test) == 1 and test[0].label == 0 and SplitEntry("q/1", 1) in train
    assert stratified_split(pair, test_fraction=0.0, seed=0) == (pair, [])
