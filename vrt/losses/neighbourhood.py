"""Loss ``neighbourhood``: codes that keep the frame features' similarities, without labels (SSVH, BTH)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vrt.losses.self_supervised import SelfSupervisedLoss, require_frames
from vrt.registry import LOSSES

#: What a video's similarity to another is computed from, given its frames ``(B, T, D)``: the
#: mean frame; the frames in order; the changes from frame to frame (which carry the motion).
DESCRIPTIONS = {
    "mean": lambda frames: frames.mean(dim=1),
    "frames": lambda frames: frames.flatten(1),
    "differences": lambda frames: frames.diff(dim=1).flatten(1),
}


class NeighbourhoodLoss(SelfSupervisedLoss):
    """The codes' similarities should be the videos' feature similarities: ``mean over pairs of
    (c_i . c_j / bits - s_ij)^2``, ``c`` the real-valued codes of the whole videos and ``s_ij``
    the cosine similarity of the two videos' descriptions (``describe``, one of
    :data:`DESCRIPTIONS`: by default the mean frame features), centred on the batch's mean (so
    unrelated videos sit near 0, not at the high cosine every pair of post-activation features
    shares).

    Reconstruction objectives (``conmh``, ``bth``) make a code describe its own video; this term
    adds where the video lies among the others, what PCA-based ITQ keeps and a reconstruction
    need not. It is the in-batch form of the neighbourhood structure that SSVH (Song et al.,
    IEEE TIP 2018) and BTH (Li et al., CVPR 2021) ask codes to preserve, which they compute once
    over the training set; use it as a term beside a reconstruction objective
    (``loss: {terms: [{name: conmh}, {name: neighbourhood}]}``).
    """

    def __init__(self, *, describe: str = "mean") -> None:
        super().__init__()
        if describe not in DESCRIPTIONS:
            raise ValueError(
                f"neighbourhood describe must be one of {sorted(DESCRIPTIONS)}, got {describe!r}"
            )
        self.describe = describe

    def forward(self, model: nn.Module, inputs: Tensor) -> Tensor:
        frames = self.frames(model, inputs)
        batch, count = frames.shape[:2]
        if batch < 2:
            return frames.new_zeros(()).requires_grad_()
        described = DESCRIPTIONS[self.describe](frames)
        described = F.normalize(described - described.mean(dim=0, keepdim=True), dim=1)
        target = described @ described.T
        nothing_hidden = torch.zeros(batch, count, dtype=torch.bool, device=frames.device)
        codes = self.codes(model, inputs, nothing_hidden)
        similarity = codes @ codes.T / codes.shape[1]
        pairs = ~torch.eye(batch, dtype=torch.bool, device=frames.device)
        return (similarity - target)[pairs].square().mean()

    def extra_repr(self) -> str:
        return f"describe={self.describe}"


@LOSSES.register("neighbourhood", metadata={"labels": False})
def neighbourhood(*, frame_dim: int | None, describe: str = "mean") -> nn.Module:
    """In-batch neighbourhood (SSVH, BTH), no labels: code similarities follow feature similarities.

    The codes' inner products match the videos' centred feature cosines; a term beside ``conmh``
    or ``bth``.

    Args:
        describe: what videos are compared by: ``mean`` (the mean frame), ``frames`` (the frames
            in order) or ``differences`` (the changes from frame to frame, the motion).
        frame_dim: injected by vrt (the width of a frame's features).
    """
    require_frames("neighbourhood", frame_dim, does="compares frame features")
    return NeighbourhoodLoss(describe=describe)
