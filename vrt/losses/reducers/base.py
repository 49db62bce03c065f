"""The reducer contract: how a loss turns its per-element losses into one number.

As in pytorch-metric-learning, the reduction is separate from the loss so that every pair or
triplet loss can be averaged the same ways (over all selected elements, over the active ones, a
sum). A loss computes one value per element (per triplet, per pair) and calls its reducer:
``reducer(losses, mask=None) -> 0-d tensor``.

* ``losses``: the per-element losses, any shape (a ``(B, B, B)`` grid of triplet hinges, a
  ``(B, B)`` grid of pair losses, or a flat vector of gathered elements);
* ``mask``: ``None`` (every element counts) or a bool tensor of the same shape that selects the
  elements: a dense selection needs no index tensors and so no host synchronisation on GPU.

An empty selection reduces to 0, still attached to the graph: a batch without a valid pair or
triplet (one class, one clip) is normal, and a training step must still be able to call
``backward()``. A reducer's builder takes keyword arguments only (its config parameters); any
callable with this signature will do, and :class:`Reducer` checks the mask once for its subclasses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn


@runtime_checkable
class ReducerFunction(Protocol):
    def __call__(self, losses: Tensor, mask: Tensor | None = None) -> Tensor: ...


class Reducer(nn.Module, ABC):
    """A reduction: ``reducer(losses, mask=None) -> 0-d tensor``; subclasses implement :meth:`reduce`."""

    def forward(self, losses: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is not None and (mask.dtype != torch.bool or mask.shape != losses.shape):
            raise ValueError(
                f"a reducer's mask must be a bool tensor shaped like the losses {tuple(losses.shape)}, "
                f"got {mask.dtype} {tuple(mask.shape)}"
            )
        return self.reduce(losses, mask)

    @abstractmethod
    def reduce(self, losses: Tensor, mask: Tensor | None) -> Tensor:
        """The reduced loss of the selected elements (all of them when ``mask`` is None)."""


def selected(losses: Tensor, mask: Tensor | None) -> Tensor:
    """``losses`` with the unselected elements set to 0 (and so without gradient)."""
    return losses if mask is None else torch.where(mask, losses, 0.0)


def count(losses: Tensor, mask: Tensor | None) -> Tensor:
    """How many elements ``mask`` selects, as a 0-d tensor of the losses' dtype."""
    if mask is None:
        return losses.new_tensor(float(losses.numel()))
    return mask.sum().to(losses.dtype)
