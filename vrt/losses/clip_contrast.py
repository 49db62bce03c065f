"""Loss ``clip_contrast``: two views of each clip find each other; every clip played backwards is a negative.

The objectives over frame features (``conmh``, ``bth``, ``neighbourhood``) can only keep what the
features hold, and a frozen image encoder's features do not hold which way a video moves
(docs/benchmarks.md: without labels they find the right camera motion at chance). This one
trains a model over the clips' pixels, a motion stream included, and makes the direction of time
part of what a code must say:

- two views of each clip (a crop and a gain, the same over its frames) must find each other
  among the batch's codes: instance discrimination, as SimCLR (Chen et al., ICML 2020) does for
  images and CVRL (Qian et al., CVPR 2021) for clips;
- every clip of the batch played backwards joins the negatives: a code that does not change when
  time runs the other way cannot tell its clip from that clip's reversal. The arrow of time as
  a self-supervised signal is Wei et al.'s ("Learning and Using the Arrow of Time", CVPR 2018);
  reversed playback as a transformation a representation must tell apart is Jenni, Meishvili and
  Favaro's ("Video Representation Learning by Recognizing Temporal Transformations", ECCV 2020).

A pan left played backwards is a pan right, a zoom in a zoom out: these negatives are where the
codes learn the motion (docs/benchmarks.md measures the term on and off). A clip in which nothing
moves is its own reversal: its reversed negative is then as near as its positive, which puts a
floor under the term for that clip without pulling its code anywhere useful.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vrt.losses.base import check_positive
from vrt.losses.self_supervised import SelfSupervisedLoss, debiased_contrastive
from vrt.registry import LOSSES

__all__ = ["ClipContrastLoss", "clip_views"]


def clip_views(clips: Tensor, *, scale: float, exposure: float) -> Tensor:
    """A random view of each clip ``(B, 3, T, H, W)`` in [0, 1]: one square crop of at least
    ``scale`` of each side, anywhere inside the frame, resized back to ``H x W``, and one gain in
    ``[1 - exposure, 1 + exposure]``, the same for every frame of a clip (so the view moves as
    the clip does), clamped to [0, 1]. Nothing is flipped: a flip turns a pan left into a pan
    right."""
    batch, channels, frames, height, width = clips.shape
    device = clips.device
    size = scale + (1 - scale) * torch.rand(batch, device=device)
    # The crop's centre, in [-1, 1] coordinates: at most 1 - size from the middle keeps it inside.
    centre = (1 - size)[:, None] * (2 * torch.rand(batch, 2, device=device) - 1)
    theta = torch.zeros(batch, 2, 3, device=device, dtype=clips.dtype)
    theta[:, 0, 0] = size
    theta[:, 1, 1] = size
    theta[:, :, 2] = centre
    grid = F.affine_grid(theta, [batch, channels * frames, height, width], align_corners=False)
    images = clips.reshape(batch, channels * frames, height, width)  # one crop for every frame
    cropped = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    gain = 1 + exposure * (2 * torch.rand(batch, 1, 1, 1, device=device) - 1)
    return (cropped * gain).clamp(0, 1).view(batch, channels, frames, height, width)


class ClipContrastLoss(SelfSupervisedLoss):
    """InfoNCE over the batch's codes (see the module; :func:`debiased_contrastive` with
    ``tau_plus`` 0): the anchors are both views' codes, each one's positive its other view, its
    negatives every other code, the reversed clips' included when ``reversed_negatives``; cosine
    similarities over ``temperature``."""

    def __init__(
        self, *, temperature: float, scale: float, exposure: float, reversed_negatives: bool
    ) -> None:
        super().__init__()
        if not 0 < scale <= 1 or not 0 <= exposure < 1:
            raise ValueError(
                f"clip_contrast needs scale in (0, 1] and exposure in [0, 1), got {scale}, {exposure}"
            )
        self.temperature = check_positive(temperature, name="clip_contrast temperature")
        self.scale, self.exposure = scale, exposure
        self.reversed_negatives = reversed_negatives

    def forward(self, model: nn.Module, inputs: Tensor) -> Tensor:
        if inputs.ndim != 5:
            raise ValueError(
                "clip_contrast makes views of clips: it needs a backbone over pixels (frames, tiny3d, ...), "
                f"got inputs of shape {tuple(inputs.shape)}; on a feature file use conmh or bth"
            )
        batch = inputs.shape[0]
        if batch < 2:  # no other clip to tell it from
            return inputs.new_zeros((), dtype=torch.float32).requires_grad_()
        first = clip_views(inputs, scale=self.scale, exposure=self.exposure)
        second = clip_views(inputs, scale=self.scale, exposure=self.exposure)
        codes = model(first).float(), model(second).float()
        backwards = model(first.flip(2)).float() if self.reversed_negatives else None  # dim 2 is time
        return debiased_contrastive(*codes, temperature=self.temperature, tau_plus=0.0, negatives=backwards)

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, scale={self.scale}, exposure={self.exposure}, "
            f"reversed_negatives={self.reversed_negatives}"
        )


@LOSSES.register("clip_contrast", metadata={"labels": False})
def clip_contrast(
    *,
    temperature: float = 0.2,
    scale: float = 0.7,
    exposure: float = 0.2,
    reversed_negatives: bool = True,
) -> nn.Module:
    """Contrast of two views of each clip, every clip played backwards a negative; no labels, pixels.

    Args:
        temperature: of the contrast (InfoNCE over the batch's cosine similarities).
        scale, exposure: each view is a square crop of at least ``scale`` of each side and a
            gain within ``1 +- exposure``, the same over the clip's frames.
        reversed_negatives: add every clip played backwards to the negatives (the motion's
            direction must then change the code).
    """
    return ClipContrastLoss(
        temperature=temperature, scale=scale, exposure=exposure, reversed_negatives=reversed_negatives
    )
