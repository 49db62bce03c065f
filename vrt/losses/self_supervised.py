"""What self-supervised objectives share: the contract, frame masks, and a frame decoder.

A :class:`SelfSupervisedLoss` sees the model and a batch's inputs, not only its codes: masked
frame modelling (BTH, ConMH) hides frames, encodes what is left, and reconstructs the frames
from the code; contrastive terms compare the codes of two views of one video. Such a loss needs
no labels: a dataset without any trains with it (``data.batch.sampler: shuffle``), and the run
picks its checkpoint on the validation loss (docs/training.md, "Training without labels").

The model must read frames and take a frame mask (``model.backbone``: ``frames`` or
``frame_features``, whose temporal modules summarise the visible frames); the frames to
reconstruct are the backbone's per-frame features (the feature file's, or the image
encoder's).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "FrameDecoder",
    "SelfSupervisedLoss",
    "complementary_masks",
    "debiased_contrastive",
    "require_frames",
]


class SelfSupervisedLoss(nn.Module, ABC):
    """A loss computed from the model and a batch's inputs: ``loss(model, inputs) -> scalar``
    (registered with ``metadata={"labels": False}``, which says that it needs no labels)."""

    @abstractmethod
    def forward(self, model: nn.Module, inputs: Tensor) -> Tensor:
        """The loss of one batch; ``model`` is what training runs (maybe wrapped in DDP)."""

    @staticmethod
    def frames(model: nn.Module, inputs: Tensor) -> Tensor:
        """The frames to reconstruct, ``(B, T, D)``: the backbone's per-frame features, no gradient."""
        plain = getattr(model, "module", model)  # DDP keeps the model as .module
        with torch.no_grad():
            return plain.frame_targets(inputs).float()

    @staticmethod
    def codes(model: nn.Module, inputs: Tensor, mask: Tensor) -> Tensor:
        """The model's real-valued codes of ``inputs`` with the frames of ``mask`` hidden."""
        try:
            return model(inputs, mask=mask).float()
        except TypeError as error:
            raise ValueError(
                "a masked frame objective needs a backbone over frames that takes a frame mask "
                f"(model.backbone: frames or frame_features): {error}"
            ) from None


def complementary_masks(
    batch: int, frames: int, ratio: float, *, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Two bool masks ``(B, T)`` (True: hidden) per video, from one random order of its frames:
    the first view sees the first ``T - floor(ratio * T)`` frames of that order (at least one,
    and one hidden), the second the last as many; the views share no frame when
    ``floor(ratio * T) >= T / 2`` (ConMH's sampling; with ratio 0.5 and an odd T they share one)."""
    hidden = min(max(int(ratio * frames), 1), frames - 1)
    visible = frames - hidden
    order = torch.rand(batch, frames, device=device).argsort(dim=1)
    first = torch.ones(batch, frames, dtype=torch.bool, device=device)
    second = torch.ones(batch, frames, dtype=torch.bool, device=device)
    first.scatter_(1, order[:, :visible], False)
    second.scatter_(1, order[:, frames - visible :], False)
    return first, second


def debiased_contrastive(
    first: Tensor, second: Tensor, *, temperature: float, tau_plus: float, negatives: Tensor | None = None
) -> Tensor:
    """Chuang et al.'s debiased contrastive loss (NeurIPS 2020) between two views' codes, both
    ways: each code's positive is its other view; the negatives (the other 2B - 2 codes, and the
    rows of ``negatives``, codes that are a negative of every view, when given) are corrected for
    the chance ``tau_plus`` that one of them shows the same content. With ``tau_plus`` 0 it is
    InfoNCE (SimCLR's NT-Xent, cosine similarities over ``temperature``)."""
    codes = F.normalize(torch.cat([first, second]), dim=1)
    count = first.shape[0]
    similarity = torch.exp(codes @ codes.T / temperature)
    pair = torch.arange(2 * count, device=codes.device).roll(count)  # i <-> i + B
    positive = similarity[torch.arange(2 * count), pair]
    others = ~torch.eye(2 * count, dtype=torch.bool, device=codes.device)
    others[torch.arange(2 * count), pair] = False
    negative = (similarity * others).sum(dim=1)
    total = 2 * count - 2
    if negatives is not None:
        negative = negative + torch.exp(codes @ F.normalize(negatives, dim=1).T / temperature).sum(dim=1)
        total += negatives.shape[0]
    estimate = (negative - tau_plus * total * positive) / (1 - tau_plus)
    estimate = estimate.clamp_min(total * math.exp(-1 / temperature))
    return -torch.log(positive / (positive + estimate)).mean()


class FrameDecoder(nn.Module):
    """Reconstructs every frame's features ``(B, T, dim)`` from a video's code ``(B, bits)``: the code,
    projected to ``width``, plus a learned position per frame, through ``layers`` Transformer
    layers, then a linear map to ``dim``. Everything a frame holds must come through the code."""

    def __init__(self, bits: int, dim: int, *, width: int, layers: int, heads: int, max_frames: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"decoder width ({width}) must be a multiple of heads ({heads})")
        self.max_frames = max_frames
        self.project = nn.Linear(bits, width)
        self.positions = nn.Parameter(torch.zeros(1, max_frames, width))
        layer = nn.TransformerEncoderLayer(
            width, heads, dim_feedforward=4 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dim))
        nn.init.trunc_normal_(self.positions, std=0.02)

    def forward(self, codes: Tensor, frames: int) -> Tensor:
        if frames > self.max_frames:
            raise ValueError(f"the decoder was built for at most {self.max_frames} frames, got {frames}")
        tokens = self.project(codes).unsqueeze(1) + self.positions[:, :frames]
        return self.out(self.layers(tokens))


def require_frames(name: str, frame_dim: int | None, *, does: str) -> int:
    """``frame_dim``, or the one-line error of objective ``name``, which ``does`` something with
    frames, when the model has no backbone over frames."""
    if frame_dim is None:
        raise ValueError(
            f"{name} {does}: it needs a backbone over frames (model.backbone: frames or frame_features)"
        )
    return frame_dim
