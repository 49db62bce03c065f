"""The training step and the epoch loop, the same code for one process and for N under torchrun.

Every rank must take the same decisions at the same step, or one of them waits forever in a
collective: skip a batch too small to rank, stop on a signal, stop on a non-finite loss. So at
each step the ranks first agree (one small all-reduce of their flags), and the loss is reduced
across ranks before anything is decided from it. In a single process the collectives are no-ops.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from vrt.data.collate import ClipBatch
from vrt.datasets.items import SkippedClip
from vrt.errors import TrainingError
from vrt.losses.combined import WeightedLossSum
from vrt.runtime import distributed
from vrt.runtime.devices import autocast
from vrt.runtime.signals import StopRequest
from vrt.training.state import EpochProgress


class NonFiniteLoss(TrainingError):
    """The loss was NaN or infinite on some rank; nothing was stepped with it."""


@dataclass
class TrainingStep:
    """Forward, loss, backward and optimiser step on one batch.

    ``model`` is what runs the forward (possibly DDP-wrapped and compiled); ``parameters`` are
    the plain model's, for gradient clipping. With ``cross_rank`` the loss sees every rank's
    embeddings and labels (a batch ``world_size`` times larger for the triplet miner), with
    gradient flowing into this rank's part; the loss is scaled by the world size so that DDP's
    averaging yields the gradient of that global loss.
    """

    model: nn.Module
    loss_fn: WeightedLossSum
    optimizer: torch.optim.Optimizer
    parameters: list[nn.Parameter]
    device: torch.device
    amp: bool = False
    grad_clip: float | None = None
    channels_last: bool = False
    cross_rank: bool = False

    def __call__(self, batch: ClipBatch) -> tuple[float, int]:
        """Train on ``batch``; returns (summed per-clip loss, clips), both over all ranks."""
        clips = batch.clips.to(self.device, non_blocking=True)
        if self.channels_last:
            clips = clips.contiguous(memory_format=torch.channels_last_3d)
        labels = batch.labels.to(self.device, non_blocking=True)
        codes = None
        if self.loss_fn.needs_codes:
            with autocast(self.device, self.amp):
                codes = self.model(clips)
            codes = codes.float()
        scale = 1
        if self.cross_rank and distributed.world_size() > 1 and codes is not None:
            codes = distributed.all_gather_with_grad(codes)
            labels = torch.cat(distributed.all_gather_variable(labels))
            scale = distributed.world_size()
        # Losses of codes run in full precision (bf16 inner products of 64-bit codes are too
        # coarse); self-supervised terms run the model themselves, under autocast unless a loss
        # of codes shares the step. vrt.training.selection.batch_loss computes the same.
        with autocast(self.device, self.amp and not self.loss_fn.needs_codes):
            loss = self.loss_fn(codes, labels, model=self.model, inputs=clips).float()
        # With cross_rank every rank holds the same global loss; weighting it by the local clip
        # count still averages to that value.
        local = torch.stack([loss.detach() * len(batch), torch.tensor(float(len(batch)), device=loss.device)])
        loss_sum, count = distributed.all_reduce_sum(local).tolist()
        if not torch.isfinite(torch.tensor(loss_sum)):
            raise NonFiniteLoss(f"the loss became {loss_sum / max(count, 1)}")
        self.optimizer.zero_grad(set_to_none=True)
        (loss * scale if scale != 1 else loss).backward()
        distributed.average_gradients(self.loss_fn.parameters())  # DDP averages the model's only
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.parameters, self.grad_clip)
        self.optimizer.step()
        return loss_sum, int(count)


def _agree(stop: bool, unusable: bool, skipped: int) -> tuple[bool, bool, int]:
    """The step's decisions as all ranks see them: stop if any rank was signalled, skip the
    batch if any rank's is unusable, and how many unreadable videos the ranks met together."""
    if distributed.world_size() == 1:
        return stop, unusable, skipped
    flags = distributed.all_reduce_sum(torch.tensor([int(stop), int(unusable), skipped], dtype=torch.int64))
    total_stop, total_unusable, total_skipped = flags.tolist()
    return total_stop > 0, total_unusable > 0, int(total_skipped)


def train_epoch(
    step: TrainingStep,
    loader: torch.utils.data.DataLoader,
    progress: EpochProgress,
    *,
    max_steps: int | None,
    stop: StopRequest,
    on_step: Callable[[EpochProgress], None],
    on_skipped: Callable[[list[SkippedClip]], None],
    on_progress: Callable[[EpochProgress, float], None],
) -> bool:
    """Run the rest of one epoch from ``progress`` (updated in place); False when stopped early.

    ``on_step`` follows every optimiser step (the caller's checkpoint policy), ``on_skipped``
    gets the unreadable videos of every rank, ``on_progress`` the progress and the elapsed time
    for display. Raises :class:`NonFiniteLoss` before stepping with a NaN or infinite loss.
    The time spent waiting for the loader's next batch is added to ``progress.data_seconds``:
    the part of the epoch the step could not run because the data was not there.
    """
    step.model.train()
    started = time.perf_counter() - progress.seconds
    iterator = iter(loader)  # starts the DataLoader workers: waiting for data, too
    progress.data_seconds += time.perf_counter() - started - progress.seconds
    while max_steps is None or progress.steps < max_steps:
        if stop.requested and distributed.world_size() == 1:
            return False  # alone, no need to load another batch to learn that we stop
        waiting = time.perf_counter()
        batch: ClipBatch | None = next(iterator, None)
        progress.data_seconds += time.perf_counter() - waiting
        if batch is None:
            break
        # Pending clips (data.pipeline: device) are decoded and augmented here, on the device;
        # those that fail to decode join the skipped ones before the ranks agree on the step.
        batch = batch.on_device(step.device)
        # Fewer than two clips (a batch of one, or of unreadable videos) has nothing to rank.
        stopping, unusable, skipped = _agree(stop.requested, len(batch) < 2, len(batch.skipped))
        if stopping:
            return False
        if skipped:
            on_skipped([item for items in distributed.all_gather_objects(batch.skipped) for item in items])
        progress.position += 1
        if not unusable:
            loss_sum, clips = step(batch)
            progress.steps += 1
            progress.clips += clips
            progress.loss_sum += loss_sum
        progress.seconds = time.perf_counter() - started
        if not unusable:
            on_step(progress)
        on_progress(progress, progress.seconds)
    progress.seconds = time.perf_counter() - started
    return True
