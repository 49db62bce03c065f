"""A small 3D CNN for CPU demos and tests; not meant to compete with real video backbones."""

from __future__ import annotations

from torch import Tensor, nn

from vrt.backbones.base import CENTERED_NORMALIZATION
from vrt.backbones.weights import load_pretrained
from vrt.registry import BACKBONES


class Tiny3D(nn.Module):
    """Four Conv3d-BN-ReLU blocks and a global average pool, ``out_dim = 4 * width``.

    Strides halve space in every block but time only in the last two: clips are short (4-16
    frames) and motion is what separates classes that share an appearance, so time keeps its
    resolution longer. Any clip of at least 1x1x1 is accepted (padding keeps every size >= 1).
    It is trained from scratch, so it uses :data:`CENTERED_NORMALIZATION` rather than
    Kinetics statistics.
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"tiny3d width must be a positive int, got {width}")
        channels = [3, width, 2 * width, 4 * width, 4 * width]
        strides = [(1, 2, 2), (1, 2, 2), (2, 2, 2), (2, 2, 2)]
        blocks: list[nn.Module] = []
        for c_in, c_out, stride in zip(channels[:-1], channels[1:], strides, strict=True):
            blocks += [
                nn.Conv3d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
                nn.BatchNorm3d(c_out),
                nn.ReLU(inplace=True),
            ]
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.out_dim = channels[-1]
        self.normalization = CENTERED_NORMALIZATION
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, clips: Tensor) -> Tensor:
        return self.pool(self.features(clips)).flatten(1)


@BACKBONES.register(
    "tiny3d",
    metadata={
        "tiny_input": (4, 32, 32),
        "tiny_params": {"width": 4},
        "min_input": (1, 1, 1),
        "pretrained": (),
        "key_params": "width",
    },
)
def tiny3d(*, width: int = 16, pretrained: str | None = None, strict_shapes: bool = True) -> nn.Module:
    """Small 3D CNN (4 conv blocks, out_dim 4*width) for CPU demos and tests; trained from scratch.

    Args:
        width: channels of the first block; later blocks use 2x and 4x.
        pretrained: ``None`` or a path to a local state dict (e.g. from an earlier vrt run);
            there are no published weights.
        strict_shapes: fail on checkpoint tensors whose shapes differ (else skip them).
    """
    net = Tiny3D(width=width)
    load_pretrained(net, pretrained, strict_shapes=strict_shapes, name="tiny3d")
    return net
