"""Temporal module ``transformer``: a small Transformer encoder over frame tokens with positions."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vrt.backbones.temporal.base import TemporalModule, visible_mean
from vrt.registry import TEMPORAL_MODULES


class FrameTransformer(TemporalModule):
    """Frame features projected to ``width``, a learned position per frame, ``layers`` pre-norm
    Transformer encoder layers, then the mean of the visible frames' outputs (``out_dim = width``).

    A hidden frame (``mask``) is replaced by a learned mask token before the encoder, as in BERT
    and the masked frame modelling of BTH and ConMH: the other frames attend to its position, not
    to its content. :meth:`tokens` returns every frame's output, which those objectives
    reconstruct from.
    """

    def __init__(
        self, in_dim: int, *, width: int, layers: int, heads: int, dropout: float, max_frames: int
    ) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"transformer width ({width}) must be a multiple of heads ({heads})")
        if min(width, layers, heads, max_frames) < 1 or not 0 <= dropout < 1:
            raise ValueError(
                "transformer width, layers, heads and max_frames must be >= 1, dropout in [0, 1)"
            )
        self.in_dim, self.out_dim, self.max_frames = in_dim, width, max_frames
        self.project = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, width))
        self.positions = nn.Parameter(torch.zeros(1, max_frames, width))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        layer = nn.TransformerEncoderLayer(
            width, heads, dim_feedforward=2 * width, dropout=dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        nn.init.trunc_normal_(self.positions, std=0.02)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def tokens(self, features: Tensor, mask: Tensor | None = None) -> Tensor:
        """Every frame's output ``(B, T, width)``."""
        frames = features.shape[1]
        if frames > self.max_frames:
            raise ValueError(f"transformer was built for at most {self.max_frames} frames, got {frames}")
        tokens = self.project(features)
        if mask is not None:
            tokens = torch.where(mask.unsqueeze(-1), self.mask_token.to(tokens.dtype), tokens)
        return self.norm(self.encoder(tokens + self.positions[:, :frames]))

    def summarise(self, features: Tensor, mask: Tensor | None) -> Tensor:
        return visible_mean(self.tokens(features, mask), mask)


@TEMPORAL_MODULES.register("transformer")
def transformer(
    *,
    in_dim: int,
    width: int = 256,
    layers: int = 2,
    heads: int = 4,
    dropout: float = 0.1,
    max_frames: int = 64,
) -> nn.Module:
    """A small Transformer over frame tokens with learned positions; out_dim width.

    Args:
        width: the tokens' width (a multiple of ``heads``).
        layers, heads: encoder layers and attention heads.
        dropout: in the attention and feed-forward blocks, in training.
        max_frames: the most frames a clip may have (one learned position each).
    """
    return FrameTransformer(
        in_dim, width=width, layers=layers, heads=heads, dropout=dropout, max_frames=max_frames
    )
