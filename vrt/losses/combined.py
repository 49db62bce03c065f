"""The training objective: a weighted sum of registered losses (one term in the common case)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from vrt.components import build
from vrt.config.schema import LossConfig
from vrt.config.validation import loss_term_paths
from vrt.losses.self_supervised import SelfSupervisedLoss
from vrt.registry import LOSSES


class WeightedLossSum(nn.Module):
    """``sum_i weight_i * loss_i``, remembering each term for the logs.

    A term is a loss of the batch's codes and labels, ``loss(embeddings, labels)``, or a
    self-supervised one (:class:`~vrt.losses.self_supervised.SelfSupervisedLoss`) of the model
    and the batch's inputs, ``loss(model, inputs)``, which needs no labels. Terms that follow
    training progress (continuation schedules, as in HashNet) implement
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

    @property
    def needs_codes(self) -> bool:
        """Whether a term is a loss of the batch's codes (then the step computes them once)."""
        return any(not isinstance(term, SelfSupervisedLoss) for term in self.terms)

    def forward(
        self,
        embeddings: Tensor | None,
        labels: Tensor,
        *,
        model: nn.Module | None = None,
        inputs: Tensor | None = None,
    ) -> Tensor:
        """The total of one batch: ``embeddings`` (the codes, None when no term uses them) and
        ``labels`` for the losses of codes, ``model`` and ``inputs`` for the self-supervised ones."""
        total: Tensor | None = None
        values = {}
        for name, weight, term in zip(self.names, self.weights, self.terms, strict=True):
            if isinstance(term, SelfSupervisedLoss):
                if model is None or inputs is None:
                    raise ValueError(f"the {name} term is computed from the model and the batch's inputs")
                value = term(model, inputs)
            else:
                if embeddings is None:
                    raise ValueError(f"the {name} term needs the batch's codes")
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


def loss_needs_labels(config: LossConfig) -> bool:
    """Whether a term of ``config`` needs the class of every training video: every loss does
    unless its registry metadata says ``labels: False`` (the self-supervised objectives)."""
    return any(LOSSES.entry(term.name).metadata.get("labels", True) for term in config.terms)


def build_loss(
    config: LossConfig, *, bits: int, num_classes: int, frame_dim: int | None = None
) -> WeightedLossSum:
    """The weighted sum of the configured loss terms; each gets what it asks of ``bits``,
    ``num_classes`` and ``frame_dim`` (the width of a frame's features, for the objectives that
    reconstruct frames; None without a frame backbone)."""
    return WeightedLossSum(
        [
            (
                term.name,
                term.weight,
                build(LOSSES, term, section=path, bits=bits, num_classes=num_classes, frame_dim=frame_dim),
            )
            for term, path in zip(config.terms, loss_term_paths(config), strict=True)
        ]
    )
