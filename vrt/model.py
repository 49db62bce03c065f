"""The hashing model: normalise clips, extract features with a backbone, map them to codes."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vrt.backbones.base import Normalization, check_backbone
from vrt.components import build
from vrt.config.schema import ComponentSpec, ModelConfig
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
        check_backbone(backbone, name=type(backbone).__name__)  # a model built by hand is checked too
        bits = getattr(head, "bits", None)
        if not isinstance(bits, int) or isinstance(bits, bool) or bits <= 0:
            raise TypeError(f"a hash head must have a positive int attribute bits, got {bits!r}")
        self.backbone = backbone
        self.head = head
        self.bits = bits
        normalization: Normalization = backbone.normalization
        self.register_buffer("mean", _channel_buffer(normalization.mean), persistent=False)
        self.register_buffer("std", _channel_buffer(normalization.std), persistent=False)

    @property
    def input_kind(self) -> str:
        """``clips`` (pixels, normalised here) or ``features`` (frame features from a feature file)."""
        return getattr(self.backbone, "input_kind", "clips")

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        """Codes ``u`` of clips ``(B, 3, T, H, W)`` in [0, 1], or of frame features ``(B, T, D)``
        for a backbone over feature files; ``mask`` (bool ``(B, T)``, True for hidden frames)
        goes to a backbone over frames (the masked frame modelling objectives use it)."""
        if self.input_kind == "features":
            if inputs.ndim != 3:
                raise ValueError(f"expected frame features of shape (B, T, D), got {tuple(inputs.shape)}")
        elif inputs.ndim != 5 or inputs.shape[1] != 3:
            raise ValueError(f"expected clips of shape (B, 3, T, H, W), got {tuple(inputs.shape)}")
        else:
            inputs = (inputs - self.mean) / self.std
        features = self.backbone(inputs) if mask is None else self.backbone(inputs, mask=mask)
        return self.head(features)

    @property
    def frame_dim(self) -> int | None:
        """The width of a frame's features, for a backbone over frames (None for others)."""
        return getattr(self.backbone, "frame_dim", None)

    def frame_targets(self, inputs: Tensor) -> Tensor:
        """The per-frame features ``(B, T, D)`` of a batch: the inputs themselves when they are
        features (a feature file's), else the frame backbone's image encoder's."""
        return inputs if self.input_kind == "features" else self.frame_features(inputs)

    def frame_features(self, clips: Tensor) -> Tensor:
        """Every frame's features ``(B, T, D)`` from the backbone's image encoder: what a feature
        file holds (a frame backbone only)."""
        extract = getattr(self.backbone, "frame_features", None)
        if extract is None or self.input_kind != "clips":
            raise ValueError(
                f"the backbone {type(self.backbone).__name__} has no per-frame features: feature files "
                "are made by a frame backbone (model.backbone.name: frames)"
            )
        return extract((clips - self.mean) / self.std)

    @torch.no_grad()
    def encode(self, inputs: Tensor) -> Tensor:
        """Binary codes, a bool tensor (B, bits); see the class note on ``.eval()``."""
        return binarize(self(inputs))


def _channel_buffer(values: tuple[float, float, float]) -> Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, 3, 1, 1, 1)


def build_model(config: ModelConfig, *, load_pretrained: bool = True) -> HashingModel:
    """The model ``config`` describes: the backbone, then the head given the backbone's ``out_dim``.

    ``load_pretrained=False`` skips the backbone's pretrained weights, for a model whose weights
    a checkpoint is about to replace.
    """
    backbone_spec = config.backbone
    if not load_pretrained and "pretrained" in backbone_spec.params:
        params = {k: v for k, v in backbone_spec.params.items() if k != "pretrained"}
        backbone_spec = ComponentSpec(backbone_spec.name, params)
    backbone = build(BACKBONES, backbone_spec, section="model.backbone")
    check_backbone(backbone, name=backbone_spec.name)  # out_dim is needed before the head exists
    head = build(HEADS, config.head, section="model.head", in_dim=backbone.out_dim)
    return HashingModel(backbone, head)
