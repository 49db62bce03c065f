"""The self-supervised objectives (ConMH, BTH): what they hide, what they rebuild, what they need."""

from __future__ import annotations

import pytest
import torch

from vrt.config import config_from_dict
from vrt.losses.combined import build_loss, loss_needs_labels
from vrt.losses.self_supervised import complementary_masks, debiased_contrastive
from vrt.model import build_model

DIM, FRAMES = 12, 6


def feature_model(bits: int = 16):
    raw = {
        "model": {
            "backbone": {
                "name": "frame_features",
                "dim": DIM,
                "temporal": {"name": "transformer", "width": 16, "heads": 2},
            },
            "head": {"name": "linear", "bits": bits},
        }
    }
    return build_model(config_from_dict(raw).model)


def loss_of(section: dict, model):
    config = config_from_dict({"loss": section}).loss
    return build_loss(config, bits=model.bits, num_classes=0, frame_dim=model.frame_dim)


def test_complementary_masks_hide_disjoint_halves_of_each_video():
    torch.manual_seed(0)
    first, second = complementary_masks(5, 8, 0.5, device=torch.device("cpu"))
    assert first.shape == (5, 8) and (first.sum(1) == 4).all() and (second.sum(1) == 4).all()
    assert ((~first) & (~second)).sum() == 0  # no frame is visible in both views
    wide, _ = complementary_masks(3, 8, 0.75, device=torch.device("cpu"))
    assert (wide.sum(1) == 6).all()


def test_debiased_contrast_is_lower_when_views_match():
    torch.manual_seed(0)
    codes = torch.randn(8, 16)
    matched = debiased_contrastive(codes, codes + 0.01 * torch.randn(8, 16), temperature=0.5, tau_plus=0.1)
    shuffled = debiased_contrastive(codes, codes[torch.randperm(8)], temperature=0.5, tau_plus=0.1)
    assert matched < shuffled


@pytest.mark.parametrize("name", ["conmh", "bth"])
def test_each_objective_needs_no_labels_and_trains_the_model(name):
    torch.manual_seed(0)
    model = feature_model()
    section = {"name": name, "decoder_width": 12, "decoder_heads": 2}
    assert not loss_needs_labels(config_from_dict({"loss": section}).loss)
    loss = loss_of(section, model)
    assert not loss.needs_codes
    inputs = torch.randn(6, FRAMES, DIM)
    value = loss(None, torch.full((6,), -1), model=model, inputs=inputs)
    assert value.ndim == 0 and torch.isfinite(value)
    value.backward()
    trained = [p for p in model.parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert len(trained) == len(list(model.parameters()))  # the whole model learns from it
    assert all(p.grad is not None for p in loss.parameters())  # and the frame decoder


def test_reconstruction_falls_when_trained_on_one_batch():
    torch.manual_seed(0)
    model = feature_model()
    loss = loss_of({"name": "bth", "decoder_width": 12, "decoder_heads": 2}, model)
    inputs = torch.randn(8, FRAMES, DIM)
    optimizer = torch.optim.Adam([*model.parameters(), *loss.parameters()], lr=3e-3)
    values = []
    for _ in range(60):
        value = loss(None, torch.zeros(8), model=model, inputs=inputs)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        values.append(float(value.detach()))
    assert values[-1] < 0.7 * values[0]


def test_an_objective_without_a_frame_backbone_says_what_it_needs():
    raw = {"model": {"backbone": {"name": "tiny3d", "width": 4}, "head": {"name": "linear", "bits": 8}}}
    model = build_model(config_from_dict(raw).model)
    with pytest.raises(ValueError, match="backbone over frames"):
        loss_of({"name": "conmh"}, model)


def test_the_neighbourhood_term_is_zero_when_code_similarities_are_the_feature_cosines():
    from vrt.losses.neighbourhood import NeighbourhoodLoss

    class Exact(torch.nn.Module):
        """Codes whose inner products / bits are the centred pooled features' cosines."""

        def frame_targets(self, inputs):
            return inputs

        def forward(self, inputs, mask=None):
            pooled = inputs.mean(dim=1)
            centred = torch.nn.functional.normalize(pooled - pooled.mean(0), dim=1)
            return centred * centred.shape[1] ** 0.5

    inputs = torch.randn(7, FRAMES, DIM)
    assert float(NeighbourhoodLoss()(Exact(), inputs)) == pytest.approx(0.0, abs=1e-6)
    torch.manual_seed(0)
    model = feature_model()
    loss = loss_of(
        {"terms": [{"name": "conmh", "decoder_width": 12, "decoder_heads": 2}, {"name": "neighbourhood"}]},
        model,
    )
    assert not loss_needs_labels(config_from_dict({"loss": {"name": "neighbourhood"}}).loss)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    term = NeighbourhoodLoss()
    before = float(term(model, inputs).detach())
    for _ in range(40):
        value = term(model, inputs)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    assert float(term(model, inputs).detach()) < 0.5 * before
    assert torch.isfinite(loss(None, torch.full((7,), -1), model=model, inputs=inputs))


def test_the_neighbourhood_term_refuses_an_unknown_description():
    model = feature_model()
    with pytest.raises(ValueError, match="describe must be one of"):
        loss_of({"name": "neighbourhood", "describe": "colour"}, model)
    differences = loss_of({"name": "neighbourhood", "describe": "differences"}, model)
    assert torch.isfinite(
        differences(None, torch.full((5,), -1), model=model, inputs=torch.randn(5, FRAMES, DIM))
    )
