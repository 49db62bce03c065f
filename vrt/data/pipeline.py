"""From a config to datasets, the train/validation/test views and their loaders.

Split vocabulary used across vrt:
    ``train``  the dataset's whole training split: the retrieval database at evaluation time;
    ``fit``    the part of ``train`` the model learns from (``train`` minus ``val``);
    ``val``    a seeded part carved from ``train`` for model selection (never the test split);
    ``test``   the dataset's test split: the retrieval queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch.utils.data import DataLoader

from vrt.config import Config
from vrt.data.batching import ClassBalancedBatchSampler, ShuffledBatchSampler
from vrt.data.splits import carve_validation
from vrt.datasets.base import ClipView, VideoDataset
from vrt.registry import DATASETS
from vrt.reproducibility import derive_seed, seed_worker

SplitName = Literal["train", "fit", "val", "test"]
SPLIT_NAMES: tuple[str, ...] = ("train", "fit", "val", "test")


def build_dataset(config: Config, subset: Literal["train", "test"]) -> VideoDataset:
    spec = config.data.dataset
    return DATASETS.get(spec.name)(
        subset=subset, num_frames=config.data.num_frames, frame_size=config.data.frame_size, **spec.params
    )


@dataclass
class DataSplits:
    train_source: VideoDataset
    test_source: VideoDataset
    fit_positions: list[int]
    val_positions: list[int]

    @property
    def class_names(self) -> list[str]:
        return list(self.train_source.class_names)

    def view(self, split: SplitName, *, training: bool = False) -> ClipView:
        """Clips of one split; ``training`` switches on augmentation (only ever for ``fit``)."""
        if split == "train":
            return ClipView(self.train_source, range(len(self.train_source)), training=training)
        if split == "fit":
            return ClipView(self.train_source, self.fit_positions, training=training)
        if split == "val":
            return ClipView(self.train_source, self.val_positions, training=training)
        if split == "test":
            return ClipView(self.test_source, range(len(self.test_source)), training=training)
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_NAMES)}")


def build_data_splits(config: Config) -> DataSplits:
    train_source = build_dataset(config, "train")
    test_source = build_dataset(config, "test")
    fit_positions, val_positions = carve_validation(
        train_source.labels,
        fraction=config.data.val_fraction,
        seed=config.train.seed,
        groups=train_source.groups,
    )
    return DataSplits(train_source, test_source, list(fit_positions), list(val_positions))


def train_loader(view: ClipView, config: Config, *, pin_memory: bool = False) -> DataLoader:
    """Batches for one run; call ``loader.batch_sampler.set_epoch(e)`` before each epoch."""
    batch = config.data.batch
    seed = derive_seed(config.train.seed, "batches")
    if batch.sampler == "class_balanced":
        sampler = ClassBalancedBatchSampler(
            view.labels,
            classes_per_batch=batch.classes_per_batch,
            videos_per_class=batch.videos_per_class,
            seed=seed,
        )
    else:
        sampler = ShuffledBatchSampler(len(view), batch_size=batch.batch_size, seed=seed)
    return DataLoader(
        view,
        batch_sampler=sampler,
        num_workers=config.data.num_workers,
        worker_init_fn=seed_worker,
        pin_memory=pin_memory,
        persistent_workers=False,
    )


def eval_loader(view: ClipView, config: Config, *, pin_memory: bool = False) -> DataLoader:
    return DataLoader(
        view,
        batch_size=config.data.eval_batch_size,
        shuffle=False,
        num_workers=config.data.num_workers,
        worker_init_fn=seed_worker,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(0),
    )
