"""Where the time of one clip goes: the loading pipeline taken apart stage by stage, timed.

``loader_throughput.py --stages`` calls :func:`stage_breakdown`. Each variant below redoes, with
a clock around every step, what a reader does for one clip of the benchmark corpus (the uniform
sampler's 16 frames, the test transform): the old path of commit a8f075b (PyAV converting every
frame at full size with a fresh swscale context, Pillow for JPEGs, torchvision resizing) and
the new one (decoding only from the keyframe before each needed frame, one swscale context per
clip that also scales, libjpeg-turbo through ``decode_jpeg``, frames stored at the short side
the transform needs). The corpus has no timestamp gaps or damage, which lets these loops stay
short; the real readers handle all that. Variants take turns, pass after pass, so a busy spell
of the machine slows them alike.
"""

from __future__ import annotations

import io
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

from vrt.datasets.decoders import decode_images
from vrt.io.frames import list_frame_files
from vrt.io.rgb import RgbConverter
from vrt.io.video import _decoded_frames  # the reader's packet loop, to time it apart

STAGES = (
    "open/seek",
    "list folder",
    "read files",
    "decode",
    "colour conversion",
    "stack frames",
    "resize/crop",
    "to float tensor",
    "collate",
)


class StageClock:
    """Seconds per stage, summed per clip."""

    def __init__(self) -> None:
        self.clips: list[dict[str, float]] = []

    def new_clip(self) -> None:
        self.clips.append(defaultdict(float))

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.clips[-1][stage] += time.perf_counter() - start

    def mean_ms(self) -> dict[str, float]:
        # Means, not medians: on a busy machine the slow clips are where the time goes, and the
        # means add up to what a clip costs (1 / throughput).
        return {
            stage: 1000 * statistics.fmean(clip.get(stage, 0.0) for clip in self.clips) for stage in STAGES
        }


def video_frames(
    path: Path, indices: list[int], clock: StageClock, *, short_side: int | None, old: bool
) -> np.ndarray:
    """The clip's frames. ``old`` decodes every frame up to the last one needed and converts like
    commit a8f075b (full size, one swscale context per frame); the new path decodes, with the
    reader's own packet loop, only from the keyframe before each needed frame, and converts and
    scales with one swscale context per clip."""
    with clock("open/seek"):
        container = av.open(str(path))
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        fps, time_base, start = float(stream.average_rate), float(stream.time_base), stream.start_time or 0
        if indices[0] > 0:
            container.seek(start + round(indices[0] / (fps * time_base)), stream=stream, backward=True)
    targets, converted, converter = sorted(set(indices)), {}, RgbConverter(short_side)

    def index_of(pts: int) -> int:
        return round((pts - start) * time_base * fps)

    skipping = {} if old else {"needed": lambda: targets[len(converted)], "index_of": index_of}
    with container:
        frames = _decoded_frames(container, stream, [], **skipping)
        while len(converted) < len(targets):
            with clock("decode"):
                frame = next(frames, None)
            if frame is None:
                break
            if index_of(frame.pts) != targets[len(converted)]:
                continue
            with clock("colour conversion"):
                if old:
                    rgb = frame.to_ndarray(width=frame.width, height=frame.height, format="rgb24")
                else:
                    rgb = converter.rgb(frame)
            converted[targets[len(converted)]] = rgb
    with clock("stack frames"):
        return np.stack([converted[i] for i in indices])


def folder_frames(
    folder: Path, indices: list[int], clock: StageClock, *, listing: list[Path] | None, old: bool
):
    """The clip's frames from JPEGs: Pillow (``old``) or ``decode_jpeg``; ``listing`` is a kept listing."""
    with clock("list folder"):
        files = listing if listing is not None else list_frame_files(folder)
    with clock("read files"):
        encoded = {i: np.fromfile(files[i], dtype=np.uint8) for i in dict.fromkeys(indices)}
    if old:
        with clock("decode"):  # libjpeg converts YCbCr to RGB while decoding: inside this stage
            images = {
                i: np.asarray(Image.open(io.BytesIO(data.tobytes())).convert("RGB"))
                for i, data in encoded.items()
            }
        with clock("stack frames"):
            return np.stack([images[i] for i in indices])
    with clock("decode"):
        decoded = dict(
            zip(encoded, decode_images([torch.from_numpy(d) for d in encoded.values()]), strict=True)
        )
    with clock("stack frames"):
        return torch.stack([decoded[i] for i in indices])


def transform(
    frames: np.ndarray | torch.Tensor, clock: StageClock, *, resize_short: int, frame_size: int
) -> torch.Tensor:
    """The test transform, stage by stage (what ``ClipTransform`` does with a centre-crop recipe)."""
    with clock("resize/crop"):
        video = torch.as_tensor(frames).permute(0, 3, 1, 2)
        video = F.center_crop(F.resize(video, [resize_short], antialias=True), [frame_size, frame_size])
    with clock("to float tensor"):
        return F.to_dtype(video, torch.float32, scale=True).permute(1, 0, 2, 3).contiguous()


def stage_breakdown(
    *,
    videos: list[Path],
    folders: dict[str, list[Path]],
    indices: list[int],
    resize_short: int,
    frame_size: int,
    batch_size: int,
    repeats: int = 5,
) -> dict[str, dict[str, float]]:
    """Mean milliseconds per clip and stage for each variant (``repeats`` passes over the corpus)."""
    variants = {
        "video, old (a8f075b)": lambda i, c: video_frames(videos[i], indices, c, short_side=None, old=True),
        "video, new (pyav, scaling)": lambda i, c: video_frames(
            videos[i], indices, c, short_side=resize_short, old=False
        ),
    }
    for name, paths in folders.items():
        listings = [list_frame_files(folder) for folder in paths]
        variants[f"{name}, old (a8f075b)"] = lambda i, c, p=paths: folder_frames(
            p[i], indices, c, listing=None, old=True
        )
        variants[f"{name}, new"] = lambda i, c, p=paths, kept=listings: folder_frames(
            p[i], indices, c, listing=kept[i], old=False
        )
    clocks = {name: StageClock() for name in variants}
    for _ in range(repeats):  # the variants in turn, so that a busy spell slows them alike
        for name, read in variants.items():
            clock = clocks[name]
            batch: list[torch.Tensor] = []
            for index in range(len(videos)):
                clock.new_clip()
                batch.append(
                    transform(read(index, clock), clock, resize_short=resize_short, frame_size=frame_size)
                )
                if len(batch) == batch_size or index == len(videos) - 1:
                    start = time.perf_counter()
                    torch.stack(batch)
                    for clip in clock.clips[-len(batch) :]:  # the batch's cost, shared by its clips
                        clip["collate"] += (time.perf_counter() - start) / len(batch)
                    batch = []
    return {name: clock.mean_ms() for name, clock in clocks.items()}


def breakdown_markdown(results: dict[str, dict[str, float]]) -> str:
    names = list(results)
    lines = ["| stage (ms per clip, mean) | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for stage in STAGES:
        if any(results[name][stage] > 0.005 for name in names):
            lines.append(f"| {stage} | " + " | ".join(f"{results[name][stage]:.2f}" for name in names) + " |")
    totals = [sum(results[name].values()) for name in names]
    lines.append("| **total** | " + " | ".join(f"**{total:.2f}**" for total in totals) + " |")
    return "\n".join(lines)
