"""Training throughput: clips per second for a backbone, clip size and batch size, split into
data time and step time.

The data are synthetic clips generated in the DataLoader (no decoding: ``loader_throughput.py``
measures that), so the figures are those of the training step and of moving batches to the
device. Each timed step is cut in two:

    data  waiting for the next batch from the loader, plus the copy to the device;
    step  forward, loss, backward and optimiser step (synchronised on CUDA before the clock stops).

    python benchmarks/train_throughput.py --backbone tiny3d --frames 16 --size 112 --batch-size 8
    python benchmarks/train_throughput.py --backbone r3d_18 --channels-last --compile --workers 4

Device ``auto`` takes CUDA, then MPS, then the CPU; bf16 autocast is on for CUDA unless
``--no-amp``. Run it on an otherwise idle machine and report the command with the table (it
prints both).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time

import torch
import yaml
from torch.utils.data import DataLoader, Dataset

from vrt.config.schema import ComponentSpec, LossConfig, LossTerm, ModelConfig
from vrt.losses.combined import build_loss
from vrt.model import build_model
from vrt.runtime.devices import autocast, resolve_device


class SyntheticClips(Dataset):
    """Random clips in [0, 1], labels in pairs so every batch holds positives for the loss."""

    def __init__(self, *, length: int, frames: int, size: int) -> None:
        self.length, self.shape = length, (3, frames, size, size)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        generator = torch.Generator().manual_seed(index)
        return torch.rand(self.shape, generator=generator), index // 2


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def measure(args: argparse.Namespace, device: torch.device) -> tuple[float, float, float]:
    """Mean data and step seconds per timed step, and clips per second over the timed steps."""
    torch.manual_seed(0)
    spec = ModelConfig(
        ComponentSpec(args.backbone, args.params), ComponentSpec("linear", {"bits": args.bits})
    )
    model = build_model(spec).to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    forward = torch.compile(model) if args.compile else model
    # Built as training builds it: the construction layer makes the miner and gives it to the loss.
    loss_fn = build_loss(
        LossConfig([LossTerm("triplet_ranking", {"margin": args.bits / 4 + 2})]),
        bits=args.bits,
        num_classes=0,
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    steps = args.warmup + args.steps
    loader_options = {"num_workers": args.workers, "pin_memory": device.type == "cuda"}
    if args.workers:
        loader_options |= {"persistent_workers": True, "prefetch_factor": args.prefetch_factor}
    loader = DataLoader(
        SyntheticClips(length=steps * args.batch_size, frames=args.frames, size=args.size),
        batch_size=args.batch_size,
        shuffle=False,
        drop_last=True,
        **loader_options,
    )
    amp = args.amp if args.amp is not None else device.type == "cuda"
    model.train()
    data_time = step_time = 0.0
    timed_clips = 0
    batches = iter(loader)
    for number in range(steps):
        started = time.perf_counter()
        clips, labels = next(batches)
        clips = clips.to(device, non_blocking=True)
        if args.channels_last:
            clips = clips.contiguous(memory_format=torch.channels_last_3d)
        labels = labels.to(device, non_blocking=True)
        synchronize(device)
        loaded = time.perf_counter()
        with autocast(device, amp):
            codes = forward(clips)
        loss = loss_fn(codes.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        synchronize(device)
        finished = time.perf_counter()
        if number >= args.warmup:  # the first steps pay for lazy initialisation (and compilation)
            data_time += loaded - started
            step_time += finished - loaded
            timed_clips += len(clips)
    return data_time / args.steps, step_time / args.steps, timed_clips / (data_time + step_time)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="tiny3d")
    parser.add_argument(
        "--param", action="append", default=[], help="backbone parameter key=value (repeatable)"
    )
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=112, help="frame height and width")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    parser.add_argument("--prefetch-factor", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast")
    parser.add_argument("--channels-last", action="store_true", help="channels_last_3d memory format")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    args = parser.parse_args()
    args.params = {}
    for item in args.param:
        key, _, value = item.partition("=")
        args.params[key] = yaml.safe_load(value)

    device = resolve_device(args.device)
    data, step, rate = measure(args, device)
    amp = args.amp if args.amp is not None else device.type == "cuda"
    print(f"`{shlex.join(['python', *sys.argv])}`")
    print()
    print(
        f"{device_name(device)}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{args.workers} loader workers; {args.steps} timed steps after {args.warmup} warm-up steps"
    )
    print()
    print(
        "| backbone | clip (T×H×W) | batch | device | bf16 | channels_last | compile | data ms/step "
        "| step ms/step | clips/s |"
    )
    print("|---|---|---:|---|---|---|---|---:|---:|---:|")
    params = "".join(f", {k}={v}" for k, v in args.params.items())
    print(
        f"| {args.backbone}{params} | {args.frames}×{args.size}×{args.size} | {args.batch_size} "
        f"| {device.type} | {'yes' if amp else 'no'} | {'yes' if args.channels_last else 'no'} "
        f"| {'yes' if args.compile else 'no'} | {data * 1000:.1f} | {step * 1000:.1f} | {rate:.1f} |"
    )


if __name__ == "__main__":
    main()
