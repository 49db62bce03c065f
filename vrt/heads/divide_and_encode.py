"""Divide-and-encode head (Lai et al. 2015): every bit computed from its own slice of the feature.

Lai, Pan, Liu and Yan, "Simultaneous feature learning and hash coding with deep neural networks",
CVPR 2015, Sec. 3.2. The paper's motivation: with one fully connected layer every bit sees the
whole feature and bits end up redundant; giving each bit a disjoint slice makes them closer to
independent. The paper squashes with a sigmoid; here it is tanh, for codes in (-1, 1) like every
vrt head.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vrt.heads.base import HashHead
from vrt.registry import HEADS


def slice_bounds(in_dim: int, parts: int) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` ranges splitting ``in_dim`` into ``parts`` nearly equal slices.

    The first ``in_dim % parts`` slices are one longer, as ``numpy.array_split`` does.
    """
    size, extra = divmod(in_dim, parts)
    bounds, start = [], 0
    for index in range(parts):
        stop = start + size + (1 if index < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


class DivideAndEncodeHead(HashHead):
    """Bit ``k`` is ``tanh(w_k . x[slice_k] + b_k)``, slices disjoint and contiguous.

    When ``in_dim`` is not a multiple of ``bits`` the slices differ in length by one (512
    features at 48 bits: slices of 11 and 10), which keeps the paper's property (disjoint
    inputs, no parameters beyond the per-slice weights) instead of silently adding a layer.
    A feature shorter than ``bits`` cannot be divided; ``projection_dim`` then adds
    ``Linear(in_dim, projection_dim) -> ReLU`` in front. The ReLU matters: a purely linear
    projection followed by per-slice linear units is just one linear map, i.e. the ``linear``
    head, and the bits would again share all their inputs.

    Slices are gathered with one index tensor (padded slots read an appended zero column), so
    all bits are computed by a single batched product rather than ``bits`` small layers.
    """

    gather_index: Tensor
    weight_mask: Tensor

    def __init__(self, *, in_dim: int, bits: int, projection_dim: int | None = None) -> None:
        super().__init__(in_dim=in_dim, bits=bits)
        if projection_dim is not None:
            if (
                isinstance(projection_dim, bool)
                or not isinstance(projection_dim, int)
                or projection_dim < bits
            ):
                raise ValueError(
                    f"divide_and_encode projection_dim must be an int >= bits ({bits}), got {projection_dim!r}"
                )
            self.projection: nn.Module = nn.Sequential(nn.Linear(in_dim, projection_dim), nn.ReLU())
            sliced_dim = projection_dim
        else:
            if in_dim < bits:
                raise ValueError(
                    f"divide_and_encode needs at least one feature per bit, but in_dim={in_dim} < "
                    f"bits={bits}; set projection_dim (e.g. {4 * bits}) to project the feature first"
                )
            self.projection = nn.Identity()
            sliced_dim = in_dim
        self.sliced_dim = sliced_dim
        bounds = slice_bounds(sliced_dim, bits)
        self.slice_dim = max(stop - start for start, stop in bounds)
        padding_slot = sliced_dim  # index of the zero column appended in forward
        index = torch.full((bits, self.slice_dim), padding_slot, dtype=torch.long)
        mask = torch.zeros(bits, self.slice_dim)
        for bit, (start, stop) in enumerate(bounds):
            index[bit, : stop - start] = torch.arange(start, stop)
            mask[bit, : stop - start] = 1.0
        # Non-persistent: they follow from the constructor arguments, so checkpoints need not hold them.
        self.register_buffer("gather_index", index, persistent=False)
        self.register_buffer("weight_mask", mask, persistent=False)
        self.weight = nn.Parameter(torch.empty(bits, self.slice_dim))
        self.bias = nn.Parameter(torch.empty(bits))
        self._init_weights(bounds)

    def _init_weights(self, bounds: list[tuple[int, int]]) -> None:
        # nn.Linear's default init, per unit, with each unit's own fan-in (its slice length).
        with torch.no_grad():
            for bit, (start, stop) in enumerate(bounds):
                limit = 1.0 / math.sqrt(stop - start)
                self.weight[bit].uniform_(-limit, limit)
                self.bias[bit].uniform_(-limit, limit)
            self.weight.mul_(self.weight_mask)

    def project(self, features: Tensor) -> Tensor:
        x = self.projection(features)
        x = torch.cat([x, x.new_zeros(x.shape[0], 1)], dim=1)
        slices = x[:, self.gather_index]  # (B, bits, slice_dim)
        # The mask keeps padded weights out of the product even if weight decay or a loaded
        # state dict made them non-zero.
        return torch.einsum("bks,ks->bk", slices, self.weight * self.weight_mask).add(self.bias).tanh()

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, bits={self.bits}, sliced_dim={self.sliced_dim}, slice_dim<={self.slice_dim}"


@HEADS.register("divide_and_encode")
def divide_and_encode(*, in_dim: int, bits: int, projection_dim: int | None = None) -> nn.Module:
    """Each bit from its own slice of the feature (Lai et al. 2015), tanh; in_dim >= bits or a projection.

    Args:
        projection_dim: ``None`` divides the backbone feature itself (slices as equal as
            possible; needs ``in_dim >= bits``); an int first maps the feature through
            ``Linear(in_dim, projection_dim) -> ReLU`` and divides that (``projection_dim >= bits``).
    """
    return DivideAndEncodeHead(in_dim=in_dim, bits=bits, projection_dim=projection_dim)
