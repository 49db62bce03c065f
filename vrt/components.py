"""The one way vrt builds a component: a config section, the values its registry injects, a call.

Every component vrt builds (backbone, head, loss term, miner, dataset, clip sampler, optimiser,
schedule) is a registry ``name`` plus keyword parameters from the config. Its registry says
which further values vrt supplies (:attr:`Registry.injects`: a head's ``in_dim``, a loss's
``bits`` and ``num_classes``, a dataset's ``subset`` and ``clips``, ...). Config validation
checks the parameters against the builder before any tensor exists
(:func:`vrt.config.params.check_params`, which refuses the injected names); :func:`build` calls
the builder with the parameters and the injected values it declares (a builder that does not
need ``num_classes`` does not name it).

A builder's ``ValueError`` or ``TypeError`` becomes a one-line :class:`ConfigError` naming the
config section. torch-free: the builders import what they need.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from vrt.config.params import parameters_of
from vrt.config.typecheck import ConfigError
from vrt.registry import Registry

if TYPE_CHECKING:
    from vrt.config.schema import ComponentSpec

__all__ = ["build", "builder_errors_as_config_errors"]


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
    with builder_errors_as_config_errors(section):
        return builder(**spec.params, **injected)


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
