"""Batch samplers for training: class-balanced P x K batches, or plain shuffled batches.

A ranking loss learns only from batches that hold positives and negatives; with 101 classes
and batches of 32, shuffled batches hold few same-class pairs, so the class-balanced sampler
draws P classes with K videos each. Both samplers yield lists of positions in the dataset (or
view) they were built for, and are reproducible: the order of epoch e depends on ``(seed, e)``
only, set with ``set_epoch(e)`` before iterating (as for ``DistributedSampler``), so a resumed
run sees the batches the uninterrupted run would have seen. ``ShardedBatchSampler`` deals one
epoch's batches out to the processes of a distributed run and resumes in the middle of an epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


class _EpochSeeded(Sampler[list[int]]):
    def __init__(self, *, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the order of epoch ``epoch``; iterating twice without it repeats the order."""
        if epoch < 0:
            raise ValueError(f"epoch must be non-negative, got {epoch}")
        self.epoch = int(epoch)

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch])


class ShuffledBatchSampler(_EpochSeeded):
    """Every position once per epoch, in a fresh seeded order, cut into batches of ``batch_size``."""

    def __init__(self, num_items: int, *, batch_size: int, seed: int, drop_last: bool = False) -> None:
        super().__init__(seed=seed)
        if isinstance(num_items, bool) or not isinstance(num_items, int | np.integer) or num_items < 0:
            raise ValueError(f"num_items must be a non-negative integer, got {num_items!r}")
        _check_positive("batch_size", batch_size)
        self.num_items = int(num_items)
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        order = self._rng().permutation(self.num_items).tolist()
        for begin in range(0, len(self) * self.batch_size, self.batch_size):
            yield order[begin : begin + self.batch_size]

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_items // self.batch_size
        return -(-self.num_items // self.batch_size)

    def __repr__(self) -> str:
        return (
            f"ShuffledBatchSampler(num_items={self.num_items}, batch_size={self.batch_size}, "
            f"seed={self.seed}, drop_last={self.drop_last})"
        )


class ClassBalancedBatchSampler(_EpochSeeded):
    """Batches of P different classes with (up to) K videos each; every video once per epoch.

    Each epoch, every class's positions are shuffled and cut into groups of K (the last group,
    or the only one of a class with fewer than K videos, is smaller; nothing is duplicated).
    Batches are then filled from the P classes with the most groups left, ties broken at
    random afresh for each batch. Taking the largest first yields the most batches of P
    distinct classes that the group counts allow, so a large class is not left over at the end
    to form single-class batches; the batch order is shuffled afterwards.

    When fewer than P classes still have groups, the remaining groups form final batches with
    fewer classes (still distinct, at least one video each) unless ``drop_last`` drops them.
    The number of batches depends on the class sizes only, so ``len()`` is exact every epoch.
    """

    def __init__(
        self,
        labels: Sequence[int],
        *,
        classes_per_batch: int,
        videos_per_class: int,
        seed: int,
        drop_last: bool = False,
    ) -> None:
        super().__init__(seed=seed)
        _check_positive("classes_per_batch", classes_per_batch)
        _check_positive("videos_per_class", videos_per_class)
        labels_array = np.asarray(labels)
        if labels_array.ndim != 1 or len(labels_array) == 0:
            raise ValueError("labels must be a non-empty sequence of integers, one per video")
        if not np.issubdtype(labels_array.dtype, np.integer):
            raise ValueError(f"labels must be integers, got dtype {labels_array.dtype}")
        classes, inverse = np.unique(labels_array, return_inverse=True)
        if classes_per_batch > len(classes):
            raise ValueError(
                f"classes_per_batch={classes_per_batch} but the labels hold only {len(classes)} classes; "
                "lower data.batch.classes_per_batch or use shuffled batches"
            )
        self.classes_per_batch = int(classes_per_batch)
        self.videos_per_class = int(videos_per_class)
        self.drop_last = drop_last
        self.num_videos = len(labels_array)
        # Positions of each class in ascending order, so the plan depends only on the labels.
        order = np.argsort(inverse, kind="stable")
        self._class_positions = np.split(order, np.cumsum(np.bincount(inverse))[:-1])
        group_counts = [-(-len(p) // self.videos_per_class) for p in self._class_positions]
        self._num_batches = self._count_batches(group_counts)

    def _count_batches(self, group_counts: list[int]) -> int:
        # The plan's batch count without the randomness: always decrement the P largest counts.
        counts = sorted(group_counts, reverse=True)
        full = 0
        while len(counts) >= self.classes_per_batch and counts[self.classes_per_batch - 1] > 0:
            counts[: self.classes_per_batch] = [c - 1 for c in counts[: self.classes_per_batch]]
            counts.sort(reverse=True)
            full += 1
        # Afterwards fewer than P classes are left; each final batch takes one group of each.
        return full if self.drop_last else full + counts[0]

    def _plan(self) -> list[list[int]]:
        rng = self._rng()
        groups: list[list[np.ndarray]] = []
        for positions in self._class_positions:
            shuffled = rng.permutation(positions)
            groups.append(
                np.array_split(
                    shuffled, np.arange(self.videos_per_class, len(shuffled), self.videos_per_class)
                )
            )
        remaining = np.array([len(g) for g in groups])
        taken = np.zeros_like(remaining)
        batches: list[list[int]] = []
        while True:
            available = int(np.count_nonzero(remaining))
            if available == 0 or (self.drop_last and available < self.classes_per_batch):
                break
            # Largest remaining count first; a fresh random key breaks ties for this batch only.
            chosen = np.lexsort((rng.random(len(remaining)), -remaining))[
                : min(self.classes_per_batch, available)
            ]
            batch = [groups[c][taken[c]] for c in chosen]
            remaining[chosen] -= 1
            taken[chosen] += 1
            batches.append(np.concatenate(batch).tolist())
        order = rng.permutation(len(batches))
        return [batches[i] for i in order]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._plan()

    def __len__(self) -> int:
        return self._num_batches

    def __repr__(self) -> str:
        return (
            f"ClassBalancedBatchSampler(videos={self.num_videos}, classes={len(self._class_positions)}, "
            f"classes_per_batch={self.classes_per_batch}, videos_per_class={self.videos_per_class}, "
            f"seed={self.seed}, drop_last={self.drop_last})"
        )


class ShardedBatchSampler(Sampler[list[int]]):
    """One rank's share of an epoch-seeded batch sampler, which can start part-way into an epoch.

    Every rank builds the same seeded epoch order and takes every ``world_size``-th batch from
    position ``rank``, so the shares are disjoint and together cover the epoch. Each rank must
    run the same number of steps (a rank with one batch fewer would leave the others waiting in
    the gradient all-reduce), so when the batch count is not a multiple of ``world_size`` the
    order is padded by repeating its first batches, as ``DistributedSampler`` pads: every video
    is still seen each epoch and a few twice. With one rank this is the wrapped sampler.

    ``set_epoch(epoch, skip=s)`` resumes after the first ``s`` batches of this rank's share;
    skipped batches are never yielded, so the DataLoader never loads them.
    """

    def __init__(
        self,
        sampler: ShuffledBatchSampler | ClassBalancedBatchSampler,
        *,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        _check_positive("world_size", world_size)
        if isinstance(rank, bool) or not isinstance(rank, int | np.integer) or not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in [0, {world_size}), got {rank!r}")
        self.sampler = sampler
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.skip = 0

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    @property
    def batches_per_epoch(self) -> int:
        """This rank's batches in a whole epoch (the same on every rank)."""
        return -(-len(self.sampler) // self.world_size)

    def set_epoch(self, epoch: int, *, skip: int = 0) -> None:
        """Select epoch ``epoch``'s order, leaving out this rank's first ``skip`` batches."""
        if not 0 <= skip <= self.batches_per_epoch:
            raise ValueError(f"skip must lie in [0, {self.batches_per_epoch}], got {skip}")
        self.sampler.set_epoch(epoch)
        self.skip = int(skip)

    def __iter__(self) -> Iterator[list[int]]:
        batches = list(self.sampler)
        if not batches:
            return
        needed = self.batches_per_epoch * self.world_size
        padded = (batches * -(-needed // len(batches)))[:needed]
        yield from padded[self.rank :: self.world_size][self.skip :]

    def __len__(self) -> int:
        return self.batches_per_epoch - self.skip

    def __repr__(self) -> str:
        return f"ShardedBatchSampler({self.sampler!r}, rank={self.rank}, world_size={self.world_size})"
