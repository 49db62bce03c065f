"""Temporal module ``tconv``: 1D convolutions over time, then the mean and the max over frames."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vrt.backbones.temporal.base import TemporalModule, visible_mean
from vrt.registry import TEMPORAL_MODULES


class TemporalConv(TemporalModule):
    """``layers`` Conv1d(kernel 3)-BN-ReLU blocks over time, then [mean, max] over the frames.

    Convolutions see neighbouring frames, so unlike a mean they can tell the order of what
    happens; ``out_dim = 2 * width``. Hidden frames are zeroed before the convolutions and left
    out of the mean and the max.
    """

    def __init__(self, in_dim: int, *, width: int, layers: int, dropout: float) -> None:
        super().__init__()
        if width < 1 or layers < 1 or not 0 <= dropout < 1:
            raise ValueError(
                f"tconv needs width >= 1, layers >= 1 and dropout in [0, 1), got {width}, {layers}, {dropout}"
            )
        blocks: list[nn.Module] = [nn.Dropout(dropout)]
        channels = in_dim
        for _ in range(layers):
            blocks += [nn.Conv1d(channels, width, 3, padding=1, bias=False), nn.BatchNorm1d(width), nn.ReLU()]
            channels = width
        self.blocks = nn.Sequential(*blocks)
        self.in_dim, self.out_dim = in_dim, 2 * width

    def summarise(self, features: Tensor, mask: Tensor | None) -> Tensor:
        if mask is not None:
            features = features.masked_fill(mask.unsqueeze(-1), 0.0)
        steps = self.blocks(features.transpose(1, 2)).transpose(1, 2)  # (B, T, width)
        peak = steps if mask is None else steps.masked_fill(mask.unsqueeze(-1), float("-inf"))
        return torch.cat([visible_mean(steps, mask), peak.amax(dim=1)], dim=1)


@TEMPORAL_MODULES.register("tconv")
def tconv(*, in_dim: int, width: int = 256, layers: int = 2, dropout: float = 0.1) -> nn.Module:
    """1D convolutions over time (kernel 3), then mean and max over frames; out_dim 2*width.

    Args:
        width: channels of every convolution.
        layers: convolution blocks (each sees one more frame on either side).
        dropout: on the input features, in training.
    """
    return TemporalConv(in_dim, width=width, layers=layers, dropout=dropout)
