"""Frame backbones: a 2D image encoder on every frame, a temporal module over the frames' features.

``frames`` reads clips ``(B, 3, T, H, W)``: its image encoder (``encoder``: ``efficientnet_lite0``
by default, any of ``vrt list encoders``) turns each frame into a feature vector, and its
temporal module (``temporal``: ``vrt list temporal_modules``) turns the ``(B, T, D)`` frame
features into one vector per clip. The encoder is frozen (``train_encoder: false``, its
features computed once per clip and its BatchNorm statistics kept) or fine-tuned with the rest.
An optional motion stream (``motion``: ``vrt list motion_streams``) over the clip's pixels adds
what the frames' features cannot say: which way they move.

``frame_features`` reads what ``vrt features extract`` writes instead: frame features
``(B, T, dim)`` from a feature file, and runs the temporal module alone (seconds per epoch on a
CPU, where decoding and encoding frames would take minutes).

Both take a frame mask (``mask``: bool ``(B, T)``, True for hidden frames), which the masked
frame modelling objectives (``conmh``, ``bth``) use.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vrt.backbones.base import Normalization
from vrt.components import build
from vrt.config.params import section_spec
from vrt.config.schema import ComponentSpec
from vrt.registry import BACKBONES, ENCODERS, MOTION_STREAMS, TEMPORAL_MODULES

__all__ = ["FEATURES_NORMALIZATION", "FrameBackbone", "FrameFeatureBackbone"]

# A part as a config writes it (a registered name, or a mapping of name and parameters) or as
# vrt hands it to the builder (a ComponentSpec).
Section = str | dict[str, Any] | ComponentSpec

# Feature files hold the encoder's output, not pixels: nothing to normalise.
FEATURES_NORMALIZATION = Normalization(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


class FrameBackbone(nn.Module):
    """Image encoder per frame, temporal module over frames, optional motion stream (see the module).

    ``normalization`` is the encoder's (its weights'), which the hashing model applies to the
    pixels; ``out_dim`` is the temporal module's, plus the motion stream's when there is one.
    """

    input_kind = "clips"

    def __init__(
        self,
        encoder: nn.Module,
        temporal: nn.Module,
        motion: nn.Module | None = None,
        *,
        train_encoder: bool = False,
        image_size: int | None = None,
        encoder_frames: int | None = None,
        encoder_lr_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.encoder, self.temporal, self.motion = encoder, temporal, motion
        self.train_encoder = train_encoder
        self.image_size = image_size
        self.encoder_frames = encoder_frames
        # Channels-last is what 2D convolutions run fastest on (measured on a 2-core CPU:
        # EfficientNet-Lite0 on 112-pixel frames, 124 -> 311 frames/s); frames are converted
        # to it in frame_features, and the weights keep it through .to(device) and loading.
        self.encoder.to(memory_format=torch.channels_last)
        self.normalization = encoder.normalization
        self.frame_dim = encoder.out_dim
        self.out_dim = temporal.out_dim + (motion.out_dim if motion is not None else 0)
        if not train_encoder:
            self.encoder.requires_grad_(False)
            self.encoder.eval()
        else:  # read by vrt.optim.build_optimizer: the encoder's parameter group learns slower
            self.encoder.lr_scale = encoder_lr_scale

    def train(self, mode: bool = True) -> FrameBackbone:
        super().train(mode)
        if not self.train_encoder:  # a frozen encoder keeps its BatchNorm statistics
            self.encoder.eval()
        return self

    def _encoded_frames(self, count: int, device: torch.device) -> Tensor | None:
        """The frames the encoder sees, the centres of ``encoder_frames`` equal stretches of the
        clip (as TSN samples segments); None for all of them."""
        if self.encoder_frames is None or self.encoder_frames >= count:
            return None
        stretch = count / self.encoder_frames
        return ((torch.arange(self.encoder_frames, device=device) + 0.5) * stretch).long()

    def frame_features(self, clips: Tensor) -> Tensor:
        """The encoder's features of every frame, ``(B, T, D)``: what a feature file holds."""
        batch, channels, frames, height, width = clips.shape
        images = clips.transpose(1, 2).reshape(batch * frames, channels, height, width)
        if self.image_size is not None and (height, width) != (self.image_size, self.image_size):
            images = F.interpolate(
                images, size=(self.image_size, self.image_size), mode="bilinear", antialias=True
            )
        images = images.contiguous(memory_format=torch.channels_last)
        with torch.set_grad_enabled(self.train_encoder and torch.is_grad_enabled()):
            features = self.encoder(images)
        return features.view(batch, frames, -1)

    def forward(self, clips: Tensor, mask: Tensor | None = None) -> Tensor:
        picked = self._encoded_frames(clips.shape[2], clips.device)
        if picked is None:
            summary = self.temporal(self.frame_features(clips), mask)
        else:
            frames = self.frame_features(clips.index_select(2, picked))
            summary = self.temporal(frames, None if mask is None else mask.index_select(1, picked))
        if self.motion is None:
            return summary
        if mask is not None and bool(mask.any()):
            # The motion stream reads every frame: what a mask hides would reach the code anyway.
            raise ValueError(
                "a frames backbone with a motion stream cannot hide frames: masked frame objectives "
                "(conmh, bth) need model.backbone.motion: null"
            )
        return torch.cat([summary, self.motion(clips)], dim=1)


class FrameFeatureBackbone(nn.Module):
    """A temporal module over precomputed frame features ``(B, T, dim)`` (a feature file's)."""

    input_kind = "features"
    normalization = FEATURES_NORMALIZATION

    def __init__(self, temporal: nn.Module) -> None:
        super().__init__()
        self.temporal = temporal
        self.frame_dim = temporal.in_dim
        self.out_dim = temporal.out_dim

    def forward(self, features: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.temporal(features, mask)


def _part(registry: Any, section: Any, *, name: str, **context: Any) -> nn.Module | None:
    """The part a section names (a spec from a config, or a name or mapping given in code), built
    through the one construction path with the values only this backbone knows."""
    if section is None:
        return None
    path = f"model.backbone.{name}"
    spec = section if isinstance(section, ComponentSpec) else section_spec(section, key_path=path)
    return build(registry, spec, section=path, **context)


@BACKBONES.register(
    "frames",
    metadata={
        "tiny_input": (4, 32, 32),
        "tiny_params": {
            "encoder": {"name": "efficientnet_lite0", "pretrained": None},
            "temporal": {"name": "tconv", "width": 8},
            "motion": {"name": "difference_cnn", "width": 2},
            "train_encoder": True,
        },
        "key_params": "encoder, temporal, motion",
        "extra": "pretrained",
    },
)
def frames(
    *,
    encoder: Section = "efficientnet_lite0",
    temporal: Section = "mean",
    motion: Section | None = None,
    train_encoder: bool = False,
    image_size: int | None = None,
    encoder_frames: int | None = None,
    encoder_lr_scale: float = 1.0,
) -> nn.Module:
    """A 2D image encoder on every frame (pretrained), a temporal module over frames, optional motion stream.

    Args:
        encoder: an image encoder (``vrt list encoders``), by name or as a section with its
            parameters (``{name: efficientnet_lite0, pretrained: imagenet}``).
        temporal: a temporal module (``vrt list temporal_modules``): ``mean``, ``tconv``,
            ``transformer``; it gets the encoder's width as ``in_dim``.
        motion: a motion stream over the pixels (``vrt list motion_streams``), or None.
        train_encoder: fine-tune the encoder (else it is frozen: no gradient, fixed statistics).
        encoder_lr_scale: when fine-tuned, the encoder learns at this multiple of
            ``train.optimizer.lr`` (below 1: the pretrained weights move slower than the layers
            trained from scratch). On realmotion 0.1 did worse than 1 (docs/benchmarks.md).
        image_size: resize frames to this side for the encoder (None: as the clip's frames are).
        encoder_frames: the encoder sees this many of the clip's frames, the centres of equal
            stretches of it (None: every frame). What a picture shows changes slowly and the
            encoder is the costly part, while motion needs every frame: with a motion stream,
            few frames at a high resolution for the encoder and all frames at a low one for the
            motion (as SlowFast's two pathways) cost a fraction of encoding every frame.
    """
    if image_size is not None and image_size < 1:
        raise ValueError(f"image_size must be a positive number of pixels, got {image_size}")
    if not 0 < encoder_lr_scale < float("inf"):
        raise ValueError(f"encoder_lr_scale must be a positive number, got {encoder_lr_scale}")
    if encoder_frames is not None and encoder_frames < 1:
        raise ValueError(f"encoder_frames must be a positive number of frames, got {encoder_frames}")
    image_encoder = _part(ENCODERS, encoder, name="encoder")
    if image_encoder is None:
        raise ValueError("a frame backbone needs an image encoder (encoder: efficientnet_lite0, ...)")
    summary = _part(TEMPORAL_MODULES, temporal or "mean", name="temporal", in_dim=image_encoder.out_dim)
    stream = _part(MOTION_STREAMS, motion, name="motion")
    return FrameBackbone(
        image_encoder,  # type: ignore[arg-type]
        summary,  # type: ignore[arg-type]
        stream,
        train_encoder=train_encoder,
        image_size=image_size,
        encoder_frames=encoder_frames,
        encoder_lr_scale=encoder_lr_scale,
    )


@BACKBONES.register(
    "frame_features",
    metadata={
        "input": "features",
        "tiny_input": (4, 16),  # frames x feature width
        "tiny_params": {"dim": 16, "temporal": {"name": "tconv", "width": 8}},
        "key_params": "dim, temporal",
    },
)
def frame_features(*, dim: int, temporal: Section = "mean") -> nn.Module:
    """A temporal module over frame features read from a feature file (``data.dataset: features``).

    Args:
        dim: the width of a frame's features (what the feature file holds: 1280 for
            efficientnet_lite0, 4096 for the published VGG features).
        temporal: a temporal module (``vrt list temporal_modules``), given ``dim`` as ``in_dim``.
    """
    if dim < 1:
        raise ValueError(f"dim must be the positive width of a frame's features, got {dim}")
    return FrameFeatureBackbone(_part(TEMPORAL_MODULES, temporal or "mean", name="temporal", in_dim=dim))
