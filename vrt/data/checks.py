"""What can be known about a run before it starts: checks on the data, the batches and the device.

``vrt train`` runs :func:`check_trainable` before it creates the run directory, so a config
that cannot train fails in a second with one line naming the key, not after an epoch with a
traceback; ``vrt data summary`` reports the same :func:`training_problems`.
"""

from __future__ import annotations

from vrt.config import Config
from vrt.data.pipeline import DataSplits
from vrt.datasets.base import VideoDataset
from vrt.errors import DataError, VideoDecodeError, VrtError
from vrt.losses.combined import loss_needs_labels
from vrt.registry import BACKBONES

__all__ = ["check_trainable", "training_problems"]


def check_trainable(config: Config, splits: DataSplits) -> None:
    """Raise :class:`~vrt.errors.DataError` with every problem of :func:`training_problems`, on one line."""
    problems = training_problems(config, splits)
    if problems:
        raise DataError("; ".join(problems))


def training_problems(config: Config, splits: DataSplits) -> list[str]:
    """The reasons ``config`` cannot train on ``splits`` (empty when it can), one sentence each.

    Decodes the first readable video of the fit and test splits, stopping at the first that
    reads: one video each for a healthy dataset, all of them only when none can be read.
    """
    from vrt.runtime.devices import resolve_device

    problems = []
    try:
        resolve_device(config.train.device)
    except VrtError as error:
        problems.append(str(error))
    dataset = config.data.dataset.name
    for split, positions, source in (
        ("training", splits.fit_positions, splits.train_source),
        ("test", splits.test_positions, splits.test_source),
    ):
        if not positions:
            problems.append(
                f"data.dataset: the {split} split of {_name(source, dataset)} has no videos; "
                f"list or add videos for it{' (or lower data.val_fraction)' if split == 'training' else ''}"
            )
            continue
        unreadable = _none_readable(source, positions)
        if unreadable is not None:
            problems.append(
                f"none of the {len(positions)} videos of the {split} split can be read "
                f"(e.g. {unreadable}); check data.dataset.root and the files "
                "(vrt data summary CONFIG --check N lists the failures)"
            )
    if len(splits.fit_positions) == 1:
        problems.append("the training split has a single video; ranking needs at least two")
    problems += _input_problems(config, splits.train_source)
    batch = config.data.batch
    fit_labels = [splits.train_source.labels[p] for p in splits.fit_positions]
    unlabelled = sum(label < 0 for label in fit_labels)
    if unlabelled and loss_needs_labels(config.loss):
        problems.append(
            f"{unlabelled} of the {len(fit_labels)} training videos have no label, and loss "
            f"{', '.join(term.name for term in config.loss.terms)} needs the class of every one: train "
            'them with a self-supervised loss (loss.name: conmh or bth; docs/training.md, "Training '
            'without labels"), or label them'
        )
    if unlabelled and batch.sampler == "class_balanced":
        problems.append(
            "data.batch.sampler: class_balanced batches need classes, and the training videos have "
            "none; use data.batch.sampler: shuffle"
        )
    classes = len({label for label in fit_labels if label >= 0})
    if batch.sampler == "class_balanced" and classes and batch.classes_per_batch > classes:
        problems.append(
            f"data.batch.classes_per_batch: {batch.classes_per_batch} classes per batch, but the "
            f"training videos cover only {classes} classes; set it to at most {classes}, or use "
            "data.batch.sampler: shuffle"
        )
    return problems


def _input_problems(config: Config, source: VideoDataset) -> list[str]:
    """A backbone that reads another kind of input than the dataset gives (clips or frame
    features), or frame features of another width than the backbone was built for."""
    backbone = config.model.backbone
    reads = BACKBONES.entry(backbone.name).metadata.get("input", "clips")
    if reads != source.input_kind:
        wanted = "frame_features" if source.input_kind == "features" else "a backbone over video clips"
        return [
            f"model.backbone: {backbone.name} reads {'frame features' if reads == 'features' else 'video clips'}, "
            f"but data.dataset {config.data.dataset.name} gives "
            f"{'frame features' if source.input_kind == 'features' else 'video clips'}; use {wanted}"
        ]
    if source.input_kind == "features" and config.data.clips_per_video > 1:
        return [
            f"data.clips_per_video: {config.data.clips_per_video}, but a feature file holds one "
            "clip's frames per video; set it to 1"
        ]
    dim = getattr(source, "dim", None)
    expected = backbone.params.get("dim") if reads == "features" else None
    if dim is not None and expected is not None and expected != dim:
        return [
            f"model.backbone.dim: {expected}, but the feature files hold {dim} features per frame; set it to {dim}"
        ]
    return []


def _none_readable(source: VideoDataset, positions: list[int]) -> str | None:
    """``id: reason`` of the first failure when no video of ``positions`` can be read, else None."""
    first_failure = None
    for index in positions:
        try:
            source.load_clip(index, training=False)
        except VideoDecodeError as error:
            first_failure = first_failure or f"{source.ids[index]}: {error}"
            continue
        return None
    return first_failure


def _name(source: VideoDataset, dataset: str) -> str:
    return str(getattr(source, "name", dataset))
