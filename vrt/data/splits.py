"""Carving a validation split out of a training split without leaking source videos.

Model selection needs held-out videos that are not the test split. UCF101 cuts several clips
from one long recording (a group); if clips of one group sat on both sides of the cut, the
validation mAP would reward memorising that recording. So whole groups move to validation,
and the cut is stratified so that every class keeps training videos and is validated about
in proportion to its size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np


def carve_validation(
    labels: Sequence[int],
    *,
    fraction: float,
    seed: int,
    groups: Sequence[str] | None = None,
) -> tuple[list[int], list[int]]:
    """Split positions ``0..N-1`` into (train, validation), both sorted.

    Args:
        labels: the class of every video.
        fraction: share of the videos to put in validation, in [0, 1); 0 gives an empty
            validation split. The result holds ``round(fraction * N)`` videos when the groups
            and class sizes allow it (without groups: unless classes are tiny), else close to it.
        seed: the same labels, groups, fraction and seed always give the same split.
        groups: a key per video; videos sharing a key land on the same side. ``None`` treats
            every video as its own group.

    Every group is assigned to the class most of its videos belong to (its stratum). Each
    stratum first gives whole groups, in a seeded random order, while it stays within its
    share ``fraction * size``; then the strata furthest below their share give one more group
    each while that brings the total closer to ``round(fraction * N)`` (largest remainders,
    which is what keeps many small classes from all rounding to zero or all rounding up). A
    stratum never gives its last group, so every class with two or more groups keeps training
    videos; a class whose videos form a single group is never validated.
    """
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, int | float | np.floating)
        or not 0.0 <= fraction < 1.0
    ):
        raise ValueError(f"the validation fraction must lie in [0, 1), got {fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    labels = [int(label) for label in labels]
    if groups is not None and len(groups) != len(labels):
        raise ValueError(f"groups must give one key per video: {len(groups)} groups for {len(labels)} labels")
    if fraction == 0.0 or not labels:
        return list(range(len(labels))), []

    # Groups in order of first appearance, so the result does not depend on hash order.
    members: dict[object, list[int]] = {}
    keys = groups if groups is not None else range(len(labels))
    for position, key in enumerate(keys):
        members.setdefault(key, []).append(position)
    strata: dict[int, list[list[int]]] = {}
    for positions in members.values():
        counts = Counter(labels[p] for p in positions)
        majority = min(counts, key=lambda label: (-counts[label], label))
        strata.setdefault(majority, []).append(positions)

    rng = np.random.default_rng([seed, 0x5A11])  # a stream of its own, apart from other uses of seed
    target = round(fraction * len(labels))
    chosen: list[list[int]] = []
    offers: list[tuple[float, float, list[int]]] = []  # (shortfall, random tie-break, group)
    total = 0
    for stratum in sorted(strata):
        stratum_groups = [strata[stratum][i] for i in rng.permutation(len(strata[stratum]))]
        share = fraction * sum(len(group) for group in stratum_groups)
        given, left = 0, []
        for group in stratum_groups:
            # First fit in random order; as share < stratum size, some group always stays.
            if given + len(group) <= share:
                chosen.append(group)
                given += len(group)
            else:
                left.append(group)
        if len(left) >= 2:  # one more may go, as long as another stays in training
            offers.append((share - given, rng.random(), left[0]))
        total += given

    # Strata furthest below their share first; a group is added only if it brings the total
    # closer to the target (groups of different sizes: a later, smaller one may still fit).
    for _, _, group in sorted(offers, key=lambda offer: (-offer[0], offer[1])):
        if abs(total + len(group) - target) < abs(total - target):
            chosen.append(group)
            total += len(group)

    validation = sorted(p for group in chosen for p in group)
    in_validation = set(validation)
    return [p for p in range(len(labels)) if p not in in_validation], validation
