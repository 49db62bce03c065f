"""The typed configuration of a vrt run.

Every YAML key maps onto a field here; anything else is an error. Component sections
(``model.backbone``, ``model.head``, ``loss``, ``data.dataset``, ``data.clip_sampler``) are a
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
class DataConfig:
    dataset: ComponentSpec = field(default_factory=lambda: ComponentSpec("synthetic"))
    num_frames: int = 16
    frame_size: int = 112
    val_fraction: float = 0.1
    batch: BatchConfig = field(default_factory=BatchConfig)
    eval_batch_size: int = 32
    num_workers: int = 0


@dataclass
class OptimizerConfig:
    name: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False


@dataclass
class SchedulerConfig:
    """Learning-rate schedule, stepped once per epoch (``plateau`` watches validation mAP)."""

    name: Literal["none", "step", "cosine", "plateau"] = "cosine"
    step_size: int = 10
    gamma: float = 0.1
    patience: int = 2
    min_lr: float = 0.0


@dataclass
class TrainConfig:
    epochs: int = 30
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    grad_clip: float | None = None
    val_every: int = 1
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)


@dataclass
class EvalConfig:
    topk: int = 100


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: ComponentSpec = field(default_factory=lambda: ComponentSpec("triplet_ranking"))
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    name: str = "vrt"
