"""Cross-entropy of a linear classifier on the codes: the class must be readable from the code.

On its own it is the plain classification baseline that a hashing loss has to beat; as an
auxiliary term beside a ranking loss (``loss: {terms: [{name: triplet_ranking}, {name:
classification, weight: 1.0}]}``) it gives every clip a gradient towards its class from the
first step, while the ranking term shapes the Hamming distances between classes. The classifier
is trained with the model (the optimiser takes the loss's parameters too) and saved with the
loss in checkpoints; encoding never uses it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vrt.losses.base import HashingLoss, check_positive
from vrt.registry import LOSSES


class ClassificationLoss(HashingLoss):
    """``cross_entropy(W u + b, y)`` over the real-valued codes ``u`` in (-1, 1).

    Args:
        bits: the code length (the classifier's input size).
        num_classes: the classifier's outputs.
        label_smoothing: the share of the target spread over all classes, in [0, 1).
        scale: multiplies the codes before the classifier; the codes lie in (-1, 1), so a larger
            scale lets the logits separate without large weights.
        seed: the classifier's initial weights are drawn from it (not from the global RNG), so
            building the loss never shifts the random streams that follow.
    """

    def __init__(
        self, *, bits: int, num_classes: int, label_smoothing: float = 0.0, scale: float = 1.0, seed: int = 0
    ) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"classification needs num_classes >= 2, got {num_classes!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"classification label_smoothing must lie in [0, 1), got {label_smoothing!r}")
        self.bits = bits
        self.num_classes = num_classes
        self.label_smoothing = float(label_smoothing)
        self.scale = check_positive(scale, name="classification scale")
        self.classifier = nn.Linear(bits, num_classes)
        # nn.Linear's own initialisation (uniform within 1/sqrt(fan_in)), from a seeded generator.
        generator = torch.Generator().manual_seed(seed)
        bound = 1.0 / math.sqrt(bits)
        with torch.no_grad():
            self.classifier.weight.uniform_(-bound, bound, generator=generator)
            self.classifier.bias.uniform_(-bound, bound, generator=generator)

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        # The classifier's own precision: float32 normally, float64 when the loss was moved there.
        logits = self.classifier(embeddings.to(self.classifier.weight.dtype) * self.scale)
        return F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}, scale={self.scale}"


@LOSSES.register("classification")
def classification(
    *, bits: int, num_classes: int, label_smoothing: float = 0.0, scale: float = 1.0, seed: int = 0
) -> nn.Module:
    """Cross-entropy of a linear classifier on the codes: the baseline, or an auxiliary term.

    Args:
        label_smoothing: share of the target spread uniformly over the classes, in [0, 1).
        scale: multiplies the codes (in (-1, 1)) before the classifier.
        seed: of the classifier's initial weights.
    """
    return ClassificationLoss(
        bits=bits, num_classes=num_classes, label_smoothing=label_smoothing, scale=scale, seed=seed
    )
