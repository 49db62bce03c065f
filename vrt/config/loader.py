"""YAML -> typed :class:`Config`, validated before any tensor exists.

The pipeline is: read the file (``yaml.safe_load``), merge its optional single ``_base_``,
apply ``--set key.path=value`` overrides, convert into dataclasses (unknown keys and wrong
types fail), then check every component against its registry entry and builder signature.
Errors carry the file and the dotted key path.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from vrt.config.params import suggest
from vrt.config.schema import ComponentSpec, Config, LossConfig, LossTerm
from vrt.config.typecheck import ConfigError, check_value
from vrt.config.validation import validate
from vrt.runtime.file_kinds import describe_file

BASE_KEY = "_base_"


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
        kind = describe_file(path)  # a file vrt reads elsewhere is named; other bytes are not guessed at
        known = "" if kind.startswith("a file of unknown binary content") else f": it is {kind}"
        raise ConfigError(
            f"not UTF-8 text (byte {error.start}: {error.reason}){known}", source=str(path)
        ) from None
    except OSError as error:
        raise ConfigError(
            f"cannot read the config file: {error.strerror or error}", source=str(path)
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"invalid YAML{describe_yaml_error(error)}", source=str(path)) from None
    if data is None:
        # An empty file (or only comments) would silently train the default model on the default data.
        raise ConfigError(
            "the config file is empty; write at least the keys of a run (see configs/ for examples)",
            source=str(path),
        )
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


# Before optimisers and schedules were registered components, one flat section held every
# option of every kind, and stored configs (checkpoints, the config.yaml of older runs) list them
# all with these defaults. Options a kind does not take are dropped when they hold the old default;
# any other value is an error, as a user's typo would be.
_LEGACY_DEFAULTS: dict[str, dict[str, Any]] = {
    "optimizer": {"momentum": 0.9, "nesterov": False},
    "scheduler": {"step_size": 10, "gamma": 0.1, "patience": 2, "min_lr": 0.0},
}


def migrate_legacy_keys(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """``raw`` without the legacy default options that its optimiser or schedule does not take."""
    from vrt.config.params import parameters_of
    from vrt.registry import OPTIMIZERS, SCHEDULERS

    train = raw.get("train")
    if not isinstance(train, Mapping):
        return raw
    migrated = dict(train)
    for key, registry in (("optimizer", OPTIMIZERS), ("scheduler", SCHEDULERS)):
        section = train.get(key)
        name = section.get("name") if isinstance(section, Mapping) else None
        if not isinstance(name, str) or name not in registry:
            continue
        accepted, _ = parameters_of(registry.get(name))
        migrated[key] = {
            option: value
            for option, value in section.items()
            if option == "name" or option in accepted or _LEGACY_DEFAULTS[key].get(option, object()) != value
        }
    return {**raw, "train": migrated}


def config_from_dict(raw: Mapping[str, Any], *, source: str = "<config>") -> Config:
    """Build and fully validate a :class:`Config` from plain data."""
    config = _to_dataclass(Config, migrate_legacy_keys(raw), key_path="", source=source)
    validate(config, source=source)
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
            f"unknown key{suggest(str(key), fields)}; expected one of: {', '.join(fields)}",
            source=source,
            key_path=_join(key_path, str(key)),
        )
    values = {}
    for name, value in raw.items():
        child_path = _join(key_path, name)
        annotation = hints[name]
        if annotation is ComponentSpec:
            default = fields[name].default_factory()  # type: ignore[misc]  # every section has one
            values[name] = _to_component(value, key_path=child_path, source=source, default_name=default.name)
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


def _to_component(raw: Any, *, key_path: str, source: str, default_name: str | None = None) -> ComponentSpec:
    """A component section; without a ``name`` it is the section's default component (so that
    ``--set train.optimizer.lr=0.5`` tunes the default optimiser of a config that names none)."""
    if isinstance(raw, str):  # shorthand: `loss: triplet_ranking`
        raw = {"name": raw}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"expected a mapping with a 'name' key, got {raw!r}", source=source, key_path=key_path
        )
    name = raw.get("name", default_name)
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


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
