"""Central similarity quantization (Yuan et al., CVPR 2020): pull each code to its class's hash centre."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vrt.losses.base import HashingLoss, check_positive
from vrt.registry import LOSSES

CentreKind = Literal["auto", "hadamard", "bernoulli"]

# Independent Bernoulli draws can put two centres close together; like the authors' code, keep
# the best of a few draws (here: the one with the largest minimum pairwise Hamming distance).
_BERNOULLI_DRAWS = 20


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def hadamard_matrix(n: int) -> Tensor:
    """Sylvester's ``n x n`` Hadamard matrix of +-1 (``n`` a power of two): rows mutually orthogonal."""
    if not is_power_of_two(n):
        raise ValueError(f"a Sylvester Hadamard matrix needs a power-of-two size, got {n}")
    matrix = torch.ones(1, 1)
    while matrix.shape[0] < n:
        matrix = torch.cat([torch.cat([matrix, matrix], dim=1), torch.cat([matrix, -matrix], dim=1)], dim=0)
    return matrix


def hadamard_centres(num_classes: int, bits: int) -> Tensor:
    """The first ``num_classes`` rows of ``[H; -H]``: any two are ``bits / 2`` apart in Hamming distance,
    except ``h`` and ``-h``, which are ``bits`` apart."""
    if not is_power_of_two(bits) or num_classes > 2 * bits:
        raise ValueError(
            f"Hadamard centres need bits a power of two and num_classes <= 2 * bits, got bits={bits}, "
            f"num_classes={num_classes}; use centres: bernoulli"
        )
    matrix = hadamard_matrix(bits)
    return torch.cat([matrix, -matrix], dim=0)[:num_classes].clone()


def bernoulli_centres(num_classes: int, bits: int, *, seed: int) -> Tensor:
    """+-1 centres with i.i.d. Bernoulli(0.5) bits, the best spread of a few seeded draws."""
    generator = torch.Generator().manual_seed(seed)
    best, best_spread = None, -1.0
    for _ in range(_BERNOULLI_DRAWS):
        centres = torch.randint(0, 2, (num_classes, bits), generator=generator).float() * 2 - 1
        hamming = (bits - centres @ centres.T) / 2
        hamming.fill_diagonal_(float(bits))
        spread = float(hamming.min())
        if spread > best_spread:
            best, best_spread = centres, spread
    return best  # type: ignore[return-value]  # _BERNOULLI_DRAWS >= 1


def make_centres(num_classes: int, bits: int, *, kind: CentreKind, seed: int) -> Tensor:
    if kind == "auto":
        kind = "hadamard" if is_power_of_two(bits) and num_classes <= 2 * bits else "bernoulli"
    if kind == "hadamard":
        return hadamard_centres(num_classes, bits)
    if kind == "bernoulli":
        return bernoulli_centres(num_classes, bits, seed=seed)
    raise ValueError(f"csq centres must be auto, hadamard or bernoulli, got {kind!r}")


class CSQLoss(HashingLoss):
    """``BCE((u + 1) / 2, (c_y + 1) / 2) + quantization_weight * mean((|u| - 1)^2)``.

    Every class ``y`` gets a fixed binary hash centre ``c_y`` in {-1, +1}^bits, chosen far apart
    before training; each code is pulled to its class's centre with a per-bit binary
    cross-entropy (mean over samples and bits, as the authors' ``nn.BCELoss``). Unlike pairwise
    losses it needs no pairs, so a batch of one class or one clip still trains.

    Centres (Yuan et al. 2020, Sec. 3.2):

    * ``hadamard``: rows of the Hadamard matrix ``H`` and then of ``-H`` (needs ``bits`` a power
      of two and ``num_classes <= 2 * bits``): mutual Hamming distance at least ``bits / 2``;
    * ``bernoulli``: i.i.d. fair coin bits, seeded, for any other case (e.g. 48 bits);
    * ``auto`` (default): Hadamard where possible, else Bernoulli.

    The centres are a buffer, drawn once at construction: they follow ``.to(device)`` and appear
    in the loss's state dict, and the seed makes a rebuilt loss draw the same ones.
    """

    centres: Tensor

    def __init__(
        self,
        *,
        bits: int,
        num_classes: int,
        quantization_weight: float = 1e-4,
        centres: CentreKind = "auto",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"csq needs num_classes >= 1, got {num_classes!r}")
        self.bits = bits
        self.num_classes = num_classes
        self.quantization_weight = check_positive(
            quantization_weight, name="csq quantization_weight", allow_zero=True
        )
        self.register_buffer("centres", make_centres(num_classes, bits, kind=centres, seed=seed))

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        u = embeddings
        targets = (self.centres[labels].to(u.dtype) + 1) / 2
        # binary_cross_entropy is refused under CUDA autocast; it runs in full precision here anyway.
        device_type = u.device.type
        no_autocast = (
            torch.autocast(device_type=device_type, enabled=False)
            if torch.amp.is_autocast_available(device_type)
            else nullcontext()
        )
        with no_autocast:
            # PyTorch's BCE clamps log() at -100 and bounds its gradient, so saturated units
            # (tanh rounding to exactly +-1 in float32) stay finite.
            centre_loss = F.binary_cross_entropy((u + 1) / 2, targets)
        quantization = (u.abs() - 1).square().mean()
        return centre_loss + self.quantization_weight * quantization

    def extra_repr(self) -> str:
        return (
            f"bits={self.bits}, num_classes={self.num_classes}, "
            f"quantization_weight={self.quantization_weight}"
        )


@LOSSES.register("csq")
def csq(
    *,
    bits: int,
    num_classes: int,
    quantization_weight: float = 1e-4,
    centres: CentreKind = "auto",
    seed: int = 0,
) -> nn.Module:
    """Central similarity (Yuan et al. 2020): BCE to a per-class hash centre, plus a quantisation term.

    Args:
        quantization_weight: the paper's lambda, weight of ``mean((|u| - 1)^2)``.
        centres: ``auto`` (Hadamard if bits is a power of two and num_classes <= 2*bits, else
            Bernoulli), ``hadamard`` or ``bernoulli``.
        seed: seed of the Bernoulli centres (fixed at build time).
    """
    return CSQLoss(
        bits=bits,
        num_classes=num_classes,
        quantization_weight=quantization_weight,
        centres=centres,
        seed=seed,
    )
