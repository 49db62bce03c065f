"""The miner contract: which triplets of a batch a triplet loss should use.

As in pytorch-metric-learning, mining is separate from the loss so that one loss formula
serves every selection strategy. A miner is any callable ``miner(embeddings, labels)``
(:class:`TripletMiner`); it gets detached embeddings and returns either

* a boolean mask of shape ``(B, B, B)`` indexed ``[anchor, positive, negative]`` - cheap
  when most triplets are used, no host synchronisation on GPU; or
* :class:`Triplets`, three equal-length int64 index tensors - compact when a miner keeps
  a few triplets per anchor (batch-hard, semi-hard).

A miner's builder takes keyword arguments only; ``triplet_ranking`` passes it the loss's
``margin`` when the builder accepts a ``margin`` parameter (semi-hard mining needs it), so the
two can never disagree.

:class:`Miner` is what a miner subclasses (as pytorch-metric-learning's ``BaseMiner``): calling
it checks the batch once and hands it to the subclass's :meth:`~Miner.mine`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple, Protocol, runtime_checkable

import torch
from torch import Tensor, nn


class Triplets(NamedTuple):
    """Indices into the batch; triplet ``i`` is ``(anchors[i], positives[i], negatives[i])``."""

    anchors: Tensor
    positives: Tensor
    negatives: Tensor


@runtime_checkable
class TripletMiner(Protocol):
    def __call__(self, embeddings: Tensor, labels: Tensor) -> Triplets | Tensor: ...


class Miner(nn.Module, ABC):
    """A miner over one batch: ``miner(embeddings (B, D), labels (B,)) -> mask | Triplets``.

    Subclasses implement :meth:`mine`; ``forward`` (what calling the miner runs) hands it a
    batch already checked by :func:`check_batch`. A subclass that does not implement
    :meth:`mine` cannot be instantiated.
    """

    def forward(self, embeddings: Tensor, labels: Tensor) -> Triplets | Tensor:
        check_batch(embeddings, labels)
        return self.mine(embeddings, labels)

    @abstractmethod
    def mine(self, embeddings: Tensor, labels: Tensor) -> Triplets | Tensor:
        """The selected triplets of a checked batch: a ``(B, B, B)`` bool mask or :class:`Triplets`."""


def check_batch(embeddings: Tensor, labels: Tensor) -> None:
    """Embeddings ``(B, D)`` and labels ``(B,)`` of one batch, or a ValueError saying what is off."""
    if embeddings.ndim != 2 or labels.ndim != 1 or embeddings.shape[0] != labels.shape[0]:
        raise ValueError(
            f"a miner expects embeddings (B, D) and labels (B,), got {tuple(embeddings.shape)} "
            f"and {tuple(labels.shape)}"
        )


def valid_triplet_mask(labels: Tensor) -> Tensor:
    """``mask[a, p, n]``: ``p`` shares ``a``'s label and differs from ``a``; ``n`` has another label."""
    if labels.ndim != 1:
        raise ValueError(f"labels must have shape (B,), got {tuple(labels.shape)}")
    same = labels[:, None] == labels[None, :]
    not_self = ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return (same & not_self)[:, :, None] & (~same)[:, None, :]
