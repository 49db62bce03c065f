"""A component's parameters against its builder: checked, defaults added, injected names refused.

Config validation runs this for every component section before anything is built; the names a
registry injects (:attr:`vrt.registry.Registry.injects`) are refused here and supplied by
:func:`vrt.components.build` later.

Some parameters are component sections themselves (:data:`SUBCOMPONENTS`: a loss's ``miner`` and
``reduction``): a registered name, or a mapping with ``name`` and that component's parameters.
They are checked like any section, against their own registry and builder, and
:func:`vrt.components.build` builds them and passes the objects. A parameter of the inner
component that the outer one also has (a miner's ``margin``) takes the outer value unless the
inner section sets it, so the two cannot silently disagree; it is not written out, so that it
keeps following the outer value.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Mapping
from typing import Any

from vrt.config.schema import ComponentSpec
from vrt.config.typecheck import ConfigError, check_value, describe_type
from vrt.registry import (
    BACKBONES,
    ENCODERS,
    LOSSES,
    MINERS,
    MOTION_STREAMS,
    REDUCERS,
    TEMPORAL_MODULES,
    Registry,
    RegistryError,
)

__all__ = [
    "PARTS",
    "SUBCOMPONENTS",
    "check_params",
    "check_section",
    "inherited_params",
    "parameters_of",
    "parts_of",
    "section_spec",
    "sections_of",
    "subcomponents_of",
    "suggest",
]

# Builder parameters that are component sections, by the registry of the builder: a loss that
# declares `miner` gets a built miner, one that declares `reduction` a built reducer.
SUBCOMPONENTS: dict[str, dict[str, Registry]] = {LOSSES.kind: {"miner": MINERS, "reduction": REDUCERS}}
# Sections a composite component builds itself, because their builders need values only it has
# (a frame backbone's temporal module needs its image encoder's out_dim): checked here like the
# sections above, and handed to the builder as a ComponentSpec, which it builds with
# vrt.components.build, injecting those values.
PARTS: dict[str, dict[str, Registry]] = {
    BACKBONES.kind: {"encoder": ENCODERS, "temporal": TEMPORAL_MODULES, "motion": MOTION_STREAMS}
}


def subcomponents_of(registry: Registry, named: Mapping[str, Any]) -> dict[str, Registry]:
    """The parameters among ``named`` that are component sections vrt builds for ``registry``'s builders."""
    return {name: inner for name, inner in SUBCOMPONENTS.get(registry.kind, {}).items() if name in named}


def parts_of(registry: Registry, named: Mapping[str, Any]) -> dict[str, Registry]:
    """The parameters among ``named`` that are sections ``registry``'s builders build themselves."""
    return {name: inner for name, inner in PARTS.get(registry.kind, {}).items() if name in named}


def sections_of(registry: Registry, named: Mapping[str, Any]) -> dict[str, Registry]:
    """Every parameter among ``named`` that a config writes as a component section."""
    return {**subcomponents_of(registry, named), **parts_of(registry, named)}


def parameters_of(builder: Any) -> tuple[dict[str, inspect.Parameter], bool]:
    """The builder's keyword parameters, and whether it takes any keyword (``**kwargs``)."""
    signature = inspect.signature(builder)
    named = {
        name: p
        for name, p in signature.parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    return named, any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())


def check_params(
    registry: Registry,
    builder: Any,
    params: Mapping[str, Any],
    *,
    key_path: str,
    source: str | None,
    inherited: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``params`` checked against ``builder``'s signature and annotations, injected names refused,
    and the builder's defaults added for the parameters not given.

    ``inherited`` are the values of the section this one is nested in (a loss's, for its miner):
    a parameter the builder shares with it is not required, and not written out, when unset.
    """
    named, takes_any = parameters_of(builder)
    try:
        hints = typing.get_type_hints(builder)
    except Exception:  # unresolvable annotations in a plugin: fall back to no type checks
        hints = {}
    accepted = {name: p for name, p in named.items() if name not in registry.injects}
    nested = sections_of(registry, accepted)
    checked: dict[str, Any] = {}
    for name, value in params.items():
        path = f"{key_path}.{name}"
        if name in registry.injects:
            raise ConfigError(f"{name!r} is set by vrt, not by the config", source=source, key_path=path)
        if name not in accepted:
            if takes_any:
                checked[name] = value
                continue
            raise ConfigError(
                f"unknown parameter{suggest(name, accepted)}; {_accepted_text(accepted, hints, nested)}",
                source=source,
                key_path=path,
            )
        if name in nested:  # a section: checked below, once this component's own values are known
            checked[name] = value
            continue
        try:
            checked[name] = check_value(value, hints.get(name, Any), path)
        except ConfigError as error:
            raise ConfigError(error.detail, source=source, key_path=error.key_path) from None
    shared = inherited_params(accepted, checked, inherited or {})
    for name, value in shared.items():
        try:
            check_value(value, hints.get(name, Any), f"{key_path}.{name}")
        except ConfigError as error:
            outer = key_path.rpartition(".")[0] or "the enclosing section"
            raise ConfigError(
                f"{error.detail} (the value of {outer}.{name}, which applies unless this section sets {name})",
                source=source,
                key_path=error.key_path,
            ) from None
    missing = [
        name
        for name, p in accepted.items()
        if p.default is inspect.Parameter.empty and name not in checked and name not in shared
    ]
    if missing:
        raise ConfigError(
            f"missing required parameter(s): {', '.join(missing)}", source=source, key_path=key_path
        )
    # The defaults are written out, so that a resolved config (config.yaml) says every value used.
    for name, parameter in accepted.items():
        if name not in checked and name not in shared and _plain_data(parameter.default):
            checked[name] = parameter.default
    own = {name: value for name, value in checked.items() if name not in nested}
    for name, inner in nested.items():
        if checked.get(name) is not None:  # None: no such component (a loss without a miner)
            checked[name] = check_section(
                inner, checked[name], key_path=f"{key_path}.{name}", source=source, inherited=own
            )
    return checked


def check_section(
    registry: Registry,
    raw: Any,
    *,
    key_path: str,
    source: str | None,
    inherited: Mapping[str, Any] | None = None,
) -> str | dict[str, Any]:
    """A nested component section checked against ``registry``, as plain data: the registered
    name alone when the section has no parameters to write out (``miner: batch_hard`` stays as
    written), else a mapping of ``name`` and the checked parameters."""
    spec = section_spec(raw, key_path=key_path, source=source)
    try:
        entry = registry.entry(spec.name)
    except RegistryError as error:
        raise ConfigError(str(error), source=source, key_path=f"{key_path}.name") from None
    params = check_params(
        registry, entry.builder, spec.params, key_path=key_path, source=source, inherited=inherited
    )
    return {"name": entry.name, **params} if params else entry.name


def section_spec(raw: Any, *, key_path: str, source: str | None = None) -> ComponentSpec:
    """A component section, ``name`` or ``{name: ..., param: value, ...}``, as a spec."""
    if isinstance(raw, ComponentSpec):
        return ComponentSpec(raw.name, dict(raw.params))
    if isinstance(raw, str) and raw:
        return ComponentSpec(raw)
    if isinstance(raw, Mapping):
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(
                "expected a component name (string)", source=source, key_path=f"{key_path}.name"
            )
        return ComponentSpec(name, {str(k): v for k, v in raw.items() if k != "name"})
    raise ConfigError(
        f"expected a component name or a mapping with a 'name' key, got {raw!r}",
        source=source,
        key_path=key_path,
    )


def inherited_params(
    accepted: Mapping[str, Any], given: Mapping[str, Any], inherited: Mapping[str, Any]
) -> dict[str, Any]:
    """The enclosing section's values that a nested builder takes and its section does not set
    (``None``, "no value", is not passed on: the nested builder's own default applies)."""
    return {
        name: value
        for name, value in inherited.items()
        if name in accepted and name not in given and value is not None
    }


def _plain_data(value: Any) -> bool:
    """Whether ``value`` is a default YAML can write back (not a sentinel or an object)."""
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_plain_data(item) for item in value)
    return False


def suggest(name: str, options: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def _accepted_text(
    accepted: Mapping[str, inspect.Parameter],
    hints: Mapping[str, Any],
    nested: Mapping[str, Registry] | None = None,
) -> str:
    if not accepted:
        return "this component takes no parameters"
    nested = nested or {}

    def describe(name: str) -> str:
        if name in nested:  # the config writes a section, whatever object the builder receives
            return f"a {nested[name].kind[:-1]} (name or section)"
        return describe_type(hints.get(name, Any))

    return f"expected one of: {', '.join(f'{n}: {describe(n)}' for n in accepted)}"
