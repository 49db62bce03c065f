"""The typed configuration of a vrt run.

Every YAML key maps onto a field here; anything else is an error. Component sections
(``model.backbone``, ``model.head``, ``loss``, ``data.dataset``, ``data.clip_sampler``,
``data.decoder``, ``train.optimizer``, ``train.scheduler``) are a
registry ``name`` plus that builder's keyword arguments, checked against its signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class ComponentSpec:
    """A registered component by name, with the keyword arguments for its builder."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.params}


@dataclass
class LossTerm(ComponentSpec):
    """One registered loss and its weight in the total."""

    weight: float = 1.0


@dataclass
class LossConfig:
    """The training objective: a weighted sum of registered losses.

    In YAML either one loss, ``loss: {name: triplet_ranking, margin: 14}``, or several,
    ``loss: {terms: [{name: triplet_ranking, margin: 14}, {name: quantization, weight: 0.1}]}``.
    ``cross_rank: true`` (beside ``name`` or ``terms``) computes the loss, in distributed
    training, over the embeddings of all ranks' batches instead of each rank's own batch.
    """

    terms: list[LossTerm] = field(default_factory=lambda: [LossTerm("triplet_ranking")])
    cross_rank: bool = False


@dataclass
class ModelConfig:
    backbone: ComponentSpec = field(default_factory=lambda: ComponentSpec("r3d_18"))
    head: ComponentSpec = field(default_factory=lambda: ComponentSpec("linear", {"bits": 48}))


@dataclass
class BatchConfig:
    """How training batches are drawn.

    ``class_balanced`` draws P classes x K videos per batch, which guarantees positives and
    negatives for the triplet loss in every batch; ``shuffle`` is plain shuffled batches.
    """

    sampler: Literal["class_balanced", "shuffle"] = "class_balanced"
    classes_per_batch: int = 8
    videos_per_class: int = 4
    batch_size: int = 32


@dataclass
class ColorJitterConfig:
    """Random colour changes, one draw per clip (0 turns a component off; all 0: no jitter).

    ``brightness``, ``contrast`` and ``saturation`` scale by a factor drawn from ``[1 - v, 1 + v]``;
    ``hue`` shifts by a fraction of the colour circle drawn from ``[-v, v]`` (at most 0.5).
    """

    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0

    @property
    def enabled(self) -> bool:
        return any(value > 0 for value in (self.brightness, self.contrast, self.saturation, self.hue))


@dataclass
class AugmentConfig:
    """How clips are prepared: the random changes made to training clips, and the frame scale.

    Training: scale the shorter side to ``resize_short``, crop a random square whose side is one
    of ``scales`` times that, resize it to ``data.frame_size``, flip it horizontally half of the
    time when ``flip``, jitter its colours (``color``). ``temporal_jitter`` j lets a training
    clip's frames come from a random window of ``(1 - j)`` to all of the video rather than from
    the whole video. Testing: the same short-side scale and a centre crop, nothing random.

    Turn ``flip`` off when classes are told apart by direction ("swipe left" and "swipe right"):
    a mirrored clip of one is a clip of the other. ``resize_short`` defaults to
    ``round(frame_size * 128 / 112)`` (C3D's 128 for 112-pixel clips) and is written out resolved.
    """

    flip: bool = True
    scales: list[float] = field(default_factory=lambda: [1.0, 0.875, 0.75])
    resize_short: int | None = None
    temporal_jitter: float = 0.0
    color: ColorJitterConfig = field(default_factory=ColorJitterConfig)


@dataclass
class DataConfig:
    """Which videos, how clips are cut from them, and how they are batched.

    ``clips_per_video`` clips are encoded per video at test time and their real-valued codes
    averaged before binarisation. ``strict`` turns files missing from the dataset folder into an
    error instead of a warning. ``max_videos_per_class`` caps every split, for quick experiments
    and smoke tests. ``pin_memory`` (default: on for CUDA), ``persistent_workers`` and
    ``prefetch_factor`` tune the DataLoader; they never change the results. ``augment`` is how
    clips are prepared (see :class:`AugmentConfig`). ``decoder`` is what decodes video files
    (``pyav`` or ``torchcodec``, a registered component). ``pipeline: device`` has the
    DataLoader workers only read frame files and draw each clip's augmentation, and decodes and
    transforms the batch on the training device (``cpu``: all of it in the workers).
    ``load_threads`` load the clips of a batch side by side in each loading process (decoding
    releases the GIL); by default one per core (at most 8) when the main process loads
    (``num_workers: 0``), for the clips that decode video files or frames larger than the clips
    need, and one per DataLoader worker. The clips do not depend on it.
    """

    dataset: ComponentSpec = field(default_factory=lambda: ComponentSpec("synthetic"))
    clip_sampler: ComponentSpec = field(default_factory=lambda: ComponentSpec("uniform"))
    decoder: ComponentSpec = field(default_factory=lambda: ComponentSpec("pyav"))
    pipeline: Literal["cpu", "device"] = "cpu"
    num_frames: int = 16
    frame_size: int = 112
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    clips_per_video: int = 1
    val_fraction: float = 0.1
    batch: BatchConfig = field(default_factory=BatchConfig)
    eval_batch_size: int = 32
    num_workers: int = 0
    load_threads: int | None = None
    strict: bool = False
    max_videos_per_class: int | None = None
    pin_memory: bool | None = None
    persistent_workers: bool = False
    prefetch_factor: int | None = None


@dataclass
class TrainConfig:
    """The optimisation loop.

    ``channels_last`` (channels_last_3d memory format) and ``compile`` (``torch.compile``) are
    GPU speed options. A checkpoint is written at the end of every epoch and, with
    ``checkpoint_every_steps``, every N optimiser steps, keeping the newest ``keep_checkpoints``
    step files. ``optimizer`` and ``scheduler`` are registered components (``vrt list
    optimizers``), each with its own parameters; the schedule is stepped once per epoch
    (``plateau`` watches validation mAP). ``warmup_epochs`` w raises the learning rate linearly over the first w epochs
    (from ``lr / (w + 1)``) before the scheduler takes over for the remaining epochs: a ranking
    loss on randomly initialised codes gives large, noisy gradients at first.
    """

    epochs: int = 30
    warmup_epochs: int = 0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    grad_clip: float | None = None
    val_every: int = 1
    max_steps_per_epoch: int | None = None
    channels_last: bool = False
    compile: bool = False
    checkpoint_every_steps: int | None = None
    keep_checkpoints: int = 2
    optimizer: ComponentSpec = field(default_factory=lambda: ComponentSpec("sgd"))
    scheduler: ComponentSpec = field(default_factory=lambda: ComponentSpec("cosine"))


@dataclass
class EvalConfig:
    topk: int = 100


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    name: str = "vrt"


# The data.* keys that decide only how fast clips load, never which clips are made: a resumed
# run may change them, and the record of an encoded collection leaves them out.
DATA_SPEED_KEYS: frozenset[str] = frozenset(
    {
        "data.num_workers",
        "data.load_threads",
        "data.pin_memory",
        "data.persistent_workers",
        "data.prefetch_factor",
        "data.decoder.threads",  # how fast, not what, FFmpeg decodes
    }
)


def resolved_resize_short(augment: AugmentConfig, frame_size: int) -> int:
    """The short side frames are scaled to before the crop: ``augment.resize_short``, else C3D's
    recipe, which the reference follows (a 128-pixel short side for 112-pixel crops).

    The one place it is worked out: config validation writes it into the config, and clips,
    decoders and transforms ask :class:`~vrt.datasets.clips.ClipSpec`, which asks this.

    Raises:
        ValueError: a short side smaller than the frames, from which no crop of that size fits.
    """
    short = augment.resize_short or round(frame_size * 128 / 112)
    if short < frame_size:
        raise ValueError(
            f"resize_short must be at least the frame size ({frame_size}) so that a crop of that size "
            f"fits, got {short}"
        )
    return short
