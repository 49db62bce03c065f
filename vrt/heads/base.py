"""The hash-head contract: ``(B, in_dim)`` features to ``(B, bits)`` real codes in (-1, 1).

A head is any ``nn.Module`` with an int attribute ``bits``; vrt injects ``in_dim`` (the
backbone's ``out_dim``) into its builder. Binarisation happens outside the head
(:func:`vrt.model.binarize`), so every head is trained and encoded the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from torch import Tensor


@runtime_checkable
class HashHead(Protocol):
    bits: int

    def __call__(self, features: Tensor) -> Tensor: ...


def check_in_dim(in_dim: int) -> int:
    if isinstance(in_dim, bool) or not isinstance(in_dim, int) or in_dim <= 0:
        raise ValueError(f"a head's in_dim must be a positive int, got {in_dim!r}")
    return in_dim
