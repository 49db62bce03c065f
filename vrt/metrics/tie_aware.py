"""Expected measures when the items at each Hamming distance come in uniformly random order.

Items at equal distance (a *tie group*) have no natural order; the stable ranking puts them in
database order, which a collection sorted by class turns into a gift: codes that are all
identical then score far above chance. The measures here are the expectations over all orders
of the items within every tie group (McSherry & Najork 2008, "Computing information retrieval
performance measures efficiently in the presence of tied scores"). They depend only on the
number of items and of relevant items at each distance, ``within`` and ``relevant_within``
(``[queries, bits + 1]``, cumulative over the distance), and each query's values depend on its
own counts alone (not on the queries computed with it), so blocks of any size give the same
values. numpy only; ``docs/metrics.md`` states the formulas.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "TieAwareScores",
    "harmonic_numbers",
    "tie_aware_average_precision",
    "tie_aware_scores",
]

_EULER_GAMMA = 0.57721566490153286061
# Below this, harmonic numbers are summed exactly; from it on, the asymptotic series is exact to
# the last bit (its first omitted term is under 2e-17 at 64).
_HARMONIC_SERIES_FROM = 64
# Queries taken together: their working arrays (a few per tie group holding a relevant item)
# stay at a few MB whatever the number of queries.
_ROWS_PER_PASS = 1024
# Cells of the (query, outcome) table of the hypergeometric expectation held at once.
_OUTCOME_CELLS = 1 << 18


@dataclass(frozen=True, eq=False)
class TieAwareScores:
    """Per-query expectations over random orders within tie groups (NaN without a relevant item)."""

    average_precision: np.ndarray  # float64 [Nq]
    average_precision_at_k: np.ndarray  # float64 [Nq]
    found_at_k: np.ndarray  # float64 [Nq], expected relevant items in the top K'


def harmonic_numbers(n: int) -> np.ndarray:
    """``H_0 .. H_n`` (``H_k = 1 + 1/2 + ... + 1/k``) in float64, each within one ulp of the exact
    value: an exact sum of the rounded terms ``1/j`` below ``_HARMONIC_SERIES_FROM``, the
    asymptotic series above (tested against exact fractions).

    A running sum would drift by about ``n`` ulps, which the tie-aware AP of a large database
    would feel in the differences ``H_b - H_a`` of nearby values.
    """
    exact = min(n + 1, _HARMONIC_SERIES_FROM)
    table = np.empty(n + 1, dtype=np.float64)
    table[:exact] = [math.fsum(1.0 / j for j in range(1, k + 1)) for k in range(exact)]
    if n + 1 > exact:
        k = np.arange(exact, n + 1, dtype=np.float64)
        inv2 = 1.0 / (k * k)
        series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 / 240)))
        table[exact:] = np.log(k) + _EULER_GAMMA + 0.5 / k - series
    return table


def _group_gain(
    size: np.ndarray,
    relevant: np.ndarray,
    before: np.ndarray,
    relevant_before: np.ndarray,
    harmonic: np.ndarray,
) -> np.ndarray:
    """Expected sum of the precisions at the relevant items of a tie group in random order.

    With ``a`` items and ``R`` relevant items before the group, ``n`` items of which ``r``
    relevant in it, and ``dH = H_{a+n} - H_a``:

        r/n * [ (R + 1) dH + (r - 1)/(n - 1) * (n - (a + 1) dH) ]

    (the second term is 0 when ``n = 1``, where ``r - 1 <= 0`` meets ``r/n = 0`` or ``r - 1 = 0``).
    A relevant item at position ``p`` of the group has on average ``(p - 1)(r - 1)/(n - 1)``
    relevant items before it in the group; summing the expected precision
    ``(R + 1 + that) / (a + p)`` over the ``n`` equally likely positions gives the formula.
    """
    spread = harmonic[before + size] - harmonic[before]
    pairs = (relevant - 1) / np.maximum(size - 1, 1)
    return relevant / size * ((relevant_before + 1) * spread + pairs * (size - (before + 1) * spread))


def _per_distance(cumulative: np.ndarray) -> np.ndarray:
    """Counts at each distance from the counts at distance ``<= r`` (rows of a 2-D array)."""
    counts = cumulative.copy()
    counts[:, 1:] -= cumulative[:, :-1]
    return counts


@dataclass(frozen=True, eq=False)
class _Counts:
    """The per-query counts, cumulative over the distance and per distance, ``[Nq, bits + 1]``."""

    within: np.ndarray
    relevant_within: np.ndarray
    sizes: np.ndarray
    relevant: np.ndarray

    @classmethod
    def of(cls, within: np.ndarray, relevant_within: np.ndarray) -> _Counts:
        return cls(within, relevant_within, _per_distance(within), _per_distance(relevant_within))

    def group_gains(self, harmonic: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every tie group that holds a relevant item: its row, its flat index ``row * (bits + 1) +
        distance`` and its expected precision sum."""
        flat_relevant = self.relevant.reshape(-1)
        groups = np.flatnonzero(flat_relevant)  # row by row
        rows = groups // self.within.shape[1]
        relevant = flat_relevant[groups]
        size = self.sizes.reshape(-1)[groups]
        before = self.within.reshape(-1)[groups] - size
        relevant_before = self.relevant_within.reshape(-1)[groups] - relevant
        return rows, groups, _group_gain(size, relevant, before, relevant_before, harmonic)


def _per_relevant(total: np.ndarray, num_relevant: np.ndarray) -> np.ndarray:
    result = np.full(total.shape, np.nan)
    np.divide(total, num_relevant, out=result, where=num_relevant > 0)
    return result


def tie_aware_average_precision(
    within: np.ndarray, relevant_within: np.ndarray, harmonic: np.ndarray
) -> np.ndarray:
    """Expected AP when the items at each distance come in a uniformly random order.

    The sum over the tie groups of :func:`_group_gain`, divided by the query's number of
    relevant items; NaN without one. ``harmonic`` is ``H_0..H_Ndb`` (:func:`harmonic_numbers`).
    """
    rows, _, gains = _Counts.of(within, relevant_within).group_gains(harmonic)
    total = np.bincount(rows, weights=gains, minlength=within.shape[0])
    return _per_relevant(total, relevant_within[:, -1])


@dataclass(frozen=True, eq=False)
class _Boundary:
    """Per query, the tie group straddling rank K' and what the top-K' measures need of it.

    ``found`` relevant items of the group inside the top K' (``low <= found <= high``) give
    AP@K = (``inside`` + found (``linear`` + ``quadratic`` (found - 1))) / max(``relevant_before`` + found, 1).
    """

    inside: np.ndarray  # expected precision sum of the groups fully inside the top K'
    relevant_before: np.ndarray  # R: relevant items before the group
    size: np.ndarray  # n
    relevant: np.ndarray  # r
    cut: np.ndarray  # m: the group's items inside the top K'
    low: np.ndarray
    high: np.ndarray
    linear: np.ndarray
    quadratic: np.ndarray

    def take(self, rows: np.ndarray) -> _Boundary:
        return _Boundary(*(getattr(self, field.name)[rows] for field in dataclasses.fields(self)))


def tie_aware_scores(
    within: np.ndarray, relevant_within: np.ndarray, *, depth: int, harmonic: np.ndarray
) -> TieAwareScores:
    """Expected AP, AP@K and relevant items in the top ``depth = K'`` under random tie orders.

    Only the tie group that straddles rank K' makes the top-K measures random: ``m`` of its
    ``n`` items fall inside, and the number ``j`` of its ``r`` relevant items among them is
    hypergeometric(n, r, m). Given ``j``, those ``m`` positions hold a random order of ``m``
    items of which ``j`` relevant, so their expected precision sum is :func:`_group_gain` with
    ``n -> m`` and ``r -> j``, ``j (R + 1) dH / m + j (j - 1) (m - (a + 1) dH) / (m (m - 1))``
    with ``dH = H_{a+m} - H_a``. The groups fully inside add their own expected sums ``G``, and

        E[AP@K] = sum_j P(j) (G + g(m, j)) / (R + j)      (0 when R + j = 0)

    with ``R`` the relevant items before the group; the expected relevant items in the top K'
    are ``R + m r / n``.

    Queries are taken ``_ROWS_PER_PASS`` at a time, which bounds the working memory.
    """
    num_rows = within.shape[0]
    scores = TieAwareScores(np.empty(num_rows), np.empty(num_rows), np.empty(num_rows))
    for start in range(0, num_rows, _ROWS_PER_PASS):
        rows = slice(start, start + _ROWS_PER_PASS)
        values = _scores_of_rows(within[rows], relevant_within[rows], depth=depth, harmonic=harmonic)
        for name, value in zip(
            ("average_precision", "average_precision_at_k", "found_at_k"), values, strict=True
        ):
            getattr(scores, name)[rows] = value
    return scores


def _scores_of_rows(
    within: np.ndarray, relevant_within: np.ndarray, *, depth: int, harmonic: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected AP, AP@K and relevant items in the top K' of the queries of these rows."""
    counts = _Counts.of(within, relevant_within)
    num_rows, num_levels = within.shape
    rows, groups, gains = counts.group_gains(harmonic)
    num_relevant = relevant_within[:, -1]
    average_precision = _per_relevant(np.bincount(rows, weights=gains, minlength=num_rows), num_relevant)

    # The boundary group: the first distance whose cumulative count reaches K'.
    boundary = np.count_nonzero(within < depth, axis=1)
    at = np.arange(num_rows) * num_levels + boundary
    size, relevant = counts.sizes.reshape(-1)[at], counts.relevant.reshape(-1)[at]
    before = within.reshape(-1)[at] - size
    relevant_before = relevant_within.reshape(-1)[at] - relevant
    cut = depth - before  # 1..size
    spread = harmonic[depth] - harmonic[before]
    group = _Boundary(
        inside=np.bincount(rows, weights=np.where(groups < at[rows], gains, 0.0), minlength=num_rows),
        relevant_before=relevant_before,
        size=size,
        relevant=relevant,
        cut=cut,
        low=np.maximum(0, cut - (size - relevant)),
        high=np.minimum(cut, relevant),
        linear=(relevant_before + 1) * spread / cut,
        quadratic=(cut - (before + 1) * spread) / (cut * np.maximum(cut - 1, 1)),
    )
    widths = group.high - group.low + 1
    if num_rows * int(widths.max()) <= _OUTCOME_CELLS:
        average_precision_at_k = _expected_ap_at_k(group)
    else:
        average_precision_at_k = np.empty(num_rows)
        for chunk in _rows_by_width(widths):
            average_precision_at_k[chunk] = _expected_ap_at_k(group.take(chunk))
    average_precision_at_k[num_relevant == 0] = np.nan
    return average_precision, average_precision_at_k, relevant_before + cut * relevant / size


def _expected_ap_at_k(group: _Boundary) -> np.ndarray:
    """E[AP@K] over the hypergeometric number of the boundary group's relevant items in the top K'.

    One row per query, one column per outcome ``j = low + t``, padded past ``high``. The weights
    ``P(j) / P(low)`` are running products of ``P(j + 1) / P(j) = (r - j)(m - j) / ((j + 1)(n - r -
    m + j + 1))``, which is exactly 0 at ``j = high`` and so zeroes the padding. A row whose
    products overflow (``P(low)`` below about 1e-308 of the largest) is redone in logs.
    """
    width = int((group.high - group.low).max()) + 1
    found = group.low[:, None] + np.arange(width)
    weight = np.empty(found.shape)
    weight[:, 0] = 1.0
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing rows are redone below
        np.cumprod(_outcome_ratios(group, found), axis=1, out=weight[:, 1:])
        overflowed = np.flatnonzero(~np.isfinite(weight[:, -1]))
    if overflowed.shape[0]:
        weight[overflowed] = _weights_in_logs(group.take(overflowed), found[overflowed])
    # R + j = 0 only when nothing relevant comes before or inside: the numerator is 0 too.
    value = group.inside[:, None] + found * (group.linear[:, None] + group.quadratic[:, None] * (found - 1))
    value /= np.maximum(group.relevant_before[:, None] + found, 1)
    value *= weight
    # Sequential sums (cumsum, not the pairwise np.sum): the padding adds exact zeros at the end,
    # so a query's value does not depend on the other queries computed with it.
    return np.cumsum(value, axis=1)[:, -1] / np.cumsum(weight, axis=1)[:, -1]


def _outcome_ratios(group: _Boundary, found: np.ndarray) -> np.ndarray:
    """``P(j + 1) / P(j)`` for the outcomes ``j`` of ``found`` but the last; 0 or less from ``high`` on."""
    step = found[:, :-1]
    rest = (group.size - group.relevant - group.cut + 1)[:, None]  # rest + j >= 1 for j >= low
    ratio = (group.relevant[:, None] - step) * (group.cut[:, None] - step)
    return ratio / ((step + 1) * (rest + step))


def _weights_in_logs(group: _Boundary, found: np.ndarray) -> np.ndarray:
    """``P(j)`` up to a factor, summed in logs and scaled by the row's largest: nothing overflows."""
    possible = found <= group.high[:, None]
    log_weight = np.zeros(found.shape)
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) or log(< 0): past high, masked
        np.cumsum(np.log(_outcome_ratios(group, found)), axis=1, out=log_weight[:, 1:])
    log_weight[~possible] = -np.inf
    return np.exp(log_weight - log_weight.max(axis=1, keepdims=True))


def _rows_by_width(widths: np.ndarray) -> Iterator[np.ndarray]:
    """Rows in batches of similar width, each batch's rows x widest at most ``_OUTCOME_CELLS``."""
    order = np.argsort(widths, kind="stable")
    widths = widths[order]
    start = 0
    while start < order.shape[0]:
        cells = np.arange(1, order.shape[0] - start + 1) * widths[start:]
        stop = start + max(1, int(np.searchsorted(cells, _OUTCOME_CELLS, side="right")))
        yield order[start:stop]
        start = stop
