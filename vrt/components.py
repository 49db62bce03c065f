"""The one way vrt builds a component: a config section, the values its registry injects, a call.

Every component vrt builds (backbone, head, loss term, miner, dataset, clip sampler, optimiser,
schedule) is a registry ``name`` plus keyword parameters from the config. Its registry says
which further values vrt supplies (:attr:`Registry.injects`: a head's ``in_dim``, a loss's
``bits`` and ``num_classes``, a dataset's ``subset`` and ``clips``, ...). Config validation
checks the parameters against the builder before any tensor exists
(:func:`vrt.config.params.check_params`, which refuses the injected names); :func:`build` calls
the builder with the parameters and the injected values it declares (a builder that does not
need ``num_classes`` does not name it).

A parameter that is itself a component section (:data:`vrt.config.params.SUBCOMPONENTS`: a
loss's ``miner`` and ``reduction``) is built here, once, from its own registry, and the builder
receives the object: a loss never builds its miner. The inner component's parameters that the
outer one also has (a miner's ``margin``) take the outer value unless its section sets them.
A part (:data:`vrt.config.params.PARTS`: a frame backbone's ``encoder`` and ``temporal``
module) reaches its builder as a :class:`~vrt.config.schema.ComponentSpec`: the composite
builds it with :func:`build`, injecting what only it knows (the encoder's ``out_dim``).

A builder's ``ValueError`` or ``TypeError`` becomes a one-line :class:`ConfigError` naming the
config section. torch-free: the builders import what they need.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from vrt.config.params import inherited_params, parameters_of, parts_of, section_spec, subcomponents_of
from vrt.config.schema import ComponentSpec
from vrt.config.typecheck import ConfigError
from vrt.registry import Registry

__all__ = ["build", "builder_errors_as_config_errors", "default_section"]


def build(registry: Registry, spec: ComponentSpec, *, section: str, **context: Any) -> Any:
    """The component ``spec`` names, built with its parameters and the injected values it declares.

    Args:
        registry: where ``spec.name`` is registered.
        spec: the config section (validated by :func:`check_params` when the config was loaded).
        section: the section's key path, for error messages (``"model.head"``).
        context: the values ``registry`` injects (all of them: which ones a builder takes is
            its own business).
    """
    missing = sorted(registry.injects - context.keys())
    unexpected = sorted(context.keys() - registry.injects)
    if missing or unexpected:  # a bug in vrt, not in the config
        raise TypeError(f"building {registry.kind}: missing injected {missing}, unexpected {unexpected}")
    clashing = sorted(registry.injects & spec.params.keys())
    if clashing:  # check_params refuses these in configs; a spec made in code can still hold one
        raise ConfigError(
            f"{clashing[0]!r} is set by vrt, not by the config", key_path=f"{section}.{clashing[0]}"
        )
    builder = registry.get(spec.name)
    named, takes_any = parameters_of(builder)
    injected = {name: value for name, value in context.items() if takes_any or name in named}
    params = dict(spec.params)
    nested = subcomponents_of(registry, named)
    if nested:
        # What the nested components may share: this component's values, its defaults included
        # (a spec made in code need not spell out the loss's margin for its miner to get it).
        own = {n: p.default for n, p in named.items() if p.default is not inspect.Parameter.empty}
        own.update(params)
        own = {n: value for n, value in own.items() if n not in nested}
        for name, inner in nested.items():
            raw = params.get(name, named[name].default)
            if isinstance(raw, str | Mapping | ComponentSpec):  # else None, or an object made in code
                params[name] = _build_nested(inner, raw, section=f"{section}.{name}", inherited=own)
    for name in parts_of(registry, named):  # the builder builds these (with build), as specs
        raw = params.get(name, named[name].default)
        if isinstance(raw, str | Mapping):
            params[name] = section_spec(raw, key_path=f"{section}.{name}")
    with builder_errors_as_config_errors(section):
        return builder(**params, **injected)


def _build_nested(registry: Registry, raw: Any, *, section: str, inherited: Mapping[str, Any]) -> Any:
    """The component a nested section names, with the enclosing values it shares and does not set."""
    spec = section_spec(raw, key_path=section)
    named, _ = parameters_of(registry.get(spec.name))
    shared = inherited_params(named, spec.params, inherited)
    return build(registry, ComponentSpec(spec.name, {**shared, **spec.params}), section=section)


def default_section(name: str) -> Any:
    """The default of a builder parameter that is a component section (a loss's ``miner``): the
    registered ``name`` that vrt builds, and passes as an object, when the config sets none.

    A builder receives the built component, never the name; the default is written out as the
    name, so that a resolved config says which component was used.
    """
    return name


@contextmanager
def builder_errors_as_config_errors(section: str) -> Iterator[None]:
    """A builder's ``ValueError``/``TypeError`` as a one-line :class:`ConfigError` naming ``section``.

    Builders reject values their signature cannot express (a width of 0, a file that does not
    exist) with these; the user sees the builder's sentence and where to change the value.
    """
    try:
        yield
    except ConfigError:
        raise
    except (ValueError, TypeError) as error:
        raise ConfigError(" ".join(str(error).split()), key_path=section) from error
