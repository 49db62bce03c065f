"""``vrt prepare frames``: videos to frame folders, resumable, failures listed, nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import vrt.io.extract as extract_module
from vrt.cli import app
from vrt.errors import DataError
from vrt.io.frames import list_frame_files, read_frame_files
from vrt.io.prepare import FAILURES_FILE, find_videos, prepare_frames
from vrt.io.synthetic_video import frame_number, write_test_video

cli = CliRunner()


def make_tree(src: Path) -> dict[str, int]:
    """Three good videos in two class folders; returns relative path -> frame count."""
    write_test_video(src / "Jump" / "v_Jump_g01_c01.avi", num_frames=6, size=(64, 48))
    write_test_video(src / "Jump" / "v_Jump_g02_c01.avi", num_frames=5, size=(48, 64), seed=1)
    write_test_video(src / "Café Talk" / "vidéo_ü.mkv", num_frames=4, size=(32, 32), codec="libx264")
    return {"Jump/v_Jump_g01_c01.avi": 6, "Jump/v_Jump_g02_c01.avi": 5, "Café Talk/vidéo_ü.mkv": 4}


def leftovers(dst: Path) -> list[Path]:
    return [path for path in dst.rglob("*") if ".partial-" in path.name]


def test_find_videos_is_recursive_sorted_and_skips_hidden_and_other_files(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "Jump" / "._v_Jump_g01_c01.avi").write_bytes(b"resource fork")
    (tmp_path / "Jump" / "readme.txt").write_text("hi")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.mp4").write_bytes(b"")
    assert [p.as_posix() for p in find_videos(tmp_path)] == [
        "Café Talk/vidéo_ü.mkv",
        "Jump/v_Jump_g01_c01.avi",
        "Jump/v_Jump_g02_c01.avi",
    ]


def test_converts_every_video_into_a_numbered_frame_folder(tmp_path):
    expected = make_tree(tmp_path / "src")
    dst = tmp_path / "dst"
    summary = prepare_frames(tmp_path / "src", dst, short_side=32, workers=1, ext="png")
    assert [o.video.as_posix() for o in summary.converted] == sorted(expected)
    assert not summary.failed and not summary.skipped and summary.failures_file is None
    for video, num_frames in expected.items():
        folder = dst / Path(video).with_suffix("")
        files = list_frame_files(folder)
        assert [f.name for f in files] == [f"{i:05d}.png" for i in range(1, num_frames + 1)]
        frames = read_frame_files(files, range(num_frames))
        assert [frame_number(frame) for frame in frames] == list(range(num_frames))
        assert min(frames.shape[1:3]) == 32  # the short side
        marker = json.loads((folder / ".done").read_text())
        assert marker["frames"] == num_frames
    # The aspect ratio is kept, the long side rounded down as the clip transform's resize does:
    # 64x48 -> 42x32 (W x H), 48x64 -> 32x42, so the transform has nothing left to resize.
    assert Image.open(dst / "Jump/v_Jump_g01_c01/00001.png").size == (42, 32)
    assert Image.open(dst / "Jump/v_Jump_g02_c01/00001.png").size == (32, 42)
    assert not leftovers(dst)
    # Frame folders get the permissions of any new folder (not a private 0700 temporary one).
    (tmp_path / "fresh").mkdir()
    assert (dst / "Jump/v_Jump_g01_c01").stat().st_mode == (tmp_path / "fresh").stat().st_mode


def test_a_second_run_skips_finished_videos_and_redoes_unfinished_ones(tmp_path):
    expected = make_tree(tmp_path / "src")
    dst = tmp_path / "dst"
    prepare_frames(tmp_path / "src", dst, short_side=32, workers=1)
    first = dst / "Jump/v_Jump_g01_c01/00001.jpg"
    stamp = first.stat().st_mtime_ns

    again = prepare_frames(tmp_path / "src", dst, short_side=32, workers=1)
    assert len(again.skipped) == len(expected) and not again.converted
    assert first.stat().st_mtime_ns == stamp

    # A folder without its marker (say, copied by hand) and a killed run's temporary folder.
    (dst / "Jump/v_Jump_g02_c01/.done").unlink()
    (dst / "Jump/v_Jump_g02_c01/00001.jpg").unlink()
    (dst / "Jump/.v_Jump_g02_c01.partial-abc123").mkdir()
    third = prepare_frames(tmp_path / "src", dst, short_side=32, workers=1)
    assert [o.video.as_posix() for o in third.converted] == ["Jump/v_Jump_g02_c01.avi"]
    assert len(list_frame_files(dst / "Jump/v_Jump_g02_c01")) == 5
    assert not leftovers(dst)


def test_finished_folders_extracted_with_other_options_are_kept_and_reported(tmp_path):
    make_tree(tmp_path / "src")
    dst = tmp_path / "dst"
    prepare_frames(tmp_path / "src", dst, short_side=32, workers=1, quality=80)
    marker = json.loads((dst / "Jump/v_Jump_g01_c01/.done").read_text())
    assert marker["options"] == {"short_side": 32, "fps": None, "ext": "jpg", "quality": 80}
    assert not prepare_frames(
        tmp_path / "src", dst, short_side=32, workers=1, quality=80
    ).kept_with_other_options

    again = prepare_frames(tmp_path / "src", dst, short_side=24, workers=1, quality=80)
    assert len(again.skipped) == 3 and not again.converted
    assert [o.reason for o in again.kept_with_other_options] == [
        "extracted with other options: short_side 32 (asked 24)"
    ] * 3
    result = cli.invoke(
        app, ["prepare", "frames", "--src", str(tmp_path / "src"), "--dst", str(dst), "--quality", "95"]
    )
    assert result.exit_code == 0, result.output
    assert "3 finished folders were extracted with other options" in " ".join(result.output.split())
    assert "quality 80 (asked 95)" in " ".join(result.output.split())
    with pytest.raises(ValueError, match="quality"):
        extract_module.extract_frames(
            tmp_path / "src" / "Jump" / "v_Jump_g01_c01.avi", tmp_path / "q", quality=0
        )


def test_bad_videos_are_listed_and_do_not_stop_the_others(tmp_path):
    make_tree(tmp_path / "src")
    (tmp_path / "src" / "Jump" / "broken.avi").write_bytes(b"\x00garbage" * 300)
    (tmp_path / "src" / "Jump" / "empty.mp4").write_bytes(b"")
    dst = tmp_path / "dst"
    summary = prepare_frames(tmp_path / "src", dst, short_side=32, workers=1)

    assert len(summary.converted) == 3 and not summary.all_failed
    failed = {o.video.as_posix(): o.reason for o in summary.failed}
    assert set(failed) == {"Jump/broken.avi", "Jump/empty.mp4"}
    assert "empty" in failed["Jump/empty.mp4"]
    lines = (dst / FAILURES_FILE).read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in lines) == ["Jump/broken.avi", "Jump/empty.mp4"]
    assert not (dst / "Jump" / "broken").exists()
    assert not leftovers(dst)

    # Once the bad files are gone, the failure list of the old run goes too.
    (tmp_path / "src" / "Jump" / "broken.avi").unlink()
    (tmp_path / "src" / "Jump" / "empty.mp4").unlink()
    assert not prepare_frames(tmp_path / "src", dst, workers=1).failed
    assert not (dst / FAILURES_FILE).exists()


@pytest.mark.parametrize("interrupt", [RuntimeError, KeyboardInterrupt])
def test_an_extraction_that_breaks_off_leaves_no_folder_behind(tmp_path, monkeypatch, interrupt):
    write_test_video(tmp_path / "src" / "a.avi", num_frames=6)
    original = extract_module.iter_video_frames

    def breaks_after_three(path):
        for index, frame in original(path):
            if index == 3:
                raise interrupt("disk full")
            yield index, frame

    monkeypatch.setattr(extract_module, "iter_video_frames", breaks_after_three)
    dst = tmp_path / "dst"
    if interrupt is KeyboardInterrupt:
        with pytest.raises(KeyboardInterrupt):
            prepare_frames(tmp_path / "src", dst, workers=1)
    else:
        summary = prepare_frames(tmp_path / "src", dst, workers=1)
        assert summary.all_failed and "disk full" in summary.failed[0].reason
    assert not (dst / "a").exists()
    assert not leftovers(dst)


def test_fps_resampling_keeps_the_nearest_frames(tmp_path):
    write_test_video(tmp_path / "src" / "a.avi", num_frames=20, fps=25)
    prepare_frames(tmp_path / "src", tmp_path / "dst", short_side=None, fps=5, workers=1, ext="png")
    files = list_frame_files(tmp_path / "dst" / "a")
    frames = read_frame_files(files, range(len(files)))
    assert [frame_number(frame) for frame in frames] == [0, 5, 10, 15]


def test_parallel_workers_give_the_same_result(tmp_path):
    expected = make_tree(tmp_path / "src")
    summary = prepare_frames(tmp_path / "src", tmp_path / "dst", short_side=32, workers=2)
    assert len(summary.converted) == len(expected)
    for video, num_frames in expected.items():
        assert len(list_frame_files(tmp_path / "dst" / Path(video).with_suffix(""))) == num_frames
    assert not leftovers(tmp_path / "dst")


def test_videos_that_would_share_a_folder_are_not_mixed(tmp_path):
    write_test_video(tmp_path / "src" / "a.avi", num_frames=3)
    write_test_video(tmp_path / "src" / "a.mp4", num_frames=5, codec="libx264")
    summary = prepare_frames(tmp_path / "src", tmp_path / "dst", workers=1)
    assert [o.video.name for o in summary.converted] == ["a.avi"]
    assert "same output folder as a.avi" in summary.failed[0].reason
    assert len(list_frame_files(tmp_path / "dst" / "a")) == 3


def test_progress_is_reported_for_every_video(tmp_path):
    expected = make_tree(tmp_path / "src")
    seen = []
    prepare_frames(
        tmp_path / "src", tmp_path / "dst", workers=1, progress=lambda o, d, t: seen.append((d, t))
    )
    assert seen == [(i, len(expected)) for i in range(1, len(expected) + 1)]


def test_no_videos_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no videos"):
        prepare_frames(tmp_path, tmp_path / "dst")


def test_cli_summary_and_exit_status(tmp_path):
    make_tree(tmp_path / "src")
    (tmp_path / "src" / "bad.avi").write_bytes(np.zeros(100, np.uint8).tobytes())
    args = [
        "prepare",
        "frames",
        "--src",
        str(tmp_path / "src"),
        "--dst",
        str(tmp_path / "dst"),
        "--workers",
        "1",
    ]
    result = cli.invoke(app, [*args, "--short-side", "32"])
    assert result.exit_code == 0, result.output
    assert "converted 3, skipped 0 (already done), failed 1" in result.output
    assert "bad.avi" in result.output and FAILURES_FILE in result.output

    result = cli.invoke(app, args)
    assert result.exit_code == 0 and "converted 0, skipped 3" in result.output

    only_bad = tmp_path / "only_bad"
    only_bad.mkdir()
    (only_bad / "bad.avi").write_bytes(b"")
    result = cli.invoke(app, ["prepare", "frames", "--src", str(only_bad), "--dst", str(tmp_path / "d2")])
    assert result.exit_code == 1
    assert "failed 1" in result.output


def test_the_extraction_workers_do_not_import_torch():
    # Pool workers import the job's module; without torch they start in a fraction of a second.
    code = "import sys, vrt.io.extract, vrt.io.video; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
