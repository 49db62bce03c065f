"""Video decoding and frame folders: the right frames, cheaply, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vrt.io.video as video_module
from vrt.errors import VideoDecodeError
from vrt.io.frames import list_frame_files, read_frame_files
from vrt.io.synthetic_video import frame_number, pattern_frame, write_frame_folder, write_test_video
from vrt.io.video import VideoInfo, probe_video, read_video_frames

# (file name, codec): AVI as in UCF101/HMDB51; MP4 states a frame count, Matroska only a
# duration, so together they cover both metadata paths of probe_video.
CONTAINERS = [
    ("clip.avi", "mpeg4"),
    ("clip_mjpeg.avi", "mjpeg"),
    ("clip.mp4", "libx264"),
    ("clip.mkv", "libx264"),
]


def numbers(frames: np.ndarray) -> list[int]:
    return [frame_number(frame) for frame in frames]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    return {name: write_test_video(root / name, num_frames=20, codec=codec) for name, codec in CONTAINERS}


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    return write_test_video(
        tmp_path_factory.mktemp("long") / "long.avi", num_frames=300, keyframe_interval=12
    )


@pytest.fixture
def decode_counter(monkeypatch) -> list[int]:
    """Counts every frame the decoder produces, so tests can tell a seek from a decode-all."""
    counter = [0]
    original = video_module._decoded_frames

    def counting(*args, **kwargs):
        for frame in original(*args, **kwargs):
            counter[0] += 1
            yield frame

    monkeypatch.setattr(video_module, "_decoded_frames", counting)
    return counter


@pytest.mark.parametrize("name", [name for name, _ in CONTAINERS])
def test_probe_reads_frame_count_rate_and_size(videos, name):
    assert probe_video(videos[name]) == VideoInfo(num_frames=20, fps=25.0, width=32, height=32)


def test_probe_counts_packets_when_the_container_states_neither_count_nor_duration(videos, monkeypatch):
    monkeypatch.setattr(video_module, "_frames_from_metadata", lambda *args: 0)
    assert probe_video(videos["clip.mkv"]).num_frames == 20


@pytest.mark.parametrize("name", [name for name, _ in CONTAINERS])
def test_read_returns_exactly_the_requested_frames_in_order(videos, name):
    indices = [0, 3, 3, 7, 10, 19]
    frames = read_video_frames(videos[name], indices)
    assert frames.shape == (6, 32, 32, 3) and frames.dtype == np.uint8
    assert numbers(frames) == indices


def test_a_single_frame_anywhere(videos):
    for index in (0, 1, 12, 19):
        assert numbers(read_video_frames(videos["clip.mp4"], [index])) == [index]


def test_late_frames_are_reached_by_seeking_not_by_decoding_from_the_start(long_video, decode_counter):
    frames = read_video_frames(long_video, range(290, 298))
    assert numbers(frames) == list(range(290, 298))
    # From the keyframe at or before 290 (one every 12 frames) to 297: at most 12 + 8 frames.
    assert decode_counter[0] <= 20

    # Within a run too, only what the frames need is decoded: frame 0, then from the keyframe
    # at or before 40 (the encoder put keyframes at 0, 9, 21, 24, 36 ...): 1 + 5 frames, not 41.
    decode_counter[0] = 0
    assert numbers(read_video_frames(long_video, [0, 40])) == [0, 40]
    assert decode_counter[0] == 1 + 5


@pytest.mark.parametrize("codec", ["mpeg4", "libx264"])
def test_only_the_frames_from_each_targets_keyframe_are_decoded(tmp_path, decode_counter, codec):
    """The uniform sampler's frames: each is decoded from the last keyframe before it (or from the
    previous target, when that is nearer), and B-frames (libx264) change nothing in what comes out."""
    path = write_test_video(
        tmp_path / f"clip.{'avi' if codec == 'mpeg4' else 'mp4'}", num_frames=175, size=(64, 48), codec=codec
    )
    keyframes = []
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keyframes = [round(p.pts * stream.time_base * 25) for p in container.demux(stream) if p.is_keyframe]
    targets = [round(i * 174 / 15) for i in range(16)]
    assert numbers(read_video_frames(path, targets)) == targets
    expected, position = 0, -1
    for target in targets:
        start = max(max(k for k in keyframes if k <= target), position + 1)
        expected, position = expected + target - start + 1, target
    assert decode_counter[0] <= expected + (4 if codec == "libx264" else 0)  # plus the reorder delay
    assert decode_counter[0] < 175 * 0.9


def test_a_clip_spread_over_a_long_video_seeks_instead_of_decoding_the_gaps(long_video, decode_counter):
    indices = [0, 100, 101, 200, 299]
    assert numbers(read_video_frames(long_video, indices)) == indices
    # One run per far-apart group, each from the keyframe at or before it (one every 12 frames).
    assert decode_counter[0] <= 1 + 3 * 12 + 2


def test_decoding_stops_at_the_last_requested_frame(long_video, decode_counter):
    assert numbers(read_video_frames(long_video, [0, 5])) == [0, 5]
    assert decode_counter[0] == 6


def test_frames_past_the_end_repeat_the_last_frame(videos):
    frames = read_video_frames(videos["clip.avi"], [18, 19, 20, 35])
    assert numbers(frames) == [18, 19, 19, 19]


def test_a_truncated_file_gives_its_last_decodable_frame_for_the_missing_ones(videos, tmp_path):
    # AVI keeps its header in front: cut in half, it still claims 20 frames but holds ~10.
    data = videos["clip.avi"].read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    assert probe_video(cut).num_frames == 20

    frames = numbers(read_video_frames(cut, [0, 2, 19]))
    assert frames[:2] == [0, 2]
    last = frames[2]
    assert 2 < last < 19
    # Seeking straight to a frame beyond the cut falls back to the last one that decodes.
    assert numbers(read_video_frames(cut, [19])) == [last]
    assert numbers(read_video_frames(cut, range(last + 1))) == list(range(last + 1))


def test_decoding_gets_past_a_damaged_frame(tmp_path):
    # PNG-in-AVI: every frame is a keyframe whose decoder rejects a zeroed payload outright.
    data = bytearray(write_test_video(tmp_path / "png.avi", num_frames=10, codec="png").read_bytes())
    # AVI chunks: b"00dc", little-endian size, payload padded to an even length.
    chunk = data.index(b"00dc", data.index(b"movi"))
    for _ in range(4):  # on to the fifth frame's chunk
        size = int.from_bytes(data[chunk + 4 : chunk + 8], "little")
        chunk += 8 + size + size % 2
    assert data[chunk : chunk + 4] == b"00dc"
    size = int.from_bytes(data[chunk + 4 : chunk + 8], "little")
    data[chunk + 8 : chunk + 8 + size] = bytes(size)
    damaged = tmp_path / "damaged.avi"
    damaged.write_bytes(bytes(data))

    frames = numbers(read_video_frames(damaged, range(10)))
    assert frames[:4] == [0, 1, 2, 3] and frames[6:] == [6, 7, 8, 9]
    # Lost frames are stood in for by the nearest earlier one that decoded.
    assert all(3 <= frame <= index for index, frame in enumerate(frames[4:6], start=4))


def test_frames_without_timestamps_are_counted_from_the_start(videos, monkeypatch):
    original = video_module._decoded_frames

    def without_pts(*args, **kwargs):
        for frame in original(*args, **kwargs):
            frame.pts = None
            yield frame

    monkeypatch.setattr(video_module, "_decoded_frames", without_pts)
    assert numbers(read_video_frames(videos["clip.avi"], [5, 6, 17])) == [5, 6, 17]


def unreadable_files(folder: Path, good: Path) -> dict[str, Path]:
    data = good.read_bytes()
    files = {
        "missing": folder / "missing.avi",
        "empty": folder / "empty.avi",
        "garbage": folder / "garbage.avi",
        "text": folder / "notes.mp4",
        "header only": folder / "header_only.avi",
    }
    files["empty"].write_bytes(b"")
    files["garbage"].write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    files["text"].write_text("not a video\n" * 50)
    files["header only"].write_bytes(data[: len(data) // 50])
    return files


@pytest.mark.parametrize("case", ["missing", "empty", "garbage", "text", "header only"])
def test_unreadable_files_raise_video_decode_error_naming_the_file(videos, tmp_path, case):
    path = unreadable_files(tmp_path, videos["clip.avi"])[case]
    with pytest.raises(VideoDecodeError, match=str(path)):
        probe_video(path)
    with pytest.raises(VideoDecodeError, match=str(path)):
        read_video_frames(path, [0, 1])


def test_mp4_cut_in_half_loses_its_index_and_raises(videos, tmp_path):
    # MP4 writes its index (moov) at the end; without it nothing can be located.
    data = videos["clip.mp4"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoDecodeError, match="cut.mp4"):
        read_video_frames(cut, [0])


def test_a_video_whose_frames_are_all_corrupt_raises_on_read(videos, tmp_path):
    data = videos["clip.avi"].read_bytes()
    payload = data.index(b"movi") + 4  # the header stays intact, every frame is zeroed
    broken = tmp_path / "zeroed.avi"
    broken.write_bytes(data[:payload] + bytes(len(data) - payload))
    assert probe_video(broken).num_frames == 20  # probing does not decode
    with pytest.raises(VideoDecodeError, match="no frame could be decoded"):
        read_video_frames(broken, [0, 4])


def test_grayscale_video_comes_out_as_rgb(tmp_path):
    path = write_test_video(tmp_path / "grey.avi", num_frames=6, codec="ffv1", grayscale=True)
    frames = read_video_frames(path, [0, 2, 5])
    assert frames.shape == (3, 32, 32, 3)
    assert np.array_equal(frames[..., 0], frames[..., 1]) and np.array_equal(frames[..., 1], frames[..., 2])
    assert numbers(frames) == [0, 2, 5]


def test_odd_sized_video(tmp_path):
    path = write_test_video(tmp_path / "odd.avi", num_frames=6, size=(33, 27))
    assert probe_video(path) == VideoInfo(num_frames=6, fps=25.0, width=33, height=27)
    frames = read_video_frames(path, [1, 4])
    assert frames.shape == (2, 27, 33, 3)
    assert numbers(frames) == [1, 4]


def test_non_ascii_file_names(tmp_path):
    path = write_test_video(tmp_path / "données" / "vidéo_ü (1)&.avi", num_frames=5)
    assert probe_video(path).num_frames == 5
    assert numbers(read_video_frames(path, [4])) == [4]


@pytest.mark.parametrize("indices", [[], [3, 2], [-1, 0]])
def test_invalid_indices(videos, indices):
    with pytest.raises(ValueError):
        read_video_frames(videos["clip.avi"], indices)


def test_frame_files_are_sorted_by_the_number_in_their_name(tmp_path):
    for name in ["10.jpg", "2.JPG", "1.png", "img_00003.jpeg", ".done", "._1.jpg", "notes.txt"]:
        (tmp_path / name).write_bytes(b"")
    assert [file.name for file in list_frame_files(tmp_path)] == [
        "1.png",
        "2.JPG",
        "img_00003.jpeg",
        "10.jpg",
    ]


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_read_frame_files_returns_the_requested_frames(tmp_path, ext):
    write_frame_folder(tmp_path, 12, (40, 32), 0, ext=ext)
    files = list_frame_files(tmp_path)
    assert [file.name for file in files[:2]] == [f"00001.{ext}", f"00002.{ext}"]
    frames = read_frame_files(files, [0, 0, 5, 11])
    assert frames.shape == (4, 32, 40, 3) and frames.dtype == np.uint8
    assert numbers(frames) == [0, 0, 5, 11]


def test_grey_and_rgba_frames_come_out_as_rgb(tmp_path):
    pixels = pattern_frame(3)
    Image.fromarray(pixels[..., 0]).save(tmp_path / "00001.png")
    Image.fromarray(np.dstack([pixels, np.full(pixels.shape[:2], 255, np.uint8)])).save(
        tmp_path / "00002.png"
    )
    frames = read_frame_files(list_frame_files(tmp_path), [0, 1])
    assert frames.shape == (2, 32, 32, 3)
    assert numbers(frames) == [3, 3]


def test_frame_folder_errors(tmp_path):
    with pytest.raises(VideoDecodeError, match="no such frame folder"):
        list_frame_files(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".done").write_text("{}")
    with pytest.raises(VideoDecodeError, match="holds no"):
        list_frame_files(tmp_path / "empty")

    files = write_frame_folder(tmp_path / "clip", 3)
    files[1].write_bytes(b"not an image")
    with pytest.raises(VideoDecodeError, match="00002.png"):
        read_frame_files(files, [0, 1])
    with pytest.raises(IndexError):
        read_frame_files(files, [0, 3])


def test_frames_of_different_sizes_in_one_clip_raise(tmp_path):
    write_frame_folder(tmp_path, 2, (32, 32))
    write_frame_folder(tmp_path, 1, (40, 32), start=3)
    with pytest.raises(VideoDecodeError, match="differ in size"):
        read_frame_files(list_frame_files(tmp_path), [0, 2])
