"""Clip transforms: shapes and ranges, one geometry per clip, deterministic testing."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from vrt.config import apply_override, config_from_dict
from vrt.config.schema import AugmentConfig, ColorJitterConfig
from vrt.data.pipeline import clip_spec
from vrt.datasets.transforms import RandomScaleCrop, apply_recipe, build_clip_transform
from vrt.io.rgb import scaled_size
from vrt.io.synthetic_video import pattern_frame


def clip(num_frames: int = 4, size: tuple[int, int] = (40, 30)) -> np.ndarray:
    """Distinct frames (the test pattern), uint8 (T, H, W, 3); ``size`` is (width, height)."""
    return np.stack([pattern_frame(i, size=size) for i in range(num_frames)])


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("size", [(40, 30), (30, 40), (33, 27), (200, 150)])
def test_output_is_float_c_t_h_w_in_unit_range(training, size):
    transform = build_clip_transform(frame_size=24, training=training)
    out = transform(clip(5, size))
    assert out.shape == (3, 5, 24, 24) and out.dtype == torch.float32
    assert out.is_contiguous()
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_frames_keep_their_order_and_are_scaled_to_unit_range():
    frames = np.stack([np.full((30, 40, 3), 20 * t, np.uint8) for t in range(6)])
    out = build_clip_transform(frame_size=16, training=True)(frames)
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.arange(6) * 20 / 255, atol=1e-3)


def test_numpy_and_torch_inputs_give_the_same_clip():
    frames = clip()
    transform = build_clip_transform(frame_size=24, training=False)
    assert torch.equal(transform(frames), transform(torch.from_numpy(frames)))


def test_testing_is_a_centre_crop_after_the_short_side_resize():
    frames = clip(2, (32, 32))
    # Default resize_short for 28-pixel frames is round(28 * 128 / 112) = 32: the resize is a no-op.
    out = build_clip_transform(frame_size=28, training=False)(frames)
    expected = torch.from_numpy(frames[:, 2:30, 2:30]).permute(3, 0, 1, 2).float() / 255
    assert torch.allclose(out, expected, atol=1e-6)


def test_testing_is_deterministic_whatever_the_rng():
    transform = build_clip_transform(frame_size=24, training=False)
    frames = clip()
    torch.manual_seed(0)
    first = transform(frames)
    torch.manual_seed(1)
    torch.rand(100)
    assert torch.equal(first, transform(frames))


def test_training_applies_one_crop_and_flip_to_every_frame():
    frame = pattern_frame(7, size=(48, 36))
    frames = np.stack([frame] * 6)
    transform = build_clip_transform(frame_size=20, training=True)
    torch.manual_seed(0)
    outputs = [transform(frames) for _ in range(12)]
    for out in outputs:
        for t in range(1, 6):
            assert torch.equal(out[:, 0], out[:, t])
    assert len({out.sum().item() for out in outputs}) > 3  # and the geometry does change per clip


def test_training_randomness_comes_from_the_global_rng():
    transform = build_clip_transform(frame_size=20, training=True)
    frames = clip(3, (48, 36))
    torch.manual_seed(5)
    first = [transform(frames) for _ in range(3)]
    torch.manual_seed(5)
    second = [transform(frames) for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def _mirrored(clip: torch.Tensor) -> bool:
    """Whether a clip of a left-to-right brightness ramp came out mirrored (brighter on the left)."""
    return bool(clip[..., : clip.shape[-1] // 2].mean() > clip[..., clip.shape[-1] // 2 :].mean())


@pytest.mark.parametrize("flip", [True, False])
def test_flip_setting_from_the_config_decides_whether_training_clips_are_mirrored(flip):
    raw = {"data": {"num_frames": 4, "frame_size": 16}}
    apply_override(raw, f"data.augment.flip={str(flip).lower()}")  # as `--set` does
    config = config_from_dict(raw, source="test")
    assert config.data.augment.flip is flip
    # A ramp survives every crop and resize the right way round: only a flip mirrors it.
    ramp = np.broadcast_to(np.linspace(0, 255, 48, dtype=np.uint8)[None, None, :, None], (4, 40, 48, 3))
    transform = clip_spec(config).transform(training=True)
    torch.manual_seed(0)
    mirrored = sum(_mirrored(transform(ramp)) for _ in range(200))
    if flip:
        assert 70 <= mirrored <= 130  # Binomial(200, 1/2) leaves this band about once in 10^4 draws
    else:
        assert mirrored == 0
    assert not _mirrored(clip_spec(config).transform(training=False)(ramp))


def test_colour_jitter_changes_colours_once_per_clip_and_only_when_configured():
    frames = np.full((4, 24, 24, 3), 128, np.uint8)
    plain = build_clip_transform(frame_size=16, training=True)
    assert torch.allclose(plain(frames), torch.full((3, 4, 16, 16), 128 / 255))
    jitter = AugmentConfig(color=ColorJitterConfig(brightness=0.5))
    torch.manual_seed(0)
    clip = build_clip_transform(frame_size=16, training=True, augment=jitter)(frames)
    per_frame = clip.mean(dim=(0, 2, 3))
    assert not torch.allclose(per_frame, torch.full((4,), 128 / 255), atol=1e-3)
    assert torch.allclose(per_frame, per_frame[0].expand(4))  # every frame changed alike
    testing = build_clip_transform(frame_size=16, training=False, augment=jitter)
    assert torch.equal(testing(frames), build_clip_transform(frame_size=16, training=False)(frames))


def test_multi_scale_crop_draws_every_scale_at_positions_inside_the_frame():
    crop = RandomScaleCrop((1.0, 0.5, 0.25))
    video = torch.zeros(2, 3, 40, 64, dtype=torch.uint8)
    torch.manual_seed(0)
    sides, lefts = set(), set()
    for _ in range(200):
        params = crop.make_params([video])
        assert params["height"] == params["width"]
        assert 0 <= params["top"] <= 40 - params["height"]
        assert 0 <= params["left"] <= 64 - params["width"]
        sides.add(params["height"])
        lefts.add(params["left"])
    assert sides == {40, 20, 10}
    assert len(lefts) > 10
    out = crop(video)
    assert out.shape[:2] == (2, 3) and out.shape[-2] == out.shape[-1]


def test_invalid_inputs_and_settings():
    transform = build_clip_transform(frame_size=16, training=False)
    with pytest.raises(ValueError, match="uint8"):
        transform(np.zeros((4, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        transform(np.zeros((4, 3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="resize_short"):
        build_clip_transform(frame_size=32, training=True, augment=AugmentConfig(resize_short=16))
    with pytest.raises(ValueError, match="scales"):
        build_clip_transform(frame_size=32, training=True, augment=AugmentConfig(scales=[1.5]))


def composed_v2_reference(frame_size: int, training: bool, augment: AugmentConfig) -> v2.Compose:
    """The transform as torchvision's ``v2`` composes it: what vrt's recipes must reproduce."""
    steps = [v2.Resize(augment.resize_short, antialias=True)]
    if training:
        steps += [RandomScaleCrop(augment.scales), v2.Resize((frame_size, frame_size), antialias=True)]
        steps += [v2.RandomHorizontalFlip(p=0.5)] if augment.flip else []
        color = augment.color
        if color.enabled:
            steps.append(
                v2.ColorJitter(
                    color.brightness or None,
                    color.contrast or None,
                    color.saturation or None,
                    color.hue or None,
                )
            )
    else:
        steps.append(v2.CenterCrop(frame_size))
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True)])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(
    "augment",
    [
        AugmentConfig(resize_short=48),
        AugmentConfig(resize_short=40, flip=False, scales=[0.5, 1.0]),
        AugmentConfig(
            resize_short=44, color=ColorJitterConfig(brightness=0.4, contrast=0.3, saturation=0.3, hue=0.1)
        ),
    ],
)
def test_recipes_give_the_clips_and_draws_of_torchvisions_composed_transforms(training, augment):
    frames = clip(5, (64, 48))
    ours = build_clip_transform(frame_size=32, training=training, augment=augment)
    reference = composed_v2_reference(32, training, augment)
    for seed in range(8):
        torch.manual_seed(seed)
        expected = reference(tv_tensors.Video(torch.from_numpy(frames).permute(0, 3, 1, 2)))
        expected = expected.as_subclass(torch.Tensor).permute(1, 0, 2, 3)
        after_reference = torch.rand(1)
        torch.manual_seed(seed)
        assert torch.equal(ours(frames), expected)
        assert torch.equal(torch.rand(1), after_reference)  # the same number of draws, too


@pytest.mark.parametrize("size", [(240, 320), (320, 240), (27, 33), (128, 171), (100, 100), (31, 500)])
def test_scaled_size_is_what_torchvision_resizes_to(size):
    image = torch.zeros(3, *size, dtype=torch.uint8)
    height, width = v2.functional.resize(image, [24], antialias=True).shape[-2:]
    assert scaled_size(size[1], size[0], 24) == (width, height)


def test_a_drawn_recipe_travels_and_applies_to_the_same_clip():
    frames = clip(4, (64, 48))
    augment = AugmentConfig(color=ColorJitterConfig(brightness=0.5, hue=0.2))
    transform = build_clip_transform(frame_size=24, training=True, augment=augment)
    torch.manual_seed(3)
    direct = transform(frames)
    torch.manual_seed(3)
    recipe = pickle.loads(pickle.dumps(transform.draw(48, 64)))  # as a DataLoader worker sends it
    assert torch.equal(apply_recipe(torch.from_numpy(frames).permute(0, 3, 1, 2), recipe), direct)
    assert {name for name, _ in recipe.color} == {"brightness", "hue"}
