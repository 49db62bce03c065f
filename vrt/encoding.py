"""Turn clips into packed binary codes with a trained model."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from vrt.codes import CodeSet, pack_bits
from vrt.datasets.base import ClipView
from vrt.devices import autocast
from vrt.model import HashingModel


@torch.no_grad()
def encode_view(
    model: HashingModel,
    view: ClipView,
    loader: DataLoader,
    *,
    device: torch.device,
    amp: bool = False,
    class_names: list[str] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> CodeSet:
    """Binary codes of every clip of ``view`` in view order (the loader must not shuffle)."""
    was_training = model.training
    model.eval()
    bits: list[np.ndarray] = []
    try:
        for clips, _labels, _positions in loader:
            with autocast(device, amp):
                codes = model.encode(clips.to(device, non_blocking=True))
            bits.append(codes.cpu().numpy())
            if on_batch is not None:
                on_batch(len(clips))
    finally:
        model.train(was_training)
    all_bits = np.concatenate(bits) if bits else np.zeros((0, model.bits), dtype=bool)
    return CodeSet(
        codes=pack_bits(all_bits),
        bits=model.bits,
        labels=np.asarray(view.labels, dtype=np.int64),
        ids=np.asarray(view.ids, dtype=str),
        class_names=class_names,
    )
