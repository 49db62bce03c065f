"""Turning clips into packed binary codes: the loop behind :meth:`TrainedModel.encode`.

What is encoded is always a :class:`~vrt.datasets.base.ClipView` in eval mode (test-time clips,
``data.clips_per_video`` of them averaged per video): :func:`eval_view` makes one from whatever a
caller names (a split's view, a dataset, items, a listing, paths). :func:`encode_view` runs the
model over it batch by batch, DataLoader workers decoding while the model encodes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import torch
from torch.utils.data import DataLoader

from vrt.codes import CodeSet, EncoderIdentity, pack_bits
from vrt.config import Config
from vrt.data.collate import ClipBatch
from vrt.data.pipeline import eval_loader
from vrt.datasets.base import ClipView, VideoDataset
from vrt.datasets.clips import ClipSpec
from vrt.datasets.collection import ItemList, list_items
from vrt.datasets.files import ItemDataset
from vrt.datasets.items import Item, SkippedClip
from vrt.datasets.windows import resolve_windows
from vrt.model import HashingModel, binarize
from vrt.runtime import distributed
from vrt.runtime.devices import autocast

__all__ = [
    "EncodeSource",
    "Progress",
    "encode_view",
    "eval_view",
    "model_outputs",
    "real_valued_codes",
    "run_batches",
]

#: What :meth:`TrainedModel.encode` accepts: a view of a split, a dataset, items, a listing of
#: one's own videos, or paths (video files, frame folders, folders of them, list files).
EncodeSource: TypeAlias = "ClipView | VideoDataset | ItemList | Sequence[Item] | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]"
#: Hears ``progress(total=N)`` once (the videos this process encodes), then ``progress(advance=n)``
#: after each batch (videos that could not be decoded count too), as ``progress_bar`` yields it.
Progress: TypeAlias = Callable[..., None]


def real_valued_codes(model: HashingModel, clips: torch.Tensor) -> torch.Tensor:
    """``u`` for a batch; several clips per video ``(B, n, C, T, H, W)`` are averaged per video.

    Averaging the real values before binarising keeps what every clip agrees on, which a vote
    over already-binarised codes would blur.
    """
    if clips.ndim == 6:
        videos, clips_per_video = clips.shape[:2]
        return model(clips.flatten(0, 1)).float().view(videos, clips_per_video, -1).mean(dim=1)
    return model(clips).float()


def eval_view(
    source: EncodeSource,
    *,
    clips: ClipSpec,
    config: Config,
    on_skipped: Callable[[list[SkippedClip]], None] | None,
) -> ClipView:
    """``source`` as an eval-mode view with the config's test-time clips.

    Paths are listed (:func:`~vrt.datasets.collection.list_items`, labels from list files) and
    any ``#t=`` window they name is probed through ``clips.decoder``; listed videos that are
    missing go to ``on_skipped``.
    """
    data = config.data
    if isinstance(source, ClipView):
        if source.training:
            raise ValueError("encode a view in eval mode (training=False): codes use test-time clips")
        return source
    if isinstance(source, (str, os.PathLike)) or (
        isinstance(source, Sequence) and source and all(isinstance(s, (str, os.PathLike)) for s in source)
    ):
        paths = [source] if isinstance(source, (str, os.PathLike)) else list(source)
        source = list_items(paths)  # type: ignore[arg-type]
    elif isinstance(source, Sequence) and not isinstance(source, VideoDataset):
        if not all(isinstance(item, Item) for item in source):
            raise TypeError("encode takes a view, a dataset, an item list, items, or paths")
        source = ItemList(items=list(source))
    if isinstance(source, ItemList):
        if any(item.window is not None and item.span is None for item in source.items):
            source = resolve_windows(
                source, decoder=clips.decoder
            )  # windows in frames, as this decoder counts
        if source.unreadable and on_skipped is not None:
            on_skipped([SkippedClip(-1, item_id, reason) for item_id, reason in source.unreadable.items()])
        source = ItemDataset(source.items, clips=clips, class_names=source.class_names)
    if not isinstance(source, VideoDataset):
        raise TypeError(f"cannot encode a {type(source).__name__}: give a view, a dataset, items or paths")
    return ClipView(
        source, range(len(source)), training=False, num_clips=data.clips_per_video, threads=data.load_threads
    )


@dataclass
class _Batches:
    """The codes of one process's share of a view, in view order."""

    bits: list[np.ndarray]
    indices: list[np.ndarray]
    skipped: list[SkippedClip]

    def packed(self, num_bits: int) -> tuple[np.ndarray, np.ndarray]:
        bits = np.concatenate([np.zeros((0, num_bits), dtype=bool), *self.bits])
        indices = np.concatenate([np.zeros(0, dtype=np.int64), *self.indices])
        return pack_bits(bits), indices


def encode_view(
    model: HashingModel,
    view: ClipView,
    *,
    config: Config,
    device: torch.device,
    encoder: EncoderIdentity | None,
    batch_size: int | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    on_skipped: Callable[[list[SkippedClip]], None] | None = None,
    on_codes: Callable[[CodeSet], None] | None = None,
    stop: Callable[[], bool] | None = None,
    alone: bool = False,
) -> CodeSet:
    """Binary codes of every readable clip of ``view``, in view order (see ``TrainedModel.encode``).

    In a process group the ranks share the work: rank r encodes every world-size-th video from
    position r; the codes of all ranks are then gathered and put back in view order, so every
    rank returns the code set one process would have produced (and every rank's ``on_skipped``
    hears of every unreadable video). ``stop`` is polled after every batch and only in one
    process (ranks that stopped at different batches could not gather). ``alone``: this process
    encodes the whole view, whatever the process group.
    """
    ranks, rank = (1, 0) if alone else (distributed.world_size(), distributed.rank())
    shard = view if ranks == 1 else _shard(view, rank, ranks)
    loader = eval_loader(shard, config, device=device, batch_size=batch_size, workers=workers)
    if progress is not None:
        progress(total=len(shard))
    class_names = view.dataset.code_class_names()
    done = _Batches([], [], [])

    def note_skipped(items: list[SkippedClip]) -> None:
        done.skipped.extend(items)
        if on_skipped is not None and ranks == 1:
            on_skipped(items)

    for values, indices, size in run_batches(
        model, loader, device=device, amp=config.train.amp, on_skipped=note_skipped
    ):
        bits = values if values is not None else np.zeros((0, model.bits), dtype=bool)
        done.bits.append(bits)
        done.indices.append(indices.astype(np.int64, copy=False))
        if on_codes is not None and len(indices):
            on_codes(
                _codeset(
                    view.dataset,
                    pack_bits(bits),
                    indices,
                    bits=model.bits,
                    names=class_names,
                    encoder=encoder,
                )
            )
        if progress is not None:
            progress(advance=size)
        if stop is not None and ranks == 1 and stop():
            break
    packed, indices = done.packed(model.bits)
    if ranks > 1:
        packed, indices = _gathered(view, packed, indices, done.skipped, on_skipped)
    return _codeset(view.dataset, packed, indices, bits=model.bits, names=class_names, encoder=encoder)


def _shard(view: ClipView, rank: int, ranks: int) -> ClipView:
    return ClipView(
        view.dataset,
        view.indices[rank::ranks],
        training=False,
        num_clips=view.num_clips,
        threads=view.threads,
    )


def _gathered(
    view: ClipView,
    packed: np.ndarray,
    indices: np.ndarray,
    skipped: list[SkippedClip],
    on_skipped: Callable[[list[SkippedClip]], None] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every rank's codes in view order (codes travel packed, 8 times smaller; a rank whose
    clips were all unreadable sends none)."""
    all_packed = np.concatenate(
        [t.numpy() for t in distributed.all_gather_variable(torch.from_numpy(packed))]
    )
    all_indices = np.concatenate(
        [t.numpy() for t in distributed.all_gather_variable(torch.from_numpy(indices))]
    )
    everyone_skipped = [item for items in distributed.all_gather_objects(skipped) for item in items]
    if everyone_skipped and on_skipped is not None:
        on_skipped(everyone_skipped)
    position = {index: p for p, index in enumerate(view.indices)}
    order = np.argsort([position[int(i)] for i in all_indices], kind="stable")
    return all_packed[order], all_indices[order]


def model_outputs(model: HashingModel, clips: torch.Tensor) -> np.ndarray:
    """The bits ``(n, bits)`` of a batch (what :func:`encode_view` keeps)."""
    return binarize(real_valued_codes(model, clips)).cpu().numpy()


def run_batches(
    model: HashingModel,
    loader: DataLoader,
    *,
    device: torch.device,
    amp: bool,
    on_skipped: Callable[[list[SkippedClip]], None],
    outputs: Callable[[HashingModel, torch.Tensor], np.ndarray] = model_outputs,
) -> Iterator[tuple[np.ndarray | None, np.ndarray, int]]:
    """Per batch of ``loader``: ``outputs(model, clips)`` (None for a batch of unreadable videos
    only), the dataset indices ``(n,)`` and the batch's size.

    The size counts the videos that could not be decoded too (they are left out and handed to
    ``on_skipped``), so a progress bar can advance by it. The model is in eval mode while the
    generator runs.
    """
    was_training = model.training
    model.eval()
    try:
        batch: ClipBatch
        for batch in loader:
            batch = batch.on_device(device)  # finishes pending clips (data.pipeline: device) there
            if batch.skipped:
                on_skipped(batch.skipped)
            values = None
            if len(batch):
                with torch.no_grad(), autocast(device, amp):
                    values = outputs(model, batch.clips)
            yield values, batch.indices.numpy(), len(batch) + len(batch.skipped)
    finally:
        model.train(was_training)


def _codeset(
    dataset: VideoDataset,
    packed: np.ndarray,
    indices: np.ndarray,
    *,
    bits: int,
    names: list[str] | None,
    encoder: EncoderIdentity | None,
) -> CodeSet:
    groups = dataset.groups
    return CodeSet(
        codes=packed,
        bits=bits,
        labels=np.asarray([dataset.labels[i] for i in indices], dtype=np.int64),
        ids=np.asarray([dataset.ids[i] for i in indices], dtype=np.str_),
        class_names=names,
        encoder=encoder,
        groups=None if groups is None else np.asarray([groups[i] for i in indices], dtype=np.str_),
    )
