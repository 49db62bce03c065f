"""Turn clips into packed binary codes with a trained model."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader

from vrt.codes import CodeSet, pack_bits
from vrt.data.collate import ClipBatch
from vrt.datasets.base import ClipView, SkippedClip
from vrt.model import HashingModel, binarize
from vrt.runtime import distributed
from vrt.runtime.devices import autocast


def real_valued_codes(model: HashingModel, clips: torch.Tensor) -> torch.Tensor:
    """``u`` for a batch; several clips per video ``(B, n, C, T, H, W)`` are averaged per video.

    Averaging the real values before binarising keeps what every clip agrees on, which a vote
    over already-binarised codes would blur.
    """
    if clips.ndim == 6:
        videos, clips_per_video = clips.shape[:2]
        return model(clips.flatten(0, 1)).float().view(videos, clips_per_video, -1).mean(dim=1)
    return model(clips).float()


def encoded_batches(
    model: HashingModel,
    loader: DataLoader,
    *,
    device: torch.device,
    amp: bool = False,
    on_skipped: Callable[[list[SkippedClip]], None] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """Per batch of ``loader``: bits ``(n, bits)`` bool, dataset indices ``(n,)`` and the batch's size.

    The size counts the videos that could not be decoded too (they are left out of the bits
    and handed to ``on_skipped``), so a progress bar can advance by it. The model is in eval
    mode while the generator runs.
    """
    was_training = model.training
    model.eval()
    try:
        batch: ClipBatch
        for batch in loader:
            batch = batch.on_device(device)  # finishes pending clips (data.pipeline: device) there
            if batch.skipped and on_skipped is not None:
                on_skipped(batch.skipped)
            bits = np.zeros((0, model.bits), dtype=bool)
            if len(batch):
                with torch.no_grad(), autocast(device, amp):
                    u = real_valued_codes(model, batch.clips)
                bits = binarize(u).cpu().numpy()
            yield bits, batch.indices.numpy(), len(batch) + len(batch.skipped)
    finally:
        model.train(was_training)


def encode_batches(
    model: HashingModel,
    loader: DataLoader,
    *,
    device: torch.device,
    amp: bool = False,
    on_batch: Callable[[int], None] | None = None,
    on_skipped: Callable[[list[SkippedClip]], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Bits ``(N, bits)`` bool and dataset indices ``(N,)`` of every readable clip, in loader order.

    Videos that cannot be decoded are left out and handed to ``on_skipped``.
    """
    bits: list[np.ndarray] = [np.zeros((0, model.bits), dtype=bool)]
    indices: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    for batch_bits, batch_indices, size in encoded_batches(
        model, loader, device=device, amp=amp, on_skipped=on_skipped
    ):
        bits.append(batch_bits)
        indices.append(batch_indices.astype(np.int64, copy=False))
        if on_batch is not None:
            on_batch(size)
    return np.concatenate(bits), np.concatenate(indices)


def _codeset(
    view: ClipView, packed: np.ndarray, indices: np.ndarray, *, num_bits: int, class_names: list[str] | None
) -> CodeSet:
    dataset = view.dataset
    return CodeSet(
        codes=packed,
        bits=num_bits,
        labels=np.asarray([dataset.labels[i] for i in indices], dtype=np.int64),
        ids=np.asarray([dataset.ids[i] for i in indices], dtype=str),
        class_names=class_names,
    )


def encode_view(
    model: HashingModel,
    view: ClipView,
    make_loader: Callable[[ClipView], DataLoader],
    *,
    device: torch.device,
    amp: bool = False,
    class_names: list[str] | None = None,
    on_batch: Callable[[int], None] | None = None,
    on_skipped: Callable[[list[SkippedClip]], None] | None = None,
) -> CodeSet:
    """Binary codes of every readable clip of ``view``, in view order (loaders must not shuffle).

    Videos that cannot be decoded are left out of the code set and handed to ``on_skipped``.
    In a process group, the ranks share the work: rank r encodes every world-size-th video from
    position r; the codes of all ranks are then gathered and put back in view order, so every
    rank returns the code set one process would have produced (and every rank's ``on_skipped``
    hears of every unreadable video). The model must be the same on every rank (see
    :func:`vrt.runtime.distributed.broadcast_buffers`).
    """
    ranks, rank = distributed.world_size(), distributed.rank()
    if ranks == 1:
        bits, indices = encode_batches(
            model, make_loader(view), device=device, amp=amp, on_batch=on_batch, on_skipped=on_skipped
        )
        return _codeset(view, pack_bits(bits), indices, num_bits=model.bits, class_names=class_names)
    shard = ClipView(
        view.dataset,
        view.indices[rank::ranks],
        training=False,
        num_clips=view.num_clips,
        threads=view.threads,
    )
    skipped: list[SkippedClip] = []
    bits, indices = encode_batches(
        model, make_loader(shard), device=device, amp=amp, on_batch=on_batch, on_skipped=skipped.extend
    )
    # Codes travel packed, 8 times smaller; a rank whose clips were all unreadable sends none.
    all_packed = np.concatenate(
        [t.numpy() for t in distributed.all_gather_variable(torch.from_numpy(pack_bits(bits)))]
    )
    all_indices = np.concatenate(
        [t.numpy() for t in distributed.all_gather_variable(torch.from_numpy(indices.astype(np.int64)))]
    )
    everyone_skipped = [item for items in distributed.all_gather_objects(skipped) for item in items]
    if everyone_skipped and on_skipped is not None:
        on_skipped(everyone_skipped)
    position = {index: p for p, index in enumerate(view.indices)}
    order = np.argsort([position[int(i)] for i in all_indices], kind="stable")
    return _codeset(view, all_packed[order], all_indices[order], num_bits=model.bits, class_names=class_names)
