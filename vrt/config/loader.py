"""YAML -> typed :class:`Config`, validated before any tensor exists.

The pipeline is: read the file (``yaml.safe_load``), merge its optional single ``_base_``,
apply ``--set key.path=value`` overrides, convert into dataclasses (unknown keys and wrong
types fail), then check every component against its registry entry and builder signature.
Errors carry the file and the dotted key path.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import inspect
import json
import math
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from vrt.config.schema import ComponentSpec, Config, LossConfig, LossTerm
from vrt.config.typecheck import ConfigError, check_value, describe_type
from vrt.registry import BACKBONES, DATASETS, HEADS, LOSSES, SAMPLERS, Registry, RegistryError

BASE_KEY = "_base_"

# Arguments that vrt supplies when it builds a component; a config must not set them.
INJECTED_PARAMS: dict[str, frozenset[str]] = {
    "backbones": frozenset(),
    "heads": frozenset({"in_dim"}),
    "losses": frozenset({"bits", "num_classes"}),
    "datasets": frozenset({"subset", "clips"}),
    "samplers": frozenset({"num_frames"}),
    "miners": frozenset({"margin"}),  # given by the triplet loss that uses the miner
}

# Where each single-component section lives and which registry resolves it (loss terms apart).
COMPONENT_SECTIONS: dict[str, Registry] = {
    "model.backbone": BACKBONES,
    "model.head": HEADS,
    "data.dataset": DATASETS,
    "data.clip_sampler": SAMPLERS,
}


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read, merge, override and validate a config file."""
    path = Path(path)
    raw = read_config_dict(path)
    for override in overrides:
        apply_override(raw, override, source=str(path))
    return config_from_dict(raw, source=str(path))


def read_config_dict(path: Path) -> dict[str, Any]:
    """The file's mapping with its ``_base_`` (one level, no chains) merged in."""
    raw = _read_yaml_mapping(path)
    base_name = raw.pop(BASE_KEY, None)
    if base_name is None:
        return raw
    if not isinstance(base_name, str):
        raise ConfigError(f"expected a file path, got {base_name!r}", source=str(path), key_path=BASE_KEY)
    base_path = (path.parent / base_name).resolve()
    if not base_path.is_file():
        raise ConfigError(f"base file {base_path} does not exist", source=str(path), key_path=BASE_KEY)
    base = _read_yaml_mapping(base_path)
    if BASE_KEY in base:
        # One level keeps configs readable; a chain is what makes mmengine configs hard to follow.
        raise ConfigError(
            f"the base file {base_path} has its own {BASE_KEY}; only one level of inheritance is allowed",
            source=str(path),
            key_path=BASE_KEY,
        )
    return merge_dicts(base, raw)


def _read_yaml_mapping(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist", source=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"not UTF-8 text (byte {error.start}: {error.reason})", source=str(path)) from None
    except OSError as error:
        raise ConfigError(
            f"cannot read the config file: {error.strerror or error}", source=str(path)
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"invalid YAML{describe_yaml_error(error)}", source=str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping at the top level, got {type(data).__name__}", source=str(path))
    return data


def describe_yaml_error(error: yaml.YAMLError) -> str:
    """PyYAML's multi-line report (excerpt, caret) as one line: `` at line L, column C: problem``.

    The excerpt would also name ``<unicode string>`` rather than the file, which the caller adds.
    """
    if not isinstance(error, yaml.MarkedYAMLError):
        return f": {' '.join(str(error).split())}"
    mark = error.problem_mark or error.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = error.problem or "cannot be parsed"
    context = ""
    if error.context and error.context_mark is not None and error.context_mark is not mark:
        context = f" ({error.context} at line {error.context_mark.line + 1})"
    return f"{where}: {problem}{context}"


def merge_dicts(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge; a component section that names a different component replaces the base's.

    Keeping the base's parameters when the component changes would hand, say, r3d_18's options to
    tiny3d, so a new ``name`` (or a switch from one loss to a ``terms`` list) starts that section
    afresh.
    """
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            renamed = "name" in value and value.get("name") != current.get("name")
            switched_to_terms = "terms" in value and "terms" not in current  # one loss -> a weighted list
            if renamed or switched_to_terms:
                merged[key] = copy.deepcopy(value)
            else:
                merged[key] = merge_dicts(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def apply_override(raw: dict[str, Any], override: str, *, source: str | None = None) -> None:
    """Apply ``key.path=value`` in place; the value is parsed as YAML (``64``, ``true``, ``[1, 2]``)."""
    key_path, sep, text = override.partition("=")
    key_path = key_path.strip()
    if not sep or not key_path or any(not part for part in key_path.split(".")):
        raise ConfigError(f"override {override!r} is not of the form key.path=value", source="--set")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError(
            f"cannot parse value {text!r} as YAML{describe_yaml_error(error)}",
            source="--set",
            key_path=key_path,
        ) from None
    node = raw
    parts = key_path.split(".")
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            prefix = ".".join(parts[: depth + 1])
            raise ConfigError(f"{prefix} is a value, not a section", source="--set", key_path=key_path)
        node = child
    node[parts[-1]] = value


def config_from_dict(raw: Mapping[str, Any], *, source: str = "<config>") -> Config:
    """Build and fully validate a :class:`Config` from plain data."""
    config = _to_dataclass(Config, raw, key_path="", source=source)
    validate_components(config, source=source)
    _validate_values(config, source=source)
    _validate_contracts(config, source=source)
    return config


def _to_dataclass(cls: type, raw: Any, *, key_path: str, source: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"expected a mapping, got {raw!r}", source=source, key_path=key_path or "<top>")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [key for key in raw if key not in fields]
    if unknown:
        key = unknown[0]
        raise ConfigError(
            f"unknown key{_suggest(str(key), fields)}; expected one of: {', '.join(fields)}",
            source=source,
            key_path=_join(key_path, str(key)),
        )
    values = {}
    for name, value in raw.items():
        child_path = _join(key_path, name)
        annotation = hints[name]
        if annotation is ComponentSpec:
            values[name] = _to_component(value, key_path=child_path, source=source)
        elif annotation is LossConfig:
            values[name] = _to_loss(value, key_path=child_path, source=source)
        elif dataclasses.is_dataclass(annotation):
            values[name] = _to_dataclass(annotation, value, key_path=child_path, source=source)
        else:
            try:
                values[name] = check_value(value, annotation, child_path)
            except ConfigError as error:
                raise ConfigError(error.detail, source=source, key_path=error.key_path) from None
    return cls(**values)


def _to_component(raw: Any, *, key_path: str, source: str) -> ComponentSpec:
    if isinstance(raw, str):  # shorthand: `loss: triplet_ranking`
        raw = {"name": raw}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"expected a mapping with a 'name' key, got {raw!r}", source=source, key_path=key_path
        )
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("expected a component name (string)", source=source, key_path=f"{key_path}.name")
    params = {str(k): v for k, v in raw.items() if k != "name"}
    return ComponentSpec(name=name, params=params)


def _to_loss(raw: Any, *, key_path: str, source: str) -> LossConfig:
    cross_rank = False
    if isinstance(raw, Mapping) and "cross_rank" in raw:
        raw = dict(raw)
        try:
            cross_rank = check_value(raw.pop("cross_rank"), bool, f"{key_path}.cross_rank")
        except ConfigError as error:
            raise ConfigError(error.detail, source=source, key_path=error.key_path) from None
    if isinstance(raw, str) or (isinstance(raw, Mapping) and "terms" not in raw):
        return LossConfig(terms=[_to_loss_term(raw, key_path=key_path, source=source)], cross_rank=cross_rank)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"expected a mapping, got {raw!r}", source=source, key_path=key_path)
    unknown = [key for key in raw if key != "terms"]
    if unknown:
        raise ConfigError(
            "unknown key beside 'terms' (only cross_rank may be); put parameters inside each term",
            source=source,
            key_path=f"{key_path}.{unknown[0]}",
        )
    terms = raw["terms"]
    if not isinstance(terms, list) or not terms:
        raise ConfigError("expected a non-empty list of losses", source=source, key_path=f"{key_path}.terms")
    return LossConfig(
        terms=[
            _to_loss_term(t, key_path=f"{key_path}.terms[{i}]", source=source) for i, t in enumerate(terms)
        ],
        cross_rank=cross_rank,
    )


def _to_loss_term(raw: Any, *, key_path: str, source: str) -> LossTerm:
    spec = _to_component(raw, key_path=key_path, source=source)
    weight = spec.params.pop("weight", 1.0)
    try:
        weight = check_value(weight, float, f"{key_path}.weight")
    except ConfigError as error:
        raise ConfigError(error.detail, source=source, key_path=error.key_path) from None
    if not math.isfinite(weight) or weight <= 0:
        raise ConfigError(
            f"must be > 0 and finite, got {weight}", source=source, key_path=f"{key_path}.weight"
        )
    return LossTerm(name=spec.name, params=spec.params, weight=weight)


def loss_term_paths(loss: LossConfig) -> list[str]:
    """Key paths of the terms as the user wrote them (``loss`` for a single loss)."""
    return ["loss"] if len(loss.terms) == 1 else [f"loss.terms[{i}]" for i in range(len(loss.terms))]


def validate_components(config: Config, *, source: str) -> None:
    """Check each component's name against its registry and its parameters against the builder."""
    sections = [(_get_section(config, path), path, registry) for path, registry in COMPONENT_SECTIONS.items()]
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
        spec.params = check_builder_params(
            entry.builder,
            spec.params,
            injected=INJECTED_PARAMS[registry.kind],
            key_path=section,
            source=source,
        )


def check_builder_params(
    builder: Any,
    params: Mapping[str, Any],
    *,
    injected: frozenset[str],
    key_path: str,
    source: str,
) -> dict[str, Any]:
    """Validate ``params`` against ``builder``'s keyword arguments and annotations."""
    signature = inspect.signature(builder)
    try:
        hints = typing.get_type_hints(builder)
    except Exception:  # unresolvable annotations in a plugin: fall back to no type checks
        hints = {}
    accepted = {
        name: p
        for name, p in signature.parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and name not in injected
    }
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    checked: dict[str, Any] = {}
    for name, value in params.items():
        path = f"{key_path}.{name}"
        if name in injected:
            raise ConfigError(f"{name!r} is set by vrt, not by the config", source=source, key_path=path)
        if name not in accepted:
            if takes_any:
                checked[name] = value
                continue
            raise ConfigError(
                f"unknown parameter{_suggest(name, accepted)}; {_accepted_text(accepted, hints)}",
                source=source,
                key_path=path,
            )
        try:
            checked[name] = check_value(value, hints.get(name, Any), path)
        except ConfigError as error:
            raise ConfigError(error.detail, source=source, key_path=error.key_path) from None
    missing = [
        name for name, p in accepted.items() if p.default is inspect.Parameter.empty and name not in checked
    ]
    if missing:
        raise ConfigError(
            f"missing required parameter(s): {', '.join(missing)}", source=source, key_path=key_path
        )
    return checked


def _validate_values(config: Config, *, source: str) -> None:
    """Range checks that types alone cannot express."""
    checks = [
        ("train.epochs", config.train.epochs >= 1, "must be >= 1"),
        ("train.val_every", config.train.val_every >= 1, "must be >= 1"),
        ("train.optimizer.lr", 0 < config.train.optimizer.lr < math.inf, "must be a finite number > 0"),
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
        "train.max_steps_per_epoch",
        "train.checkpoint_every_steps",
    )
    for key_path in optional_counts:
        value = _get_section(config, key_path)
        checks.append((key_path, value is None or value >= 1, "must be >= 1"))
    for key_path, ok, expectation in checks:
        if not ok:
            value = _get_section(config, key_path)
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
            value = _get_section(augment, key)
            raise ConfigError(f"{expectation}, got {value!r}", source=source, key_path=f"data.augment.{key}")
    if augment.resize_short is None:
        augment.resize_short = default_resize_short(frame_size)
    elif augment.resize_short < frame_size:
        raise ConfigError(
            f"must be at least data.frame_size ({frame_size}) so that a crop of that size fits, "
            f"got {augment.resize_short}",
            source=source,
            key_path="data.augment.resize_short",
        )


def default_resize_short(frame_size: int) -> int:
    """C3D's recipe, which the reference follows: a 128-pixel short side for 112-pixel crops."""
    return round(frame_size * 128 / 112)


def _validate_contracts(config: Config, *, source: str) -> None:
    """Constraints every component of a kind shares, checked now rather than when it is built.

    A builder would refuse these too, but only after the data is indexed and the run directory
    exists, and with a bare ``ValueError``; here the message names the file and key. Only rules
    that hold for every head and every loss belong here, so plugins are held to them too:
    codes are stored 8 bits per byte (``check_bits``, the head contract), and a loss's
    ``margin`` is a distance that must be exceeded, so one <= 0 (or nan/inf) means nothing.
    """
    from vrt.heads.base import check_bits  # torch-free, like this module

    bits = config.model.head.params.get("bits")
    if bits is not None:
        try:
            check_bits(bits)
        except ValueError:
            raise ConfigError(
                f"must be a positive multiple of 8 (codes are stored 8 bits per byte), got {bits!r}; "
                "e.g. 16, 32, 48 or 64",
                source=source,
                key_path="model.head.bits",
            ) from None
    for term, path in zip(config.loss.terms, loss_term_paths(config.loss), strict=True):
        margin = term.params.get("margin")
        numeric = isinstance(margin, int | float) and not isinstance(margin, bool)
        if numeric and not (math.isfinite(margin) and margin > 0):
            raise ConfigError(
                f"must be a finite number > 0 (a distance between codes), got {margin!r}",
                source=source,
                key_path=f"{path}.margin",
            )


def config_to_dict(config: Config) -> dict[str, Any]:
    """Plain data (YAML/JSON-ready) with component sections flattened back to ``name`` + params."""

    def convert(value: Any) -> Any:
        if isinstance(value, LossConfig):
            terms = [convert(term) for term in value.terms]
            single = len(terms) == 1 and value.terms[0].weight == 1.0
            # Written only when set, so configs and stored runs from before the key stay identical.
            cross_rank = {"cross_rank": True} if value.cross_rank else {}
            return {**terms[0], **cross_rank} if single else {"terms": terms, **cross_rank}
        if isinstance(value, LossTerm):
            weight = {} if value.weight == 1.0 else {"weight": value.weight}
            return {"name": value.name, **weight, **{k: convert(v) for k, v in value.params.items()}}
        if isinstance(value, ComponentSpec):
            return {k: convert(v) for k, v in value.to_dict().items()}
        if dataclasses.is_dataclass(value):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple):
            return [convert(v) for v in value]
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, Path):
            return str(value)
        return value

    return convert(config)


def config_to_yaml(config: Config) -> str:
    return yaml.safe_dump(config_to_dict(config), sort_keys=False, default_flow_style=False)


def config_hash(config: Config) -> str:
    """A short stable fingerprint of the resolved config (for reports and run records)."""
    payload = json.dumps(config_to_dict(config), sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def _get_section(config: Config, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _suggest(name: str, options: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def _accepted_text(accepted: Mapping[str, inspect.Parameter], hints: Mapping[str, Any]) -> str:
    if not accepted:
        return "this component takes no parameters"
    described = ", ".join(f"{n}: {describe_type(hints.get(n, Any))}" for n in accepted)
    return f"expected one of: {described}"
