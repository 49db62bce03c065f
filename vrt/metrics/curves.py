"""mAP@K for every K at once, accumulated block by block (ties in database order; numpy only).

Each relevant item changes its query's AP@K from its rank on: vrt's AP@K by a step
(:func:`vrt.metrics.measures.map_at_k_steps`), the papers' (precisions summed over the top K,
divided by K) by its precision. Summing these over the queries at every rank and accumulating
over the ranks gives either curve for K = 1..N in one pass (:class:`StepSum`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["StepSum", "curve_mean", "papers_curve"]


def curve_mean(step_sum: StepSum, num_valid: int) -> np.ndarray:
    """vrt's mAP@K for K = 1..N: the summed steps over the queries with a relevant item."""
    return step_sum.total() / num_valid if num_valid else np.full(step_sum.size, np.nan)


def papers_curve(precision_sum: StepSum, num_queries: int) -> np.ndarray:
    """The papers' mAP@K for K = 1..N: the summed precisions at relevant ranks <= K, over K and
    over every query (those without a relevant item count as 0, as in the papers' code)."""
    totals = precision_sum.total()
    return totals / (np.arange(1, totals.shape[0] + 1) * max(num_queries, 1))


class StepSum:
    """Sums per-rank steps into a curve over ranks 1..N, buffering blocks between bincounts.

    One dense bincount per block would cost O(N) each, which a million-item database with
    thousands of blocks would feel; buffering until about N steps keeps it O(total steps + N).
    """

    def __init__(self, size: int):
        self.size = size
        self.sums = np.zeros(size + 1)
        self._ranks: list[np.ndarray] = []
        self._steps: list[np.ndarray] = []
        self._pending = 0

    def add(self, ranks: np.ndarray, steps: np.ndarray) -> None:
        self._ranks.append(ranks)
        self._steps.append(steps)
        self._pending += ranks.shape[0]
        if self._pending >= max(self.size, 1 << 16):
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            ranks, steps = np.concatenate(self._ranks), np.concatenate(self._steps)
            self.sums += np.bincount(ranks, weights=steps, minlength=self.size + 1)
        self._ranks, self._steps, self._pending = [], [], 0

    def total(self) -> np.ndarray:
        """The accumulated curve at ranks 1..N."""
        self._flush()
        return np.cumsum(self.sums)[1:]
