"""The miner contract: which pairs or triplets of a batch a loss should use.

As in pytorch-metric-learning, mining is separate from the loss so that one loss formula
serves every selection strategy, and every pair or triplet loss accepts every miner. A miner is
any callable ``miner(embeddings, labels)`` (:class:`MinerFunction`); it gets detached embeddings
and returns one of

* a boolean mask of shape ``(B, B, B)`` indexed ``[anchor, positive, negative]`` - cheap
  when most triplets are used, no host synchronisation on GPU;
* :class:`Triplets`, three equal-length int64 index tensors - compact when a miner keeps
  a few triplets per anchor (batch-hard, semi-hard);
* :class:`Pairs`, positive pairs ``(anchor, positive)`` and negative pairs ``(anchor, negative)``
  as four int64 index tensors - what a pair miner selects.

A triplet loss turns pairs into triplets, a pair loss triplets into pairs
(:mod:`vrt.losses.miners.conversions`). Miners measure squared Euclidean distances, the units of
``triplet_ranking``'s margin (4 per differing bit of saturated codes).

A miner's builder takes keyword arguments only, its config parameters (``loss.miner``). A
parameter the loss also has (``margin``) takes the loss's value unless the miner's section sets
it, so that a semi-hard band and the hinge it feeds cannot silently disagree.

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


class Pairs(NamedTuple):
    """Indices into the batch: positive pairs ``(positive_anchors[i], positives[i])`` and negative
    pairs ``(negative_anchors[j], negatives[j])`` (pytorch-metric-learning's ``(a1, p, a2, n)``)."""

    positive_anchors: Tensor
    positives: Tensor
    negative_anchors: Tensor
    negatives: Tensor


MinerOutput = Tensor | Triplets | Pairs


@runtime_checkable
class MinerFunction(Protocol):
    def __call__(self, embeddings: Tensor, labels: Tensor) -> MinerOutput: ...


TripletMiner = MinerFunction  # its former name, from when only triplet losses took a miner


class Miner(nn.Module, ABC):
    """A miner over one batch: ``miner(embeddings (B, D), labels (B,)) -> mask | Triplets | Pairs``.

    Subclasses implement :meth:`mine`; ``forward`` (what calling the miner runs) hands it a
    batch already checked by :func:`check_batch`. A subclass that does not implement
    :meth:`mine` cannot be instantiated.
    """

    def forward(self, embeddings: Tensor, labels: Tensor) -> MinerOutput:
        check_batch(embeddings, labels)
        return self.mine(embeddings, labels)

    @abstractmethod
    def mine(self, embeddings: Tensor, labels: Tensor) -> MinerOutput:
        """The selection of a checked batch: a ``(B, B, B)`` bool mask, :class:`Triplets` or :class:`Pairs`."""


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
