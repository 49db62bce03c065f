"""Loss ``bth``: bidirectional masked frame reconstruction without labels (BTH, Li et al., CVPR 2021)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vrt.losses.self_supervised import FrameDecoder, SelfSupervisedLoss, require_frames
from vrt.registry import LOSSES


class BTHLoss(SelfSupervisedLoss):
    """BERT's cloze task on frames: each frame is picked with probability ``mask_probability``; of
    the picked, 80% are hidden (the temporal module's mask token), 10% replaced by a frame of
    another video of the batch, 10% kept. The video's code, from a bidirectional encoder that
    sees every other frame, must reconstruct all frames: ``loss = MSE(every frame)``.

    Li, Wang, Lu and Zhou, "Self-Supervised Video Hashing via Bidirectional Transformers" (CVPR
    2021), whose 0.15 and 80/10/10 these are; its neighbourhood and cluster terms, which need a
    k-means over the training set first, are not included.
    """

    def __init__(self, *, mask_probability: float, decoder: FrameDecoder) -> None:
        super().__init__()
        if not 0 < mask_probability < 1:
            raise ValueError(f"bth mask_probability must lie in (0, 1), got {mask_probability}")
        self.mask_probability = mask_probability
        self.decoder = decoder

    def forward(self, model: nn.Module, inputs: Tensor) -> Tensor:
        frames = self.frames(model, inputs)
        batch, count = frames.shape[:2]
        device = frames.device
        picked = torch.rand(batch, count, device=device) < self.mask_probability
        roll = torch.rand(batch, count, device=device)
        hidden = picked & (roll < 0.8)
        swapped = picked & (roll >= 0.8) & (roll < 0.9)
        if swapped.any() and batch > 1:
            inputs = _swap_frames(inputs, swapped, time_axis=1 if inputs.ndim == 3 else 2)
        code = self.codes(model, inputs, hidden)
        return (self.decoder(code, count).float() - frames).square().mean()

    def extra_repr(self) -> str:
        return f"mask_probability={self.mask_probability}"


def _swap_frames(inputs: Tensor, swapped: Tensor, *, time_axis: int) -> Tensor:
    """``inputs`` with the frames of ``swapped`` (B, T) taken from the next video of the batch."""
    other = inputs.roll(1, dims=0)
    shape = [1] * inputs.ndim
    shape[0], shape[time_axis] = swapped.shape
    return torch.where(swapped.view(shape), other, inputs)


@LOSSES.register("bth", metadata={"labels": False})
def bth(
    *,
    bits: int,
    frame_dim: int | None,
    mask_probability: float = 0.15,
    decoder_width: int = 192,
    decoder_layers: int = 1,
    decoder_heads: int = 3,
    max_frames: int = 64,
) -> nn.Module:
    """BTH (CVPR 2021), no labels: BERT-style hidden frames, every frame reconstructed from the code.

    Args:
        mask_probability: the chance that a frame is picked for the cloze task (BTH: 0.15).
        decoder_width, decoder_layers, decoder_heads: the frame decoder.
        max_frames: the most frames a video may have.
        bits, frame_dim: injected by vrt (the code length, the width of a frame's features).
    """
    decoder = FrameDecoder(
        bits,
        require_frames("bth", frame_dim, does="reconstructs frames"),
        width=decoder_width,
        layers=decoder_layers,
        heads=decoder_heads,
        max_frames=max_frames,
    )
    return BTHLoss(mask_probability=mask_probability, decoder=decoder)
