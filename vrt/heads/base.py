"""The hash-head contract: ``(B, in_dim)`` features to ``(B, bits)`` real codes in (-1, 1).

vrt injects ``in_dim`` (the backbone's ``out_dim``) into a head's builder. :class:`HashHead` is
what a head subclasses: it validates ``in_dim`` and ``bits`` once at construction and checks the
shapes going in and out of every call, so a head only implements :meth:`~HashHead.project`.
Subclassing is not required: the model accepts any ``nn.Module`` with an int attribute ``bits``.
Binarisation happens outside the head (:func:`vrt.model.binarize`), so every head is trained
and encoded the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor, nn

from vrt.codes import check_bits


class HashHead(nn.Module, ABC):
    """A head mapping features ``(B, in_dim)`` to codes ``(B, bits)``; subclasses implement :meth:`project`.

    ``bits`` must be a positive multiple of 8 (:func:`vrt.codes.check_bits`: codes are stored
    packed) and ``in_dim`` a positive int. ``forward`` rejects features of another width with a
    ValueError naming the expected shape, and output of another shape, so a head's bug surfaces
    where it happens rather than in the loss. A subclass that does not implement
    :meth:`project` cannot be instantiated.
    """

    def __init__(self, *, in_dim: int, bits: int) -> None:
        super().__init__()
        self.in_dim = check_in_dim(in_dim)
        self.bits = check_bits(bits)

    def forward(self, features: Tensor) -> Tensor:
        name = type(self).__name__
        if features.ndim != 2 or features.shape[1] != self.in_dim:
            raise ValueError(
                f"{name} expected features of shape (B, {self.in_dim}), got {tuple(features.shape)}"
            )
        codes = self.project(features)
        if tuple(codes.shape) != (features.shape[0], self.bits):
            raise ValueError(
                f"{name}.project must return codes of shape {(features.shape[0], self.bits)}, "
                f"got {tuple(codes.shape)}"
            )
        return codes

    @abstractmethod
    def project(self, features: Tensor) -> Tensor:
        """Codes ``(B, bits)`` in (-1, 1) of checked features ``(B, in_dim)``."""


def check_in_dim(in_dim: int) -> int:
    if isinstance(in_dim, bool) or not isinstance(in_dim, int) or in_dim <= 0:
        raise ValueError(f"a head's in_dim must be a positive int, got {in_dim!r}")
    return in_dim
