from __future__ import annotations

import pytest
import torch
from torch import nn

from vrt.backbones import CENTERED_NORMALIZATION
from vrt.config.schema import ComponentSpec, ModelConfig
from vrt.model import HashingModel, binarize, build_model


def _build(bits: int = 32) -> HashingModel:
    return build_model(model_config("tiny3d", {"width": 4}, {"bits": bits}))


def model_config(backbone: str, backbone_params: dict, head_params: dict) -> ModelConfig:
    return ModelConfig(ComponentSpec(backbone, backbone_params), ComponentSpec("linear", head_params))


def test_binarize_maps_exact_zeros_to_one() -> None:
    u = torch.tensor([[-1.0, -1e-8, 0.0, -0.0, 1e-8, 1.0]])
    assert binarize(u).tolist() == [[False, False, True, True, True, True]]
    assert binarize(u).dtype == torch.bool


def test_forward_gives_real_codes_and_encode_gives_bits() -> None:
    torch.manual_seed(0)
    model = _build(bits=32).eval()
    clips = torch.rand(3, 3, 4, 32, 32)

    u = model(clips)
    codes = model.encode(clips)

    assert model.bits == 32
    assert u.shape == (3, 32) and u.dtype == torch.float32 and u.abs().max() < 1
    assert codes.shape == (3, 32) and codes.dtype == torch.bool
    assert torch.equal(codes, u >= 0)
    assert not codes.requires_grad


def test_codes_are_deterministic_on_cpu_for_a_seed() -> None:
    clips = torch.rand(4, 3, 4, 32, 32, generator=torch.Generator().manual_seed(7))
    codes = []
    for _ in range(2):
        torch.manual_seed(123)
        codes.append(_build().eval().encode(clips))
    assert torch.equal(codes[0], codes[1])
    torch.manual_seed(124)
    assert not torch.equal(codes[0], _build().eval().encode(clips)), "the seed should matter"


def test_model_normalises_with_the_backbone_statistics() -> None:
    seen = []

    class Probe(nn.Module):
        out_dim = 4
        normalization = CENTERED_NORMALIZATION

        def forward(self, clips: torch.Tensor) -> torch.Tensor:
            seen.append(clips)
            return clips.mean(dim=(2, 3, 4)).repeat(1, 2)[:, :4]

    head = nn.Linear(4, 8)
    head.bits = 8  # type: ignore[attr-defined]
    model = HashingModel(Probe(), head)
    model(torch.full((1, 3, 2, 4, 4), 0.75))

    torch.testing.assert_close(seen[0], torch.full((1, 3, 2, 4, 4), 1.0))  # (0.75 - 0.5) / 0.25
    assert "mean" not in model.state_dict() and "std" not in model.state_dict()


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    model = _build(bits=16)
    u = model(torch.rand(4, 3, 4, 32, 32))
    u.square().sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_build_model_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="'in_dim' is set by vrt"):
        build_model(model_config("tiny3d", {}, {"bits": 16, "in_dim": 3}))
    with pytest.raises(LookupError, match="Did you mean 'r3d_18'"):
        build_model(model_config("r3d18", {}, {"bits": 16}))
    with pytest.raises(ValueError, match="expected clips of shape"):
        _build()(torch.rand(2, 4, 32, 32))


def test_hashing_model_rejects_a_backbone_without_metadata() -> None:
    head = nn.Linear(4, 8)
    head.bits = 8  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="out_dim"):
        HashingModel(nn.Identity(), head)
