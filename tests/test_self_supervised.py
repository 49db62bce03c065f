"""The self-supervised objectives (ConMH, BTH, clip contrast): what they hide, what they rebuild, what they need."""

from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vrt.config import ConfigError, config_from_dict
from vrt.losses.bth import BTHLoss
from vrt.losses.clip_contrast import ClipContrastLoss, clip_contrast, clip_views
from vrt.losses.combined import WeightedLossSum, build_loss, loss_needs_labels
from vrt.losses.conmh import ConMHLoss
from vrt.losses.neighbourhood import NeighbourhoodLoss
from vrt.losses.self_supervised import (
    FrameDecoder,
    SelfSupervisedLoss,
    complementary_masks,
    debiased_contrastive,
)
from vrt.model import build_model

from .conftest import exact_message, make_loss

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


# Edges that mutation testing (make mutation) found untested: the self-supervised objectives and
# the weighted loss sum.


DIM, BITS = 3, 8
CPU = torch.device("cpu")


class FeatureModel(nn.Module):
    """A model over frame features ``(B, T, D)``: the frames are their own targets, the code a linear
    map of the mean visible frame (the temporal module ``mean``). It keeps what each call saw."""

    def __init__(self, dim: int = DIM, bits: int = BITS) -> None:
        super().__init__()
        self.project = nn.Linear(dim, bits)
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def frame_targets(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.seen.append((inputs.clone(), mask.clone()))
        return visible_code(self, inputs, mask)


def visible_code(model: FeatureModel, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    frames = model.features(inputs).float()
    keep = (~mask).unsqueeze(-1).float()
    return model.project((frames * keep).sum(1) / keep.sum(1).clamp_min(1))


class ClipModel(FeatureModel):
    """The same over clips ``(B, C, T, H, W)``: a frame's features are its channels' means."""

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.mean(dim=(3, 4)).transpose(1, 2)

    def frame_targets(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.features(inputs)


def decoder(*, dim: int = DIM, max_frames: int = 64) -> FrameDecoder:
    return FrameDecoder(BITS, dim, width=8, layers=1, heads=2, max_frames=max_frames)


# FrameDecoder


def test_frame_decoder_refuses_a_width_that_heads_do_not_divide():
    message = "decoder width (10) must be a multiple of heads (3)"
    with pytest.raises(ValueError, match=exact_message(message)):
        FrameDecoder(BITS, DIM, width=10, layers=1, heads=3, max_frames=4)


def test_frame_decoder_builds_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a nested-tensor encoder warns about pre-norm layers
        FrameDecoder(BITS, DIM, width=8, layers=2, heads=2, max_frames=4)


def test_frame_decoder_has_a_4x_feed_forward_a_final_layer_norm_and_a_map_to_dim():
    bits, dim, w, layers, max_frames = 8, 5, 12, 2, 7
    per_layer = (3 * w * w + 3 * w) + (w * w + w) + (4 * w * w + 4 * w) + (4 * w * w + w) + 2 * w + 2 * w
    expected = (bits * w + w) + max_frames * w + layers * per_layer + 2 * w + (w * dim + dim)
    module = FrameDecoder(bits, dim, width=w, layers=layers, heads=3, max_frames=max_frames)
    assert sum(p.numel() for p in module.parameters()) == expected
    assert module(torch.randn(2, bits), 3).shape == (2, 3, dim)


def test_frame_decoder_positions_start_small():
    torch.manual_seed(0)
    positions = FrameDecoder(BITS, DIM, width=16, layers=1, heads=2, max_frames=64).positions
    assert 0.015 < float(positions.detach().std()) < 0.025


def reference_decoder(module: FrameDecoder, codes: torch.Tensor, frames: int) -> torch.Tensor:
    """A pre-norm Transformer written out with the decoder's own weights: x + attention(norm(x)),
    then x + feed_forward(norm(x)) (ReLU), then a layer norm and the map to ``dim``."""
    x = module.project(codes).unsqueeze(1) + module.positions[:, :frames]
    batch, width = x.shape[0], x.shape[2]
    for layer in module.layers.layers:
        heads = layer.self_attn.num_heads
        h = F.layer_norm(x, (width,), layer.norm1.weight, layer.norm1.bias, layer.norm1.eps)
        q, k, v = (h @ layer.self_attn.in_proj_weight.T + layer.self_attn.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.reshape(batch, frames, heads, -1).transpose(1, 2) for t in (q, k, v))
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(width // heads), dim=-1)
        attended = (weights @ v).transpose(1, 2).reshape(batch, frames, width)
        x = x + layer.self_attn.out_proj(attended)
        h = F.layer_norm(x, (width,), layer.norm2.weight, layer.norm2.bias, layer.norm2.eps)
        x = x + layer.linear2(torch.relu(layer.linear1(h)))
    norm, linear = module.out
    return linear(F.layer_norm(x, (width,), norm.weight, norm.bias, norm.eps))


def test_frame_decoder_is_a_pre_norm_transformer_over_the_code_plus_positions_without_dropout():
    torch.manual_seed(0)
    module = FrameDecoder(BITS, DIM, width=8, layers=2, heads=2, max_frames=6)
    with torch.no_grad():
        module.positions.normal_()  # positions that matter
    assert module.training  # dropout would act here
    codes = torch.randn(3, BITS)
    torch.testing.assert_close(module(codes, 5), reference_decoder(module, codes, 5))


def test_frame_decoder_decodes_each_video_on_its_own():
    torch.manual_seed(0)
    module = decoder()
    codes = torch.randn(4, BITS)
    together = module(codes, 5)
    for i in range(4):
        torch.testing.assert_close(module(codes[i : i + 1], 5)[0], together[i])


def test_frame_decoder_decodes_up_to_max_frames_and_says_so_beyond():
    module = decoder(max_frames=4)
    assert module(torch.randn(2, BITS), 4).shape == (2, 4, DIM)
    message = "the decoder was built for at most 4 frames, got 5"
    with pytest.raises(ValueError, match=exact_message(message)):
        module(torch.randn(2, BITS), 5)


# SelfSupervisedLoss


def test_frames_unwraps_a_ddp_style_module_attribute():
    class Wrapper(nn.Module):  # as DistributedDataParallel: the model is .module, no frame_targets
        def __init__(self, module: nn.Module) -> None:
            super().__init__()
            self.module = module

    inputs = torch.randn(2, 4, DIM, dtype=torch.float64)
    frames = SelfSupervisedLoss.frames(Wrapper(FeatureModel()), inputs)
    assert frames.dtype == torch.float32 and torch.equal(frames, inputs.float())


def test_codes_of_a_model_without_a_mask_says_what_it_needs():
    class NoMask(nn.Module):
        def forward(self, inputs):
            return inputs.mean(1)

    inputs, mask = torch.randn(2, 4, DIM), torch.zeros(2, 4, dtype=torch.bool)
    with pytest.raises(TypeError) as own:
        NoMask()(inputs, mask=mask)
    message = (
        "a masked frame objective needs a backbone over frames that takes a frame mask "
        f"(model.backbone: frames or frame_features): {own.value}"
    )
    with pytest.raises(ValueError, match=exact_message(message)):
        SelfSupervisedLoss.codes(NoMask(), inputs, mask)


# complementary_masks


@pytest.mark.parametrize(
    ("ratio", "frames", "hidden"),
    [(0.1, 4, 1), (0.25, 4, 1), (0.5, 5, 2), (0.75, 4, 3), (1.0, 4, 3)],
)
def test_complementary_masks_hide_floor_ratio_frames_but_at_least_one_and_not_all(ratio, frames, hidden):
    torch.manual_seed(0)
    first, second = complementary_masks(6, frames, ratio, device=CPU)
    assert (first.sum(1) == hidden).all() and (second.sum(1) == hidden).all()


def test_complementary_masks_are_made_on_the_given_device_not_torchs_default():
    """The meta device stands in for a GPU run's other device, as in the other device tests."""
    torch.manual_seed(0)
    with torch.device("meta"):
        first, second = complementary_masks(5, 6, 0.5, device=CPU)
    assert first.device == CPU and second.device == CPU
    assert (first.sum(1) == 3).all() and (second.sum(1) == 3).all() and not (~first & ~second).any()


# debiased_contrastive


def reference_dcl(first: np.ndarray, second: np.ndarray, temperature: float, tau_plus: float, extra=None):
    """Chuang et al. (NeurIPS 2020), eq. (6) both ways, written with loops over the 2B codes (and
    the ``extra`` negatives of every code); also whether the lower bound on the negatives'
    estimate acted."""
    codes = np.concatenate([first, second]).astype(np.float64)
    codes /= np.linalg.norm(codes, axis=1, keepdims=True)
    extra = (
        np.zeros((0, codes.shape[1]))
        if extra is None
        else extra / np.linalg.norm(extra, axis=1, keepdims=True)
    )
    n, b = len(codes), len(first)
    losses, clamped = [], False
    for i in range(n):
        j = (i + b) % n
        positive = math.exp(codes[i] @ codes[j] / temperature)
        negatives = [math.exp(codes[i] @ codes[k] / temperature) for k in range(n) if k not in (i, j)]
        negatives += [math.exp(codes[i] @ other / temperature) for other in extra]
        estimate = (sum(negatives) - tau_plus * len(negatives) * positive) / (1 - tau_plus)
        bound = len(negatives) * math.exp(-1 / temperature)
        clamped |= estimate < bound
        losses.append(-math.log(positive / (positive + max(estimate, bound))))
    return sum(losses) / n, clamped


@pytest.mark.parametrize(
    ("noise", "temperature", "tau_plus", "extra", "clamped"),
    [
        (3.0, 0.5, 0.1, 0, False),
        (3.0, 0.2, 0.0, 0, False),
        (0.05, 0.5, 0.9, 0, True),
        (3.0, 0.2, 0.0, 3, False),  # clip_contrast's: InfoNCE with negatives of every code
        (3.0, 0.5, 0.1, 5, False),
    ],
)
def test_debiased_contrast_matches_a_reference(noise, temperature, tau_plus, extra, clamped):
    generator = torch.Generator().manual_seed(0)
    first = torch.randn(4, 6, generator=generator, dtype=torch.float64) * 2
    second = first + noise * torch.randn(4, 6, generator=generator, dtype=torch.float64)
    negatives = torch.randn(extra, 6, generator=generator, dtype=torch.float64) if extra else None
    value = debiased_contrastive(
        first, second, temperature=temperature, tau_plus=tau_plus, negatives=negatives
    )
    expected, bound_acted = reference_dcl(
        first.numpy(), second.numpy(), temperature, tau_plus, None if negatives is None else negatives.numpy()
    )
    assert bound_acted == clamped
    assert value.item() == pytest.approx(expected, rel=1e-9)


# BTH


@pytest.mark.parametrize("probability", [0.0, 1.0, 1.5, -0.5])
def test_bth_refuses_a_mask_probability_outside_0_1(probability):
    message = f"bth mask_probability must lie in (0, 1), got {probability}"
    with pytest.raises(ValueError, match=exact_message(message)):
        BTHLoss(mask_probability=probability, decoder=decoder())


def bert_rule(seed: int, probability: float, batch: int, frames: int):
    """What BERT's rule makes of the two uniform draws per frame that seed gives (picked, then
    what happens to a picked frame): hidden below 0.8, swapped in [0.8, 0.9), kept from 0.9."""
    torch.manual_seed(seed)
    pick, roll = torch.rand(batch, frames), torch.rand(batch, frames)
    picked = pick < probability
    return pick, roll, picked & (roll < 0.8), picked & (roll >= 0.8) & (roll < 0.9)


F32 = {x: float(torch.tensor(x, dtype=torch.float32)) for x in (0.8, 0.9)}
FIRST_DRAW_OF_SEED_0 = float(torch.rand(1, generator=torch.Generator().manual_seed(0)))


@pytest.mark.parametrize(
    ("seed", "probability", "boundary"),
    [  # seeds where a draw lands exactly on a boundary of the rule (found by a search over seeds)
        (59946, 0.5, ("roll", (1, 0), F32[0.8])),  # exactly 0.8: swapped, not hidden
        (352773, 0.5, ("roll", (1, 21), F32[0.9])),  # exactly 0.9: kept
        (0, FIRST_DRAW_OF_SEED_0, ("pick", (0, 0), FIRST_DRAW_OF_SEED_0)),  # exactly p: not picked
    ],
)
def test_bth_hides_80_swaps_10_keeps_10_percent_of_picked_frames_exactly_at_the_boundaries(
    seed, probability, boundary
):
    batch, frames = 2, 64
    pick, roll, hidden, swapped = bert_rule(seed, probability, batch, frames)
    which, at, drawn = boundary
    assert float((pick if which == "pick" else roll)[at]) == drawn  # the premise of the case
    model, loss = FeatureModel(), BTHLoss(mask_probability=probability, decoder=decoder())
    inputs = torch.randn(batch, frames, DIM)
    torch.manual_seed(seed)
    value = loss(model, inputs)
    ((seen, mask),) = model.seen
    assert torch.equal(mask, hidden)
    changed = (seen != inputs).any(dim=-1)
    assert torch.equal(changed, swapped) and swapped.any()
    assert torch.equal(seen[changed], inputs.flip(0)[changed])  # the other video's frame, same time
    rebuilt = loss.decoder(visible_code(model, seen, mask), frames)
    assert value.item() == pytest.approx(((rebuilt - inputs) ** 2).mean().item(), rel=1e-6)


def test_bth_swaps_along_time_in_clips_and_between_two_videos():
    torch.manual_seed(1)
    batch, channels, frames = 2, 4, 40  # channels != frames: the time axis of clips is 2
    model = ClipModel(dim=channels)
    loss = BTHLoss(mask_probability=0.9, decoder=decoder(dim=channels))
    clips = torch.randn(batch, channels, frames, 3, 2)
    assert torch.isfinite(loss(model, clips))
    ((seen, mask),) = model.seen
    changed = (seen != clips).flatten(3).any(dim=-1).any(dim=1)  # (B, T)
    assert changed.any() and not (changed & mask).any()
    time_major, other = seen.transpose(1, 2), clips.flip(0).transpose(1, 2)
    assert torch.equal(time_major[changed], other[changed])
    assert torch.equal(time_major[~changed], clips.transpose(1, 2)[~changed])


def assert_same_under_another_default_device(loss, model, inputs) -> None:
    """The loss with torch's default device elsewhere (meta stands in for a GPU default with CPU
    inputs) equals the loss on the CPU: its masks follow the frames, not the default."""
    torch.manual_seed(0)
    expected = loss(model, inputs)
    torch.manual_seed(0)
    with torch.device("meta"):
        value = loss(model, inputs)
    assert value.device == CPU and value.item() == expected.item()


def test_bth_draws_its_masks_beside_the_frames_not_on_torchs_default_device():
    model, inputs = FeatureModel(), torch.randn(3, 8, DIM)
    assert_same_under_another_default_device(BTHLoss(mask_probability=0.5, decoder=decoder()), model, inputs)
    assert torch.equal(model.seen[0][1], model.seen[1][1])


# ConMH


def conmh(**overrides) -> ConMHLoss:
    params = dict(
        bits=BITS, frame_dim=DIM, mask_ratio=0.5, temperature=0.5, tau_plus=0.1, contrast_weight=1.0
    )
    params.update(overrides)
    return ConMHLoss(**params, decoder=decoder())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"mask_ratio": 0.0}, "conmh needs mask_ratio in (0, 1) and tau_plus in [0, 1), got 0.0, 0.1"),
        ({"mask_ratio": 1.0}, "conmh needs mask_ratio in (0, 1) and tau_plus in [0, 1), got 1.0, 0.1"),
        ({"mask_ratio": 1.5}, "conmh needs mask_ratio in (0, 1) and tau_plus in [0, 1), got 1.5, 0.1"),
        ({"tau_plus": 1.0}, "conmh needs mask_ratio in (0, 1) and tau_plus in [0, 1), got 0.5, 1.0"),
        ({"tau_plus": 1.5}, "conmh needs mask_ratio in (0, 1) and tau_plus in [0, 1), got 0.5, 1.5"),
        ({"tau_plus": -0.1}, "conmh needs mask_ratio in (0, 1) and tau_plus in [0, 1), got 0.5, -0.1"),
        ({"temperature": 0.0}, "conmh temperature must be a finite number > 0, got 0.0"),
        ({"contrast_weight": -1.0}, "conmh contrast_weight must be a finite number >= 0, got -1.0"),
    ],
)
def test_conmh_refuses_each_bad_argument_with_its_message(overrides, message):
    with pytest.raises(ValueError, match=exact_message(message)):
        conmh(**overrides)


def test_conmh_accepts_tau_plus_0_and_contrast_weight_0():
    loss = conmh(tau_plus=0.0, contrast_weight=0.0)
    assert loss.tau_plus == 0.0 and loss.contrast_weight == 0.0


def conmh_reference(loss: ConMHLoss, model: FeatureModel, inputs: torch.Tensor, *, contrast: bool) -> float:
    """The sum of each view's MSE over the frames it hid (+ weight * DCL of the two views' codes),
    from the masks the model saw."""
    total, codes = 0.0, []
    frames = inputs.float()
    for seen, mask in model.seen[-2:]:
        code = visible_code(model, seen, mask)
        rebuilt = loss.decoder(code, inputs.shape[1])
        total += ((rebuilt - frames)[mask] ** 2).mean().item()
        codes.append(code)
    if contrast:
        term = debiased_contrastive(*codes, temperature=loss.temperature, tau_plus=loss.tau_plus)
        total += loss.contrast_weight * term.item()
    return total


def test_conmh_adds_the_weighted_contrast_to_both_views_reconstructions():
    torch.manual_seed(0)
    model, loss, inputs = FeatureModel(), conmh(contrast_weight=0.5), torch.randn(2, 6, DIM)
    value = loss(model, inputs)
    assert value.item() == pytest.approx(conmh_reference(loss, model, inputs, contrast=True), rel=1e-5)
    assert value.item() != pytest.approx(conmh_reference(loss, model, inputs, contrast=False), rel=1e-3)


@pytest.mark.parametrize(("batch", "weight"), [(1, 1.0), (3, 0.0)])
def test_conmh_leaves_the_contrast_out_for_one_video_or_weight_0(batch, weight):
    """Even where it would overflow (a tiny temperature): the term is not computed at all."""
    torch.manual_seed(0)
    model, loss = FeatureModel(), conmh(temperature=1e-3, contrast_weight=weight)
    inputs = torch.randn(batch, 6, DIM)
    value = loss(model, inputs)
    assert torch.isfinite(value)
    assert value.item() == pytest.approx(conmh_reference(loss, model, inputs, contrast=False), rel=1e-5)


def test_conmh_loss_is_float32_for_float64_inputs():
    torch.manual_seed(0)
    value = conmh()(FeatureModel(), torch.randn(3, 6, DIM, dtype=torch.float64))
    assert value.dtype == torch.float32


def test_conmh_draws_its_masks_beside_the_frames_not_on_torchs_default_device():
    model, loss, inputs = FeatureModel(), conmh(contrast_weight=0.0), torch.randn(3, 6, DIM)
    assert_same_under_another_default_device(loss, model, inputs)


# Neighbourhood


def reference_neighbourhood(frames: np.ndarray, codes: np.ndarray) -> float:
    described = frames.mean(axis=1)
    described = described - described.mean(axis=0)
    described /= np.linalg.norm(described, axis=1, keepdims=True)
    n, bits = codes.shape
    terms = [
        (codes[i] @ codes[j] / bits - described[i] @ described[j]) ** 2
        for i in range(n)
        for j in range(n)
        if i != j
    ]
    return sum(terms) / len(terms)


@pytest.mark.parametrize("batch", [2, 4])
def test_neighbourhood_matches_a_reference_over_the_pairs_of_distinct_videos(batch):
    torch.manual_seed(0)
    model, inputs = FeatureModel(), torch.randn(batch, 5, DIM, dtype=torch.float64)
    value = NeighbourhoodLoss()(model, inputs)
    ((seen, mask),) = model.seen
    assert not mask.any() and mask.shape == (batch, 5)  # nothing hidden
    codes = model.project(inputs.float().mean(1)).detach().double().numpy()
    assert value.item() == pytest.approx(reference_neighbourhood(inputs.numpy(), codes), rel=1e-5)
    assert value.item() > 0


def test_neighbourhood_of_one_video_is_a_zero_that_takes_a_gradient():
    value = NeighbourhoodLoss()(FeatureModel(), torch.randn(1, 5, DIM))
    assert value.ndim == 0 and value.item() == 0.0 and value.requires_grad


def test_neighbourhood_builds_its_masks_beside_the_frames_not_on_torchs_default_device():
    torch.manual_seed(0)
    model, inputs = FeatureModel(), torch.randn(4, 5, DIM)
    expected = NeighbourhoodLoss()(model, inputs)
    with torch.device("meta"):
        value = NeighbourhoodLoss()(model, inputs)
    assert value.device == CPU and value.item() == pytest.approx(expected.item())


# WeightedLossSum, loss_needs_labels, build_loss


def test_weighted_loss_sum_needs_a_term():
    with pytest.raises(ValueError, match="^a loss needs at least one term$"):
        WeightedLossSum([])


CODES = torch.tensor([[0.5, -0.25, 0.75, 0.1], [0.75, 0.5, -0.5, 0.3], [-0.5, 0.25, 0.2, -0.9]])
LABELS = torch.tensor([0, 0, 1])


def test_weighted_loss_sum_adds_weighted_terms_of_the_codes_and_keeps_each_value():
    triplet, quantization = (
        make_loss("triplet_ranking", bits=4, margin=2.0),
        make_loss("quantization", bits=4),
    )
    total = WeightedLossSum([("triplet", 0.5, triplet), ("quantization", 3.0, quantization)])
    assert total.last_values == {}
    first, second = triplet(CODES, LABELS).item(), quantization(CODES, LABELS).item()
    assert first > 0 and second > 0
    assert total(CODES, LABELS).item() == pytest.approx(0.5 * first + 3.0 * second)
    assert total.last_values == pytest.approx({"triplet": first, "quantization": second})


def test_weighted_loss_sum_of_one_term_keeps_no_values():
    triplet = make_loss("triplet_ranking", bits=4, margin=2.0)
    total = WeightedLossSum([("triplet", 0.5, triplet)])
    assert total(CODES, LABELS).item() == pytest.approx(0.5 * triplet(CODES, LABELS).item())
    assert total.last_values == {}


def test_weighted_loss_sum_says_what_each_kind_of_term_is_missing():
    total = WeightedLossSum([("bth", 1.0, BTHLoss(mask_probability=0.5, decoder=decoder()))])
    message = "the bth term is computed from the model and the batch's inputs"
    for model, inputs in [(None, torch.randn(2, 4, DIM)), (FeatureModel(), None)]:
        with pytest.raises(ValueError, match=exact_message(message)):
            total(None, LABELS, model=model, inputs=inputs)
    quantization = WeightedLossSum([("quantization", 1.0, make_loss("quantization", bits=4))])
    message = "the quantization term needs the batch's codes"
    with pytest.raises(ValueError, match=exact_message(message)):
        quantization(None, LABELS)


def loss_config(section: dict):
    return config_from_dict({"loss": section}).loss


def test_loss_needs_labels_when_any_term_is_not_self_supervised():
    assert loss_needs_labels(loss_config({"name": "triplet_ranking"}))
    assert loss_needs_labels(loss_config({"terms": [{"name": "conmh"}, {"name": "quantization"}]}))
    assert not loss_needs_labels(loss_config({"terms": [{"name": "conmh"}, {"name": "neighbourhood"}]}))


def test_build_loss_names_the_term_whose_builder_refused():
    message = "conmh reconstructs frames: it needs a backbone over frames (model.backbone: frames or frame_features)"
    for section, path in [
        ({"name": "conmh"}, "loss"),
        ({"terms": [{"name": "quantization"}, {"name": "conmh"}]}, "loss.terms[1]"),
    ]:
        with pytest.raises(ConfigError, match=f"^{re.escape(f'{path}: {message}')}$"):
            build_loss(loss_config(section), bits=8, num_classes=3)


def test_build_loss_gives_each_term_the_number_of_classes():
    (term,) = build_loss(loss_config({"name": "classification"}), bits=4, num_classes=5).terms
    assert torch.isfinite(term(CODES, torch.tensor([0, 2, 4])))
    with pytest.raises(ValueError, match=re.escape("got labels in [5, 5]")):
        term(CODES, torch.tensor([5, 5, 5]))


# -- clip_contrast: two views of each clip, the clips played backwards among the negatives -------


def clip_model(bits: int = 8):
    raw = {"model": {"backbone": {"name": "tiny3d", "width": 2}, "head": {"name": "linear", "bits": bits}}}
    return build_model(config_from_dict(raw).model)


def test_clip_views_crop_and_brighten_every_frame_of_a_clip_alike_and_never_flip():
    torch.manual_seed(0)
    ramp = torch.linspace(0.1, 0.6, 16).expand(16, 16)  # brighter to the right
    clips = ramp.expand(4, 3, 5, 16, 16).clone()  # 4 clips of 5 identical frames
    views = clip_views(clips, scale=0.5, exposure=0.3)
    assert views.shape == clips.shape
    assert torch.equal(views, views[:, :, :1].expand_as(views))  # every frame the same view
    assert (views.diff(dim=-1) >= 0).all()  # still brighter to the right: no flip
    assert not torch.allclose(views[0], views[1])  # each clip its own crop and gain
    assert views.min() >= 0 and views.max() <= 1
    glare = clip_views(torch.full((2, 3, 2, 8, 8), 0.9), scale=1.0, exposure=0.3)
    assert glare.max() == 1.0  # a gain above 1/0.9 is clamped


def test_clip_views_of_scale_1_and_exposure_0_are_the_clips():
    clips = torch.rand(3, 3, 4, 10, 12)
    assert torch.allclose(clip_views(clips, scale=1.0, exposure=0.0), clips, atol=1e-6)


def test_clip_contrast_needs_no_labels_and_trains_any_backbone_over_pixels():
    torch.manual_seed(0)
    model = clip_model()
    section = {"name": "clip_contrast"}
    assert not loss_needs_labels(config_from_dict({"loss": section}).loss)
    loss = loss_of(section, model)
    assert not loss.needs_codes
    value = loss(None, torch.full((4,), -1), model=model, inputs=torch.rand(4, 3, 4, 16, 16))
    assert value.ndim == 0 and value.dtype == torch.float32 and torch.isfinite(value)
    value.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


class PooledCodes(nn.Module):
    """Codes of a clip's frames through a fixed map: ``summary`` says how the frames are combined."""

    def __init__(self, summary) -> None:
        super().__init__()
        self.summary = summary
        self.project = nn.Linear(3 * 8 * 8, 16)

    def forward(self, clips):
        return self.project(self.summary(clips).flatten(1))


@pytest.mark.parametrize(
    ("summary", "reversal_costs"),
    [
        (lambda clips: clips.mean(dim=2), True),  # blind to the order of the frames
        (lambda clips: clips[:, :, -1] - clips[:, :, 0], False),  # played backwards: the opposite code
    ],
    ids=["time-blind", "time-aware"],
)
def test_clips_played_backwards_are_negatives_that_only_a_time_blind_code_pays_for(summary, reversal_costs):
    clips = torch.rand(6, 3, 4, 8, 8)
    values = {}
    for reversed_negatives in (True, False):
        torch.manual_seed(0)  # the same views both times
        model = PooledCodes(summary)
        loss = ClipContrastLoss(
            temperature=0.2, scale=0.9, exposure=0.1, reversed_negatives=reversed_negatives
        )
        values[reversed_negatives] = loss(model, clips).item()
    # A time-blind code's reversed clip is as near as its other view: the loss rises (by 0.44 here).
    assert (values[True] - values[False] > 0.4) == reversal_costs
    assert values[True] >= values[False] - 1e-6  # negatives only add


def test_clip_contrast_of_one_clip_is_a_zero_that_takes_a_gradient():
    value = ClipContrastLoss(temperature=0.2, scale=0.7, exposure=0.2, reversed_negatives=True)(
        clip_model(), torch.rand(1, 3, 4, 16, 16)
    )
    assert float(value.detach()) == 0.0 and value.requires_grad


def test_clip_contrast_on_frame_features_says_what_it_needs():
    message = (
        "clip_contrast makes views of clips: it needs a backbone over pixels (frames, tiny3d, ...), "
        "got inputs of shape (2, 6, 12); on a feature file use conmh or bth"
    )
    with pytest.raises(ValueError, match=exact_message(message)):
        loss_of({"name": "clip_contrast"}, feature_model())(
            None, torch.full((2,), -1), model=feature_model(), inputs=torch.randn(2, 6, 12)
        )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"scale": 0.0}, "clip_contrast needs scale in (0, 1] and exposure in [0, 1), got 0.0, 0.2"),
        ({"scale": 1.5}, "clip_contrast needs scale in (0, 1] and exposure in [0, 1), got 1.5, 0.2"),
        ({"exposure": 1.0}, "clip_contrast needs scale in (0, 1] and exposure in [0, 1), got 0.7, 1.0"),
        ({"exposure": -0.1}, "clip_contrast needs scale in (0, 1] and exposure in [0, 1), got 0.7, -0.1"),
        ({"temperature": 0.0}, "clip_contrast temperature must be a finite number > 0, got 0.0"),
    ],
)
def test_clip_contrast_refuses_each_bad_argument_with_its_message(overrides, message):
    with pytest.raises(ValueError, match=exact_message(message)):
        clip_contrast(**overrides)


def test_vrt_train_with_clip_contrast_picks_on_the_validation_loss_and_repeats_its_codes(tmp_path):
    import yaml
    from typer.testing import CliRunner

    from vrt.cli import app

    from .conftest import tiny_config_dict

    config = tiny_config_dict()
    config["loss"] = {"name": "clip_contrast"}
    config["data"]["batch"] = {"sampler": "shuffle", "batch_size": 8}
    path = tmp_path / "clip_contrast.yaml"
    path.write_text(yaml.safe_dump(config))
    codes = []
    for run in ("first", "second"):
        result = CliRunner().invoke(app, ["train", str(path), "--output", str(tmp_path / run)])
        assert result.exit_code == 0, result.output
        assert "val loss" in result.output
        records = [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
        assert all("val_loss" in record and "val_map" not in record for record in records)
        with np.load(tmp_path / run / "codes_test.npz") as stored:
            codes.append(stored["codes"])
    assert np.array_equal(*codes)  # the same config on the CPU: the same codes


def test_clip_views_crop_inside_the_frame_at_least_scale_of_each_side_and_gain_within_exposure():
    torch.manual_seed(0)
    ramp = torch.linspace(0.0, 0.5, 40, dtype=torch.float64)  # linear in x: a crop keeps it linear
    clips = ramp.expand(256, 3, 2, 40, 40).clone()
    views = clip_views(clips, scale=0.5, exposure=0.0)[:, 0, 0, 20]  # one row of each view
    assert views.dtype == torch.float64
    # Sampled inside the frame, a row stays a straight line (outside it would flatten at the
    # edge); only the outermost samples may fall in the frame's last half pixel.
    inner = views[:, 1:-1]
    assert inner.diff(dim=1).diff(dim=1).abs().max() < 1e-9
    sizes = inner.diff(dim=1).mean(dim=1) / (ramp[1] - ramp[0])  # the crop's share of the side
    assert sizes.min() >= 0.5 - 1e-9 and sizes.max() <= 1 + 1e-9
    assert sizes.min() < 0.55 and sizes.max() > 0.95  # drawn over the whole range
    assert views.min() >= 0 and views.max() <= 0.5
    shifts = views.mean(dim=1) - ramp.mean()  # the crop's centre, left or right of the middle
    assert shifts.min() < -0.05 and shifts.max() > 0.05
    grey = clip_views(torch.full((256, 3, 2, 8, 8), 0.5), scale=1.0, exposure=0.3)[:, 0, 0, 0, 0]
    gains = grey / 0.5
    assert gains.min() >= 0.7 - 1e-6 and gains.max() <= 1.3 + 1e-6
    assert gains.min() < 0.75 and gains.max() > 1.25 and abs(float(gains.mean()) - 1) < 0.05


def test_clip_contrast_accepts_scale_1_and_exposure_0_and_contrasts_a_batch_of_two():
    loss = ClipContrastLoss(temperature=0.2, scale=1.0, exposure=0.0, reversed_negatives=False)
    torch.manual_seed(0)
    value = loss(PooledCodes(lambda clips: clips.mean(dim=2)), torch.rand(2, 3, 4, 8, 8))
    assert float(value.detach()) > 0  # one other clip to tell each from


def test_clip_contrast_of_one_float64_clip_is_a_float32_zero():
    loss = ClipContrastLoss(temperature=0.2, scale=0.7, exposure=0.2, reversed_negatives=True)
    value = loss(clip_model().double(), torch.rand(1, 3, 4, 16, 16, dtype=torch.float64))
    assert value.dtype == torch.float32


def test_the_reversed_negative_is_the_first_view_played_backwards_in_time():
    seen = []

    class Recording(PooledCodes):
        def forward(self, clips):
            seen.append(clips)
            return super().forward(clips)

    torch.manual_seed(0)
    loss = ClipContrastLoss(temperature=0.2, scale=0.8, exposure=0.2, reversed_negatives=True)
    loss(Recording(lambda clips: clips.mean(dim=2)), torch.rand(3, 3, 4, 8, 8))
    first, second, reversed_first = seen
    assert not torch.equal(first, second)  # two views
    assert torch.equal(reversed_first, first.flip(2))  # dim 2 is time: not height, not width


def test_clip_views_of_an_even_grey_stay_even_up_to_the_frames_edges():
    # A crop that reaches an edge samples past the last pixel centre: the edge pixel continues
    # there (border padding), where zero padding would darken the view's rim.
    torch.manual_seed(0)
    views = clip_views(torch.full((256, 3, 2, 8, 8), 0.5), scale=0.5, exposure=0.0)
    assert torch.allclose(views, torch.full_like(views, 0.5), atol=1e-6)
