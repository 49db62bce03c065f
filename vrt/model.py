"""The hashing model: normalise clips, extract features with a backbone, map them to codes."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from vrt.backbones.base import Normalization, check_backbone
from vrt.registry import BACKBONES, HEADS


def binarize(u: Tensor) -> Tensor:
    """Bits from real-valued codes: ``u >= 0`` is 1, so an exact 0 becomes 1 (never ``sign(0) = 0``)."""
    return u >= 0


class HashingModel(nn.Module):
    """Backbone + hash head, taking clips in [0, 1] (not normalised) as the data pipeline yields.

    Normalisation lives here, with the backbone's statistics, so datasets do not depend on the
    backbone and a checkpoint cannot be used with the wrong statistics. The statistics are
    non-persistent buffers: they follow ``.to(device)`` but are not saved in the state dict,
    because they are a property of the backbone's code, not learned state.

    ``forward`` returns the real-valued codes ``u`` (B, bits) that losses train on; ``encode``
    returns the bits. Call ``.eval()`` before encoding: in training mode BatchNorm would use
    batch statistics and the codes would depend on the batch.
    """

    mean: Tensor
    std: Tensor

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        check_backbone(backbone, name=type(backbone).__name__)
        bits = getattr(head, "bits", None)
        if not isinstance(bits, int) or isinstance(bits, bool) or bits <= 0:
            raise TypeError(f"a hash head must have a positive int attribute bits, got {bits!r}")
        self.backbone = backbone
        self.head = head
        self.bits = bits
        normalization: Normalization = backbone.normalization
        self.register_buffer("mean", _channel_buffer(normalization.mean), persistent=False)
        self.register_buffer("std", _channel_buffer(normalization.std), persistent=False)

    def forward(self, clips: Tensor) -> Tensor:
        if clips.ndim != 5 or clips.shape[1] != 3:
            raise ValueError(f"expected clips of shape (B, 3, T, H, W), got {tuple(clips.shape)}")
        return self.head(self.backbone((clips - self.mean) / self.std))

    @torch.no_grad()
    def encode(self, clips: Tensor) -> Tensor:
        """Binary codes, a bool tensor (B, bits); see the class note on ``.eval()``."""
        return binarize(self(clips))


def _channel_buffer(values: tuple[float, float, float]) -> Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, 3, 1, 1, 1)


def build_model(
    *, backbone_name: str, backbone_params: dict[str, Any], head_name: str, head_params: dict[str, Any]
) -> HashingModel:
    """Build a :class:`HashingModel` from registry names; the head gets ``in_dim`` from the backbone."""
    if "in_dim" in head_params:
        raise ValueError(
            f"head parameter in_dim is set by vrt from the backbone's out_dim; remove it from the "
            f"parameters of head {head_name!r}"
        )
    backbone = BACKBONES.get(backbone_name)(**backbone_params)
    check_backbone(backbone, name=backbone_name)
    head = HEADS.get(head_name)(in_dim=backbone.out_dim, **head_params)
    return HashingModel(backbone, head)
