"""Batch samplers: class-balanced P x K batches and plain shuffled batches."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from vrt.data.batching import ClassBalancedBatchSampler, ShuffledBatchSampler


def balanced(labels, p=4, k=3, seed=0, drop_last=False) -> ClassBalancedBatchSampler:
    return ClassBalancedBatchSampler(
        labels, classes_per_batch=p, videos_per_class=k, seed=seed, drop_last=drop_last
    )


def epoch(sampler, number: int) -> list[list[int]]:
    sampler.set_epoch(number)
    return list(sampler)


def max_full_batches(group_counts: list[int], p: int) -> int:
    """Brute force: the most batches of p distinct classes, from the feasibility condition
    sum_c min(g_c, B) >= p * B (each class can give at most one group per batch)."""
    return max(b for b in range(sum(group_counts) // p + 1) if sum(min(g, b) for g in group_counts) >= p * b)


EIGHT_BY_TEN = [c for c in range(8) for _ in range(10)]


def test_batches_hold_p_distinct_classes_with_up_to_k_videos_each():
    labels = EIGHT_BY_TEN
    for number in range(3):
        for batch in epoch(balanced(labels, p=4, k=3), number):
            per_class = Counter(labels[i] for i in batch)
            assert len(per_class) == 4, batch
            assert max(per_class.values()) <= 3
            assert len(set(batch)) == len(batch)


def test_every_video_once_per_epoch():
    labels = EIGHT_BY_TEN
    batches = epoch(balanced(labels, p=4, k=3), 0)
    assert sorted(i for batch in batches for i in batch) == list(range(len(labels)))
    # 10 videos in groups of 3 give groups of 3, 3, 3, 1: 32 groups, 8 batches of 4 classes.
    assert len(batches) == 8
    assert sorted(len(b) for b in batches) == [4, 4, 12, 12, 12, 12, 12, 12]


def test_same_seed_and_epoch_give_the_same_batches():
    labels = EIGHT_BY_TEN
    first, second = balanced(labels, seed=7), balanced(labels, seed=7)
    assert epoch(first, 3) == epoch(second, 3)
    assert list(first) == list(first)  # iterating again without set_epoch repeats the order
    assert epoch(first, 0) == epoch(second, 0)


def test_epochs_and_seeds_change_the_batches():
    labels = EIGHT_BY_TEN
    sampler = balanced(labels, seed=7)
    orders = [epoch(sampler, e) for e in range(4)]
    assert len({str(o) for o in orders}) == 4
    assert epoch(balanced(labels, seed=8), 0) != orders[0]
    # Not only the batch order: which videos and classes share a batch changes too.
    assert {frozenset(b) for b in orders[0]} != {frozenset(b) for b in orders[1]}


def test_classes_mix_across_batches():
    labels = [c for c in range(6) for _ in range(40)]
    sampler = balanced(labels, p=3, k=4)
    pairs = set()
    for number in range(5):
        for batch in epoch(sampler, number):
            classes = sorted({labels[i] for i in batch})
            pairs.update((a, b) for a in classes for b in classes if a < b)
    assert len(pairs) == 15  # every pair of classes meets, so every class sees every negative


def test_small_classes_are_used_without_duplicates():
    labels = [0] * 9 + [1] * 2 + [2] + [3] * 5 + [4]
    batches = epoch(balanced(labels, p=3, k=4), 1)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(labels)))  # single-video classes 2 and 4 appear, once
    for batch in batches:
        per_class = Counter(labels[i] for i in batch)
        assert len(per_class) <= 3
        assert per_class[0] in (0, 1, 4)  # 9 videos in groups of K=4: 4, 4 and 1
        assert per_class[1] in (0, 2)  # a class smaller than K comes as one whole group


def test_imbalanced_classes_give_the_most_full_batches_then_smaller_ones():
    # One large class cannot fill every batch with distinct classes: its surplus is left over.
    labels = [0] * 40 + [1] * 4 + [2] * 4 + [3] * 8
    sampler = balanced(labels, p=3, k=2)
    batches = epoch(sampler, 0)
    class_counts = [len({labels[i] for i in b}) for b in batches]
    groups = [20, 2, 2, 4]
    full = max_full_batches(groups, 3)
    assert class_counts.count(3) == full == 4  # B=4 fits: 4+2+2+4 >= 3*4; B=5 does not
    assert len(batches) == len(sampler) == full + 16  # the 16 groups class 0 has left, one per batch
    assert sorted(i for b in batches for i in b) == list(range(len(labels)))
    for b in batches:  # class 0 has full groups of 2: more would mean two groups in one batch
        assert max(Counter(labels[i] for i in b).values()) <= 2
    # Filled largest-first, but shuffled afterwards: the single-class batches are not all last.
    assert class_counts[-4:] != [1, 1, 1, 1] or class_counts[:4] != [3, 3, 3, 3]

    dropped = balanced(labels, p=3, k=2, drop_last=True)
    batches = epoch(dropped, 0)
    assert len(batches) == len(dropped) == full
    assert all(len({labels[i] for i in b}) == 3 for b in batches)


@pytest.mark.parametrize("drop_last", [False, True])
def test_len_is_exact_and_full_batches_are_maximal_for_random_label_sets(drop_last):
    rng = np.random.default_rng(0)
    for trial in range(40):
        num_classes = int(rng.integers(2, 12))
        sizes = rng.integers(1, 15, size=num_classes)
        labels = rng.permutation(np.repeat(np.arange(num_classes) * 3 + 5, sizes)).tolist()  # sparse labels
        p = int(rng.integers(1, num_classes + 1))
        k = int(rng.integers(1, 6))
        sampler = balanced(labels, p=p, k=k, seed=trial, drop_last=drop_last)
        groups = [-(-int(s) // k) for s in sizes]
        for number in range(3):
            batches = epoch(sampler, number)
            assert len(batches) == len(sampler)
            full = sum(len({labels[i] for i in b}) == p for b in batches)
            assert full == max_full_batches(groups, p)
            for b in batches:
                per_class = Counter(labels[i] for i in b)
                assert len(per_class) <= p and max(per_class.values()) <= k
                assert len(set(b)) == len(b)
            flat = sorted(i for b in batches for i in b)
            if drop_last:
                assert len(set(flat)) == len(flat)
            else:
                assert flat == list(range(len(labels)))


def test_works_as_a_dataloader_batch_sampler():
    labels = torch.tensor(EIGHT_BY_TEN)
    sampler = balanced(labels.tolist(), p=2, k=5)
    loader = DataLoader(TensorDataset(torch.arange(len(labels)), labels), batch_sampler=sampler)
    assert len(loader) == len(sampler) == 8
    sampler.set_epoch(2)
    batches = [(index.tolist(), label.tolist()) for index, label in loader]
    assert batches[0][0] == next(iter(sampler))
    assert all(len(set(label)) == 2 for _, label in batches)


def test_accepts_numpy_and_tensor_labels():
    as_list = epoch(balanced(EIGHT_BY_TEN), 1)
    assert epoch(balanced(np.array(EIGHT_BY_TEN)), 1) == as_list
    assert epoch(balanced(torch.tensor(EIGHT_BY_TEN)), 1) == as_list


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classes_per_batch": 9}, "only 8 classes"),
        ({"classes_per_batch": 0}, "classes_per_batch"),
        ({"videos_per_class": 0}, "videos_per_class"),
        ({"seed": -1}, "seed"),
    ],
)
def test_balanced_rejects_bad_arguments(kwargs, message):
    params = {"classes_per_batch": 4, "videos_per_class": 2, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        ClassBalancedBatchSampler(EIGHT_BY_TEN, **params)


def test_balanced_rejects_bad_labels():
    with pytest.raises(ValueError, match="non-empty"):
        balanced([], p=1)
    with pytest.raises(ValueError, match="integers"):
        balanced([0.5, 1.0], p=1)
    with pytest.raises(ValueError, match="epoch"):
        balanced(EIGHT_BY_TEN).set_epoch(-1)


def test_shuffled_batches_cover_everything_in_a_seeded_order():
    sampler = ShuffledBatchSampler(10, batch_size=4, seed=3)
    batches = epoch(sampler, 0)
    assert [len(b) for b in batches] == [4, 4, 2] and len(sampler) == 3
    assert sorted(i for b in batches for i in b) == list(range(10))
    assert batches == epoch(ShuffledBatchSampler(10, batch_size=4, seed=3), 0)
    assert batches != epoch(sampler, 1)
    assert batches != epoch(ShuffledBatchSampler(10, batch_size=4, seed=4), 0)
    assert batches != [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_shuffled_batches_drop_last_and_bad_arguments():
    sampler = ShuffledBatchSampler(10, batch_size=4, seed=0, drop_last=True)
    batches = epoch(sampler, 5)
    assert [len(b) for b in batches] == [4, 4] and len(sampler) == 2
    assert len(ShuffledBatchSampler(0, batch_size=4, seed=0)) == 0
    assert list(ShuffledBatchSampler(0, batch_size=4, seed=0)) == []
    with pytest.raises(ValueError, match="batch_size"):
        ShuffledBatchSampler(10, batch_size=0, seed=0)
    with pytest.raises(ValueError, match="num_items"):
        ShuffledBatchSampler(-1, batch_size=2, seed=0)
    with pytest.raises(ValueError, match="seed"):
        ShuffledBatchSampler(10, batch_size=2, seed=-5)
