"""From a config to datasets, the train/validation/test views and their loaders.

Split vocabulary used across vrt:
    ``train``  the dataset's whole training split: the retrieval database at evaluation time;
    ``fit``    the part of ``train`` the model learns from (``train`` minus ``val``);
    ``val``    a seeded part carved from ``train`` for model selection (never the test split);
    ``test``   the dataset's test split: the retrieval queries.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch.utils.data import DataLoader

from vrt.config import Config
from vrt.data.batching import ClassBalancedBatchSampler, ShuffledBatchSampler
from vrt.data.collate import collate_clips
from vrt.data.splits import carve_validation
from vrt.datasets.base import ClipView, VideoDataset
from vrt.registry import DATASETS, SAMPLERS
from vrt.reproducibility import derive_seed, seed_worker

SplitName = Literal["train", "fit", "val", "test"]
SPLIT_NAMES: tuple[str, ...] = ("train", "fit", "val", "test")


def call_with_injected(builder: Any, params: dict[str, Any], injected: dict[str, Any]) -> Any:
    """Call a registered builder with its config params plus the injected values it accepts.

    Injecting only what a builder declares lets simple plugins ignore what they do not need
    (a generated dataset has no use for a clip sampler).
    """
    signature = inspect.signature(builder)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    accepted = {k: v for k, v in injected.items() if takes_any or k in signature.parameters}
    return builder(**params, **accepted)


def build_dataset(config: Config, subset: Literal["train", "test"]) -> VideoDataset:
    data = config.data
    clip_sampler = call_with_injected(
        SAMPLERS.get(data.clip_sampler.name), data.clip_sampler.params, {"num_frames": data.num_frames}
    )
    injected = {
        "subset": subset,
        "num_frames": data.num_frames,
        "frame_size": data.frame_size,
        "clip_sampler": clip_sampler,
        "strict": data.strict,
    }
    return call_with_injected(DATASETS.get(data.dataset.name), data.dataset.params, injected)


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

    @property
    def class_names(self) -> list[str]:
        return list(self.train_source.class_names)

    def view(self, split: SplitName, *, training: bool = False) -> ClipView:
        """Clips of one split; ``training`` switches on augmentation (only ever for ``fit``).

        Evaluation views cut ``clips_per_video`` clips per video; training views one.
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
        return ClipView(source, positions[split], training=training, num_clips=num_clips)


def build_data_splits(config: Config) -> DataSplits:
    cap = config.data.max_videos_per_class
    train_source = build_dataset(config, "train")
    test_source = build_dataset(config, "test")
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
    )


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
        collate_fn=collate_clips,
        pin_memory=pin_memory,
        # Fresh workers each epoch draw their seeds from the per-epoch seeded global RNG, which
        # keeps augmentation identical between an uninterrupted and a resumed run.
        persistent_workers=False,
    )


def eval_loader(view: ClipView, config: Config, *, pin_memory: bool = False) -> DataLoader:
    return DataLoader(
        view,
        batch_size=config.data.eval_batch_size,
        shuffle=False,
        num_workers=config.data.num_workers,
        worker_init_fn=seed_worker,
        collate_fn=collate_clips,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(0),
    )
