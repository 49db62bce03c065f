"""The fast decoding paths give the frames the plain ones give: PyAV's reader, torchcodec, JPEG folders."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

import vrt.datasets.decoders as decoders_module
from vrt.config import config_from_dict
from vrt.config.typecheck import ConfigError
from vrt.data.pipeline import clip_spec
from vrt.datasets.decoders import PyAVDecoder, TorchCodecDecoder, decode_images, read_frame_images
from vrt.errors import VideoDecodeError
from vrt.io.frames import list_frame_files, read_frame_files
from vrt.io.rgb import scaled_size
from vrt.io.synthetic_video import frame_number, write_frame_folder, write_test_video
from vrt.io.video import iter_video_frames, read_video_frames

from .conftest import tiny_config_dict

CONTAINERS = [
    ("clip.avi", "mpeg4"),
    ("clip_mjpeg.avi", "mjpeg"),
    ("clip.mp4", "libx264"),
    ("clip.mkv", "libx264"),
]
INDICES = [0, 0, 3, 4, 9, 17, 18, 23]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("videos")
    return {
        name: write_test_video(root / name, num_frames=24, size=(64, 48), codec=codec)
        for name, codec in CONTAINERS
    }


def every_frame(path) -> dict[int, np.ndarray]:
    """Each frame decoded from the start and converted on its own: the reference for the reader."""
    return {index: frame.to_ndarray(format="rgb24") for index, frame in iter_video_frames(path)}


@pytest.mark.parametrize("name", [name for name, _ in CONTAINERS])
def test_the_reader_gives_exactly_the_frames_a_plain_decode_gives(videos, name):
    reference = every_frame(videos[name])
    expected = np.stack([reference[i] for i in INDICES])
    assert np.array_equal(read_video_frames(videos[name], INDICES), expected)
    # FFmpeg's own threads change how fast, not what, it decodes.
    assert np.array_equal(read_video_frames(videos[name], INDICES, threads=2), expected)


@pytest.mark.parametrize("name", [name for name, _ in CONTAINERS])
def test_scaling_in_the_decoder_is_the_transform_resize_within_a_few_grey_levels(videos, name):
    full = torch.from_numpy(read_video_frames(videos[name], INDICES)).permute(0, 3, 1, 2)
    resized = v2.functional.resize(full, [32], antialias=True).permute(0, 2, 3, 1).numpy().astype(int)
    scaled = read_video_frames(videos[name], INDICES, short_side=32)
    assert scaled.shape == (len(INDICES), *scaled_size(64, 48, 32)[::-1], 3) == resized.shape
    difference = np.abs(scaled.astype(int) - resized)
    assert difference.mean() < 3 and np.percentile(difference, 99) < 24
    assert [frame_number(frame) for frame in scaled] == INDICES  # the right frames, still readable


def test_the_pyav_decoder_scales_only_when_asked(videos):
    path = videos["clip.avi"]
    assert PyAVDecoder().read(path, [1, 2], short_side=24).shape == (2, 24, 32, 3)
    assert PyAVDecoder(scale=False).read(path, [1, 2], short_side=24).shape == (2, 48, 64, 3)
    assert PyAVDecoder().probe(path).num_frames == 24


def torchcodec_or_skip() -> None:
    try:
        decoders_module.torchcodec_decoder_class()
    except ValueError as error:
        pytest.skip(str(error))


@pytest.mark.parametrize("seek_mode", ["exact", "approximate"])
@pytest.mark.parametrize("name", [name for name, _ in CONTAINERS])
def test_torchcodec_decodes_the_pixels_pyav_decodes(videos, name, seek_mode):
    torchcodec_or_skip()
    decoder = TorchCodecDecoder(seek_mode=seek_mode)
    frames = decoder.read(videos[name], INDICES, short_side=32)  # it does not scale: full size
    assert decoder.probe(videos[name]).num_frames == 24
    assert np.array_equal(frames.numpy(), read_video_frames(videos[name], INDICES))
    # Past the end, the last frame stands in, as with PyAV.
    assert frame_number(decoder.read(videos[name], [30], short_side=None)[0].numpy()) == 23


def test_torchcodec_errors_name_the_file(tmp_path):
    torchcodec_or_skip()
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(VideoDecodeError, match="no such video file"):
        TorchCodecDecoder().probe(tmp_path / "missing.avi")
    with pytest.raises(VideoDecodeError, match=r"garbage\.avi: cannot open as a video \(.*Invalid data"):
        TorchCodecDecoder().probe(garbage)


def test_the_decoder_is_chosen_and_checked_in_the_config(monkeypatch):
    raw = tiny_config_dict()
    raw["data"]["decoder"] = {"name": "pyav", "threads": 2, "scale": False}
    decoder = clip_spec(config_from_dict(raw)).decoder
    assert isinstance(decoder, PyAVDecoder) and (decoder.threads, decoder.scale) == (2, False)
    raw["data"]["decoder"] = {"name": "pyav", "thread": 2}
    with pytest.raises(ConfigError, match=r"data\.decoder\.thread"):
        config_from_dict(raw)
    raw["data"]["decoder"] = "decord"
    with pytest.raises(ConfigError, match=r"data\.decoder\.name"):
        config_from_dict(raw)

    def missing():
        raise ValueError(decoders_module.TORCHCODEC_MISSING)

    monkeypatch.setattr(decoders_module, "torchcodec_decoder_class", missing)
    raw["data"]["decoder"] = "torchcodec"
    with pytest.raises(ConfigError, match=r"data\.decoder.*pip install 'vrt\[torchcodec\]'"):
        clip_spec(config_from_dict(raw))


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_frame_images_decode_to_pillows_pixels(tmp_path, ext):
    files = write_frame_folder(tmp_path / "clip", num_frames=6, size=(40, 30), ext=ext)
    indices = [0, 2, 2, 5]
    frames = read_frame_images(files, indices)
    assert frames.dtype == torch.uint8 and frames.shape == (4, 30, 40, 3)
    assert np.array_equal(frames.numpy(), read_frame_files(files, indices))


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK"])
def test_grey_palette_and_alpha_images_come_out_as_pillows_rgb(tmp_path, mode):
    rgb = np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    ext = "jpg" if mode in ("L", "CMYK") else "png"
    Image.fromarray(rgb).convert(mode).save(tmp_path / f"00001.{ext}")
    files = list_frame_files(tmp_path)
    difference = np.abs(read_frame_images(files, [0]).numpy().astype(int) - read_frame_files(files, [0]))
    # libjpeg-turbo converts CMYK itself, Pillow after decoding: a grey level apart at most.
    assert difference.max() <= (1 if mode == "CMYK" else 0)


def test_frame_image_errors_match_the_pillow_readers(tmp_path):
    files = write_frame_folder(tmp_path / "clip", num_frames=3, size=(40, 30), ext="jpg")
    files[1].write_bytes(files[1].read_bytes()[:40])  # a cut JPEG
    with pytest.raises(VideoDecodeError, match="00002.jpg"):
        read_frame_images(files, [0, 1])
    with pytest.raises(IndexError):
        read_frame_images(files, [0, 3])
    other = write_frame_folder(tmp_path / "other", num_frames=1, size=(20, 30), ext="jpg")
    with pytest.raises(VideoDecodeError, match="differ in size"):
        read_frame_images([files[0], other[0]], [0, 1])


def test_both_image_decoders_give_the_same_pixels(tmp_path, monkeypatch):
    """torchcodec's decoders when it is installed, else torchvision's (deprecated in 0.29)."""
    files = write_frame_folder(tmp_path / "clip", num_frames=2, size=(40, 30), ext="jpg")
    encoded = [torch.from_numpy(np.fromfile(file, dtype=np.uint8)) for file in files]
    chosen = decode_images(encoded)
    import torchvision.io

    monkeypatch.setattr(
        decoders_module,
        "_image_decoders",
        lambda: (torchvision.io.decode_jpeg, torchvision.io.decode_image, torchvision.io.ImageReadMode.RGB),
    )
    with_torchvision = decode_images(encoded)
    assert all(torch.equal(a, b) for a, b in zip(chosen, with_torchvision, strict=True))


def test_torchvisions_deprecation_is_silenced_once_and_in_every_thread(tmp_path):
    """Without torchcodec, vrt decodes with torchvision, which warns on every call; vrt sets one
    filter for that message, at import (``catch_warnings`` per call is not thread-safe, and a
    filter set on first use would go with the block that use came in)."""
    files = write_frame_folder(tmp_path / "clip", num_frames=4, size=(40, 30), ext="jpg")
    script = f"""
import sys, warnings
from concurrent.futures import ThreadPoolExecutor
sys.modules["torchcodec"] = None  # as if torchcodec were not installed: torchvision decodes
warnings.simplefilter("error")  # any warning fails the script
from vrt.datasets.decoders import read_frame_images
files = {[str(file) for file in files]!r}
with warnings.catch_warnings():  # a first use inside someone's block (vrt's run log has one)
    read_frame_images(files, [0])
with ThreadPoolExecutor(4) as pool:
    clips = list(pool.map(lambda _: read_frame_images(files, [0, 1, 2, 3]), range(32)))
assert all(clip.shape == (4, 30, 40, 3) for clip in clips)
warnings.warn("still on", DeprecationWarning)  # only that one message is silenced
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert run.returncode == 1 and "DeprecationWarning: still on" in run.stderr, run.stderr
