"""Motion stream ``difference_cnn``: a small 3D CNN over the differences of consecutive frames."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vrt.registry import MOTION_STREAMS


class DifferenceCNN(nn.Module):
    """Frame differences ``x[t+1] - x[t]`` through three Conv3d-BN-ReLU blocks, then the mean
    over time and over each cell of a ``grid`` x ``grid`` layout of the frame.

    A difference is zero where nothing moves and traces edges where something does, with a sign
    that says which way: the direction a mean of per-frame features cannot give. The grid keeps
    where in the frame each motion is: a zoom is the left of the frame moving one way and the
    right the other, which a single global mean would cancel. Strides halve space in every
    block and time in the last; ``out_dim = 4 * width * grid**2``. A clip of one frame has no
    difference and gives zeros.
    """

    def __init__(self, width: int, *, grid: int = 1) -> None:
        super().__init__()
        if width < 1 or grid < 1:
            raise ValueError(f"difference_cnn width and grid must be positive ints, got {width}, {grid}")
        self.grid = grid
        channels = [3, width, 2 * width, 4 * width]
        strides = [(1, 2, 2), (1, 2, 2), (2, 2, 2)]
        blocks: list[nn.Module] = []
        for c_in, c_out, stride in zip(channels[:-1], channels[1:], strides, strict=True):
            blocks += [
                nn.Conv3d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
                nn.BatchNorm3d(c_out),
                nn.ReLU(inplace=True),
            ]
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = channels[-1] * grid * grid
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        # Channels-last 3D convolutions ran 1.6-5x faster on a 2-core CPU (forward and backward,
        # width 16 and 8); the weights keep the format through .to(device) and loading.
        self.to(memory_format=torch.channels_last_3d)

    def forward(self, clips: Tensor) -> Tensor:
        if clips.shape[2] < 2:
            return clips.new_zeros(clips.shape[0], self.out_dim)
        differences = (clips[:, :, 1:] - clips[:, :, :-1]).contiguous(memory_format=torch.channels_last_3d)
        over_time = self.blocks(differences).mean(dim=2)
        return F.adaptive_avg_pool2d(over_time, self.grid).flatten(1)


@MOTION_STREAMS.register("difference_cnn")
def difference_cnn(*, width: int = 16, grid: int = 1) -> nn.Module:
    """A small 3D CNN over consecutive-frame differences (out_dim 4*width*grid**2), trained from scratch.

    Args:
        width: channels of the first block; later blocks use 2x and 4x.
        grid: the frame is pooled into grid x grid cells (1: one global mean), which keeps where
            each motion is (a zoom moves the two sides of the frame apart).
    """
    return DifferenceCNN(width, grid=grid)
