from __future__ import annotations

import pytest
import torch

from vrt.registry import HEADS


def test_linear_head_shape_range_and_bits() -> None:
    torch.manual_seed(0)
    head = HEADS.get("linear")(in_dim=12, bits=48)
    features = torch.randn(5, 12) * 100  # large inputs saturate tanh but must stay within [-1, 1]

    codes = head(features)

    assert head.bits == 48
    assert codes.shape == (5, 48)
    assert codes.abs().max() <= 1.0
    torch.testing.assert_close(codes, torch.tanh(head.fc(features)))


@pytest.mark.parametrize("bits", [16, 32, 48, 64, 8, 256])
def test_linear_head_accepts_multiples_of_8(bits: int) -> None:
    assert HEADS.get("linear")(in_dim=4, bits=bits).bits == bits


@pytest.mark.parametrize("bits", [0, -8, 12, 33, 7])
def test_linear_head_rejects_other_bit_counts(bits: int) -> None:
    with pytest.raises(ValueError, match="positive multiple of 8"):
        HEADS.get("linear")(in_dim=4, bits=bits)


def test_linear_head_rejects_bad_in_dim() -> None:
    with pytest.raises(ValueError, match="in_dim"):
        HEADS.get("linear")(in_dim=0, bits=16)


def test_linear_head_gradients_flow() -> None:
    torch.manual_seed(0)
    head = HEADS.get("linear")(in_dim=6, bits=16)
    features = torch.randn(3, 6, requires_grad=True)
    head(features).sum().backward()
    assert features.grad is not None and torch.isfinite(features.grad).all()
    assert head.fc.weight.grad is not None and head.fc.weight.grad.abs().sum() > 0
