"""Dataset ``features``: train, validate, evaluate and export from feature files.

A feature file holds ``(T, D)`` frame features per video (:mod:`vrt.io.feature_files`): vrt's own
(``vrt features extract``), or the published features of the self-supervised video hashing
papers (a ``feats`` dataset, labels in a ``.mat`` file). An item's "clip" is ``data.num_frames``
of its frames, picked by the configured clip sampler as frames of a video are (uniformly at test
time; with ``data.augment.temporal_jitter``, from a random window in training: a temporal crop),
and in training each picked frame is zeroed with probability ``frame_dropout``. The model reads
them with a ``frame_features`` backbone. No video is decoded: an epoch over UCF101-sized
features takes seconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from vrt.codes import UNLABELLED, EncoderIdentity
from vrt.datasets.base import VideoDataset
from vrt.datasets.clips import ClipSpec
from vrt.datasets.files import check_subset
from vrt.errors import VrtError
from vrt.io.feature_files import FeatureFile, open_feature_file
from vrt.io.fragments import split_time_fragment
from vrt.registry import DATASETS

__all__ = ["FeatureDataset"]


class FeatureDataset(VideoDataset):
    """The items of one feature file; ``load_clip`` gives float32 ``(data.num_frames, D)``.

    Args:
        file: the opened feature file.
        class_names: the names shared by the train and test files (None: bare class numbers, up
            to ``num_classes``).
        clips: the clip settings (its sampler picks the frames).
        frame_dropout: in training, the chance that a picked frame's features are zeroed.
    """

    input_kind = "features"

    def __init__(
        self,
        file: FeatureFile,
        *,
        class_names: list[str] | None,
        num_classes: int,
        clips: ClipSpec,
        frame_dropout: float = 0.0,
        name: str = "features",
    ) -> None:
        if not 0.0 <= frame_dropout < 1.0:
            raise VrtError(f"data.dataset.frame_dropout must lie in [0, 1), got {frame_dropout}")
        self.file = file
        self.made_by = file.encoder
        self.clips = clips
        self.frame_dropout = frame_dropout
        self.name = name
        self._named = class_names is not None
        names = class_names if class_names is not None else [str(label) for label in range(num_classes)]
        # The source video of an item: the file's groups, else the id before a #t= window.
        groups = file.groups if file.groups is not None else [split_time_fragment(i)[0] for i in file.ids]
        super().__init__(class_names=names, labels=file.labels.tolist(), ids=file.ids, groups=groups)

    @property
    def dim(self) -> int:
        return self.file.dim

    def code_class_names(self) -> list[str] | None:
        return list(self.class_names) if self._named else None

    def load_clip(self, index: int, *, training: bool, clip: int = 0, num_clips: int = 1) -> torch.Tensor:
        features = self.file.features(index)
        picked = self.clips.sampler(features.shape[0], training=training, clip=clip, num_clips=num_clips)
        frames = torch.from_numpy(np.ascontiguousarray(features[list(picked)]))
        if training and self.frame_dropout > 0:
            dropped = torch.rand(frames.shape[0]) < self.frame_dropout
            if dropped.all():  # keep one frame: a clip of zeros says nothing
                dropped[torch.randint(frames.shape[0], (1,))] = False
            frames[dropped] = 0.0
        return frames

    def describe_clips(self) -> dict[str, str]:
        return {
            "features": f"{self.file.frames} frames x {self.file.dim} per item in {self.file.path}",
            "sampler": repr(self.clips.sampler),
            "frame dropout": f"{self.frame_dropout:g} (training)",
        }

    def __repr__(self) -> str:
        return f"FeatureDataset({self.name!r}, items={len(self)}, classes={self.num_classes}, dim={self.dim})"


@DATASETS.register("features", metadata={"input": "features"})
def features(
    *,
    subset: Literal["train", "test"],
    clips: ClipSpec,
    train: str,
    test: str,
    train_labels: str | None = None,
    test_labels: str | None = None,
    frame_dropout: float = 0.0,
) -> FeatureDataset:
    """Frame features from feature files (vrt's, or the published SSVH layout with .mat labels).

    Args:
        train, test: the feature files of the train split (the database) and the test split
            (the queries).
        train_labels, test_labels: ``.mat`` label files for the published layout (a ``feats``
            dataset alone); vrt's files hold their labels. Without labels the items are
            unlabelled (train them with a self-supervised loss).
        frame_dropout: in training, the chance that each picked frame's features are zeroed.
        subset, clips: injected by vrt (the subset, and the clip settings: ``data.num_frames``
            frames are picked by ``data.clip_sampler``).
    """
    subset = check_subset(subset)
    opened = {
        "train": open_feature_file(Path(train), labels=train_labels),
        "test": open_feature_file(Path(test), labels=test_labels),
    }
    names = [file.class_names for file in opened.values()]
    if names[0] != names[1] and all(name is not None for name in names):
        raise VrtError(f"data.dataset: {train} and {test} name their classes differently")
    if opened["train"].dim != opened["test"].dim:
        raise VrtError(
            f"data.dataset: {train} holds {opened['train'].dim} features per frame, {test} {opened['test'].dim}"
        )
    if differences := _encoder_differences(opened["train"], opened["test"]):
        raise VrtError(
            f"data.dataset: {train} and {test} hold features of different encoders "
            f"({', '.join(differences)} differ): extract both with one model"
        )
    class_names = names[0] if names[0] is not None else names[1]
    num_classes = (
        max(int(max(file.labels.max(initial=UNLABELLED), UNLABELLED)) for file in opened.values()) + 1
    )
    return FeatureDataset(
        opened[subset],
        class_names=class_names,
        num_classes=max(num_classes, len(class_names or ())),
        clips=clips,
        frame_dropout=frame_dropout,
        name=f"features {subset} ({Path(train if subset == 'train' else test).name})",
    )


def _encoder_differences(first: FeatureFile, second: FeatureFile) -> list[str]:
    """The facts in which the models that made two files' features differ (none known: [])."""
    try:
        identities = [EncoderIdentity.from_dict(file.encoder) for file in (first, second) if file.encoder]
    except ValueError:  # a record this vrt does not read: nothing to compare
        return []
    return identities[0].differences(identities[1]) if len(identities) == 2 else []
