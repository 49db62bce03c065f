"""Backbones of a model zoo share one builder signature; it is written here once.

A zoo network (torchvision's or pytorchvideo's Kinetics-400 models) is built by
``create(pretrained=..., pooling=..., strict_shapes=...)``; :func:`register_zoo_backbone`
registers it under its name with the typed, keyword-only builder that config validation reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from torch import nn

from vrt.backbones.base import Pooling
from vrt.registry import BACKBONES


class ZooFactory(Protocol):
    def __call__(self, *, pretrained: str | None, pooling: Pooling, strict_shapes: bool) -> nn.Module: ...


def register_zoo_backbone(
    name: str, create: ZooFactory, *, description: str, metadata: dict[str, Any]
) -> Callable[..., nn.Module]:
    """Register ``name``, built by ``create`` from the zoo's three parameters; returns the builder.

    Args:
        description: the builder's docstring (its first line is what ``vrt list`` shows).
    """

    def builder(
        *, pretrained: str | None = None, pooling: Pooling = "avg", strict_shapes: bool = True
    ) -> nn.Module:
        return create(pretrained=pretrained, pooling=pooling, strict_shapes=strict_shapes)

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = description
    return BACKBONES.register(name, metadata=metadata)(builder)
