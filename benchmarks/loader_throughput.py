"""DataLoader throughput: clips per second from video files (decoded on the fly) vs frame folders.

Builds its own corpus in a temporary folder (synthetic videos written with PyAV, and their
frames extracted with ``vrt.io.prepare``), then times a full DataLoader pass over it for
each storage mode and worker count, with the uniform clip sampler and the test transform (the
same work as encoding a database). Prints a markdown table.

    python benchmarks/loader_throughput.py                      # 64 videos of 64 frames, 160x120
    python benchmarks/loader_throughput.py --videos 128 --workers 0 1 2 4

Run it on an otherwise idle machine: the numbers measure the CPU, and anything else running
takes its share. The dataset class below is deliberately minimal (no adapter, no split files),
so the figures are those of the I/O layer, not of a particular collection's bookkeeping.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from vrt.datasets.transforms import ClipTransform, build_clip_transform
from vrt.io.frames import list_frame_files, read_frame_files
from vrt.io.prepare import frame_folder, prepare_frames
from vrt.io.synthetic_video import write_test_video
from vrt.io.video import probe_video, read_video_frames
from vrt.registry import SAMPLERS


class ClipDataset(Dataset):
    """One clip per video, from a video file or from its frame folder."""

    def __init__(
        self, sources: list[Path], *, storage: str, num_frames: int, transform: ClipTransform
    ) -> None:
        self.sources = sources
        self.storage = storage
        self.sampler = SAMPLERS.get("uniform")(num_frames=num_frames)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> torch.Tensor:
        source = self.sources[index]
        if self.storage == "video":
            length = probe_video(source).num_frames
            frames = read_video_frames(source, self.sampler(length, training=False))
        else:
            files = list_frame_files(source)
            frames = read_frame_files(files, self.sampler(len(files), training=False))
        return self.transform(frames)


def build_corpus(
    root: Path, *, videos: int, frames: int, size: tuple[int, int], codec: str
) -> tuple[list[Path], list[Path]]:
    """Write ``videos`` videos under root/videos and their frames under root/frames."""
    paths = [
        write_test_video(
            root / "videos" / f"video_{i:04d}.avi", num_frames=frames, size=size, codec=codec, seed=i
        )
        for i in range(videos)
    ]
    summary = prepare_frames(root / "videos", root / "frames", short_side=None, ext="jpg")
    if summary.failed:
        raise RuntimeError(f"frame extraction failed: {summary.failed[:3]}")
    folders = [frame_folder(root / "frames", path.relative_to(root / "videos")) for path in paths]
    return paths, folders


def clips_per_second(dataset: ClipDataset, *, workers: int, batch_size: int, passes: int) -> float:
    """Clips per second over ``passes`` full passes, the first batch (worker start-up) excluded."""
    loader = DataLoader(
        dataset, batch_size=batch_size, num_workers=workers, persistent_workers=workers > 0, shuffle=False
    )
    clips, start = 0, None
    for _ in range(passes):
        for batch in loader:
            if start is None:
                start = time.perf_counter()
                continue
            clips += batch.shape[0]
    return clips / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument("--video-frames", type=int, default=64, help="frames per video")
    parser.add_argument("--size", default="160x120", help="video size WxH")
    parser.add_argument("--codec", default="mpeg4", help="video codec (mpeg4 in AVI, like UCF101)")
    parser.add_argument("--clip-frames", type=int, default=16)
    parser.add_argument("--frame-size", type=int, default=112)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--passes", type=int, default=3, help="passes over the corpus per measurement")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.lower().split("x"))

    transform = build_clip_transform(frame_size=args.frame_size, training=False)
    with tempfile.TemporaryDirectory(prefix="vrt-loader-bench-") as tmp:
        videos, folders = build_corpus(
            Path(tmp), videos=args.videos, frames=args.video_frames, size=(width, height), codec=args.codec
        )
        rows = []
        for storage, sources in (("video (PyAV)", videos), ("frame folders (JPEG)", folders)):
            dataset = ClipDataset(
                sources,
                storage="video" if storage.startswith("video") else "frames",
                num_frames=args.clip_frames,
                transform=transform,
            )
            # One untimed pass: files into the page cache, lazy initialisation (FFmpeg codecs,
            # torch kernels) out of the way; otherwise the first row measures start-up.
            for index in range(len(dataset)):
                dataset[index]
            for workers in args.workers:
                rate = clips_per_second(
                    dataset, workers=workers, batch_size=args.batch_size, passes=args.passes
                )
                rows.append((storage, workers, rate))

    print(
        f"{args.videos} videos of {args.video_frames} frames at {width}x{height} ({args.codec}); "
        f"clips of {args.clip_frames}x{args.frame_size}x{args.frame_size}, uniform sampler, test transform, "
        f"batch {args.batch_size}; {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads in the main process"
    )
    print()
    print("| storage | workers | clips/s |")
    print("|---|---:|---:|")
    for storage, workers, rate in rows:
        print(f"| {storage} | {workers} | {rate:.1f} |")


if __name__ == "__main__":
    main()
