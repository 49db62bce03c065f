"""Motion stream ``difference_cnn``: a small 3D CNN over the differences of consecutive frames."""

from __future__ import annotations

from torch import Tensor, nn

from vrt.registry import MOTION_STREAMS


class DifferenceCNN(nn.Module):
    """Frame differences ``x[t+1] - x[t]`` through three Conv3d-BN-ReLU blocks and a global mean.

    A difference is zero where nothing moves and traces edges where something does, with a sign
    that says which way: the direction a mean of per-frame features cannot give. Strides halve
    space in every block and time in the last; ``out_dim = 4 * width``. A clip of one frame has
    no difference and gives zeros.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"difference_cnn width must be a positive int, got {width}")
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
        self.out_dim = channels[-1]
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, clips: Tensor) -> Tensor:
        if clips.shape[2] < 2:
            return clips.new_zeros(clips.shape[0], self.out_dim)
        differences = clips[:, :, 1:] - clips[:, :, :-1]
        return self.blocks(differences).mean(dim=(2, 3, 4))


@MOTION_STREAMS.register("difference_cnn")
def difference_cnn(*, width: int = 16) -> nn.Module:
    """A small 3D CNN over consecutive-frame differences (out_dim 4*width), trained from scratch.

    Args:
        width: channels of the first block; later blocks use 2x and 4x.
    """
    return DifferenceCNN(width)
