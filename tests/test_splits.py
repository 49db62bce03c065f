"""Carving the validation split out of the training split."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from vrt.data.splits import carve_validation


def check_partition(train: list[int], val: list[int], n: int) -> None:
    assert train == sorted(train) and val == sorted(val)
    assert not set(train) & set(val)
    assert sorted(train + val) == list(range(n))


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.25, 0.5, 0.9])
def test_without_groups_the_fraction_is_exact_and_stratified(fraction):
    rng = np.random.default_rng(1)
    labels = rng.permutation(np.repeat(np.arange(20), rng.integers(2, 30, size=20))).tolist()
    train, val = carve_validation(labels, fraction=fraction, seed=0)
    check_partition(train, val, len(labels))
    assert len(val) == round(fraction * len(labels))
    sizes, given = Counter(labels), Counter(labels[p] for p in val)
    for label, size in sizes.items():
        assert abs(given[label] - fraction * size) < 1.0 or given[label] == size - 1, (
            label,
            size,
            given[label],
        )
        assert given[label] < size  # every class keeps training videos


def test_many_small_classes_do_not_all_round_the_same_way():
    # 101 classes of 10 videos at 5%: each class's share is 0.5 videos; the total must be ~50.
    labels = [c for c in range(101) for _ in range(10)]
    _, val = carve_validation(labels, fraction=0.05, seed=0)
    assert len(val) == round(0.05 * len(labels))
    assert max(Counter(labels[p] for p in val).values()) == 1


def test_same_inputs_same_split_and_seeds_differ():
    labels = [c for c in range(5) for _ in range(20)]
    first = carve_validation(labels, fraction=0.2, seed=3)
    assert carve_validation(labels, fraction=0.2, seed=3) == first
    assert carve_validation(tuple(labels), fraction=0.2, seed=3) == first
    assert carve_validation(labels, fraction=0.2, seed=4) != first


def test_groups_never_straddle_the_cut():
    rng = np.random.default_rng(0)
    labels, groups = [], []
    for label in range(15):
        for group in range(int(rng.integers(2, 9))):
            for _ in range(int(rng.integers(1, 8))):
                labels.append(label)
                groups.append(f"class{label}_g{group:02d}")
    order = rng.permutation(len(labels))  # interleave videos: groups are keys, not runs
    labels, groups = [labels[i] for i in order], [groups[i] for i in order]
    for seed in range(5):
        train, val = carve_validation(labels, fraction=0.2, seed=seed, groups=groups)
        check_partition(train, val, len(labels))
        assert not {groups[p] for p in train} & {groups[p] for p in val}
        assert abs(len(val) - 0.2 * len(labels)) <= 7  # within one group of the target
        assert {labels[p] for p in train} == set(labels)  # every class keeps training videos
        assert len({labels[p] for p in val}) >= 12  # and nearly all are validated


def test_groups_that_span_classes_stay_whole():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 4, size=200).tolist()
    groups = [f"recording{g}" for g in rng.integers(0, 40, size=200)]
    train, val = carve_validation(labels, fraction=0.3, seed=1, groups=groups)
    check_partition(train, val, len(labels))
    assert not {groups[p] for p in train} & {groups[p] for p in val}
    assert 0.2 * len(labels) < len(val) < 0.4 * len(labels)


def test_one_group_per_class_keeps_it_in_training():
    labels = [0] * 5 + [1] * 5 + [2]
    groups = ["a"] * 5 + ["b", "b", "c", "c", "d"] + ["e"]
    train, val = carve_validation(labels, fraction=0.4, seed=0, groups=groups)
    assert set(range(5)) <= set(train)  # class 0 is a single recording: it cannot be validated
    assert 10 in train  # neither can a class of a single video
    assert {groups[p] for p in val} & {"b", "c", "d"}


def test_high_fractions_still_leave_training_videos():
    labels = [c for c in range(4) for _ in range(3)]
    train, val = carve_validation(labels, fraction=0.95, seed=0)
    assert Counter(labels[p] for p in train) == {0: 1, 1: 1, 2: 1, 3: 1}
    assert len(val) == 8


def test_zero_fraction_and_empty_labels():
    assert carve_validation([0, 1, 1], fraction=0.0, seed=0) == ([0, 1, 2], [])
    assert carve_validation([], fraction=0.2, seed=0) == ([], [])
    assert carve_validation([0, 1, 1], fraction=np.float32(0.0), seed=0) == ([0, 1, 2], [])


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5, True, "0.1"])
def test_rejects_fractions_outside_zero_to_one(fraction):
    with pytest.raises(ValueError, match=r"fraction must lie in \[0, 1\)"):
        carve_validation([0, 1], fraction=fraction, seed=0)


def test_rejects_bad_groups_and_seeds():
    with pytest.raises(ValueError, match="one key per video"):
        carve_validation([0, 1, 1], fraction=0.1, seed=0, groups=["a", "b"])
    with pytest.raises(ValueError, match="seed"):
        carve_validation([0, 1, 1], fraction=0.1, seed=-1)
