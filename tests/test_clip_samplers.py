"""Clip samplers: which frames of a video make up a clip."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from vrt.datasets.samplers import (
    ClipSampler,
    DenseSampler,
    SegmentSampler,
    UniformSampler,
    dense,
    segment,
    uniform,
)
from vrt.registry import SAMPLERS

LENGTHS = [1, 2, 3, 7, 8, 9, 15, 16, 17, 100, 301]


def all_samplers(num_frames: int) -> list[ClipSampler]:
    return [
        uniform(num_frames=num_frames),
        segment(num_frames=num_frames),
        dense(num_frames=num_frames, stride=2),
    ]


def test_registered_names():
    assert {"uniform", "segment", "dense"} <= set(SAMPLERS.names())
    assert isinstance(SAMPLERS.get("uniform")(num_frames=4), UniformSampler)
    assert isinstance(SAMPLERS.get("Segment")(num_frames=4), SegmentSampler)
    assert isinstance(SAMPLERS.get("dense")(num_frames=4, stride=3), DenseSampler)


def test_importing_the_samplers_does_not_import_torch():
    # The registry imports this module for `vrt list samplers`, which must stay fast.
    code = "import sys, vrt.datasets.samplers; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("num_frames", [1, 4, 8])
@pytest.mark.parametrize("training", [False, True])
def test_every_sampler_returns_t_sorted_indices_inside_the_video(num_frames, training):
    torch.manual_seed(0)
    for sampler in all_samplers(num_frames):
        for length in LENGTHS:
            for _ in range(5 if training else 1):
                indices = sampler(length, training=training)
                assert len(indices) == num_frames, (sampler, length)
                assert all(isinstance(i, int) for i in indices)
                assert indices == sorted(indices), (sampler, length, indices)
                assert 0 <= indices[0] and indices[-1] < length, (sampler, length, indices)


def test_uniform_spans_first_to_last_frame_and_ignores_training():
    sampler = uniform(num_frames=5)
    assert sampler(101, training=False) == [0, 25, 50, 75, 100]
    assert sampler(9, training=True) == sampler(9, training=False) == [0, 2, 4, 6, 8]
    assert sampler(3, training=False) == [0, 1, 1, 2, 2]  # short video: frames repeat, order kept
    assert sampler(1, training=False) == [0] * 5
    assert sampler(100, training=False, clip=1, num_clips=3) == sampler(
        100, training=False
    )  # the middle view
    assert uniform(num_frames=1)(9, training=False) == [4]
    for length in range(5, 60):
        indices = sampler(length, training=False)
        assert indices[0] == 0 and indices[-1] == length - 1
        assert len(set(indices)) == 5  # no repeats once the video is long enough


def test_segment_testing_takes_segment_centres():
    sampler = segment(num_frames=4)
    assert sampler(40, training=False) == [5, 15, 25, 35]
    assert sampler(40, training=False, clip=0, num_clips=2) == [2, 12, 22, 32]
    assert sampler(40, training=False, clip=1, num_clips=2) == [7, 17, 27, 37]
    assert sampler(2, training=False) == [0, 0, 1, 1]


def test_segment_training_draws_one_frame_inside_each_segment_and_covers_it():
    sampler = segment(num_frames=4)
    seen: list[set[int]] = [set() for _ in range(4)]
    torch.manual_seed(0)
    for _ in range(300):
        for segment_index, frame in enumerate(sampler(40, training=True)):
            assert 10 * segment_index <= frame < 10 * (segment_index + 1)
            seen[segment_index].add(frame)
    assert all(len(frames) == 10 for frames in seen)


def test_training_randomness_follows_torch_global_rng_or_a_generator():
    for sampler in (segment(num_frames=8), dense(num_frames=4, stride=3)):
        torch.manual_seed(11)
        first = [sampler(120, training=True) for _ in range(4)]
        torch.manual_seed(11)
        assert [sampler(120, training=True) for _ in range(4)] == first
        assert len({tuple(x) for x in first}) > 1
        from_generator = [
            sampler(120, training=True, generator=torch.Generator().manual_seed(5)) for _ in range(2)
        ]
        assert from_generator[0] == from_generator[1]
        assert sampler(120, training=False) == sampler(120, training=False)


def test_dense_takes_consecutive_frames_at_its_stride():
    sampler = dense(num_frames=4, stride=2)
    assert sampler.window == 7
    assert sampler(27, training=False) == [10, 12, 14, 16]  # centred: 10 frames before, 10 after
    assert sampler(27, training=False, clip=0, num_clips=3) == [3, 5, 7, 9]
    assert sampler(27, training=False, clip=2, num_clips=3) == [16, 18, 20, 22]
    starts = set()
    torch.manual_seed(0)
    for _ in range(500):
        indices = sampler(27, training=True)
        assert [b - a for a, b in zip(indices, indices[1:], strict=False)] == [2, 2, 2]
        starts.add(indices[0])
    assert starts == set(range(21))  # every start from 0 to L - window


def test_dense_repeats_the_last_frame_of_a_short_video():
    sampler = dense(num_frames=5, stride=2)
    assert sampler(6, training=False) == [0, 2, 4, 5, 5]
    assert sampler(6, training=True) == [0, 2, 4, 5, 5]  # no room to move: no randomness either
    assert sampler(1, training=False) == [0] * 5


def test_repr_names_the_parameters():
    assert repr(dense(num_frames=4, stride=2)) == "DenseSampler(num_frames=4, stride=2)"
    assert repr(uniform(num_frames=16)) == "UniformSampler(num_frames=16)"


def test_invalid_arguments_fail_clearly():
    with pytest.raises(ValueError, match="num_frames"):
        uniform(num_frames=0)
    with pytest.raises(ValueError, match="stride"):
        dense(num_frames=4, stride=0)
    with pytest.raises(ValueError, match="at least one frame"):
        segment(num_frames=4)(0, training=False)
    with pytest.raises(ValueError, match="num_clips"):
        segment(num_frames=4)(10, training=False, clip=2, num_clips=2)
    with pytest.raises(ValueError, match="num_clips"):
        dense(num_frames=4)(10, training=False, num_clips=0)


@pytest.mark.parametrize("num_frames", [1, 4, 16])
@pytest.mark.parametrize("num_clips", [2, 3, 5])
def test_every_sampler_gives_different_test_views_of_a_long_video(num_frames, num_clips):
    # Several test views averaged into one code are only worth their cost if they differ.
    for sampler in all_samplers(num_frames):
        views = [tuple(sampler(300, training=False, clip=c, num_clips=num_clips)) for c in range(num_clips)]
        assert len(set(views)) == num_clips, (sampler, views)
        for view in views:
            assert list(view) == sorted(view) and 0 <= view[0] and view[-1] < 300


def test_temporal_jitter_varies_training_frames_inside_the_video_and_never_testing_frames():
    from vrt.config.schema import AugmentConfig
    from vrt.datasets.clips import ClipSpec

    plain = ClipSpec(num_frames=4, frame_size=8)
    jittered = ClipSpec(num_frames=4, frame_size=8, augment=AugmentConfig(temporal_jitter=0.5))
    torch.manual_seed(0)
    assert plain.sampler(100, training=True) == [0, 33, 66, 99]
    draws = {tuple(jittered.sampler(100, training=True)) for _ in range(50)}
    assert len(draws) > 10
    for indices in draws:
        assert list(indices) == sorted(indices) and 0 <= indices[0] and indices[-1] < 100
        assert indices[-1] - indices[0] >= 49  # the window holds at least half of the 100 frames
    assert jittered.sampler(100, training=False) == plain.sampler(100, training=False)
    assert jittered.sampler(1, training=True) == [0, 0, 0, 0]
    assert repr(jittered.sampler) == "UniformSampler(num_frames=4), temporal jitter 0.5 in training"
