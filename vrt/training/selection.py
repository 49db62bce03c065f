"""Which checkpoint is best: validation mAP with labels, the validation loss without them.

With labels, a run keeps the epoch whose validation split (carved from the training data, never
the test split) is searched best: ``val_map``. Without labels (a collection nobody labelled, or a
self-supervised objective that must not look at labels) there is no mAP to measure, and the
criterion is the objective itself on the validation split, ``val_loss``: the same loss, on videos
the model never trained on, with its random draws (the masked frames, the views) made from a
fixed seed, so that every epoch is measured on the same task. Lower is better; the run keeps the
epoch where it is lowest (docs/training.md, "Training without labels").

A tie goes to the **later** epoch. A small validation split saturates: the demo's reaches mAP
1.0 within a few epochs and stays there, and keeping the first such epoch kept a model trained
for 8 of 60 epochs, worse on the test split than the last one. Among epochs the validation
cannot tell apart, the one trained longest is the better bet.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from vrt.config import Config
from vrt.data.pipeline import DataSplits, eval_loader
from vrt.losses.combined import WeightedLossSum, loss_needs_labels
from vrt.model import HashingModel
from vrt.runtime import distributed
from vrt.runtime.devices import autocast
from vrt.runtime.reproducibility import derive_seed, isolated_seed

__all__ = ["batch_loss", "improves", "selects_without_labels", "selection_score", "validation_loss"]


def selects_without_labels(config: Config, splits: DataSplits) -> bool:
    """Label-free selection: the loss needs no labels, or the validation videos have none."""
    validation = splits.train_source.labels
    unlabelled = any(validation[position] < 0 for position in splits.val_positions)
    return not loss_needs_labels(config.loss) or unlabelled


def improves(score: float, best: float) -> bool:
    """Whether an epoch of validation ``score`` replaces the best so far: ties go to the later epoch."""
    return score >= best


def selection_score(record: dict[str, Any]) -> float | None:
    """What the run maximises: ``val_map``, or minus ``val_loss`` (None before validation)."""
    if "val_map" in record:
        return float(record["val_map"])
    if "val_loss" in record:
        return -float(record["val_loss"])
    return None


@torch.no_grad()
def validation_loss(
    model: HashingModel, loss_fn: WeightedLossSum, splits: DataSplits, config: Config, *, device: torch.device
) -> float:
    """The objective's mean over the validation videos (test-time clips, fixed random draws)."""
    view = splits.view("val", training=False)
    loader = eval_loader(view, config, device=device)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    seed = derive_seed(config.train.seed, "validation loss")
    # The objectives draw their masks on the model's device: fix that device's stream too.
    accelerators = [device] if device.type == "cuda" else []
    try:
        with isolated_seed(seed), torch.random.fork_rng(devices=accelerators):
            if accelerators:
                torch.cuda.manual_seed(seed)
            for batch in loader:
                batch = batch.on_device(device)
                if not len(batch):
                    continue
                clips = batch.clips if batch.clips.ndim != 6 else batch.clips[:, 0]  # one clip per video
                value = batch_loss(
                    model, loss_fn, clips, batch.labels.to(device), device=device, amp=config.train.amp
                )
                total += float(value) * len(batch)
                count += len(batch)
    finally:
        model.train(was_training)
    # Every rank measured the whole validation split; rank 0's figure decides for all of them.
    return distributed.broadcast_object(total / count if count else math.nan)


def batch_loss(
    model: torch.nn.Module,
    loss_fn: WeightedLossSum,
    clips: torch.Tensor,
    labels: torch.Tensor,
    *,
    device: torch.device,
    amp: bool,
) -> torch.Tensor:
    """The loss of one batch, as training computes it: the codes under autocast, the losses of
    codes in full precision; self-supervised terms run the model themselves, under autocast
    when no loss of codes shares the step (bf16 inner products of 64-bit codes are too coarse)."""
    codes = None
    if loss_fn.needs_codes:
        with autocast(device, amp):
            codes = model(clips)
        codes = codes.float()
    with autocast(device, amp and not loss_fn.needs_codes):
        return loss_fn(codes, labels, model=model, inputs=clips).float()
