"""A component's parameters against its builder: checked, defaults added, injected names refused.

Config validation runs this for every component section before anything is built; the names a
registry injects (:attr:`vrt.registry.Registry.injects`) are refused here and supplied by
:func:`vrt.components.build` later.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Mapping
from typing import Any

from vrt.config.typecheck import ConfigError, check_value, describe_type
from vrt.registry import Registry

__all__ = ["check_params", "parameters_of", "suggest"]


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
    registry: Registry, builder: Any, params: Mapping[str, Any], *, key_path: str, source: str
) -> dict[str, Any]:
    """``params`` checked against ``builder``'s signature and annotations, injected names refused,
    and the builder's defaults added for the parameters not given."""
    named, takes_any = parameters_of(builder)
    try:
        hints = typing.get_type_hints(builder)
    except Exception:  # unresolvable annotations in a plugin: fall back to no type checks
        hints = {}
    accepted = {name: p for name, p in named.items() if name not in registry.injects}
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
                f"unknown parameter{suggest(name, accepted)}; {_accepted_text(accepted, hints)}",
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
    # The defaults are written out, so that a resolved config (config.yaml) says every value used.
    for name, parameter in accepted.items():
        if name not in checked and _plain_data(parameter.default):
            checked[name] = parameter.default
    return checked


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


def _accepted_text(accepted: Mapping[str, inspect.Parameter], hints: Mapping[str, Any]) -> str:
    if not accepted:
        return "this component takes no parameters"
    described = ", ".join(f"{n}: {describe_type(hints.get(n, Any))}" for n in accepted)
    return f"expected one of: {described}"
