"""Checks a typed :class:`Config` must pass before anything is built from it.

Each component is checked against its registry (its name, and its parameters against the
builder's signature, see :mod:`vrt.config.params`); then ranges that types alone cannot express;
then the contracts every component of a kind shares. Errors name the file and the key path.
"""

from __future__ import annotations

import math
from typing import Any

from vrt.codes import check_bits
from vrt.config.params import check_params
from vrt.config.schema import Config, LossConfig, resolved_resize_short
from vrt.config.typecheck import ConfigError
from vrt.registry import (
    BACKBONES,
    DATASETS,
    DECODERS,
    HEADS,
    LOSSES,
    OPTIMIZERS,
    SAMPLERS,
    SCHEDULERS,
    Registry,
    RegistryError,
)
from vrt.runtime.limits import MAX_BITS

# Where each single-component section lives and which registry resolves it (loss terms apart).
COMPONENT_SECTIONS: dict[str, Registry] = {
    "model.backbone": BACKBONES,
    "model.head": HEADS,
    "data.dataset": DATASETS,
    "data.clip_sampler": SAMPLERS,
    "data.decoder": DECODERS,
    "train.optimizer": OPTIMIZERS,
    "train.scheduler": SCHEDULERS,
}


def validate(config: Config, *, source: str) -> None:
    """Every check, in order: components, value ranges, shared contracts."""
    validate_components(config, source=source)
    _validate_values(config, source=source)
    _validate_contracts(config, source=source)


def loss_term_paths(loss: LossConfig) -> list[str]:
    """Key paths of the terms as the user wrote them (``loss`` for a single loss)."""
    return ["loss"] if len(loss.terms) == 1 else [f"loss.terms[{i}]" for i in range(len(loss.terms))]


def validate_components(config: Config, *, source: str) -> None:
    """Check each component's name against its registry and its parameters against the builder."""
    sections = [(get_section(config, path), path, registry) for path, registry in COMPONENT_SECTIONS.items()]
    sections += [
        (term, path, LOSSES)
        for term, path in zip(config.loss.terms, loss_term_paths(config.loss), strict=True)
    ]
    for spec, section, registry in sections:
        try:
            entry = registry.entry(spec.name)
        except RegistryError as error:
            raise ConfigError(str(error), source=source, key_path=f"{section}.name") from None
        spec.name = entry.name
        spec.params = check_params(registry, entry.builder, spec.params, key_path=section, source=source)


def _validate_values(config: Config, *, source: str) -> None:
    """Range checks that types alone cannot express."""
    checks = [
        ("train.epochs", config.train.epochs >= 1, "must be >= 1"),
        ("train.val_every", config.train.val_every >= 1, "must be >= 1"),
        ("train.grad_clip", config.train.grad_clip is None or config.train.grad_clip > 0, "must be > 0"),
        ("data.num_frames", config.data.num_frames >= 1, "must be >= 1"),
        ("data.clips_per_video", config.data.clips_per_video >= 1, "must be >= 1"),
        ("data.frame_size", config.data.frame_size >= 8, "must be >= 8"),
        ("data.val_fraction", 0.0 <= config.data.val_fraction < 1.0, "must be in [0, 1)"),
        ("data.batch.classes_per_batch", config.data.batch.classes_per_batch >= 2, "must be >= 2"),
        ("data.batch.videos_per_class", config.data.batch.videos_per_class >= 2, "must be >= 2"),
        ("data.batch.batch_size", config.data.batch.batch_size >= 2, "must be >= 2"),
        ("data.eval_batch_size", config.data.eval_batch_size >= 1, "must be >= 1"),
        ("data.num_workers", config.data.num_workers >= 0, "must be >= 0"),
        ("train.keep_checkpoints", config.train.keep_checkpoints >= 1, "must be >= 1"),
        ("eval.topk", config.eval.topk >= 1, "must be >= 1"),
    ]
    optional_counts = (
        "data.max_videos_per_class",
        "data.prefetch_factor",
        "data.load_threads",
        "train.max_steps_per_epoch",
        "train.checkpoint_every_steps",
    )
    for key_path in optional_counts:
        value = get_section(config, key_path)
        checks.append((key_path, value is None or value >= 1, "must be >= 1"))
    for key_path, ok, expectation in checks:
        if not ok:
            value = get_section(config, key_path)
            raise ConfigError(f"{expectation}, got {value!r}", source=source, key_path=key_path)
    device = config.train.device
    if not (device in ("auto", "cpu", "cuda", "mps") or device.startswith("cuda:")):
        raise ConfigError(
            f"expected auto, cpu, cuda, cuda:N or mps, got {device!r}", source=source, key_path="train.device"
        )
    _validate_warmup(config, source=source)
    _validate_augment(config, source=source)


def _validate_warmup(config: Config, *, source: str) -> None:
    train = config.train
    if not 0 <= train.warmup_epochs < train.epochs:
        raise ConfigError(
            f"must lie in [0, train.epochs) = [0, {train.epochs}), got {train.warmup_epochs}",
            source=source,
            key_path="train.warmup_epochs",
        )
    if train.warmup_epochs and train.scheduler.name == "plateau":
        raise ConfigError(
            "a warmup cannot precede the plateau schedule (it reacts to validation mAP from the "
            "first epoch); set train.warmup_epochs: 0 or use the cosine or step schedule",
            source=source,
            key_path="train.warmup_epochs",
        )


def _validate_augment(config: Config, *, source: str) -> None:
    """Ranges of ``data.augment``; an unset ``resize_short`` is resolved here, so that config.yaml
    and ``vrt config show`` say which short side the clips are scaled to."""
    augment, frame_size = config.data.augment, config.data.frame_size
    color = augment.color
    checks = [
        (
            "scales",
            bool(augment.scales) and all(0.0 < s <= 1.0 for s in augment.scales),
            "must be a non-empty list of crop fractions in (0, 1]",
        ),
        ("temporal_jitter", 0.0 <= augment.temporal_jitter < 1.0, "must lie in [0, 1)"),
        ("color.brightness", 0.0 <= color.brightness < math.inf, "must be a finite number >= 0"),
        ("color.contrast", 0.0 <= color.contrast < math.inf, "must be a finite number >= 0"),
        ("color.saturation", 0.0 <= color.saturation < math.inf, "must be a finite number >= 0"),
        ("color.hue", 0.0 <= color.hue <= 0.5, "must lie in [0, 0.5] (a fraction of the colour circle)"),
    ]
    for key, ok, expectation in checks:
        if not ok:
            value = get_section(augment, key)
            raise ConfigError(f"{expectation}, got {value!r}", source=source, key_path=f"data.augment.{key}")
    try:
        augment.resize_short = resolved_resize_short(augment, frame_size)
    except ValueError:
        raise ConfigError(
            f"must be at least data.frame_size ({frame_size}) so that a crop of that size fits, "
            f"got {augment.resize_short}",
            source=source,
            key_path="data.augment.resize_short",
        ) from None


def _validate_contracts(config: Config, *, source: str) -> None:
    """Constraints every component of a kind shares, checked now rather than when it is built.

    A builder would refuse these too, but only after the data is indexed and the run directory
    exists, and with a bare ``ValueError``; here the message names the file and key. Only rules
    that hold for every head and every loss belong here, so plugins are held to them too:
    codes are stored 8 bits per byte (``check_bits``, the head contract), and a loss's
    ``margin`` is a distance that must be exceeded, so one <= 0 (or nan/inf) means nothing.
    """

    bits = config.model.head.params.get("bits")
    if bits is not None:
        try:
            check_bits(bits)
        except ValueError:
            limit = isinstance(bits, int) and bits > MAX_BITS and bits % 8 == 0
            raise ConfigError(
                f"must be at most {MAX_BITS}, vrt's longest code, got {bits}; e.g. 16, 32, 48 or 64"
                if limit
                else f"must be a positive multiple of 8 (codes are stored 8 bits per byte), got {bits!r}; "
                "e.g. 16, 32, 48 or 64",
                source=source,
                key_path="model.head.bits",
            ) from None
    lr = config.train.optimizer.params.get("lr")
    if lr is not None and not 0 < lr < math.inf:
        raise ConfigError(
            f"must be a finite number > 0, got {lr!r}", source=source, key_path="train.optimizer.lr"
        )
    for term, path in zip(config.loss.terms, loss_term_paths(config.loss), strict=True):
        # A miner's own margin (`loss.miner: {name: semihard, margin: 10}`) is held to the same rule.
        sections = [(term.params, path)] + [
            (value, f"{path}.{key}") for key, value in term.params.items() if isinstance(value, dict)
        ]
        for params, section in sections:
            margin = params.get("margin")
            numeric = isinstance(margin, int | float) and not isinstance(margin, bool)
            if numeric and not (math.isfinite(margin) and margin > 0):
                raise ConfigError(
                    f"must be a finite number > 0 (a distance between codes), got {margin!r}",
                    source=source,
                    key_path=f"{section}.margin",
                )


def get_section(config: Config, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = getattr(node, part)
    return node
