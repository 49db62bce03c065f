"""The file-backed dataset adapters and ``vrt data summary``, on fixture trees of tiny real videos.

The UCF101/HMDB51/JHMDB trees hold one hard link per video listed in the real split files
(built once per session, read-only); tests that delete or corrupt files build their own small
trees. Only a handful of videos are ever decoded.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tests.datasets_fixtures import (
    REPO_CONFIGS,
    DatasetTree,
    write_source_video,
)
from vrt.cli import app
from vrt.config import load_config
from vrt.data.splits import carve_validation
from vrt.data.summary import summarize_data
from vrt.datasets.clips import ClipSpec
from vrt.datasets.files import VideoFileDataset
from vrt.datasets.samplers import DenseSampler, SegmentSampler, UniformSampler
from vrt.errors import SplitFileError, VideoDecodeError, VrtError
from vrt.io.synthetic_video import write_frame_folder
from vrt.registry import DATASETS

FRAMES, SIZE = 4, 32


def build(
    name: str, subset: str, *, num_frames: int = FRAMES, sampler=None, strict: bool = False, **params
) -> VideoFileDataset:
    clips = ClipSpec(num_frames=num_frames, frame_size=SIZE, sampler=sampler, strict=strict)
    params = {key: str(value) if isinstance(value, Path) else value for key, value in params.items()}
    return DATASETS.get(name)(subset=subset, clips=clips, **params)


def both(name: str, tree: DatasetTree, **params) -> tuple[VideoFileDataset, VideoFileDataset]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the complete fixture trees must not warn about anything
        return tuple(
            build(name, s, root=tree.root, annotations=tree.annotations, **params) for s in ("train", "test")
        )


# -- the official collections ------------------------------------------------------------------


def test_ucf101_split1_counts_labels_and_groups(ucf101_tree: DatasetTree) -> None:
    train, test = both("ucf101", ucf101_tree)
    assert (len(train), len(test), train.num_classes) == (9537, 3783, 101)
    assert train.class_names == test.class_names
    assert train.class_names[:3] == ["ApplyEyeMakeup", "ApplyLipstick", "Archery"]
    assert train.class_names[36] == "HandstandPushups"  # classInd.txt order, 0-based
    for dataset in (train, test):
        assert dataset.missing == [] and set(dataset.kinds) == {"video"}
        assert all(
            vid.split("/")[0] == dataset.class_names[label]
            for vid, label in zip(dataset.ids, dataset.labels, strict=True)
        )
    assert not set(train.ids) & set(test.ids)
    assert len(set(train.ids) | set(test.ids)) == len(ucf101_tree.paths)
    handstand = [i for i, vid in enumerate(test.ids) if "v_HandStandPushups_" in vid]
    assert handstand and {test.labels[i] for i in handstand} == {36}
    assert test.paths[handstand[0]].is_file()

    # 25 groups per class, 7 of them test in split 1; a validation carve never splits a group.
    assert len(set(train.groups)) == 101 * 18 and len(set(test.groups)) == 101 * 7
    fit, val = carve_validation(train.labels, fraction=0.1, seed=0, groups=train.groups)
    assert len(fit) + len(val) == 9537 and abs(len(val) - 954) < 60
    assert not {train.groups[i] for i in fit} & {train.groups[i] for i in val}


def test_hmdb51_split1(hmdb51_tree: DatasetTree) -> None:
    train, test = both("hmdb51", hmdb51_tree)
    assert (len(train), len(test), train.num_classes) == (3570, 1530, 51)
    assert train.class_names == sorted(train.class_names) and train.class_names[0] == "brush_hair"
    assert train.groups is None and test.groups is None
    assert not set(train.ids) & set(test.ids)
    assert train.class_counts() == [70] * 51 and test.class_counts() == [30] * 51
    # Videos tagged 0 (unused in split 1) exist on disk but belong to neither subset.
    assert len(hmdb51_tree.paths) - len(train) - len(test) == 1666


def test_jhmdb_split1_reads_its_frame_layout_directly(jhmdb_tree: DatasetTree) -> None:
    train, test = both("jhmdb", jhmdb_tree)
    assert (len(train), len(test), train.num_classes) == (660, 268, 21)
    assert train.class_names == sorted(train.class_names)
    assert set(train.kinds) == set(test.kinds) == {"frames"}
    assert not set(train.ids) & set(test.ids)
    odd = next(i for i, vid in enumerate(test.ids) if set("()!&#@") & set(vid))
    assert test.paths[odd].is_dir() and (test.paths[odd] / "00001.png").is_file()
    clip = test.load_clip(odd, training=False)
    assert clip.shape == (3, FRAMES, SIZE, SIZE)

    videos = jhmdb_tree.root.parent / "ReCompress_Videos"
    train_videos, _ = both("jhmdb", DatasetTree(videos, jhmdb_tree.annotations, ()))
    assert set(train_videos.kinds) == {"video"} and train_videos.ids == train.ids
    # Pointing at the JHMDB folder above both layouts also works: frames by default, videos on request.
    top = DatasetTree(jhmdb_tree.root.parent, jhmdb_tree.annotations, ())
    assert set(both("jhmdb", top)[1].kinds) == {"frames"}
    assert set(both("jhmdb", top, storage="video")[1].kinds) == {"video"}


def test_clips_from_videos_and_frames_are_deterministic_in_test_mode(
    ucf101_tree: DatasetTree, jhmdb_tree: DatasetTree
) -> None:
    _, ucf_test = both("ucf101", ucf101_tree)
    _, jhmdb_test = both("jhmdb", jhmdb_tree)
    torch.manual_seed(0)
    for dataset in (ucf_test, jhmdb_test):
        first = dataset.load_clip(0, training=False)
        assert first.shape == (3, FRAMES, SIZE, SIZE) and first.dtype == torch.float32
        assert 0.0 <= first.min() and first.max() <= 1.0 and first.std() > 0
        assert torch.equal(first, dataset.load_clip(0, training=False))
        assert dataset.load_clip(0, training=True).shape == (3, FRAMES, SIZE, SIZE)
    # The same 8 source frames as a video and as a frame folder: the same clip, up to codec loss.
    videos = DatasetTree(jhmdb_tree.root.parent / "ReCompress_Videos", jhmdb_tree.annotations, ())
    _, jhmdb_videos = both("jhmdb", videos, storage="video")
    from_video, from_frames = (
        jhmdb_videos.load_clip(0, training=False),
        jhmdb_test.load_clip(0, training=False),
    )
    assert (from_video - from_frames).abs().mean() < 0.05


@pytest.mark.parametrize(
    "sampler",
    [UniformSampler(num_frames=3), SegmentSampler(num_frames=3), DenseSampler(num_frames=3, stride=2)],
)
def test_injected_clip_sampler_and_multi_clip(jhmdb_tree: DatasetTree, sampler) -> None:
    _, test = both("jhmdb", jhmdb_tree, num_frames=3, sampler=sampler)
    assert test.clips.sampler is sampler
    clips = [test.load_clip(5, training=False, clip=c, num_clips=2) for c in range(2)]
    assert all(clip.shape == (3, 3, SIZE, SIZE) for clip in clips)


def test_sampler_must_agree_with_num_frames(jhmdb_tree: DatasetTree) -> None:
    with pytest.raises(ValueError, match="picks 3 frames but clips have 4"):
        both("jhmdb", jhmdb_tree, sampler=UniformSampler(num_frames=3))


# -- configuration errors ----------------------------------------------------------------------


def test_missing_folders_and_bad_split_name_the_config_key(tmp_path: Path, ucf101_tree: DatasetTree) -> None:
    with pytest.raises(VrtError, match=r"data\.dataset\.root: .*nowhere does not exist"):
        build("ucf101", "train", root=tmp_path / "nowhere", annotations=ucf101_tree.annotations)
    with pytest.raises(VrtError, match=r"data\.dataset\.annotations: .*lists does not exist"):
        build("hmdb51", "train", root=tmp_path, annotations=tmp_path / "lists")
    with pytest.raises(VrtError, match=r"data\.dataset\.annotations: .*classInd\.txt does not exist"):
        build("ucf101", "train", root=ucf101_tree.root, annotations=tmp_path)
    (tmp_path / "classInd.txt").write_text("1 YoYo\n")
    with pytest.raises(VrtError, match=r"data\.dataset\.annotations: .*trainlist01\.txt does not exist"):
        build("ucf101", "train", root=ucf101_tree.root, annotations=tmp_path)
    with pytest.raises(VrtError, match=r"data\.dataset\.split: .*got 4"):
        build("jhmdb", "train", root=tmp_path, annotations=tmp_path, split=4)


def test_relative_root_is_relative_to_the_working_directory(
    ucf101_tree: DatasetTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ucf101_tree.root.parent)
    test = build("ucf101", "test", root="UCF-101", annotations=ucf101_tree.annotations)
    assert len(test) == 3783


def test_wrong_root_or_storage_fails_instead_of_warning_about_everything(ucf101_tree: DatasetTree) -> None:
    with pytest.raises(
        VrtError, match=r"3783 of 3783 listed videos have no frame folder .*data\.dataset\.storage"
    ):
        build("ucf101", "test", root=ucf101_tree.root, annotations=ucf101_tree.annotations, storage="frames")
    with pytest.raises(VrtError, match=r"3783 of 3783 .*is data\.dataset\.root the folder"):
        build("ucf101", "test", root=ucf101_tree.root / "YoYo", annotations=ucf101_tree.annotations)


# -- bad data ----------------------------------------------------------------------------------


def small_ucf101(base: Path, *, names: list[str] | None = None) -> DatasetTree:
    """Two classes, one of them the HandstandPushups case, with hand-written split files."""
    lists = base / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_bytes(b"1 Archery\r\n2 HandstandPushups\r\n")
    train = [f"Archery/v_Archery_g{g:02d}_c01.avi 1" for g in range(2, 6)]
    train += [f"HandstandPushups/v_HandStandPushups_g{g:02d}_c01.avi 2" for g in range(2, 6)]
    test = ["Archery/v_Archery_g01_c01.avi", "HandstandPushups/v_HandStandPushups_g01_c01.avi"]
    (lists / "trainlist01.txt").write_bytes(("\r\n".join(train) + "\r\n").encode())
    (lists / "testlist01.txt").write_bytes(("\r\n".join(test) + "\r\n").encode())
    listed = [line.split()[0] for line in train + test]
    source = write_source_video(base)
    for relative in names if names is not None else listed:
        (base / "UCF-101" / relative).parent.mkdir(parents=True, exist_ok=True)
        os.link(source, base / "UCF-101" / relative)
    return DatasetTree(base / "UCF-101", lists, tuple(listed))


def test_file_names_resolve_case_insensitively(tmp_path: Path) -> None:
    # Some copies of UCF101 "fix" the spelling on disk; the split files keep HandStand.
    tree = small_ucf101(
        tmp_path, names=["Archery/v_Archery_g01_c01.avi", "HandstandPushups/v_HandstandPushups_g01_c01.avi"]
    )
    test = build("ucf101", "test", root=tree.root, annotations=tree.annotations)
    assert test.ids == ["Archery/v_Archery_g01_c01.avi", "HandstandPushups/v_HandStandPushups_g01_c01.avi"]
    assert test.paths[1].name == "v_HandstandPushups_g01_c01.avi"
    assert test.load_clip(1, training=False).shape == (3, FRAMES, SIZE, SIZE)


def test_missing_files_are_reported_once_with_their_count_or_fail_when_strict(tmp_path: Path) -> None:
    tree = small_ucf101(tmp_path)
    for relative in tree.paths[:3]:
        (tree.root / relative).unlink()
    with pytest.warns(UserWarning) as record:
        train = build("ucf101", "train", root=tree.root, annotations=tree.annotations)
    messages = [str(w.message) for w in record if "listed videos" in str(w.message)]
    assert len(messages) == 1
    assert "3 of 8 listed videos" in messages[0] and "v_Archery_g02_c01.avi" in messages[0]
    assert "data.strict: true" in messages[0]
    assert len(train) == 5 and train.missing == list(tree.paths[:3])
    assert not set(train.missing) & set(train.ids)
    with pytest.raises(VrtError, match=r"3 of 8 listed videos .*data\.strict is true"):
        build("ucf101", "train", root=tree.root, annotations=tree.annotations, strict=True)


def test_unreadable_videos_raise_video_decode_error_naming_the_file(tmp_path: Path) -> None:
    tree = small_ucf101(tmp_path)
    train = build("ucf101", "train", root=tree.root, annotations=tree.annotations)
    corrupt, empty = train.paths[0], train.paths[1]
    corrupt.unlink()  # a hard link: replace, don't overwrite the shared source
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST garbage" * 10)
    empty.unlink()
    empty.touch()
    for index, path in ((0, corrupt), (1, empty)):
        with pytest.raises(VideoDecodeError, match=path.name):
            train.load_clip(index, training=False)
    # Truncated: the header survives, most of the data does not.
    truncated = write_source_video(tmp_path, "long.avi", num_frames=40)
    train.paths[2].unlink()
    train.paths[2].write_bytes(truncated.read_bytes()[:600])
    with pytest.raises(VideoDecodeError, match=train.paths[2].name):
        train.load_clip(2, training=False)
    # A file that vanished after the dataset was built.
    train.paths[3].unlink()
    with pytest.raises(VideoDecodeError, match=train.paths[3].name):
        train.load_clip(3, training=True)
    assert train.load_clip(4, training=False).shape == (3, FRAMES, SIZE, SIZE)


def test_empty_frame_folder_is_a_decode_error(tmp_path: Path) -> None:
    (tmp_path / "data" / "run" / "clip").mkdir(parents=True)
    write_frame_folder(tmp_path / "data" / "run" / "good", 6, (24, 40), 0)
    dataset = build("video_folder", "train", root=tmp_path / "data", test_fraction=0.0)
    assert dataset.ids == ["run/clip", "run/good"] and dataset.kinds == ["frames", "frames"]
    with pytest.raises(VideoDecodeError, match="clip"):
        dataset.load_clip(0, training=False)
    assert dataset.load_clip(1, training=False).shape == (3, FRAMES, SIZE, SIZE)  # 40x24: resized


# -- custom collections ------------------------------------------------------------------------


def test_video_list_basics(tmp_path: Path) -> None:
    source = write_source_video(tmp_path)
    for relative in ("swim/a.avi", "swim/b.avi", "run/c d.avi", "run/e.avi"):
        (tmp_path / "clips" / relative).parent.mkdir(parents=True, exist_ok=True)
        os.link(source, tmp_path / "clips" / relative)
    write_frame_folder(tmp_path / "clips" / "run" / "f", 5, (32, 32), 1)
    (tmp_path / "train.txt").write_text("# path label\nswim/a.avi 1\nrun/c d.avi,0\nrun/f.avi 0\n\n")
    (tmp_path / "test.txt").write_text("swim/b.avi 1\nrun/e.avi 0\n")
    params = {
        "root": tmp_path / "clips",
        "train_list": tmp_path / "train.txt",
        "test_list": tmp_path / "test.txt",
    }
    train = build("video_list", "train", **params, class_names=["run", "swim"])
    test = build("video_list", "test", **params)
    assert train.class_names == ["run", "swim"] and test.class_names == ["0", "1"]
    assert train.ids == ["swim/a.avi", "run/c d.avi", "run/f.avi"] and train.labels == [1, 0, 0]
    assert train.kinds == ["video", "video", "frames"]
    assert train.load_clip(2, training=False).shape == (3, FRAMES, SIZE, SIZE)
    assert test.ids == ["swim/b.avi", "run/e.avi"] and test.labels == [1, 0]

    (tmp_path / "test.txt").write_text("swim/b.avi 1\n../escape.avi 0\n")
    with pytest.raises(SplitFileError, match=r"test\.txt:2: .*leaves the dataset root"):
        build("video_list", "train", **params)
    with pytest.raises(VrtError, match=r"data\.dataset\.train_list: .*nope\.txt does not exist"):
        build("video_list", "train", **{**params, "train_list": tmp_path / "nope.txt"})


def test_video_folder_seeded_stratified_split(tmp_path: Path) -> None:
    source = write_source_video(tmp_path)
    for label, name in enumerate(("jump", "clap", "wave")):
        for i in range(6 + 2 * label):
            (tmp_path / "data" / name).mkdir(parents=True, exist_ok=True)
            os.link(
                source,
                tmp_path / "data" / name / f"{i}.mp4" if i % 2 else tmp_path / "data" / name / f"{i}.avi",
            )
    params = {"root": tmp_path / "data", "test_fraction": 0.25, "seed": 3}
    train, test = build("video_folder", "train", **params), build("video_folder", "test", **params)
    assert train.class_names == ["clap", "jump", "wave"]
    assert len(train) + len(test) == 6 + 8 + 10 and not set(train.ids) & set(test.ids)
    assert test.class_counts() == [2, 2, 2]  # round(0.25 * n) per class: 2, 1.5 -> 2, 2.5 -> 2
    assert test.ids == build("video_folder", "test", **params).ids
    assert test.ids != build("video_folder", "test", **{**params, "seed": 4}).ids
    assert test.load_clip(0, training=False).shape == (3, FRAMES, SIZE, SIZE)


# -- vrt data summary --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "fixture", "counts"),
    [
        ("ucf101_48bit.yaml", "ucf101_tree", (9537, 3783, 101)),
        ("hmdb51_48bit.yaml", "hmdb51_tree", (3570, 1530, 51)),
        ("jhmdb_48bit.yaml", "jhmdb_tree", (660, 268, 21)),
    ],
)
def test_data_summary_json(
    config: str, fixture: str, counts: tuple[int, int, int], request: pytest.FixtureRequest
) -> None:
    tree: DatasetTree = request.getfixturevalue(fixture)
    result = CliRunner().invoke(
        app,
        [
            "data", "summary", str(REPO_CONFIGS / config),
            "--set", f"data.dataset.root={tree.root}",
            "--set", f"data.dataset.annotations={tree.annotations}",
            "--set", "data.num_frames=4", "--set", "data.frame_size=32",
            "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    train, test, classes = counts
    assert report["train"] + report["val"] == train and report["val"] > 0
    assert (report["test"], report["classes"], report["missing"]) == (test, classes, 0)
    assert report["missing_files"] == [] and report["warnings"] == []
    assert report["decode_check"]["checked"] == 4 and report["decode_check"]["failed"] == []
    assert report["decode_check"]["clip_shapes"] == [[3, 4, 32, 32]]


def test_data_summary_reports_missing_and_undecodable_videos(tmp_path: Path) -> None:
    tree = small_ucf101(tmp_path)
    (tree.root / tree.paths[-1]).unlink()  # a test video
    bad = tree.root / tree.paths[0]
    bad.unlink()
    bad.write_bytes(b"not a video")
    config = tmp_path / "config.yaml"
    config.write_text(
        "data:\n"
        f"  dataset: {{name: ucf101, root: '{tree.root}', annotations: '{tree.annotations}'}}\n"
        "  num_frames: 4\n  frame_size: 32\n  val_fraction: 0.0\n"
        "  batch: {classes_per_batch: 2}\n"  # two classes: the default 8 per batch could not train
    )
    runner = CliRunner()
    result = runner.invoke(app, ["data", "summary", str(config), "--json", "--check", "20"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["train"], report["val"], report["test"], report["classes"]) == (8, 0, 1, 2)
    assert report["missing"] == 1 and report["missing_files"] == [tree.paths[-1]]
    assert report["decode_check"]["checked"] == 9
    assert report["decode_check"]["failed"] == [
        {"id": tree.paths[0], "reason": report["decode_check"]["failed"][0]["reason"]}
    ]
    assert bad.name in report["decode_check"]["failed"][0]["reason"]
    assert len(report["warnings"]) == 1 and "1 of 2 listed videos" in report["warnings"][0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the library returns the datasets' warnings, it emits none
        assert summarize_data(load_config(config), check=20) == report

    human = runner.invoke(app, ["data", "summary", str(config), "--check", "2"])
    assert human.exit_code == 0, human.output
    assert "missing files" in human.stdout and tree.paths[-1] in human.stdout

    strict = runner.invoke(app, ["data", "summary", str(config), "--set", "data.strict=true"])
    assert strict.exit_code != 0 and "data.strict is true" in str(strict.exception)


def test_grayscale_and_odd_sized_videos_give_rgb_clips_of_the_configured_size(tmp_path: Path) -> None:
    write_source_video(tmp_path / "clips", "grey.avi", codec="ffv1", grayscale=True, size=(45, 27))
    write_source_video(tmp_path / "clips", "odd.avi", size=(33, 19), num_frames=3)
    (tmp_path / "list.txt").write_text("grey.avi 0\nodd.avi 1\n")
    params = {
        "root": tmp_path / "clips",
        "train_list": tmp_path / "list.txt",
        "test_list": tmp_path / "list.txt",
    }
    dataset = build("video_list", "test", **params)
    for index in range(2):
        for training in (False, True):
            clip = dataset.load_clip(index, training=training)
            assert clip.shape == (3, FRAMES, SIZE, SIZE) and 0.0 <= clip.min() and clip.max() <= 1.0
    grey = dataset.load_clip(0, training=False)
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
