"""Clip transforms: decoded frames in, a model-ready clip tensor out, with one geometry per clip.

A 3D CNN learns from how pixels move between frames, so augmentation must move every frame of
a clip the same way: the random choices are drawn once per clip, never frame by frame.

Training: scale the shorter side to ``resize_short``, crop a random square whose side is a
random fraction of that (multi-scale crop), resize it to ``frame_size``, flip horizontally at
random and jitter the colours, as ``data.augment`` says. Testing: the same short-side scale
and a centre crop, deterministic, so database and query codes are reproducible.

Drawing and applying are separate steps: :meth:`ClipTransform.draw` turns the frame size and
torch's global RNG into a :class:`ClipRecipe`, a few numbers that fully describe what happens to
the clip, and :func:`apply_recipe` carries it out on frames on any device. The DataLoader
worker draws (from the clip's seeded RNG, see ``ClipView``); the frames are transformed there
on the CPU, or later on the GPU in a batch (``data.pipeline: device``), with the same result.
The draws are those torchvision's ``v2`` transforms make (same calls, same order), so a seed
gives the clips it gave when this module composed ``v2`` transforms.

Normalisation is not done here: the model normalises with its backbone's statistics (see
``Normalization``), so clips stay in [0, 1] whatever backbone reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from vrt.config.schema import AugmentConfig, ColorJitterConfig, resolved_resize_short
from vrt.io.rgb import scaled_size

# torchvision's ColorJitter applies its four adjustments in a random order, numbered like this.
_ADJUSTMENTS = ("brightness", "contrast", "saturation", "hue")


class RandomScaleCrop(v2.Transform):
    """A square crop whose side is ``s`` times the shorter image side, ``s`` drawn from ``scales``,
    at a uniformly random position (the multi-scale crop of TSN, restricted to squares).

    Randomness comes from torch's global RNG, which the DataLoader seeds per worker.
    """

    def __init__(self, scales: Sequence[float]) -> None:
        super().__init__()
        if not scales or not all(0.0 < s <= 1.0 for s in scales):
            raise ValueError(f"scales must be a non-empty list of fractions in (0, 1], got {scales}")
        self.scales = tuple(float(s) for s in scales)

    def draw(self, height: int, width: int) -> tuple[int, int, int]:
        """(top, left, side) of a crop of a ``height`` x ``width`` image."""
        scale = self.scales[int(torch.randint(len(self.scales), (1,)).item())]
        side = max(1, min(round(min(height, width) * scale), height, width))
        top = int(torch.randint(height - side + 1, (1,)).item())
        left = int(torch.randint(width - side + 1, (1,)).item())
        return top, left, side

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        top, left, side = self.draw(*v2.functional.get_size(flat_inputs[0]))
        return {"top": top, "left": left, "height": side, "width": side}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return v2.functional.crop(inpt, **params)

    def extra_repr(self) -> str:
        return f"scales={self.scales}"


@dataclass(frozen=True)
class ClipRecipe:
    """What happens to one clip's frames: the fixed sizes and the random choices drawn for it.

    ``crop`` is (top, left, side) in the frames scaled to ``resize_short``, followed by a resize
    to ``frame_size``; ``None`` is the centre crop of testing. ``color`` lists the colour
    adjustments in the order they apply, as (name, factor). Plain numbers, so a recipe crosses
    process boundaries for free and applies alike on any device.
    """

    resize_short: int
    frame_size: int
    crop: tuple[int, int, int] | None = None
    flip: bool = False
    color: tuple[tuple[str, float], ...] = ()


def apply_recipe(video: torch.Tensor, recipe: ClipRecipe) -> torch.Tensor:
    """uint8 frames ``(T, 3, H, W)`` on any device -> the float32 ``(C, T, H, W)`` clip in [0, 1] there.

    Geometry runs on uint8, before the float conversion: a quarter of the memory traffic (on a
    GPU torchvision resizes in float and rounds back, which is where a device's clip may
    differ from the CPU's by one grey level).
    """
    # A no-op when the frames already have this short side (a decoder that scales, prepared frames).
    video = F.resize(video, [recipe.resize_short], antialias=True)
    size = [recipe.frame_size, recipe.frame_size]
    if recipe.crop is None:
        video = F.center_crop(video, size)
    else:
        top, left, side = recipe.crop
        video = F.resize(F.crop(video, top, left, side, side), size, antialias=True)
    if recipe.flip:
        video = F.horizontal_flip(video)
    for name, factor in recipe.color:
        video = getattr(F, f"adjust_{name}")(video, factor)
    return F.to_dtype(video, torch.float32, scale=True).permute(1, 0, 2, 3).contiguous()


def transform_frames(frames: np.ndarray | torch.Tensor, recipe: ClipRecipe) -> torch.Tensor:
    """uint8 frames ``(T, H, W, 3)`` (numpy or torch) -> the clip ``recipe`` makes of them."""
    return apply_recipe(_channels_first(frames), recipe)


def _channels_first(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    video = torch.from_numpy(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames
    if video.dtype != torch.uint8 or video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(
            f"expected uint8 frames of shape (T, H, W, 3), got {tuple(video.shape)} {video.dtype}"
        )
    # (T, 3, H, W) as a view of the (T, H, W, 3) memory: torch's uint8 resize is fastest on it.
    return video.permute(0, 3, 1, 2)


class ClipTransform:
    """Turns uint8 frames ``(T, H, W, 3)`` (numpy or torch) into a float32 ``(C, T, H, W)`` clip in [0, 1].

    Calling it draws a recipe for the frames' size and applies it; :meth:`draw` alone is what a
    DataLoader worker does when the frames are transformed elsewhere. Build it with
    :func:`build_clip_transform`.
    """

    def __init__(
        self,
        *,
        frame_size: int,
        resize_short: int,
        training: bool,
        scales: Sequence[float] = (1.0,),
        flip: bool = False,
        color: ColorJitterConfig | None = None,
    ) -> None:
        self.frame_size = frame_size
        self.resize_short = resize_short
        self.training = training
        self.crop = RandomScaleCrop(scales) if training else None
        self.flip = training and flip
        jitter = training and color is not None and color.enabled
        # One draw per clip, so every frame of the clip gets the same colour change.
        self.jitter = (
            v2.ColorJitter(
                brightness=color.brightness or None,
                contrast=color.contrast or None,
                saturation=color.saturation or None,
                hue=color.hue or None,
            )
            if jitter and color is not None
            else None
        )

    def draw(self, height: int, width: int) -> ClipRecipe:
        """This clip's random choices, for frames of ``height`` x ``width``, from torch's global RNG.

        The draws are ``v2``'s: the crop's three, the flip's ``torch.rand(1)`` (flipped below
        0.5), then ``ColorJitter.make_params``.
        """
        recipe = ClipRecipe(resize_short=self.resize_short, frame_size=self.frame_size)
        if not self.training:
            return recipe
        assert self.crop is not None
        width, height = scaled_size(width, height, self.resize_short)
        crop = self.crop.draw(height, width)
        flip = self.flip and bool(torch.rand(1) < 0.5)
        color: tuple[tuple[str, float], ...] = ()
        if self.jitter is not None:
            params = self.jitter.make_params([])
            color = tuple(
                (_ADJUSTMENTS[i], float(params[f"{_ADJUSTMENTS[i]}_factor"]))
                for i in params["fn_idx"].tolist()
                if params[f"{_ADJUSTMENTS[i]}_factor"] is not None
            )
        return ClipRecipe(self.resize_short, self.frame_size, crop=crop, flip=flip, color=color)

    def __call__(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        video = _channels_first(frames)
        return apply_recipe(video, self.draw(*video.shape[-2:]))

    def __repr__(self) -> str:
        # One line, step by step: it is printed in tables and logs.
        steps = [f"Resize(short side {self.resize_short}, antialias)"]
        if self.crop is None:
            steps.append(f"CenterCrop({self.frame_size})")
        else:
            steps += [repr(self.crop), f"Resize({self.frame_size}x{self.frame_size}, antialias)"]
        if self.flip:
            steps.append("RandomHorizontalFlip(p=0.5)")
        if self.jitter is not None:
            steps.append(" ".join(repr(self.jitter).split()))
        steps.append("ToDtype(float32, scale=True)")
        return " -> ".join(steps)


def build_clip_transform(
    *, frame_size: int, training: bool, augment: AugmentConfig | None = None
) -> ClipTransform:
    """The training or testing transform for square clips of ``frame_size`` pixels.

    Args:
        frame_size: side of the output frames.
        training: the random augmentation of ``augment`` (``True``) or a deterministic centre crop.
        augment: scales, flip, colour jitter and the short side to scale to first (see
            :class:`~vrt.config.schema.AugmentConfig`; its defaults when None).
    """
    if frame_size < 1:
        raise ValueError(f"frame_size must be at least 1, got {frame_size}")
    augment = augment or AugmentConfig()
    return ClipTransform(
        frame_size=frame_size,
        resize_short=resolved_resize_short(augment, frame_size),
        training=training,
        scales=augment.scales,
        flip=augment.flip,
        color=augment.color,
    )
