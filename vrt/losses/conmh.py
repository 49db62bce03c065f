"""Loss ``conmh``: contrastive masked frame modelling without labels (ConMH, Wang et al., AAAI 2023)."""

from __future__ import annotations

from torch import Tensor, nn

from vrt.losses.base import check_positive
from vrt.losses.self_supervised import (
    FrameDecoder,
    SelfSupervisedLoss,
    complementary_masks,
    debiased_contrastive,
    require_frames,
)
from vrt.registry import LOSSES


class ConMHLoss(SelfSupervisedLoss):
    """Two views of each video hide complementary frames; each view's code must reconstruct the
    frames it hid, and the two views' codes must find each other among the batch's.

    ``loss = MSE(hidden frames of view 1) + MSE(hidden frames of view 2) + contrast_weight *
    DCL(code 1, code 2)``, the reconstruction against the frames' own features and the
    contrastive term Chuang et al.'s debiased one, as in ConMH (Wang, Zeng, Hu, Chen, Xia, AAAI
    2023: "Contrastive Masked Autoencoders for Self-Supervised Video Hashing"). Unlike ConMH,
    which decodes the visible frames' per-frame binary codes, the decoder here sees only the
    video's code (and the frames' positions): the code is what retrieval uses.
    """

    def __init__(
        self, *, bits: int, frame_dim: int, mask_ratio: float, temperature: float, tau_plus: float,
        contrast_weight: float, decoder: FrameDecoder,
    ) -> None:  # fmt: skip
        super().__init__()
        if not 0 < mask_ratio < 1 or not 0 <= tau_plus < 1:
            raise ValueError(
                f"conmh needs mask_ratio in (0, 1) and tau_plus in [0, 1), got {mask_ratio}, {tau_plus}"
            )
        self.bits, self.frame_dim = bits, frame_dim
        self.mask_ratio = mask_ratio
        self.temperature = check_positive(temperature, name="conmh temperature")
        self.tau_plus = tau_plus
        self.contrast_weight = check_positive(contrast_weight, name="conmh contrast_weight", allow_zero=True)
        self.decoder = decoder

    def forward(self, model: nn.Module, inputs: Tensor) -> Tensor:
        frames = self.frames(model, inputs)
        batch, count = frames.shape[:2]
        first, second = complementary_masks(batch, count, self.mask_ratio, device=frames.device)
        total = inputs.new_zeros((), dtype=frames.dtype)
        codes = []
        for mask in (first, second):
            code = self.codes(model, inputs, mask)
            rebuilt = self.decoder(code, count).float()
            total = total + (rebuilt - frames)[mask].square().mean()
            codes.append(code)
        if self.contrast_weight > 0 and batch > 1:
            contrast = debiased_contrastive(*codes, temperature=self.temperature, tau_plus=self.tau_plus)
            total = total + self.contrast_weight * contrast
        return total

    def extra_repr(self) -> str:
        return f"mask_ratio={self.mask_ratio}, temperature={self.temperature}, tau_plus={self.tau_plus}"


@LOSSES.register("conmh", metadata={"labels": False})
def conmh(
    *,
    bits: int,
    frame_dim: int | None,
    mask_ratio: float = 0.5,
    temperature: float = 0.5,
    tau_plus: float = 0.1,
    contrast_weight: float = 1.0,
    decoder_width: int = 192,
    decoder_layers: int = 2,
    decoder_heads: int = 3,
    max_frames: int = 64,
) -> nn.Module:
    """ConMH (AAAI 2023), no labels: reconstruct hidden frames from the code + debiased contrast of two views.

    Args:
        mask_ratio: share of frames each view hides (0.5: the views are complementary).
        temperature, tau_plus: of the debiased contrastive term (ConMH: 0.5 and 0.1).
        contrast_weight: its weight (ConMH: 1 on FCVID, 0.2 on ActivityNet).
        decoder_width, decoder_layers, decoder_heads: the frame decoder (ConMH: 192, 2, 3).
        max_frames: the most frames a video may have.
        bits, frame_dim: injected by vrt (the code length, the width of a frame's features).
    """
    decoder = FrameDecoder(
        bits,
        require_frames("conmh", frame_dim, does="reconstructs frames"),
        width=decoder_width,
        layers=decoder_layers,
        heads=decoder_heads,
        max_frames=max_frames,
    )
    return ConMHLoss(
        bits=bits, frame_dim=frame_dim, mask_ratio=mask_ratio, temperature=temperature, tau_plus=tau_plus,
        contrast_weight=contrast_weight, decoder=decoder,
    )  # fmt: skip
