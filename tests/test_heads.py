from __future__ import annotations

import numpy as np
import pytest
import torch

from vrt.heads import HashHead
from vrt.registry import BUILTIN_ORIGIN, HEADS


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


# -- every registered head ---------------------------------------------------------------------


@pytest.mark.parametrize("name", HEADS.names())
def test_every_head_maps_features_to_bounded_codes_with_finite_gradients(name: str) -> None:
    torch.manual_seed(0)
    head = HEADS.get(name)(in_dim=40, bits=16)
    features = torch.randn(6, 40, requires_grad=True)

    codes = head(features)

    assert head.bits == 16 and codes.shape == (6, 16)
    assert codes.abs().max() < 1.0 + 1e-6
    codes.square().sum().backward()
    assert features.grad is not None and torch.isfinite(features.grad).all() and features.grad.abs().sum() > 0
    for parameter in head.parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all()


@pytest.mark.parametrize("name", HEADS.names())
def test_every_head_is_deterministic_given_the_seed(name: str) -> None:
    features = torch.randn(5, 24, generator=torch.Generator().manual_seed(1))
    outputs = []
    for _ in range(2):
        torch.manual_seed(3)
        head = HEADS.get(name)(in_dim=24, bits=8).eval()
        outputs.append(head(features))
    assert torch.equal(outputs[0], outputs[1])


@pytest.mark.parametrize("name", HEADS.names())
def test_every_head_validates_bits(name: str) -> None:
    with pytest.raises(ValueError, match="positive multiple of 8"):
        HEADS.get(name)(in_dim=64, bits=12)


# -- the HashHead contract: checked once, in the base class -------------------------------------

BUILTIN_HEADS = [name for name in HEADS.names() if HEADS.entry(name).origin == BUILTIN_ORIGIN]


@pytest.mark.parametrize("name", BUILTIN_HEADS)
@pytest.mark.parametrize("in_dim", [0, -4, True, 40.0])
def test_every_head_validates_in_dim(name: str, in_dim) -> None:
    with pytest.raises(ValueError, match="in_dim must be a positive int"):
        HEADS.get(name)(in_dim=in_dim, bits=16)


@pytest.mark.parametrize("name", BUILTIN_HEADS)
@pytest.mark.parametrize("shape", [(3, 41), (3, 39), (40,), (3, 40, 1)])
def test_every_head_rejects_features_of_another_shape_before_project(name: str, shape, monkeypatch) -> None:
    head = HEADS.get(name)(in_dim=40, bits=16)
    assert isinstance(head, HashHead)
    projected = []
    monkeypatch.setattr(type(head), "project", lambda self, features: projected.append(features))
    with pytest.raises(ValueError, match=rf"{type(head).__name__} expected features of shape \(B, 40\)"):
        head(torch.randn(shape))
    assert projected == []


@pytest.mark.parametrize("name", BUILTIN_HEADS)
@pytest.mark.parametrize(
    "trim", [lambda codes: codes[:, :-1], lambda codes: codes[:-1]], ids=["width", "batch"]
)
def test_every_head_rejects_a_projection_of_another_shape(name: str, trim, monkeypatch) -> None:
    head = HEADS.get(name)(in_dim=40, bits=16)
    original = type(head).project
    monkeypatch.setattr(type(head), "project", lambda self, features: trim(original(self, features)))
    with pytest.raises(ValueError, match=r"project must return codes of shape \(3, 16\)"):
        head(torch.randn(3, 40))


def test_a_head_subclass_only_projects() -> None:
    class FirstUnits(HashHead):
        def project(self, features: torch.Tensor) -> torch.Tensor:
            return features[:, : self.bits].tanh()

    head = FirstUnits(in_dim=20, bits=8)
    features = torch.randn(4, 20)
    torch.testing.assert_close(head(features), features[:, :8].tanh())
    with pytest.raises(ValueError, match="positive multiple of 8"):
        FirstUnits(in_dim=20, bits=12)
    with pytest.raises(ValueError, match=r"project must return codes of shape \(4, 24\), got \(4, 20\)"):
        FirstUnits(in_dim=20, bits=24)(features)  # only 20 units to take


def test_a_head_without_project_cannot_be_built() -> None:
    class Unfinished(HashHead):
        pass

    with pytest.raises(TypeError, match="project"):
        Unfinished(in_dim=4, bits=8)


# -- divide_and_encode -------------------------------------------------------------------------


def reference_divide_and_encode(head, features: torch.Tensor) -> torch.Tensor:
    """Bit k = tanh(w_k . slice_k + b_k), with numpy.array_split's slices of the (projected) feature."""
    x = head.projection(features).detach().double().numpy()
    slices = np.array_split(np.arange(x.shape[1]), head.bits)
    weight, bias = head.weight.detach().double().numpy(), head.bias.detach().double().numpy()
    out = np.empty((x.shape[0], head.bits))
    for row in range(x.shape[0]):
        for bit, columns in enumerate(slices):
            out[row, bit] = np.tanh(
                sum(x[row, c] * weight[bit, i] for i, c in enumerate(columns)) + bias[bit]
            )
    return torch.from_numpy(out)


@pytest.mark.parametrize(("in_dim", "bits"), [(32, 16), (20, 8), (512, 48), (16, 16)])
def test_divide_and_encode_matches_a_per_slice_loop(in_dim: int, bits: int) -> None:
    torch.manual_seed(0)
    head = HEADS.get("divide_and_encode")(in_dim=in_dim, bits=bits)
    features = torch.randn(3, in_dim)
    torch.testing.assert_close(head(features).double(), reference_divide_and_encode(head, features))


def test_divide_and_encode_bit_depends_only_on_its_own_slice() -> None:
    torch.manual_seed(0)
    head = HEADS.get("divide_and_encode")(in_dim=20, bits=8)
    jacobian = torch.autograd.functional.jacobian(
        lambda f: head(f[None])[0], torch.randn(20)
    )  # (bits, in_dim)
    expected = torch.zeros(8, 20, dtype=torch.bool)
    for bit, columns in enumerate(np.array_split(np.arange(20), 8)):
        expected[bit, columns] = True
    assert torch.equal(jacobian != 0, expected)


def test_divide_and_encode_ignores_padded_weight_slots() -> None:
    torch.manual_seed(0)
    head = HEADS.get("divide_and_encode")(in_dim=20, bits=8)  # slices of 3 and 2: bits 4..7 have a pad slot
    features = torch.randn(4, 20)
    before = head(features)
    with torch.no_grad():
        head.weight[4:, 2] = 1000.0
    torch.testing.assert_close(head(features), before)
    assert set(head.state_dict()) == {"weight", "bias"}  # index and mask are rebuilt, not stored


def test_divide_and_encode_needs_a_projection_for_short_features() -> None:
    with pytest.raises(ValueError, match="projection_dim"):
        HEADS.get("divide_and_encode")(in_dim=12, bits=16)
    head = HEADS.get("divide_and_encode")(in_dim=12, bits=16, projection_dim=64)
    assert head(torch.randn(3, 12)).shape == (3, 16)
    with pytest.raises(ValueError, match="projection_dim must be an int >= bits"):
        HEADS.get("divide_and_encode")(in_dim=12, bits=16, projection_dim=8)


def test_divide_and_encode_checks_the_feature_width() -> None:
    head = HEADS.get("divide_and_encode")(in_dim=16, bits=8)
    with pytest.raises(ValueError, match=r"\(B, 16\)"):
        head(torch.randn(2, 15))


# -- mlp ---------------------------------------------------------------------------------------


def test_mlp_head_matches_its_formula_in_eval_mode() -> None:
    torch.manual_seed(0)
    head = HEADS.get("mlp")(in_dim=10, bits=16, hidden=32)
    head.train()
    head(torch.randn(8, 10))  # one training step's worth of BatchNorm running statistics
    head.eval()
    features = torch.randn(5, 10)
    linear1, batchnorm, _ = head.hidden
    normalised = (features @ linear1.weight.T - batchnorm.running_mean) / torch.sqrt(
        batchnorm.running_var + batchnorm.eps
    )
    hidden = torch.relu(normalised * batchnorm.weight + batchnorm.bias)
    expected = torch.tanh(hidden @ head.fc.weight.T + head.fc.bias)
    torch.testing.assert_close(head(features), expected)
    assert linear1.bias is None  # BatchNorm's shift makes it redundant


def test_mlp_head_dropout_is_optional_and_only_active_in_training() -> None:
    assert not any(isinstance(m, torch.nn.Dropout) for m in HEADS.get("mlp")(in_dim=8, bits=8).modules())
    torch.manual_seed(0)
    head = HEADS.get("mlp")(in_dim=8, bits=8, hidden=64, dropout=0.5)
    assert any(isinstance(m, torch.nn.Dropout) for m in head.modules())
    features = torch.randn(6, 8)
    head.eval()
    assert torch.equal(head(features), head(features))
    head.train()
    assert not torch.equal(head(features), head(features))


@pytest.mark.parametrize(("params", "match"), [({"hidden": 0}, "hidden"), ({"dropout": 1.0}, "dropout")])
def test_mlp_head_rejects_bad_parameters(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        HEADS.get("mlp")(in_dim=8, bits=8, **params)
