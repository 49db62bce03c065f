"""DataLoader throughput: clips per second from video files and frame folders, old path against new.

Builds its own corpus in a temporary folder (synthetic videos written with PyAV, their frames
extracted at full size and at the short side the clip transform scales to, as ``vrt prepare
frames`` writes them), then times DataLoader passes over it with the uniform clip sampler and
the test transform (the work of encoding a database), for every path below. The old path is
the readers and transform of commit ``--baseline`` (default a8f075b, before this benchmark's
changes), loaded from git into this process, so old and new run in one process and take turns,
batch by batch (``--workers 0``) or pass by pass: a busy machine slows them alike, and the
ratios hold. Each round measures every path once; the table gives medians over the rounds.
Prints markdown.

    python benchmarks/loader_throughput.py --preset ucf101 --rounds 7 --stages
    python benchmarks/loader_throughput.py --videos 64 --video-frames 64 --size 160x120 --workers 0 2

``--preset ucf101`` is UCF101-like: 24 videos of 320x240 MPEG-4, 175 frames (7 s at 25 fps),
16x112x112 clips, one process (``--workers 0``), two passes per measurement. ``--stages`` adds
the time per clip of each stage (``loader_stages.py``).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from vrt.data.collate import collate_clips
from vrt.datasets.base import ClipView
from vrt.datasets.clips import ClipSpec
from vrt.datasets.decoders import PyAVDecoder, TorchCodecDecoder, torchcodec_decoder_class
from vrt.datasets.files import VideoFileDataset
from vrt.datasets.splitfiles import SplitEntry
from vrt.io.prepare import frame_folder, prepare_frames
from vrt.io.synthetic_video import write_test_video
from vrt.io.video import read_video_frames
from vrt.registry import SAMPLERS

REPO = Path(__file__).resolve().parent.parent
# The new paths the summary compares with the old: the defaults, and the same with one thread.
SUMMARISED = ("new: pyav, load_threads: 1", "new: pyav (default", "new, load_threads: 1", "new (default")
PRESETS = {"ucf101": {"videos": 24, "video_frames": 175, "size": "320x240", "workers": [0], "passes": 2}}


def load_baseline(commit: str) -> dict[str, types.ModuleType]:
    """The readers and transform of ``commit``, as modules of their own (their vrt imports resolve
    to this checkout: errors and config, which those modules use, are unchanged)."""
    modules = {}
    for relative in ("vrt/io/video.py", "vrt/io/frames.py", "vrt/datasets/transforms.py"):
        shown = subprocess.run(
            ["git", "show", f"{commit}:{relative}"], cwd=REPO, capture_output=True, text=True, check=False
        )
        if shown.returncode != 0:
            sys.exit(f"cannot read {relative} at {commit} from git ({shown.stderr.strip()}); pass --baseline")
        name = f"baseline_{Path(relative).stem}"
        module = types.ModuleType(name)
        sys.modules[name] = module  # dataclasses look their module up
        exec(compile(shown.stdout, f"{commit}:{relative}", "exec"), module.__dict__)  # noqa: S102
        modules[Path(relative).stem] = module
    return modules


class BaselineClips(Dataset):
    """One clip per video the way the old benchmark read them: probe or list, read, transform."""

    def __init__(self, sources: list[Path], *, storage: str, num_frames: int, frame_size: int, old) -> None:
        self.sources, self.storage, self.old = sources, storage, old
        self.sampler = SAMPLERS.get("uniform")(num_frames=num_frames)
        self.transform = old["transforms"].build_clip_transform(frame_size=frame_size, training=False)

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> torch.Tensor:
        source = self.sources[index]
        if self.storage == "video":
            length = self.old["video"].probe_video(source).num_frames
            frames = self.old["video"].read_video_frames(source, self.sampler(length, training=False))
        else:
            files = self.old["frames"].list_frame_files(source)
            frames = self.old["frames"].read_frame_files(files, self.sampler(len(files), training=False))
        return self.transform(frames)


def build_corpus(root: Path, *, videos: int, frames: int, size: tuple[int, int], codec: str, short_side: int):
    """``videos`` videos under root/videos, their frames at full size under root/frames and at
    ``short_side`` under root/frames_<short_side>."""
    for i in range(videos):
        write_test_video(
            root / "videos" / f"video_{i:04d}.avi", num_frames=frames, size=size, codec=codec, seed=i
        )
    for folder, short in (("frames", None), (f"frames_{short_side}", short_side)):
        summary = prepare_frames(root / "videos", root / folder, short_side=short, ext="jpg")
        if summary.failed:
            raise RuntimeError(f"frame extraction failed: {summary.failed[:3]}")


def new_view(
    root: Path, storage: str, names: list[str], clips: ClipSpec, *, threads: int | None = None
) -> ClipView:
    """The new path; ``threads`` as ``data.load_threads`` (None: its default)."""
    entries = [SplitEntry(name, 0) for name in names]
    source = VideoFileDataset(entries=entries, root=root, class_names=["all"], clips=clips, storage=storage)
    return ClipView(source, range(len(source)), training=False, threads=threads)


def loader(dataset: Dataset, *, workers: int, batch_size: int) -> DataLoader:
    collate = collate_clips if isinstance(dataset, ClipView) else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        persistent_workers=workers > 0,
        collate_fn=collate,
    )


def count_clips(batch, *, finish: bool) -> int:
    """The clips of a batch; ``finish`` transforms pending clips on the CPU, as the device pipeline
    does on its device."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    return len(batch.on_device(torch.device("cpu")) if finish else batch)


def interleaved_rates(
    paths: list[tuple[Dataset, bool]], *, workers: int, batch_size: int, passes: int
) -> list[tuple[float, float | None]]:
    """(clips per second, clips per CPU-second of this process) of every path over ``passes``
    passes, measured so that the paths share the machine's ups and downs: in one process
    (``workers`` 0) the paths take turns batch by batch (the order rotating); with workers, pass
    by pass, each loader's workers started untimed (their CPU time is not this process's: None).

    CPU time counts only the work done, not the time other processes hold the cores, so on a
    busy machine it says what an idle core would do."""
    loaders = [loader(dataset, workers=workers, batch_size=batch_size) for dataset, _ in paths]
    seconds, cpu_seconds, clips = [0.0] * len(paths), [0.0] * len(paths), [0] * len(paths)
    if workers:
        for number, ((_, finish), batches) in enumerate(zip(paths, loaders, strict=True)):
            next(iter(batches))  # start the workers
            start = time.perf_counter()
            for _ in range(passes):
                clips[number] += sum(count_clips(batch, finish=finish) for batch in batches)
            seconds[number] = time.perf_counter() - start
        return [(n / s, None) for n, s in zip(clips, seconds, strict=True)]
    for turn in range(passes):
        iterators = [iter(batches) for batches in loaders]
        for step in itertools.count():
            order = [(step + turn + k) % len(paths) for k in range(len(paths))]
            batches = []
            for number in order:
                start, cpu_start = time.perf_counter(), time.process_time()
                batch = next(iterators[number], None)
                if batch is not None:
                    clips[number] += count_clips(batch, finish=paths[number][1])
                seconds[number] += time.perf_counter() - start
                cpu_seconds[number] += time.process_time() - cpu_start
                batches.append(batch)
            if any(batch is None for batch in batches):
                break
    return [(n / s, n / c) for n, s, c in zip(clips, seconds, cpu_seconds, strict=True)]


def benchmark_paths(
    root: Path, names: list[str], folders: dict[str, Path], args, old
) -> list[tuple[str, str, Dataset, bool]]:
    """(storage, path, dataset, finish on the CPU) for every reading path measured."""

    def spec(**options) -> ClipSpec:
        return ClipSpec(num_frames=args.clip_frames, frame_size=args.frame_size, **options)

    def baseline(sources: list[Path], storage: str) -> BaselineClips:
        return BaselineClips(
            sources, storage=storage, num_frames=args.clip_frames, frame_size=args.frame_size, old=old
        )

    video, previous = "video (MPEG-4)", f"old ({args.baseline})"
    videos = root / "videos"
    default = new_view(videos, "video", names, spec())
    auto = f"load_threads: auto = {default.load_threads()} here"
    paths = [
        (video, previous, baseline([videos / name for name in names], "video"), False),
        (video, "new: pyav, load_threads: 1", new_view(videos, "video", names, spec(), threads=1), False),
        (video, f"new: pyav (default: scale: true, {auto})", default, False),
        (
            video,
            "new: pyav, scale: false, load_threads: 1",
            new_view(videos, "video", names, spec(decoder=PyAVDecoder(scale=False)), threads=1),
            False,
        ),
        (
            video,
            "new: pyav, FFmpeg threads: 2, load_threads: 1",
            new_view(videos, "video", names, spec(decoder=PyAVDecoder(threads=2)), threads=1),
            False,
        ),
    ]
    try:
        torchcodec_decoder_class()
        paths.append(
            (
                video,
                "new: torchcodec, load_threads: 1",
                new_view(videos, "video", names, spec(decoder=TorchCodecDecoder()), threads=1),
                False,
            )
        )
    except ValueError as error:
        print(f"(no torchcodec row: {error})\n")
    for storage, folder in folders.items():
        paths += [
            (
                storage,
                previous,
                baseline([frame_folder(folder, Path(name)) for name in names], "frames"),
                False,
            ),
            (storage, "new, load_threads: 1", new_view(folder, "frames", names, spec(), threads=1), False),
            (storage, f"new (default: {auto})", new_view(folder, "frames", names, spec()), False),
            (
                storage,
                "new: pipeline device, on the CPU, load_threads: 1",
                new_view(folder, "frames", names, spec(pipeline="device"), threads=1),
                True,
            ),
        ]
    return paths


def report(rates: dict[tuple[str, str, int], list[tuple[float, float | None]]], *, previous: str) -> None:
    print(
        "| storage | path | workers | clips/s (median) | min–max | × old | × old (per round) | clips per CPU-s | × old (CPU) |"
    )
    print("|---|---|---:|---:|---|---:|---:|---:|---:|")
    for (storage, path, workers), measured in rates.items():
        wall = [rate for rate, _ in measured]
        old_wall = [rate for rate, _ in rates[(storage, previous, workers)]]
        cpu = [rate for _, rate in measured if rate is not None]
        old_cpu = [rate for _, rate in rates[(storage, previous, workers)] if rate is not None]
        cpu_cells = (
            f"{statistics.median(cpu):.1f} | {statistics.median(cpu) / statistics.median(old_cpu):.2f}"
            if cpu and old_cpu
            else "— | —"
        )
        print(
            f"| {storage} | {path} | {workers} | {statistics.median(wall):.1f} | {min(wall):.1f}–{max(wall):.1f} | "
            f"{statistics.median(wall) / statistics.median(old_wall):.2f} | "
            f"{statistics.median(n / o for n, o in zip(wall, old_wall, strict=True)):.2f} | {cpu_cells} |"
        )


def summary(rates, *, previous: str, workers: int, pairs: list[tuple[str, str, str]]) -> list[str]:
    """One line per (label, old storage, new storage) and new path with one load thread or the
    default: the ratio of medians and the median ratio within a round, wall clock and CPU time."""
    lines = [""]
    for label, before, after in pairs:
        old = rates.get((before, previous, workers))
        for (storage, path, count), new in rates.items():
            if not old or storage != after or count != workers or not path.startswith(SUMMARISED):
                continue
            wall = statistics.median(r for r, _ in new) / statistics.median(r for r, _ in old)
            per_round = statistics.median(n[0] / o[0] for n, o in zip(new, old, strict=True))
            cpu = [n[1] / o[1] for n, o in zip(new, old, strict=True) if n[1] and o[1]]
            cpu_text = f", {statistics.median(cpu):.2f}x in CPU time (per round)" if cpu else ""
            lines.append(f"{label} ({path}): {wall:.2f}x (medians), {per_round:.2f}x (per round){cpu_text}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), help="set the corpus and loader options below")
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument("--video-frames", type=int, default=64, help="frames per video")
    parser.add_argument("--size", default="160x120", help="video size WxH")
    parser.add_argument("--codec", default="mpeg4", help="video codec (mpeg4 in AVI, like UCF101)")
    parser.add_argument("--clip-frames", type=int, default=16)
    parser.add_argument("--frame-size", type=int, default=112)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--passes", type=int, default=3, help="passes over the corpus per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="measurements of every path, taken in turn")
    parser.add_argument("--baseline", default="a8f075b", help="git commit whose readers are the old path")
    parser.add_argument("--stages", action="store_true", help="also time every stage of a clip")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads in this process (DataLoader workers use 1)"
    )
    args = parser.parse_args()
    for key, value in PRESETS.get(args.preset, {}).items():
        setattr(args, key, value)
    # One thread by default: on a busy machine a parallel region waits for its slowest thread,
    # which the scheduler may have parked for milliseconds, so two threads measure the neighbours.
    torch.set_num_threads(args.threads)
    width, height = (int(n) for n in args.size.lower().split("x"))
    old = load_baseline(args.baseline)
    short = ClipSpec(num_frames=args.clip_frames, frame_size=args.frame_size).resize_short
    previous = f"old ({args.baseline})"
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="vrt-loader-bench-") as tmp:
        root = Path(tmp)
        build_corpus(
            root,
            videos=args.videos,
            frames=args.video_frames,
            size=(width, height),
            codec=args.codec,
            short_side=short,
        )
        names = sorted(video.name for video in (root / "videos").iterdir())
        full, prepared = f"frames (JPEG, {width}x{height})", f"frames (JPEG, short side {short})"
        folders = {full: root / "frames", prepared: root / f"frames_{short}"}
        indices = SAMPLERS.get("uniform")(num_frames=args.clip_frames)(args.video_frames, training=False)
        for name in names[:3]:  # the new reader at the stored size decodes the old one's pixels
            video = root / "videos" / name
            assert np.array_equal(
                old["video"].read_video_frames(video, indices), read_video_frames(video, indices)
            )
        paths = benchmark_paths(root, names, folders, args, old)
        measured = [(dataset, finish) for _, _, dataset, finish in paths]
        interleaved_rates(measured, workers=0, batch_size=args.batch_size, passes=1)  # warm-up, untimed
        rates: dict[tuple[str, str, int], list[tuple[float, float | None]]] = {}
        for _ in range(args.rounds):
            for workers in args.workers:
                rounds = interleaved_rates(
                    measured, workers=workers, batch_size=args.batch_size, passes=args.passes
                )
                for (storage, path, _, _), rate in zip(paths, rounds, strict=True):
                    rates.setdefault((storage, path, workers), []).append(rate)
        stages = None
        if args.stages:
            from loader_stages import breakdown_markdown, stage_breakdown

            stages = stage_breakdown(
                videos=[root / "videos" / name for name in names],
                folders={
                    label: [frame_folder(folder, Path(n)) for n in names] for label, folder in folders.items()
                },
                indices=indices,
                resize_short=short,
                frame_size=args.frame_size,
                batch_size=args.batch_size,
            )
    load_after = os.getloadavg()

    print(
        f"{args.videos} videos of {args.video_frames} frames at {width}x{height} ({args.codec}); clips of "
        f"{args.clip_frames}x{args.frame_size}x{args.frame_size}, uniform sampler, test transform, batch "
        f"{args.batch_size}; {args.passes} passes per measurement, {args.rounds} rounds; {os.cpu_count()} CPUs "
        f"({platform.processor() or platform.machine()}), torch {torch.__version__}, {torch.get_num_threads()} torch "
        f"threads; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after ({load_after[2]:.2f} over 15 min)"
    )
    print()
    report(rates, previous=previous)
    for line in summary(
        rates,
        previous=previous,
        workers=args.workers[0],
        pairs=[
            ("video files, old reader -> new reader", "video (MPEG-4)", "video (MPEG-4)"),
            (
                f"frame folders, old reader on {width}x{height} frames -> new reader on frames at short side {short}",
                full,
                prepared,
            ),
        ],
    ):
        print(line)
    if stages is not None:
        print()
        print(breakdown_markdown(stages))


if __name__ == "__main__":
    main()
