"""Backbone ``frame_pool2d``: a 2D CNN on every frame, pooled over time (no temporal convolution).

Per-frame networks are the usual baseline against 3D CNNs: they see appearance but learn motion
only through the pooling. The module shows what vrt needs from a backbone: an ``nn.Module``
mapping clips ``(B, 3, T, H, W)`` (values in [0, 1], normalised by vrt with ``normalization``)
to ``(B, out_dim)``, with the two attributes ``out_dim`` and ``normalization``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vrt.backbones.base import Normalization

# Trained from scratch, so any fixed affine map of [0, 1] works; this centres it on 0.
FRAME_NORMALIZATION = Normalization(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


class FramePool2D(nn.Module):
    """Two stride-2 conv blocks per frame, global average over space, then mean and max over time.

    Concatenating the temporal mean (what is there on average) and max (what appears at some
    point) gives ``out_dim = 4 * width``.
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"frame_pool2d width must be a positive int, got {width}")
        self.frames = nn.Sequential(
            nn.Conv2d(3, width, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
        )
        self.out_dim = 4 * width
        self.normalization = FRAME_NORMALIZATION

    def forward(self, clips: Tensor) -> Tensor:
        batch, channels, time, height, width = clips.shape
        frames = clips.transpose(1, 2).reshape(batch * time, channels, height, width)
        per_frame = self.frames(frames).flatten(1).view(batch, time, -1)
        return torch.cat([per_frame.mean(dim=1), per_frame.amax(dim=1)], dim=1)


def frame_pool2d(*, width: int = 16) -> nn.Module:
    """Per-frame 2D CNN pooled over time (mean + max), out_dim 4*width; an example plugin backbone.

    Args:
        width: channels of the first conv block (the second has twice as many).
    """
    return FramePool2D(width=width)


# Optional facts for `vrt list`, docs/models.md and vrt's parametrised tests (see docs/plugins.md).
frame_pool2d.vrt_metadata = {  # type: ignore[attr-defined]
    "tiny_input": (4, 32, 32),
    "tiny_params": {"width": 4},
    "min_input": (1, 4, 4),
    "pretrained": (),
    "key_params": "width",
}
