"""From a config to datasets, the train/validation/test views and their loaders.

Split vocabulary used across vrt:
    ``train``  the dataset's whole training split: the retrieval database at evaluation time;
    ``fit``    the part of ``train`` the model learns from (``train`` minus ``val``);
    ``val``    a seeded part carved from ``train`` for model selection (never the test split);
    ``test``   the dataset's test split: the retrieval queries.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch.utils.data import DataLoader, Sampler

from vrt.components import build
from vrt.config import Config
from vrt.data.batching import ClassBalancedBatchSampler, ShardedBatchSampler, ShuffledBatchSampler
from vrt.data.collate import collate_clips
from vrt.data.splits import carve_validation
from vrt.datasets.base import ClipView, VideoDataset
from vrt.datasets.clips import ClipSpec
from vrt.registry import DATASETS, DECODERS, SAMPLERS
from vrt.runtime.reproducibility import derive_seed, seed_worker

SplitName = Literal["train", "fit", "val", "test"]
SPLIT_NAMES: tuple[str, ...] = ("train", "fit", "val", "test")
CPU = torch.device("cpu")


def clip_spec(config: Config) -> ClipSpec:
    """How the config's datasets cut clips: sampler, size, augmentation and decoding from ``data.*``."""
    data = config.data
    sampler = build(SAMPLERS, data.clip_sampler, section="data.clip_sampler", num_frames=data.num_frames)
    return ClipSpec(
        num_frames=data.num_frames,
        frame_size=data.frame_size,
        sampler=sampler,
        augment=data.augment,
        strict=data.strict,
        decoder=build(DECODERS, data.decoder, section="data.decoder"),
        pipeline=data.pipeline,
    )


def build_dataset(
    config: Config, subset: Literal["train", "test"], clips: ClipSpec | None = None
) -> VideoDataset:
    """One subset of the configured dataset, cutting clips as ``clips`` (from ``data.*`` by default) says."""
    return build(
        DATASETS, config.data.dataset, section="data.dataset", subset=subset, clips=clips or clip_spec(config)
    )


def cap_per_class(labels: Sequence[int], positions: Sequence[int], limit: int | None) -> list[int]:
    """The first ``limit`` positions of each class (all of them when ``limit`` is None)."""
    if limit is None:
        return list(positions)
    taken: dict[int, int] = {}
    kept = []
    for position in positions:
        label = labels[position]
        if taken.get(label, 0) < limit:
            taken[label] = taken.get(label, 0) + 1
            kept.append(position)
    return kept


@dataclass
class DataSplits:
    train_source: VideoDataset
    test_source: VideoDataset
    train_positions: list[int]
    test_positions: list[int]
    fit_positions: list[int]
    val_positions: list[int]
    clips_per_video: int = 1
    load_threads: int | None = None

    @property
    def class_names(self) -> list[str]:
        return list(self.train_source.class_names)

    def view(self, split: SplitName, *, training: bool = False, augment_seed: int | None = None) -> ClipView:
        """Clips of one split; ``training`` switches on augmentation (only ever for ``fit``).

        Evaluation views cut ``clips_per_video`` clips per video; training views one, augmented
        from per-clip seeds when ``augment_seed`` is given (see :class:`ClipView`).
        """
        positions = {
            "train": self.train_positions,
            "fit": self.fit_positions,
            "val": self.val_positions,
            "test": self.test_positions,
        }
        if split not in positions:
            raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_NAMES)}")
        source = self.test_source if split == "test" else self.train_source
        num_clips = 1 if training else self.clips_per_video
        return ClipView(
            source,
            positions[split],
            training=training,
            num_clips=num_clips,
            augment_seed=augment_seed,
            threads=self.load_threads,
        )


def build_data_splits(config: Config) -> DataSplits:
    cap = config.data.max_videos_per_class
    clips = clip_spec(config)
    train_source = build_dataset(config, "train", clips)
    test_source = build_dataset(config, "test", clips)
    train_positions = cap_per_class(train_source.labels, range(len(train_source)), cap)
    test_positions = cap_per_class(test_source.labels, range(len(test_source)), cap)
    fit, val = carve_validation(
        [train_source.labels[p] for p in train_positions],
        fraction=config.data.val_fraction,
        seed=config.train.seed,
        groups=None if train_source.groups is None else [train_source.groups[p] for p in train_positions],
    )
    return DataSplits(
        train_source,
        test_source,
        train_positions=train_positions,
        test_positions=test_positions,
        fit_positions=[train_positions[i] for i in fit],
        val_positions=[train_positions[i] for i in val],
        clips_per_video=config.data.clips_per_video,
        load_threads=config.data.load_threads,
    )


class EpochKeyedBatches(Sampler[list[tuple[int, int]]]):
    """A sharded batch sampler whose batches name the epoch with every position.

    The view seeds each clip's augmentation from its epoch; sending the epoch with the key
    (rather than setting it on the view) reaches persistent DataLoader workers too, whose copy
    of the view was made when they started.
    """

    def __init__(self, batches: ShardedBatchSampler) -> None:
        self.batches = batches

    def set_epoch(self, epoch: int, *, skip: int = 0) -> None:
        self.batches.set_epoch(epoch, skip=skip)

    @property
    def batches_per_epoch(self) -> int:
        return self.batches.batches_per_epoch

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch = self.batches.epoch
        for batch in self.batches:
            yield [(position, epoch) for position in batch]

    def __len__(self) -> int:
        return len(self.batches)


def loader_options(config: Config, device: torch.device, *, workers: int | None = None) -> dict[str, Any]:
    """DataLoader keywords for the data.* speed options, valid for the worker count.

    ``pin_memory`` defaults to on for CUDA (page-locked host memory makes the copy to the GPU
    asynchronous); ``persistent_workers`` and ``prefetch_factor`` only exist with workers.
    ``workers`` replaces ``data.num_workers`` when given.
    """
    data = config.data
    num_workers = data.num_workers if workers is None else workers
    pin = data.pin_memory if data.pin_memory is not None else device.type == "cuda"
    options: dict[str, Any] = {
        "num_workers": num_workers,
        "pin_memory": pin and device.type == "cuda",
        "worker_init_fn": seed_worker,
        "collate_fn": collate_clips,
    }
    if num_workers > 0:
        options["persistent_workers"] = data.persistent_workers
        if data.prefetch_factor is not None:
            options["prefetch_factor"] = data.prefetch_factor
    return options


def train_loader(
    view: ClipView,
    config: Config,
    *,
    device: torch.device = CPU,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """This rank's training batches; call ``loader.batch_sampler.set_epoch(e, skip=s)`` per epoch.

    Reproducibility does not rest on the loader: the batch order is a function of (seed, epoch),
    each clip's augmentation of (seed, epoch, video) (given a view with ``augment_seed``), and
    the loader's own generator keeps creating an iterator from drawing on the global RNG, whose
    state a mid-epoch checkpoint restores.
    """
    batch = config.data.batch
    seed = derive_seed(config.train.seed, "batches")
    sampler: ShuffledBatchSampler | ClassBalancedBatchSampler
    if batch.sampler == "class_balanced":
        sampler = ClassBalancedBatchSampler(
            view.labels,
            classes_per_batch=batch.classes_per_batch,
            videos_per_class=batch.videos_per_class,
            seed=seed,
        )
    else:
        sampler = ShuffledBatchSampler(len(view), batch_size=batch.batch_size, seed=seed)
    sharded = ShardedBatchSampler(sampler, rank=rank, world_size=world_size)
    return DataLoader(
        view,
        batch_sampler=EpochKeyedBatches(sharded),
        generator=torch.Generator().manual_seed(derive_seed(config.train.seed, "loader")),
        **loader_options(config, device),
    )


def eval_loader(
    view: ClipView,
    config: Config,
    *,
    device: torch.device = CPU,
    batch_size: int | None = None,
    workers: int | None = None,
) -> DataLoader:
    """Batches of ``view`` in order (``data.eval_batch_size`` and ``data.num_workers`` unless given).

    Its workers leave Ctrl-C to the main process, which stops after the batch and saves: Ctrl-C
    reaches the whole process group, and a worker that died of it would end the loader with an
    error instead of the orderly stop.
    """
    return DataLoader(
        view,
        batch_size=batch_size or config.data.eval_batch_size,
        shuffle=False,
        generator=torch.Generator().manual_seed(0),
        **(loader_options(config, device, workers=workers) | {"worker_init_fn": _init_eval_worker}),
    )


def _init_eval_worker(worker_id: int) -> None:
    seed_worker(worker_id)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
