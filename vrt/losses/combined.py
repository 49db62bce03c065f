"""The training objective: a weighted sum of registered losses (one term in the common case)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from vrt.components import build
from vrt.config.schema import LossConfig
from vrt.config.validation import loss_term_paths
from vrt.registry import LOSSES


class WeightedLossSum(nn.Module):
    """``sum_i weight_i * loss_i(embeddings, labels)``, remembering each term for the logs.

    Terms that follow training progress (continuation schedules, as in HashNet) implement
    ``on_epoch_start(epoch, epochs)``; it is forwarded to them.
    """

    def __init__(self, terms: Sequence[tuple[str, float, nn.Module]]) -> None:
        super().__init__()
        if not terms:
            raise ValueError("a loss needs at least one term")
        self.names = [name for name, _, _ in terms]
        self.weights = [float(weight) for _, weight, _ in terms]
        self.terms = nn.ModuleList([module for _, _, module in terms])
        self.last_values: dict[str, float] = {}

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        total: Tensor | None = None
        values = {}
        for name, weight, term in zip(self.names, self.weights, self.terms, strict=True):
            value = term(embeddings, labels)
            values[name] = value.detach()
            total = weight * value if total is None else total + weight * value
        # float() synchronises with the GPU, so per-term values are only kept when there are several.
        self.last_values = {name: float(v) for name, v in values.items()} if len(values) > 1 else {}
        return total  # type: ignore[return-value]  # at least one term, checked in __init__

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        for term in self.terms:
            hook = getattr(term, "on_epoch_start", None)
            if callable(hook):
                hook(epoch, epochs)


def build_loss(config: LossConfig, *, bits: int, num_classes: int) -> WeightedLossSum:
    """The weighted sum of the configured loss terms; each gets ``bits``/``num_classes`` if it asks."""
    return WeightedLossSum(
        [
            (term.name, term.weight, build(LOSSES, term, section=path, bits=bits, num_classes=num_classes))
            for term, path in zip(config.terms, loss_term_paths(config), strict=True)
        ]
    )
