"""Clip transforms: shapes and ranges, one geometry per clip, deterministic testing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vrt.data.transforms import RandomScaleCrop, build_clip_transform
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


def test_horizontal_flip_happens_about_half_the_time_and_can_be_turned_off():
    # Left half bright: a flip moves the brightness to the right half.
    frames = np.zeros((2, 32, 32, 3), np.uint8)
    frames[:, :, :16] = 255

    def flipped(out: torch.Tensor) -> bool:
        return out[..., 16:].mean() > out[..., :16].mean()

    torch.manual_seed(0)
    with_flip = build_clip_transform(frame_size=32, training=True, resize_short=32, scales=(1.0,))
    flips = sum(flipped(with_flip(frames)) for _ in range(40))
    assert 8 <= flips <= 32
    without = build_clip_transform(frame_size=32, training=True, resize_short=32, scales=(1.0,), flip=False)
    assert not any(flipped(without(frames)) for _ in range(20))


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
        build_clip_transform(frame_size=32, training=True, resize_short=16)
    with pytest.raises(ValueError, match="scales"):
        build_clip_transform(frame_size=32, training=True, scales=(1.5,))
