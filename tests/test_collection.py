"""From a trained model to a searchable collection of one's own videos: vrt encode, vrt index
add/remove, vrt search over folders of real H.264 clips, and --resume after a SIGKILL."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vrt.cli import app
from vrt.codes import load_codes
from vrt.datasets.collection import list_items
from vrt.datasets.decoders import PyAVDecoder
from vrt.datasets.windows import check_segment, resolve_windows, time_windows
from vrt.inference.collection_encoding import read_listing_record

from .conftest import run_torch_free
from .video_collection import assert_same_codes, encode_args, interrupt_when_written, run_encode

cli = CliRunner()
CLIPS = ["park/clip2.mp4", "park/clip3.mp4", "street/clip0 copy.mp4", "street/clip0.mp4", "street/clip1.mp4"]


def vrt(*args: str) -> str:
    """Run a vrt command in-process; its stdout."""
    result = cli.invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(*args: str) -> str:
    """Run a vrt command in-process that must fail with a user error (one line in `vrt`); its message."""
    from vrt.errors import VrtError

    result = cli.invoke(app, [str(arg) for arg in args])
    assert isinstance(result.exception, VrtError), result.output
    return str(result.exception)


def search(index: Path, *queries: str, checkpoint: Path | None = None, topk: int = 10) -> list[list[dict]]:
    extra = ["--checkpoint", str(checkpoint)] if checkpoint else []
    options = [item for query in queries for item in ("--query", query)]
    out = vrt("search", "--index", index, *options, "--topk", str(topk), "--json", *extra)
    return json.loads(out.strip().splitlines()[-1])


def distances(rows: list[dict]) -> dict[str, int]:
    return {row["id"]: row["distance"] for row in rows}


@pytest.mark.slow
def test_a_folder_of_unlabelled_videos_becomes_a_searchable_growing_index(
    footage, encoder_checkpoint, tmp_path
):
    codes_path, index = tmp_path / "codes.npz", tmp_path / "db.index.npz"
    vrt("encode", "--checkpoint", encoder_checkpoint, "--videos", footage / "street", "--videos", footage / "park",
        "--out", codes_path, "--workers", "2")  # fmt: skip
    codes = load_codes(codes_path)
    # Ids are the paths relative to each --videos folder, in sorted order; nothing is labelled.
    assert codes.ids.tolist() == ["clip0 copy.mp4", "clip0.mp4", "clip1.mp4", "clip2.mp4", "clip3.mp4"]
    assert codes.labels.tolist() == [-1] * 5 and codes.class_names is None and codes.bits == 32
    np.testing.assert_array_equal(codes.codes[0], codes.codes[1])  # byte-identical files, one code
    assert len({row.tobytes() for row in codes.codes[1:]}) == 4  # four different clips, four codes
    assert read_listing_record(codes_path)["complete"] is True

    vrt("index", "build", "--codes", codes_path, "--out", index)
    (found,) = search(index, str(footage / "street" / "clip0 copy.mp4"), checkpoint=encoder_checkpoint)
    assert distances(found)["clip0.mp4"] == 0 and found[0]["distance"] == 0

    more = tmp_path / "more.npz"
    vrt("encode", "--checkpoint", encoder_checkpoint, "--videos", footage / "more", "--out", more)
    vrt("index", "add", "--index", index, "--codes", more)
    assert json.loads(vrt("index", "info", index))["items"]["count"] == 7
    bunny, clip4 = search(
        index, "bunny.mp4", str(footage / "more" / "clip4.mp4"), checkpoint=encoder_checkpoint
    )
    assert {"id": "bunny.mp4", "label": -1, "class_name": None, "distance": 0}.items() <= next(
        row for row in bunny if row["id"] == "bunny.mp4"
    ).items()
    assert distances(clip4)["clip4.mp4"] == 0

    assert "2 of the 2 ids are already in the index" in refused(
        "index", "add", "--index", index, "--codes", more
    )
    vrt("index", "add", "--index", index, "--codes", more, "--replace")
    (tmp_path / "gone.txt").write_text("bunny.mp4\nclip1.mp4\n")
    vrt("index", "remove", "--index", index, "--ids", tmp_path / "gone.txt")
    (rows,) = search(index, "clip0.mp4", topk=100)
    assert sorted(distances(rows)) == ["clip0 copy.mp4", "clip0.mp4", "clip2.mp4", "clip3.mp4", "clip4.mp4"]


@pytest.mark.slow
def test_search_html_shows_the_segments_own_frames_and_full_ids(footage, encoder_checkpoint, tmp_path):
    codes_path, index, page = tmp_path / "segments.npz", tmp_path / "segments.index.npz", tmp_path / "r.html"
    vrt("encode", "--checkpoint", encoder_checkpoint, "--videos", footage, "--out", codes_path,
        "--labels", "folders", "--segment", "0.6", "--workers", "0")  # fmt: skip
    codes = load_codes(codes_path)
    assert codes.class_names == ["more", "park", "street"]
    assert codes.ids.tolist()[:2] == ["more/bunny.mp4#t=0,0.6", "more/bunny.mp4#t=0.6,1.2"]
    assert len(codes) == 2 * 7  # 1.2 s clips, two windows each
    vrt("index", "build", "--codes", codes_path, "--out", index)
    out = vrt("search", "--index", index, "--query", "park/clip2.mp4#t=0.6,1.2", "--query", str(footage / "more"),
              "--checkpoint", encoder_checkpoint, "--html", page, "--videos", footage, "--json")  # fmt: skip
    results = json.loads(out.strip().splitlines()[-1])
    assert [len(rows) for rows in results] == [10, 10, 10]  # the id, then the two videos of more/
    itself = next(row for row in results[0] if row["id"] == "park/clip2.mp4#t=0.6,1.2")
    assert itself["distance"] == 0 and itself["class_name"] == "park"
    html = page.read_text(encoding="utf-8")
    assert "no frame" not in html and "no thumbnails" not in html
    assert ">park/clip2.mp4#t=0.6,1.2</span>" in html  # the whole id, not an ellipsis
    assert html.count("data:image/jpeg;base64,") >= 3 * 10 + 3


def test_resolving_a_collection(footage, tmp_path):
    """Lists with and without labels, folders as classes, segments, and what cannot be read."""
    listing = tmp_path / "list.txt"
    listing.write_text(
        f"# my clips\n{footage}/street/clip0.mp4, walk\n{footage}/park/clip2.mp4 run\n"
        f"{footage}/street/clip0 copy.mp4\n{footage}/gone.mp4 walk\n"
    )
    collection = list_items([listing])
    assert [(item.id.removeprefix(f"{footage}/"), item.label) for item in collection.items] == [
        ("street/clip0.mp4", 1),
        ("park/clip2.mp4", 0),
        ("street/clip0 copy.mp4", -1),
    ]  # fmt: skip  (in the list's order)
    assert collection.class_names == ["run", "walk"]
    assert list(collection.unreadable) == [f"{footage}/gone.mp4 walk"]
    assert "list.txt:5: no such video file or frame folder" in next(iter(collection.unreadable.values()))

    by_folder = list_items([footage], labels="folders")
    assert [item.id for item in by_folder.items][:3] == ["more/bunny.mp4", "more/clip4.mp4", "park/clip2.mp4"]
    assert by_folder.class_names == ["more", "park", "street"] and by_folder.items[-1].label == 2
    assert {item.label for item in list_items([footage], labels="none").items} == {-1}

    segments = resolve_windows(list_items([footage / "park"]), decoder=PyAVDecoder(), segment=0.5, stride=0.4)
    assert [item.id for item in segments.items if item.id.startswith("clip2")] == [
        "clip2.mp4#t=0,0.5", "clip2.mp4#t=0.4,0.9", "clip2.mp4#t=0.8,1.2",
    ]  # fmt: skip
    assert [item.span for item in segments.items[:3]] == [(0, 12), (10, 22), (20, 30)]

    rooted = list_items([footage / "more", listing], root=footage)
    assert [item.id for item in rooted.items] == [
        "more/bunny.mp4",
        "more/clip4.mp4",
        "street/clip0.mp4",
        "park/clip2.mp4",
        "street/clip0 copy.mp4",
    ]  # fmt: skip  (the folder sorted, then the list as listed)
    assert rooted.settings["root"] == str(footage)

    from vrt.errors import VrtError

    with pytest.raises(VrtError, match="is not inside --root"):
        list_items([footage / "more"], root=footage / "park")
    with pytest.raises(VrtError, match="listed by both"):
        list_items([footage / "street", footage / "street" / "clip0.mp4"])
    with pytest.raises(VrtError, match="--stride needs --segment"):
        check_segment(None, 1.0)
    with pytest.raises(VrtError, match="no such file or folder"):
        list_items([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(VrtError, match="no video files or frame folders in"):
        list_items([tmp_path / "empty"])


def test_time_windows_cover_the_video_once():
    assert time_windows(10.0, segment=4, stride=4) == [(0, 4), (4, 8), (8, 10)]
    assert time_windows(3.0, segment=4, stride=2) == [(0, 3)]
    assert time_windows(6.0, segment=4, stride=2) == [(0, 4), (2, 6)]  # no window inside the last
    assert time_windows(0.3, segment=0.1, stride=0.1)[-1] == (0.2, 0.3)  # no float drift


def test_encode_refuses_to_overwrite_and_to_mix_settings(footage, encoder_checkpoint, tmp_path):
    options = [
        "--checkpoint",
        encoder_checkpoint,
        "--videos",
        footage / "more",
        "--out",
        tmp_path / "codes.npz",
    ]
    vrt("encode", *options, "--workers", "0")
    assert "already exists: pass --resume" in refused("encode", *options)
    assert "(segment, stride differ)" in refused("encode", *options, "--resume", "--segment", "1")
    # Decoders give slightly different pixels: one file never holds codes of two.
    assert "(clips differ)" in refused("encode", *options, "--resume", "--set", "data.decoder.scale=false")
    # Settings that only decide how fast clips load may change.
    speed = ["--set", "data.decoder.threads=2", "--set", "data.load_threads=1"]
    vrt("encode", *options, "--resume", *speed, "--workers", "0")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_resume_after_an_interruption_ends_with_the_uninterrupted_codes(
    footage, encoder_checkpoint, tmp_path, sig
):
    whole, out = tmp_path / "whole.npz", tmp_path / "resumed.npz"
    vrt(*encode_args(encoder_checkpoint, footage, whole, "--segment", "0.2", "--workers", "2"))
    options = ("--segment", "0.2", "--save-every", "0", "--batch-size", "1", "--workers", "0")
    process = run_encode(encoder_checkpoint, footage, out, *options)
    interrupt_when_written(process, out, sig)
    _, stderr = process.communicate(timeout=120)
    total = len(load_codes(whole))
    partial = load_codes(out)
    assert 0 < len(partial) < total, "interrupted too late to test a resume"
    assert read_listing_record(out)["complete"] is False
    if sig == signal.SIGTERM:  # a stop request: the codes so far are saved, and the way on is named
        assert process.returncode == 128 + signal.SIGTERM and "--resume" in stderr
    else:
        assert process.returncode == -signal.SIGKILL

    resumed = cli.invoke(
        app, encode_args(encoder_checkpoint, footage, out, "--segment", "0.2", "--resume", "--workers", "0")
    )
    assert resumed.exit_code == 0, resumed.output
    assert f"{len(partial)} kept from the earlier run" in resumed.stderr
    assert_same_codes(out, whole)


@pytest.mark.slow
def test_unreadable_videos_are_skipped_and_listed(footage, encoder_checkpoint, tmp_path):
    import shutil

    folder = tmp_path / "videos"
    shutil.copytree(footage / "more", folder)
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    done = cli.invoke(app, encode_args(encoder_checkpoint, folder, tmp_path / "c.npz"))
    assert done.exit_code == 0, done.output
    assert "skipping unreadable video broken.mp4" in done.stderr and "1 unreadable skipped" in done.stderr
    assert load_codes(tmp_path / "c.npz").ids.tolist() == ["bunny.mp4", "clip4.mp4"]


@pytest.mark.slow
def test_eval_of_code_files_shows_the_source_videos(footage, encoder_checkpoint, tmp_path):
    codes_path = tmp_path / "all.npz"
    vrt(*encode_args(encoder_checkpoint, footage, codes_path))
    vrt("eval", "--query", codes_path, "--database", codes_path, "--videos", footage, "--output", tmp_path / "eval",
        "--no-plots")  # fmt: skip
    html = (tmp_path / "eval" / "retrieval.html").read_text(encoding="utf-8")
    assert "no frame" not in html and "no thumbnails" not in html
    assert html.count("data:image/jpeg;base64,") >= 7 * 7  # strips and a frame per tile


def test_export_and_eval_read_the_data_where_it_is_now(tmp_path):
    """The run's data moved after training: --set data.dataset.root points the stored config at it."""
    from vrt.io.synthetic_video import write_test_video

    from .video_collection import save_untrained_checkpoint

    root = tmp_path / "videos"
    for c, name in enumerate(["walk", "run"]):
        for v in range(3):
            write_test_video(root / name / f"v{v}.avi", num_frames=8, seed=10 * c + v)
    dataset = {"name": "video_folder", "root": str(root), "test_fraction": 0.34}
    checkpoint = save_untrained_checkpoint(tmp_path / "run" / "best.pt", dataset=dataset)
    moved = tmp_path / "moved"
    root.rename(moved)
    export = ["export", "--checkpoint", checkpoint, "--split", "test", "--out", tmp_path / "test.npz"]

    assert "data.dataset.root" in refused(*export) and "does not exist" in refused(*export)
    vrt(*export, "--set", f"data.dataset.root={moved}")
    codes = load_codes(tmp_path / "test.npz")
    assert codes.class_names == ["run", "walk"] and sorted(codes.labels.tolist()) == [0, 1]  # one per class
    assert all((moved / item_id).is_file() for item_id in codes.ids.tolist())
    assert "model cannot be changed" in refused(*export, "--set", "model.head.bits=64")
    printed = vrt("eval", "--checkpoint", checkpoint, "--set", f"data.dataset.root={moved}", "--json")
    assert json.loads(printed.strip().splitlines()[-1])["num_queries"] == 2


def test_frame_folders_are_items_and_the_library_needs_no_command_line(footage, encoder_checkpoint, tmp_path):
    """Frame folders (found inside folders, and never cut into segments) encode from Python."""
    import shutil

    from vrt.inference import TrainedModel
    from vrt.inference.collection_encoding import encode_collection
    from vrt.io.synthetic_video import write_frame_folder

    shutil.copy(footage / "more" / "clip4.mp4", tmp_path / "clip4.mp4")
    write_frame_folder(tmp_path / "shots" / "take1", num_frames=12, size=(48, 32))
    (tmp_path / "shots" / "notes.txt").write_text("not a video")
    collection = resolve_windows(list_items([tmp_path]), decoder=PyAVDecoder(), segment=0.6)
    assert [(item.id, item.kind) for item in collection.items] == [
        ("clip4.mp4#t=0,0.6", "video"), ("clip4.mp4#t=0.6,1.2", "video"), ("shots/take1", "frames"),
    ]  # fmt: skip
    trained = TrainedModel.load(encoder_checkpoint)
    result = encode_collection(trained, collection, workers=0)
    assert result.complete and result.encoded == 3 and not result.skipped
    assert result.codes.ids.tolist() == [item.id for item in collection.items]
    whole = encode_collection(trained, list_items([tmp_path / "shots" / "take1"]), workers=0).codes
    np.testing.assert_array_equal(whole.codes[0], result.codes.codes[2])  # the same folder, the same code


def test_search_encodes_a_frame_folder_query_and_refuses_a_text_file_named_like_a_video(
    footage, encoder_checkpoint, tmp_path
):
    from PIL import Image

    from vrt.io.video import read_video_frames

    codes_path, index = tmp_path / "codes.npz", tmp_path / "db.index.npz"
    vrt("encode", "--checkpoint", encoder_checkpoint, "--videos", footage / "street", "--out", codes_path)
    vrt("index", "build", "--codes", codes_path, "--out", index)
    frames = tmp_path / "clip0_frames"
    frames.mkdir()
    for i, frame in enumerate(read_video_frames(footage / "street" / "clip0.mp4", list(range(30)))):
        Image.fromarray(frame).save(frames / f"{i + 1:05d}.png")
    (rows,) = search(index, str(frames), checkpoint=encoder_checkpoint, topk=3)
    assert len(rows) == 3 and rows[0]["id"] in {"clip0.mp4", "clip0 copy.mp4"}

    (tmp_path / "notes.mp4").write_text("not a video\n")
    message = refused(
        "search", "--index", index, "--query", tmp_path / "notes.mp4", "--checkpoint", encoder_checkpoint
    )
    assert "not a readable video" in message


@pytest.mark.parametrize("pipeline", ["cpu", "device"])
def test_encoding_a_path_gives_the_code_that_vrt_encode_gives(
    footage, encoder_checkpoint, tmp_path, pipeline
):
    # vrt serve encodes uploads as items of their own; with data.pipeline device a clip is a
    # pending one that only the batch's move to the device finishes.
    from vrt.inference import TrainedModel

    trained = TrainedModel.load(encoder_checkpoint, overrides=[f"data.pipeline={pipeline}"])
    video = footage / "street" / "clip1.mp4"
    vrt("encode", "--checkpoint", encoder_checkpoint, "--videos", video, "--out", tmp_path / "c.npz",
        "--set", f"data.pipeline={pipeline}")  # fmt: skip
    np.testing.assert_array_equal(trained.encode(video).codes, load_codes(tmp_path / "c.npz").codes)


def test_encode_never_replaces_an_existing_out_and_says_so_before_loading_the_model(footage, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me\n")
    missing_checkpoint = tmp_path / "no-such.pt"  # never opened: --out is refused first
    base = ["encode", "--checkpoint", missing_checkpoint, "--videos", footage / "street"]
    assert "already exists: pass --resume" in refused(*base, "--out", notes)
    assert "not a codes file (.npz), so there is nothing to resume" in refused(
        *base, "--out", notes, "--resume"
    )
    assert "is a folder" in refused(*base, "--out", tmp_path)
    assert notes.read_text() == "keep me\n"


def test_listing_takes_binary_files_as_videos_and_folders_with_videos_as_folders(footage, tmp_path):
    import shutil

    from vrt.errors import VrtError

    shutil.copy(footage / "street" / "clip1.mp4", tmp_path / "broadcast.ts")  # binary, no video extension
    shutil.copy(footage / "street" / "clip0.mp4", tmp_path / "clip0.mp4")
    (tmp_path / "poster.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # beside the clips: not a frame folder
    (tmp_path / "list.txt").write_text("clip0.mp4 9\nbroadcast.ts 1000000\n")
    assert [(item.id, item.kind) for item in list_items([tmp_path / "broadcast.ts"]).items] == [
        ("broadcast.ts", "video")
    ]
    assert [item.id for item in list_items([tmp_path]).items] == ["clip0.mp4"]
    with pytest.raises(VrtError, match=r"class number 1000000: class numbers must lie in \[0, 1,000,000\)"):
        list_items([tmp_path / "list.txt"])


def test_windows_with_a_stride_longer_than_the_segment_stay_inside_the_video():
    assert time_windows(3.0, segment=1.0, stride=5.0) == [(0, 1.0)]
    assert time_windows(11.0, segment=1.0, stride=5.0) == [(0, 1.0), (5.0, 6.0), (10.0, 11.0)]


def test_listing_query_videos_imports_no_torch(footage):
    done = run_torch_free(
        "from vrt.inference.queries import _list_query_videos\n"
        f"_list_query_videos({str(footage / 'street')!r})\n"
        f"_list_query_videos({str(footage / 'more' / 'clip4.mp4')!r})\n"
    )
    assert done.returncode == 0, done.stderr


def test_windows_are_probed_by_the_decoder_that_reads_the_clips(footage, tmp_path):
    """resolve_windows asks the configured decoder how long a video is (not PyAV behind its back),
    and a list file may name a window of a video as an item of its own."""
    from vrt.io.video import VideoInfo

    class Slow(PyAVDecoder):
        """A decoder that says every video has 50 frames at 10 fps (5 s)."""

        probed: list = []

        def probe(self, path):
            self.probed.append(path.name)
            return VideoInfo(num_frames=50, fps=10.0, width=128, height=54)

        def decodable_frames(self, path):
            return 50

    cut = resolve_windows(list_items([footage / "park"]), decoder=Slow(), segment=2.0)
    assert sorted(set(Slow.probed)) == ["clip2.mp4", "clip3.mp4"]
    assert [item.id for item in cut.items if item.id.startswith("clip2")] == [
        "clip2.mp4#t=0,2", "clip2.mp4#t=2,4", "clip2.mp4#t=4,5",
    ]  # fmt: skip
    assert [item.span for item in cut.items[:3]] == [(0, 20), (20, 40), (40, 50)]
    assert cut.settings["segment"] == 2.0 and cut.settings["stride"] == 2.0

    listing = tmp_path / "list.txt"
    listing.write_text(f"{footage}/park/clip2.mp4#t=0.4,0.8 run\n{footage}/park/clip3.mp4\n")
    listed = list_items([listing])
    assert [item.window for item in listed.items] == [(0.4, 0.8), None]
    windowed = resolve_windows(listed, decoder=PyAVDecoder())  # 25 fps: frames 10 to 20
    assert [(item.id.rsplit("/", 1)[-1], item.span, item.label) for item in windowed.items] == [
        ("clip2.mp4#t=0.4,0.8", (10, 20), 0), ("clip3.mp4", None, -1),
    ]  # fmt: skip


def test_a_list_files_items_keep_the_listed_order_and_sources_the_order_given(
    footage, encoder_checkpoint, tmp_path
):
    """Before: the codes of a list file came out sorted by id, not in the order listed."""
    listing = tmp_path / "list.txt"
    listing.write_text(f"{footage}/street/clip1.mp4\n{footage}/park/clip3.mp4\n{footage}/park/clip2.mp4\n")
    order = [f"{footage}/street/clip1.mp4", f"{footage}/park/clip3.mp4", f"{footage}/park/clip2.mp4"]
    assert [item.id for item in list_items([listing]).items] == order
    both = [item.id for item in list_items([footage / "park", footage / "street"]).items]
    assert both == [
        "clip2.mp4",
        "clip3.mp4",
        "clip0 copy.mp4",
        "clip0.mp4",
        "clip1.mp4",
    ]  # each folder sorted
    out = tmp_path / "codes.npz"
    vrt("encode", "--checkpoint", encoder_checkpoint, "--videos", listing, "--out", out)
    assert list(load_codes(out).ids) == order
