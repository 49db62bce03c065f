from __future__ import annotations

import itertools
import json
import math
import re

import pytest
import torch

from vrt.components import build
from vrt.config import config_from_dict, load_config
from vrt.config.schema import ComponentSpec
from vrt.losses import (
    ClassificationLoss,
    ContrastiveLoss,
    CSQLoss,
    DPSHLoss,
    HashNetLoss,
    TripletRankingLoss,
    hadamard_matrix,
    pairwise_squared_distances,
)
from vrt.losses.base import HashingLoss, log1p_exp, pair_masks
from vrt.losses.combined import WeightedLossSum
from vrt.losses.csq import _BERNOULLI_DRAWS, bernoulli_centres, hadamard_centres, is_power_of_two
from vrt.losses.miners import Pairs, Triplets, as_selection, valid_triplet_mask
from vrt.losses.miners.batch_hard import BatchHardMiner
from vrt.losses.miners.semihard import SemiHardMiner
from vrt.losses.reducers.mean_active import MeanActiveReducer
from vrt.losses.reducers.sum import SumReducer
from vrt.registry import BUILTIN_ORIGIN, LOSSES, MINERS, REDUCERS
from vrt.training.runner import Runner

from .conftest import REPO_ROOT, exact_message, make_loss, tiny_config_dict


def brute_force_triplet_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float, reduction: str
) -> float:
    """Reference: a literal triple loop over (anchor, positive, negative)."""
    x = embeddings.double().tolist()
    y = labels.tolist()
    n = len(y)
    hinges = []
    for a, p, q in itertools.product(range(n), repeat=3):
        if a == p or y[a] != y[p] or y[q] == y[a]:
            continue
        d_ap = sum((xa - xp) ** 2 for xa, xp in zip(x[a], x[p], strict=True))
        d_an = sum((xa - xq) ** 2 for xa, xq in zip(x[a], x[q], strict=True))
        hinges.append(max(0.0, margin + d_ap - d_an))
    if reduction == "mean_active":
        hinges = [h for h in hinges if h > 0]
    return sum(hinges) / len(hinges) if hinges else 0.0


@pytest.mark.parametrize("reduction", ["mean", "mean_active"])
@pytest.mark.parametrize("seed", range(4))
def test_triplet_loss_matches_brute_force(reduction: str, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    batch, bits = 11, 16
    embeddings = torch.tanh(torch.randn(batch, bits, generator=generator, dtype=torch.float64) * 2)
    labels = torch.randint(0, 3, (batch,), generator=generator)
    # A margin near the typical distance gap gives a mix of active and inactive triplets.
    margin = 6.0
    loss = make_loss("triplet_ranking", margin=margin, reduction=reduction)

    value = loss(embeddings, labels)

    expected = brute_force_triplet_loss(embeddings, labels, margin, reduction)
    assert value.item() == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_mean_and_mean_active_differ_when_some_triplets_are_satisfied() -> None:
    # Two tight, far-apart clusters: every triplet satisfied except those of the one outlier.
    embeddings = torch.tensor([[1.0, 1.0], [1.0, 0.9], [-1.0, -1.0], [-1.0, -0.9], [-0.9, -1.0]])
    labels = torch.tensor([0, 0, 1, 1, 0])
    mean = make_loss("triplet_ranking", margin=1.0, reduction="mean")(embeddings, labels)
    active = make_loss("triplet_ranking", margin=1.0, reduction="mean_active")(embeddings, labels)
    assert 0 < mean < active
    assert mean.item() == pytest.approx(brute_force_triplet_loss(embeddings, labels, 1.0, "mean"))
    assert active.item() == pytest.approx(brute_force_triplet_loss(embeddings, labels, 1.0, "mean_active"))


@pytest.mark.parametrize(
    "labels",
    [[0, 0, 0, 0], [0, 1, 2, 3], [5]],
    ids=["one-class", "all-singletons", "single-clip"],
)
@pytest.mark.parametrize("reduction", ["mean", "mean_active"])
def test_no_valid_triplet_gives_zero_with_grad(labels: list[int], reduction: str) -> None:
    embeddings = torch.randn(len(labels), 8, requires_grad=True)
    loss = make_loss("triplet_ranking", reduction=reduction)(embeddings, torch.tensor(labels))
    assert loss.item() == 0.0
    assert loss.requires_grad
    loss.backward()
    assert embeddings.grad is not None and torch.count_nonzero(embeddings.grad) == 0


def test_mean_active_is_zero_when_every_triplet_is_satisfied() -> None:
    embeddings = torch.tensor([[1.0, 1.0], [1.0, 1.0], [-1.0, -1.0]], requires_grad=True)
    loss = make_loss("triplet_ranking", margin=1.0, reduction="mean_active")(
        embeddings, torch.tensor([0, 0, 1])
    )
    assert loss.item() == 0.0
    loss.backward()


def test_gradient_flows_and_matches_autograd_of_brute_force() -> None:
    torch.manual_seed(0)
    embeddings = torch.tanh(torch.randn(9, 8, dtype=torch.float64)).requires_grad_()
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
    margin = 4.0

    TripletRankingLoss(margin, MINERS.get("all")())(embeddings, labels).backward()

    # Same loss written per triplet, differentiated by autograd.
    reference = embeddings.detach().clone().requires_grad_()
    terms = [
        torch.relu(
            margin
            + (reference[a] - reference[p]).square().sum()
            - (reference[a] - reference[n]).square().sum()
        )
        for a, p, n in itertools.product(range(9), repeat=3)
        if a != p and labels[a] == labels[p] and labels[n] != labels[a]
    ]
    torch.stack(terms).mean().backward()
    assert embeddings.grad is not None and embeddings.grad.abs().sum() > 0
    torch.testing.assert_close(embeddings.grad, reference.grad)


def test_index_triplets_from_a_miner_give_the_same_loss_as_the_mask() -> None:
    torch.manual_seed(0)
    embeddings = torch.randn(10, 16, dtype=torch.float64)
    labels = torch.randint(0, 3, (10,))

    def index_miner(emb: torch.Tensor, lab: torch.Tensor) -> Triplets:
        return Triplets(*valid_triplet_mask(lab).nonzero(as_tuple=True))

    for reduction in ("mean", "mean_active"):
        reducer = REDUCERS.get(reduction)()
        dense = TripletRankingLoss(5.0, MINERS.get("all")(), reducer)(embeddings, labels)
        sparse = TripletRankingLoss(5.0, index_miner, reducer)(embeddings, labels)
        torch.testing.assert_close(dense, sparse)


def test_miner_all_selects_exactly_the_valid_triplets() -> None:
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    mask = MINERS.get("all")()(torch.zeros(6, 4), labels)
    expected = {
        (a, p, n)
        for a, p, n in itertools.product(range(6), repeat=3)
        if a != p and labels[a] == labels[p] and labels[n] != labels[a]
    }
    assert mask.dtype == torch.bool and mask.shape == (6, 6, 6)
    assert set(map(tuple, mask.nonzero().tolist())) == expected


def test_miner_sees_detached_embeddings() -> None:
    seen = []

    def spy(emb: torch.Tensor, lab: torch.Tensor) -> torch.Tensor:
        seen.append(emb.requires_grad)
        return valid_triplet_mask(lab)

    TripletRankingLoss(1.0, spy)(torch.randn(4, 8, requires_grad=True), torch.tensor([0, 0, 1, 1]))
    assert seen == [False]


def test_bad_miner_output_is_rejected() -> None:
    loss = TripletRankingLoss(1.0, lambda emb, lab: torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool mask of shape"):
        loss(torch.randn(4, 8), torch.tensor([0, 0, 1, 1]))


@pytest.mark.parametrize("margin", [0.0, -1.0, float("nan"), float("inf")])
def test_margin_must_be_positive(margin: float) -> None:
    with pytest.raises(ValueError, match="margin must be a finite number > 0"):
        make_loss("triplet_ranking", margin=margin)


def test_unknown_reducer_and_miner_names_are_rejected_when_built() -> None:
    with pytest.raises(LookupError, match="unknown reducer 'summ'.*Did you mean 'sum'"):
        make_loss("triplet_ranking", reduction="summ")
    with pytest.raises(LookupError, match="unknown miner 'al'.*Did you mean 'all'"):
        make_loss("triplet_ranking", miner="al")
    with pytest.raises(TypeError, match="must be a built reducer"):
        TripletRankingLoss(1.0, reducer="mean")  # type: ignore[arg-type]


def test_shape_errors_are_clear() -> None:
    loss = make_loss("triplet_ranking")
    with pytest.raises(ValueError, match="expected embeddings"):
        loss(torch.randn(4, 8), torch.tensor([0, 1, 0]))


def test_squared_distances_are_float32_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    x = torch.tanh(torch.randn(6, 64))
    exact = torch.cdist(x.double(), x.double()).square()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        distances = pairwise_squared_distances(x)
    assert distances.dtype == torch.float32
    torch.testing.assert_close(distances.double(), exact, atol=1e-4, rtol=1e-5)
    assert (pairwise_squared_distances(x).diagonal() >= 0).all()


def test_loss_accepts_bf16_embeddings() -> None:
    torch.manual_seed(0)
    embeddings = torch.tanh(torch.randn(8, 32)).to(torch.bfloat16)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    value = make_loss("triplet_ranking", margin=8.0)(embeddings, labels)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(
        brute_force_triplet_loss(embeddings.float(), labels, 8.0, "mean"), rel=1e-5
    )


# -- pairwise and centre losses against python loops -------------------------------------------


def random_codes(seed: int, batch: int = 10, bits: int = 16, classes: int = 3, scale: float = 1.5):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.tanh(scale * torch.randn(batch, bits, generator=generator, dtype=torch.float64))
    labels = torch.randint(0, classes, (batch,), generator=generator)
    return embeddings, labels


def ordered_pairs(n: int):
    return [(i, j) for i, j in itertools.product(range(n), repeat=2) if i != j]


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def brute_force_contrastive(embeddings, labels, margin: float) -> float:
    x, y = embeddings.tolist(), labels.tolist()
    terms = []
    for i, j in ordered_pairs(len(y)):
        distance = math.sqrt(sum((a - b) ** 2 for a, b in zip(x[i], x[j], strict=True)))
        terms.append(0.5 * distance**2 if y[i] == y[j] else 0.5 * max(0.0, margin - distance) ** 2)
    return sum(terms) / len(terms) if terms else 0.0


def brute_force_dpsh(embeddings, labels, eta: float) -> float:
    x, y = embeddings.tolist(), labels.tolist()
    terms = []
    for i, j in ordered_pairs(len(y)):
        theta = 0.5 * dot(x[i], x[j])
        terms.append(math.log(1 + math.exp(theta)) - (1.0 if y[i] == y[j] else 0.0) * theta)
    likelihood = sum(terms) / len(terms) if terms else 0.0
    quantization = [(u - (1.0 if u >= 0 else -1.0)) ** 2 for row in x for u in row]
    return likelihood + eta * sum(quantization) / len(quantization)


def brute_force_csq(embeddings, labels, centres, weight: float) -> float:
    x, y, c = embeddings.tolist(), labels.tolist(), centres.tolist()
    bce, quantization = [], []
    for row, label in zip(x, y, strict=True):
        for u, centre in zip(row, c[label], strict=True):
            p, t = (u + 1) / 2, (centre + 1) / 2
            bce.append(-(t * math.log(p) + (1 - t) * math.log(1 - p)))
            quantization.append((abs(u) - 1) ** 2)
    return sum(bce) / len(bce) + weight * sum(quantization) / len(quantization)


def brute_force_hashnet(embeddings, labels, alpha: float, beta: float) -> float:
    x = [[math.tanh(beta * math.atanh(u)) for u in row] for row in embeddings.tolist()]
    y = labels.tolist()
    pairs = ordered_pairs(len(y))
    n_similar = sum(1 for i, j in pairs if y[i] == y[j])
    n_dissimilar = len(pairs) - n_similar
    weighted, total_weight = 0.0, 0.0
    for i, j in pairs:
        s = 1.0 if y[i] == y[j] else 0.0
        theta = alpha * dot(x[i], x[j])
        # The paper's weights |S| / |S_1| and |S| / |S_0|, normalised by their sum.
        w = len(pairs) / (n_similar if s else n_dissimilar)
        weighted += w * (math.log(1 + math.exp(theta)) - s * theta)
        total_weight += w
    return weighted / total_weight if pairs else 0.0


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("margin", [2.0, None])
def test_contrastive_matches_brute_force(seed: int, margin: float | None) -> None:
    embeddings, labels = random_codes(seed)
    loss = make_loss("contrastive", bits=16, margin=margin)
    expected = brute_force_contrastive(embeddings, labels, math.sqrt(32) if margin is None else margin)
    assert loss(embeddings, labels).item() == pytest.approx(expected, rel=1e-9)


def test_contrastive_gradient_is_finite_for_identical_codes() -> None:
    # Two identical codes of different classes: sqrt at distance 0 must not produce NaN.
    embeddings = torch.tensor([[0.5, -0.5], [0.5, -0.5], [0.1, 0.2]], requires_grad=True)
    loss = make_loss("contrastive", bits=16, margin=1.0)(embeddings, torch.tensor([0, 1, 0]))
    loss.backward()
    assert torch.isfinite(embeddings.grad).all()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("eta", [0.0, 0.1, 2.0])
def test_dpsh_matches_brute_force(seed: int, eta: float) -> None:
    embeddings, labels = random_codes(seed)
    value = make_loss("dpsh", eta=eta)(embeddings, labels)
    assert value.item() == pytest.approx(brute_force_dpsh(embeddings, labels, eta), rel=1e-9)


def test_dpsh_is_stable_where_exp_overflows() -> None:
    # theta = 0.5 * 16 * 900 = 7200: exp(theta) overflows float64, log(1 + exp(theta)) = theta.
    embeddings = torch.full((3, 16), 30.0, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0, 1])
    value = make_loss("dpsh", eta=0.0)(embeddings, labels)
    # Similar pairs: log(1+e^t) - t -> 0; dissimilar pairs: t. Four of six ordered pairs are dissimilar.
    assert value.item() == pytest.approx(7200.0 * 4 / 6)
    value.backward()
    assert torch.isfinite(embeddings.grad).all()


def test_dpsh_quantization_counts_zero_as_positive() -> None:
    loss = make_loss("dpsh", eta=1.0)
    zero = loss(torch.zeros(1, 8), torch.tensor([0]))  # no pairs; every unit is 1 away from sign(0) := +1
    assert zero.item() == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("bits", "classes"), [(16, 3), (48, 5), (16, 40)])
def test_csq_matches_brute_force(seed: int, bits: int, classes: int) -> None:
    embeddings, labels = random_codes(seed, bits=bits, classes=classes)
    loss = LOSSES.get("csq")(bits=bits, num_classes=classes, quantization_weight=0.5)
    expected = brute_force_csq(embeddings, labels, loss.centres, 0.5)
    assert loss(embeddings, labels).item() == pytest.approx(expected, rel=1e-9)


def test_hadamard_matrix_rows_are_orthogonal() -> None:
    for n in (8, 16, 64):
        matrix = hadamard_matrix(n)
        assert set(matrix.unique().tolist()) == {-1.0, 1.0}
        torch.testing.assert_close(matrix @ matrix.T, n * torch.eye(n))
    with pytest.raises(ValueError, match="power-of-two"):
        hadamard_matrix(48)


@pytest.mark.parametrize(("bits", "classes"), [(16, 16), (16, 32), (64, 101)])
def test_csq_hadamard_centres_are_distinct_and_far_apart(bits: int, classes: int) -> None:
    centres = LOSSES.get("csq")(bits=bits, num_classes=classes).centres
    matrix = hadamard_matrix(bits)
    expected = torch.cat([matrix, -matrix])[:classes]
    assert torch.equal(centres, expected)  # rows of H, then of -H
    hamming = (bits - centres @ centres.T) / 2
    off_diagonal = hamming[~torch.eye(classes, dtype=torch.bool)]
    assert off_diagonal.min() >= bits / 2


@pytest.mark.parametrize(("bits", "classes"), [(48, 10), (16, 40), (24, 51)])
def test_csq_bernoulli_centres_are_seeded_binary_and_distinct(bits: int, classes: int) -> None:
    build = LOSSES.get("csq")
    centres = build(bits=bits, num_classes=classes).centres
    assert centres.shape == (classes, bits)
    assert set(centres.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(row) for row in centres.tolist()}) == classes
    assert torch.equal(centres, build(bits=bits, num_classes=classes).centres)  # fixed by the seed
    assert not torch.equal(centres, build(bits=bits, num_classes=classes, seed=1).centres)
    # Roughly fair coins: the mean over all bits is near 0 (0.5 +- a few sigma for the 0/1 share).
    assert abs(float(centres.mean())) < 6 / math.sqrt(centres.numel())


def test_csq_centres_are_a_buffer_that_follows_the_state_dict() -> None:
    loss = LOSSES.get("csq")(bits=48, num_classes=6)
    assert torch.equal(loss.state_dict()["centres"], loss.centres)
    other = LOSSES.get("csq")(bits=48, num_classes=6, seed=9)
    other.load_state_dict(loss.state_dict())
    assert torch.equal(other.centres, loss.centres)


def test_csq_centre_kinds_can_be_forced_and_misuse_is_explained() -> None:
    build = LOSSES.get("csq")
    hadamard = build(bits=16, num_classes=4).centres
    assert not torch.equal(build(bits=16, num_classes=4, centres="bernoulli").centres, hadamard)
    with pytest.raises(ValueError, match="power of two"):
        build(bits=48, num_classes=4, centres="hadamard")
    loss = build(bits=16, num_classes=4)
    with pytest.raises(ValueError, match="labels 0..3"):
        loss(torch.zeros(2, 16), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="16 bits"):
        loss(torch.zeros(2, 32), torch.tensor([0, 1]))


def test_csq_stays_finite_for_saturated_codes() -> None:
    # tanh rounds to exactly +-1 in float32; a code sitting on the wrong side of its centre must
    # give a large but finite loss and gradient.
    embeddings = torch.tensor([[1.0, -1.0, 1.0, -1.0] * 2, [-1.0] * 8], requires_grad=True)
    loss = LOSSES.get("csq")(bits=8, num_classes=2)(embeddings, torch.tensor([1, 0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(embeddings.grad).all()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("epoch", [0, 3])
def test_hashnet_matches_brute_force(seed: int, epoch: int) -> None:
    embeddings, labels = random_codes(seed, classes=4)
    loss = make_loss("hashnet", bits=16, step_factor=0.5)
    loss.on_epoch_start(epoch, 10)
    beta = math.sqrt(1 + 0.5 * epoch)
    assert loss.beta == pytest.approx(beta)
    expected = brute_force_hashnet(embeddings, labels, alpha=10 / 16, beta=beta)
    assert loss(embeddings, labels).item() == pytest.approx(expected, rel=1e-9)


def test_hashnet_continuation_is_tanh_of_the_scaled_pre_activation_and_keeps_signs() -> None:
    z = torch.linspace(-4, 4, 17, dtype=torch.float64)
    loss = make_loss("hashnet", bits=16, beta_initial=1.0, step_factor=1.0)
    assert torch.equal(loss.continued(torch.tanh(z)), torch.tanh(z))  # beta = 1: untouched
    loss.on_epoch_start(8, 10)  # beta = sqrt(1 + 8) = 3
    continued = loss.continued(torch.tanh(z))
    torch.testing.assert_close(continued, torch.tanh(3 * z))
    assert torch.equal(continued >= 0, torch.tanh(z) >= 0)  # the encoded bits do not depend on beta
    saturated = torch.tensor([-1.0, 1.0], requires_grad=True)
    loss.continued(saturated).sum().backward()
    assert torch.isfinite(saturated.grad).all()


def test_hashnet_beta_follows_the_runner_hook_through_the_weighted_sum() -> None:
    term = make_loss("hashnet", bits=32, beta_initial=2.0, step_factor=0.25)
    total = WeightedLossSum([("hashnet", 1.0, term), ("quantization", 0.1, LOSSES.get("quantization")())])
    total.on_epoch_start(12, 20)
    assert term.beta == pytest.approx(2.0 * math.sqrt(1 + 0.25 * 12))


def test_hashnet_weights_rare_similar_pairs_up() -> None:
    # One similar pair among many dissimilar ones: the balanced loss gives the similar pair half
    # the weight, so pulling it together matters as much as everything else.
    torch.manual_seed(0)
    embeddings = torch.tanh(torch.randn(8, 16, dtype=torch.float64))
    labels = torch.tensor([0, 0, 1, 2, 3, 4, 5, 6])
    loss = make_loss("hashnet", bits=16, step_factor=0.0)
    similar = loss(embeddings[:2], labels[:2])  # only the similar pair (both orders)
    full = loss(embeddings, labels)
    dissimilar_mean = brute_force_hashnet(embeddings, labels, 10 / 16, 1.0) * 2 - similar.item()
    assert full.item() == pytest.approx((similar.item() + dissimilar_mean) / 2)


def test_quantization_and_bit_balance_match_their_formulas() -> None:
    embeddings, labels = random_codes(0, batch=7, bits=8)
    x = embeddings.tolist()
    quantization = sum((abs(u) - 1) ** 2 for row in x for u in row) / (7 * 8)
    balance = sum((sum(row[k] for row in x) / 7) ** 2 for k in range(8)) / 8
    assert LOSSES.get("quantization")()(embeddings, labels).item() == pytest.approx(quantization, rel=1e-12)
    assert LOSSES.get("bit_balance")()(embeddings, labels).item() == pytest.approx(balance, rel=1e-12)
    perfect = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    assert LOSSES.get("quantization")()(perfect, labels[:2]).item() == 0.0
    assert LOSSES.get("bit_balance")()(perfect, labels[:2]).item() == 0.0


# -- reducers, and the values the losses gave before they had them --------------------------------


@pytest.mark.parametrize(
    ("name", "whole", "selected"),
    [("mean", 9 / 5, 5 / 4), ("mean_active", 9 / 3, 5 / 2), ("sum", 9.0, 5.0)],
)
def test_each_reducer_on_a_hand_made_vector(name: str, whole: float, selected: float) -> None:
    reducer = REDUCERS.get(name)()
    losses = torch.tensor([0.0, 2.0, 0.0, 4.0, 3.0], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([True, True, True, False, True])
    assert reducer(losses).item() == pytest.approx(whole)
    assert reducer(losses, mask).item() == pytest.approx(selected)
    # The same selection as a grid: the mask may have any shape, as long as it is the losses'.
    grid = torch.stack([losses, losses])
    assert reducer(grid, torch.stack([mask, torch.zeros_like(mask)])).item() == pytest.approx(selected)
    for empty in (reducer(losses[:0]), reducer(losses, torch.zeros_like(mask))):
        assert empty.item() == 0.0 and empty.requires_grad  # a batch without pairs still steps
    with pytest.raises(ValueError, match="bool tensor shaped like the losses"):
        reducer(losses, mask[:3])


def former_masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask, values, 0.0).sum() / mask.sum().clamp_min(1).to(values.dtype)


def former_value(name: str, u: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The losses' formulas as they were written before miners and reducers were components."""
    similar, dissimilar = pair_masks(labels)
    if name == "contrastive":
        squared = pairwise_squared_distances(u)
        distances = squared.clamp_min(1e-12).sqrt()
        per_pair = torch.where(similar, 0.5 * squared, 0.5 * (math.sqrt(32) - distances).relu().square())
        return former_masked_mean(per_pair, similar | dissimilar)
    if name == "dpsh":
        theta = 0.5 * (u @ u.T)
        likelihood = former_masked_mean(
            log1p_exp(theta) - similar.to(theta.dtype) * theta, similar | dissimilar
        )
        signs = torch.where(u >= 0, 1.0, -1.0).to(u.dtype)
        return likelihood + 0.1 * (u - signs).square().mean()
    if name == "hashnet":
        theta = (10 / 16) * (u @ u.T)
        per_pair = log1p_exp(theta) - similar.to(theta.dtype) * theta
        kinds = (similar.any().to(u.dtype) + dissimilar.any().to(u.dtype)).clamp_min(1.0)
        return (former_masked_mean(per_pair, similar) + former_masked_mean(per_pair, dissimilar)) / kinds
    distances = pairwise_squared_distances(u)
    selection = valid_triplet_mask(labels)
    hinge = torch.where(selection, (4.0 + distances[:, :, None] - distances[:, None, :]).relu(), 0.0)
    count = (hinge > 0 if reduction == "mean_active" else selection).sum().to(hinge.dtype)
    return hinge.sum() / count.clamp_min(1.0)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("contrastive", {}),
        ("dpsh", {}),
        ("hashnet", {}),
        ("triplet_ranking", {"margin": 4.0}),
        ("triplet_ranking", {"margin": 4.0, "miner": None}),
        ("triplet_ranking", {"margin": 4.0, "reduction": "mean_active"}),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_without_a_miner_every_loss_gives_exactly_its_former_value(name: str, params, dtype) -> None:
    embeddings, labels = random_codes(8, batch=12, classes=3)
    codes = embeddings.to(dtype).requires_grad_()
    reference = codes.detach().clone().requires_grad_()
    value = make_loss(name, **params)(codes, labels)
    expected = former_value(name, reference, labels, params.get("reduction", "mean"))
    assert torch.equal(value, expected)  # bit for bit, not approximately
    value.backward()
    expected.backward()
    assert torch.equal(codes.grad, reference.grad)


def test_a_reduction_by_name_or_as_a_section_is_the_same_reducer() -> None:
    embeddings, labels = random_codes(9, batch=10, classes=3)
    by_name = make_loss("triplet_ranking", margin=6.0, reduction="mean_active")(embeddings, labels)
    by_section = make_loss("triplet_ranking", margin=6.0, reduction={"name": "mean_active"})(
        embeddings, labels
    )
    assert torch.equal(by_name, by_section)
    data = tiny_config_dict()
    data["loss"] = {"name": "triplet_ranking", "reduction": {"name": "mean-active"}}
    assert config_from_dict(data).loss.terms[0].params["reduction"] == "mean_active"


def test_pair_losses_reduce_their_per_pair_losses_with_the_configured_reducer() -> None:
    embeddings, labels = random_codes(2, batch=9, classes=3)
    pairs = 9 * 8
    mean = make_loss("contrastive", margin=3.0)(embeddings, labels)
    total = make_loss("contrastive", margin=3.0, reduction="sum")(embeddings, labels)
    assert total.item() == pytest.approx(mean.item() * pairs, rel=1e-12)
    x, y = embeddings.tolist(), labels.tolist()
    terms = []
    for i, j in ordered_pairs(9):
        distance = math.sqrt(sum((a - b) ** 2 for a, b in zip(x[i], x[j], strict=True)))
        terms.append(0.5 * distance**2 if y[i] == y[j] else 0.5 * max(0.0, 3.0 - distance) ** 2)
    active = make_loss("contrastive", margin=3.0, reduction="mean_active")(embeddings, labels)
    assert active.item() == pytest.approx(sum(terms) / sum(1 for v in terms if v > 0), rel=1e-9)
    # HashNet reduces each kind of pair, then averages the kinds (its class balance).
    similar, dissimilar = pair_masks(labels)
    assert similar.any() and dissimilar.any()
    summed = make_loss("hashnet", step_factor=0.0, reduction="sum")(embeddings, labels)
    theta = (10 / 16) * (embeddings @ embeddings.T)
    per_pair = log1p_exp(theta) - similar.double() * theta
    expected = (per_pair[similar].sum() + per_pair[dissimilar].sum()) / 2
    assert summed.item() == pytest.approx(expected.item(), rel=1e-12)


# -- every registered loss ---------------------------------------------------------------------


def build_registered_loss(name: str, *, bits: int = 16, num_classes: int = 4) -> torch.nn.Module:
    return build(
        LOSSES, ComponentSpec(name), section="loss", bits=bits, num_classes=num_classes, frame_dim=None
    )


# The losses of a batch's codes and labels; the self-supervised objectives, losses of the model
# and its inputs, have their own contract (tests/test_self_supervised.py).
CODE_LOSSES = [name for name in LOSSES.names() if LOSSES.entry(name).metadata.get("labels", True)]


@pytest.mark.parametrize("name", CODE_LOSSES)
@pytest.mark.parametrize(
    "labels",
    [[0, 0, 1, 1, 2, 2, 3, 3], [2, 2, 2, 2], [1]],
    ids=["balanced", "one-class", "single-clip"],
)
def test_every_loss_gives_a_finite_scalar_and_finite_gradients(name: str, labels: list[int]) -> None:
    torch.manual_seed(0)
    loss = build_registered_loss(name)
    embeddings = torch.tanh(torch.randn(len(labels), 16)).requires_grad_()
    value = loss(embeddings, torch.tensor(labels))
    assert value.ndim == 0 and value.dtype == torch.float32 and torch.isfinite(value)
    value.backward()
    assert embeddings.grad is not None and torch.isfinite(embeddings.grad).all()


@pytest.mark.parametrize("name", CODE_LOSSES)
def test_every_loss_is_deterministic_and_rejects_mismatched_shapes(name: str) -> None:
    embeddings, labels = random_codes(4, batch=8, classes=4)
    first = build_registered_loss(name)(embeddings, labels)
    second = build_registered_loss(name)(embeddings.clone(), labels.clone())
    assert torch.equal(first, second)
    with pytest.raises(ValueError, match="expected embeddings"):
        build_registered_loss(name)(embeddings, labels[:-1])


@pytest.mark.parametrize("name", CODE_LOSSES)
def test_every_loss_accepts_bf16_codes(name: str) -> None:
    embeddings, labels = random_codes(5, batch=8, classes=4)
    value = build_registered_loss(name)(embeddings.to(torch.bfloat16), labels)
    assert value.dtype == torch.float32 and torch.isfinite(value)


@pytest.mark.parametrize("name", CODE_LOSSES)
def test_every_loss_can_decrease_by_gradient_descent(name: str) -> None:
    # A few steps on free codes must lower each objective: catches sign errors that the formula
    # checks would share with a wrong reference.
    torch.manual_seed(0)
    logits = torch.randn(8, 16, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    loss = build_registered_loss(name)
    optimizer = torch.optim.SGD([logits], lr=0.5)
    values = []
    for _ in range(20):
        value = loss(torch.tanh(logits), labels)
        values.append(value.item())
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    assert values[-1] < values[0]


# -- the HashingLoss contract: the batch is checked once, in the base class ---------------------

BUILTIN_LOSSES = [name for name in CODE_LOSSES if LOSSES.entry(name).origin == BUILTIN_ORIGIN]

MALFORMED_BATCHES = {
    "fewer-labels": (torch.zeros(8, 16), torch.zeros(7, dtype=torch.long)),
    "1d-embeddings": (torch.zeros(16), torch.zeros(16, dtype=torch.long)),
    "2d-labels": (torch.zeros(8, 16), torch.zeros(8, 1, dtype=torch.long)),
    "float-labels": (torch.zeros(8, 16), torch.zeros(8)),
    "bool-labels": (torch.zeros(8, 16), torch.zeros(8, dtype=torch.bool)),
}


@pytest.fixture
def recorded_computes(monkeypatch) -> list[tuple[torch.dtype, tuple[int, ...], torch.dtype]]:
    """Every call of any HashingLoss subclass's compute, as (embedding dtype, shape, label dtype)."""
    calls = []
    for cls in {type(build_registered_loss(name)) for name in BUILTIN_LOSSES}:
        original = cls.compute

        def recording(self, embeddings, labels, original=original):
            calls.append((embeddings.dtype, tuple(embeddings.shape), labels.dtype))
            return original(self, embeddings, labels)

        monkeypatch.setattr(cls, "compute", recording)
    return calls


@pytest.mark.parametrize("name", BUILTIN_LOSSES)
@pytest.mark.parametrize("batch", MALFORMED_BATCHES.values(), ids=MALFORMED_BATCHES.keys())
def test_every_loss_rejects_a_malformed_batch_before_compute(name: str, batch, recorded_computes) -> None:
    loss = build_registered_loss(name)
    assert isinstance(loss, HashingLoss)
    with pytest.raises(ValueError, match=rf"{type(loss).__name__} expected (embeddings|integer labels)"):
        loss(*batch)
    assert recorded_computes == []


@pytest.mark.parametrize("name", BUILTIN_LOSSES)
@pytest.mark.parametrize(
    ("given", "seen"),
    [(torch.bfloat16, torch.float32), (torch.float16, torch.float32), (torch.float64, torch.float64)],
)
def test_every_loss_computes_in_full_precision_on_int64_labels(
    name: str, given, seen, recorded_computes
) -> None:
    embeddings, labels = random_codes(6, batch=8, classes=4)
    build_registered_loss(name)(embeddings.to(given), labels.int())
    assert recorded_computes == [(seen, (8, 16), torch.int64)]


@pytest.mark.parametrize("name", ["classification", "csq"])
def test_losses_built_for_num_classes_reject_labels_out_of_range(name: str) -> None:
    loss = build_registered_loss(name, bits=16, num_classes=4)
    assert (loss.bits, loss.num_classes) == (16, 4)
    embeddings = torch.zeros(2, 16)
    for labels in ([0, 4], [-1, 3]):
        expected = f"{type(loss).__name__} was built for labels 0..3, got labels in {labels}"
        with pytest.raises(ValueError, match=re.escape(expected)):
            loss(embeddings, torch.tensor(labels))
    with pytest.raises(ValueError, match="built for 16 bits, got embeddings of 32"):
        loss(torch.zeros(2, 32), torch.tensor([0, 1]))
    assert loss(embeddings, torch.tensor([0, 3])).ndim == 0  # the bounds themselves are fine


def test_a_loss_without_compute_cannot_be_built() -> None:
    class Unfinished(HashingLoss):
        pass

    with pytest.raises(TypeError, match="compute"):
        Unfinished()


def test_synthetic_loss_configs_load() -> None:
    paths = sorted((REPO_ROOT / "configs").glob("synthetic_*_32bit.yaml"))
    names = set()
    for path in paths:
        config = load_config(path)
        assert config.model.head.params["bits"] == 32, path
        names |= {term.name for term in config.loss.terms}
    assert {"triplet_ranking", "contrastive", "dpsh", "csq", "hashnet"} <= names


@pytest.mark.slow
def test_a_weighted_two_term_loss_trains_one_step_through_the_runner(tmp_path) -> None:
    data = tiny_config_dict(epochs=1, max_steps_per_epoch=1)
    data["loss"] = {
        "terms": [{"name": "triplet_ranking", "margin": 4.0}, {"name": "quantization", "weight": 0.1}]
    }
    config = config_from_dict(data)
    seen = []
    original = WeightedLossSum.forward

    def recording_forward(self, embeddings, labels, **inputs):
        value = original(self, embeddings, labels, **inputs)
        seen.append(dict(self.last_values))
        expected = self.last_values["triplet_ranking"] + 0.1 * self.last_values["quantization"]
        assert value.item() == pytest.approx(expected, rel=1e-5)
        return value

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WeightedLossSum, "forward", recording_forward)
        Runner(config, tmp_path / "run").fit()
    assert len(seen) == 1 and set(seen[0]) == {"triplet_ranking", "quantization"}
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert record["steps"] == 1 and math.isfinite(record["loss"])


def test_hashnet_of_a_single_class_batch_and_with_a_miner_matches_brute_force() -> None:
    """The class balance divides by the kinds of pairs present: one kind (a single-class batch,
    or a miner that kept only negatives) is not halved."""
    embeddings, labels = random_codes(5, classes=3)
    one_class = torch.zeros_like(labels)
    loss = make_loss("hashnet", bits=16, step_factor=0.0)
    assert loss(embeddings, one_class).item() == pytest.approx(
        brute_force_hashnet(embeddings, one_class, alpha=10 / 16, beta=1.0), rel=1e-9
    )
    x, y = embeddings.tolist(), labels.tolist()
    kinds_of_pairs = []
    for miner in ({"name": "pair_margin", "pos_margin": 8.0, "neg_margin": 40.0},
                  {"name": "pair_margin", "pos_margin": 1000.0, "neg_margin": 40.0}):  # fmt: skip
        mined = make_loss("hashnet", bits=16, step_factor=0.0, miner=miner)
        d = [
            [sum((a - b) ** 2 for a, b in zip(x[i], x[j], strict=True)) for j in range(len(y))]
            for i in range(len(y))
        ]
        theta = [[10 / 16 * dot(x[i], x[j]) for j in range(len(y))] for i in range(len(y))]
        pairs = ordered_pairs(len(y))
        similar = [math.log1p(math.exp(theta[i][j])) - theta[i][j]
                   for i, j in pairs if y[i] == y[j] and d[i][j] > miner["pos_margin"]]  # fmt: skip
        dissimilar = [math.log1p(math.exp(theta[i][j]))
                      for i, j in pairs if y[i] != y[j] and d[i][j] < miner["neg_margin"]]  # fmt: skip
        assert dissimilar
        terms = [sum(group) / len(group) for group in (similar, dissimilar) if group]
        kinds_of_pairs.append(len(terms))
        assert mined(embeddings, labels).item() == pytest.approx(sum(terms) / len(terms), rel=1e-9)
    assert kinds_of_pairs == [2, 1]  # both kinds mined, then negatives only


# Edges that mutation testing (make mutation) found untested: losses and miners.


def test_pair_masks_and_miners_follow_the_labels_device_not_torchs_default():
    """Masks built beside the labels, as on a GPU run with CPU defaults; the meta device stands in
    for another device here."""
    labels = torch.tensor([0, 0, 1, 1])
    embeddings = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.2, 0.8]])
    with torch.device("meta"):
        similar, dissimilar = pair_masks(labels)
        hard = BatchHardMiner()(embeddings, labels)
        semihard = SemiHardMiner(margin=1.0)(embeddings, labels)
    assert similar.device.type == "cpu" and similar.tolist() == [
        [False, True, False, False],
        [True, False, False, False],
        [False, False, False, True],
        [False, False, True, False],
    ]
    assert dissimilar.tolist() == [[a != b for b in [0, 0, 1, 1]] for a in [0, 0, 1, 1]]
    assert hard.anchors.tolist() == [0, 1, 2, 3] and hard.positives.tolist() == [1, 0, 3, 2]
    assert semihard.anchors.tolist() == [1, 3]


def fixed_pairs(positives: list[tuple[int, int]], negatives: list[tuple[int, int]]):
    """A miner (any callable) that always selects these pairs."""

    def index(pairs: list[tuple[int, int]], k: int) -> torch.Tensor:
        return torch.tensor([pair[k] for pair in pairs], dtype=torch.int64)

    def miner(embeddings, labels):
        return Pairs(index(positives, 0), index(positives, 1), index(negatives, 0), index(negatives, 1))

    return miner


U = torch.tensor([[0.5, -0.25], [0.75, 0.5], [-0.5, 0.25]], dtype=torch.float64)
LABELS = torch.tensor([0, 0, 1])


def pair_term(theta: float, similar: bool) -> float:
    return math.log1p(math.exp(theta)) - (theta if similar else 0.0)


def test_hashnet_with_a_miner_averages_the_kinds_of_pairs_it_selected():
    theta = (10 / 2 * (U @ U.T)).tolist()  # alpha = 10 / bits
    one_each = HashNetLoss(alpha=5.0, miner=fixed_pairs([(0, 1)], [(2, 1)]))(U, LABELS)
    assert one_each.item() == pytest.approx(
        (pair_term(theta[0][1], True) + pair_term(theta[2][1], False)) / 2
    )
    only_similar = HashNetLoss(alpha=5.0, miner=fixed_pairs([(0, 1), (1, 0)], []))(U, LABELS)
    assert only_similar.item() == pytest.approx(pair_term(theta[0][1], True))


def test_dpsh_with_a_miner_subtracts_theta_on_its_similar_pairs():
    theta = (0.5 * (U @ U.T)).tolist()
    loss = DPSHLoss(eta=0.0, miner=fixed_pairs([(0, 1)], [(2, 1)]))(U, LABELS)
    assert loss.item() == pytest.approx((pair_term(theta[0][1], True) + pair_term(theta[2][1], False)) / 2)


def test_dpsh_keeps_float32_codes_in_float32_when_torchs_default_dtype_is_float64():
    u = torch.tensor([[0.5, -0.25], [0.75, 0.5], [-0.5, 0.25]])
    labels = torch.tensor([0, 0, 1])
    expected = DPSHLoss(eta=0.5)(u, labels)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        loss = DPSHLoss(eta=0.5)(u, labels)
    finally:
        torch.set_default_dtype(previous)
    assert loss.dtype == torch.float32 and loss.item() == expected.item()


def test_mean_active_divides_by_the_one_active_element_and_keeps_the_losses_dtype():
    reducer = MeanActiveReducer()
    assert reducer(torch.tensor([0.0, 0.75, 0.0])).item() == 0.75
    for dtype in (torch.float16, torch.bfloat16):
        value = reducer(torch.tensor([0.5, 0.0, 1.0], dtype=dtype))
        assert value.dtype == dtype and value.item() == 0.75


class _Scheduled(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, int]] = []

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        self.calls.append((epoch, epochs))


def test_weighted_loss_sum_forwards_the_epoch_and_the_number_of_epochs():
    term = _Scheduled()
    WeightedLossSum([("scheduled", 1.0, term)]).on_epoch_start(2, 10)
    assert term.calls == [(2, 10)]


# Edges that mutation testing (make mutation) found untested: the losses' constructors and defaults,
# CSQ's centres, the squared distances and the checks on what a miner returns.


def raises_exactly(error: type[Exception], message: str):
    """``pytest.raises`` matching the whole one-line message, not a part of it."""
    return pytest.raises(error, match=exact_message(message))


def index(*values: int) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64)


# -- constructor checks and their messages ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "build", "allow_zero"),
    [
        ("classification scale", lambda v: ClassificationLoss(bits=4, num_classes=2, scale=v), False),
        ("contrastive margin", lambda v: ContrastiveLoss(margin=v), False),
        ("csq quantization_weight", lambda v: CSQLoss(bits=4, num_classes=2, quantization_weight=v), True),
        ("dpsh eta", lambda v: DPSHLoss(eta=v), True),
        ("hashnet alpha", lambda v: HashNetLoss(alpha=v), False),
        ("hashnet beta_initial", lambda v: HashNetLoss(alpha=1.0, beta_initial=v), False),
        ("hashnet step_factor", lambda v: HashNetLoss(alpha=1.0, step_factor=v), True),
        ("triplet_ranking margin", lambda v: TripletRankingLoss(margin=v), False),
    ],
)
def test_each_numeric_loss_argument_is_checked_with_its_own_name(name: str, build, allow_zero: bool):
    bound = ">=" if allow_zero else ">"
    with raises_exactly(ValueError, f"{name} must be a finite number {bound} 0, got -1.0"):
        build(-1.0)
    if allow_zero:
        build(0.0)  # a weight of 0 switches its term off
    else:
        with raises_exactly(ValueError, f"{name} must be a finite number > 0, got 0.0"):
            build(0.0)


@pytest.mark.parametrize(
    ("loss", "build"),
    [
        ("contrastive", lambda **kw: ContrastiveLoss(margin=1.0, **kw)),
        ("dpsh", lambda **kw: DPSHLoss(**kw)),
        ("hashnet", lambda **kw: HashNetLoss(alpha=1.0, **kw)),
        ("triplet_ranking", lambda **kw: TripletRankingLoss(margin=1.0, **kw)),
    ],
)
@pytest.mark.parametrize("kind", ["miner", "reducer"])
def test_a_miner_or_reducer_given_by_name_is_refused_naming_the_loss_and_the_kind(
    loss: str, build, kind: str
):
    message = (
        f"{loss}'s {kind} must be a built {kind} or None, got 'all'; vrt builds it from the config's "
        f"{kind} section (vrt.components.build)"
    )
    with raises_exactly(TypeError, message):
        build(**{kind: "all"})


@pytest.mark.parametrize("num_classes", [1, 0, 2.0, True])
def test_classification_needs_an_integer_number_of_at_least_two_classes(num_classes):
    with raises_exactly(ValueError, f"classification needs num_classes >= 2, got {num_classes!r}"):
        ClassificationLoss(bits=4, num_classes=num_classes)
    assert ClassificationLoss(bits=4, num_classes=2).classifier.out_features == 2


@pytest.mark.parametrize("label_smoothing", [-0.1, 1.0, 1.5])
def test_classification_label_smoothing_must_lie_in_the_half_open_unit_interval(label_smoothing: float):
    message = f"classification label_smoothing must lie in [0, 1), got {label_smoothing!r}"
    with raises_exactly(ValueError, message):
        ClassificationLoss(bits=4, num_classes=2, label_smoothing=label_smoothing)


@pytest.mark.parametrize("num_classes", [0, -1, 2.0, True])
def test_csq_needs_an_integer_number_of_classes_and_one_class_is_enough(num_classes):
    with raises_exactly(ValueError, f"csq needs num_classes >= 1, got {num_classes!r}"):
        CSQLoss(bits=4, num_classes=num_classes)
    assert CSQLoss(bits=4, num_classes=1).centres.tolist() == [[1.0, 1.0, 1.0, 1.0]]  # H's first row


def test_csq_refuses_an_unknown_centre_kind_and_too_many_hadamard_centres():
    with raises_exactly(ValueError, "csq centres must be auto, hadamard or bernoulli, got 'spiral'"):
        CSQLoss(bits=4, num_classes=2, centres="spiral")  # type: ignore[arg-type]
    message = (
        "Hadamard centres need bits a power of two and num_classes <= 2 * bits, got bits=16, "
        "num_classes=33; use centres: bernoulli"
    )
    with raises_exactly(ValueError, message):
        hadamard_centres(33, 16)
    assert hadamard_centres(32, 16).shape == (32, 16)  # every row of H and of -H


# -- defaults, seen through the values they produce ---------------------------------------------


def cross_entropy_by_hand(logits: list[list[float]], labels: list[int], smoothing: float) -> float:
    """Mean over samples of ``(1 - e) * -log p_y + e * mean_k(-log p_k)`` (PyTorch's label smoothing)."""
    total = 0.0
    for row, label in zip(logits, labels, strict=True):
        log_norm = math.log(sum(math.exp(v) for v in row))
        nll = [log_norm - v for v in row]
        total += (1 - smoothing) * nll[label] + smoothing * sum(nll) / len(row)
    return total / len(labels)


def logits_by_hand(loss: ClassificationLoss, codes: torch.Tensor, scale: float) -> list[list[float]]:
    weight, bias = loss.classifier.weight.tolist(), loss.classifier.bias.tolist()
    return [
        [
            scale * sum(w * u for w, u in zip(w_row, row, strict=True)) + b
            for w_row, b in zip(weight, bias, strict=True)
        ]
        for row in codes.tolist()
    ]


CODES = torch.tensor([[0.5, -0.25, 0.75, -1.0], [-0.5, 0.5, 0.25, 0.0], [0.9, 0.1, -0.3, 0.6]])
CODE_LABELS = torch.tensor([0, 2, 1])


def test_classification_defaults_are_plain_cross_entropy_of_the_unscaled_codes():
    loss = ClassificationLoss(bits=4, num_classes=3)
    assert (loss.label_smoothing, loss.scale) == (0.0, 1.0)
    expected = cross_entropy_by_hand(logits_by_hand(loss, CODES, 1.0), CODE_LABELS.tolist(), 0.0)
    assert loss(CODES, CODE_LABELS).item() == pytest.approx(expected, rel=1e-6)


def test_classification_scales_the_codes_and_smooths_the_labels():
    loss = ClassificationLoss(bits=4, num_classes=3, label_smoothing=0.3, scale=2.5)
    expected = cross_entropy_by_hand(logits_by_hand(loss, CODES, 2.5), CODE_LABELS.tolist(), 0.3)
    assert loss(CODES, CODE_LABELS).item() == pytest.approx(expected, rel=1e-6)


def test_classification_classifier_starts_as_nn_linear_would_from_seed_zero():
    """Weights then bias, each uniform in +-1/sqrt(bits), drawn from a generator seeded 0 by default."""
    bits, classes = 4, 3
    bound = 1 / math.sqrt(bits)
    generator = torch.Generator().manual_seed(0)
    weight = torch.empty(classes, bits).uniform_(-bound, bound, generator=generator)
    bias = torch.empty(classes).uniform_(-bound, bound, generator=generator)
    classifier = ClassificationLoss(bits=bits, num_classes=classes).classifier
    assert torch.equal(classifier.weight.detach(), weight) and torch.equal(classifier.bias.detach(), bias)
    assert classifier.weight.abs().max() <= bound and classifier.bias.abs().max() <= bound
    assert classifier.weight.min() < 0 < classifier.weight.max()


def test_the_registered_classification_loss_passes_its_seed_on():
    """The builder took ``seed`` and dropped it: every seed started the classifier from seed 0."""
    from vrt.losses.classification import classification

    built = [classification(bits=4, num_classes=3, seed=seed).classifier.weight for seed in (0, 0, 1)]
    assert torch.equal(built[0], built[1]) and not torch.equal(built[0], built[2])
    assert torch.equal(built[2], ClassificationLoss(bits=4, num_classes=3, seed=1).classifier.weight)


def test_csq_defaults_are_hadamard_centres_seed_zero_and_a_small_quantization_weight():
    embeddings, labels = random_codes(0, batch=6, bits=16, classes=4)
    loss = CSQLoss(bits=16, num_classes=4)
    assert torch.equal(loss.centres, hadamard_matrix(16)[:4])
    assert loss(embeddings, labels).item() == pytest.approx(
        brute_force_csq(embeddings, labels, loss.centres, 1e-4), rel=1e-9
    )
    bernoulli = CSQLoss(bits=48, num_classes=4).centres  # 48 bits: no Hadamard matrix
    assert torch.equal(bernoulli, bernoulli_centres(4, 48, seed=0))
    assert not torch.equal(bernoulli, bernoulli_centres(4, 48, seed=1))


def test_contrastive_without_a_reducer_averages_every_ordered_pair():
    embeddings, labels = random_codes(1, batch=6, bits=8)
    assert ContrastiveLoss(margin=2.0)(embeddings, labels).item() == pytest.approx(
        brute_force_contrastive(embeddings, labels, 2.0), rel=1e-9
    )


def test_dpsh_defaults_to_eta_one_tenth_and_honours_a_given_reducer():
    embeddings, labels = random_codes(2, batch=6, bits=8)
    assert DPSHLoss()(embeddings, labels).item() == pytest.approx(
        brute_force_dpsh(embeddings, labels, 0.1), rel=1e-9
    )
    theta = (0.5 * (U @ U.T)).tolist()
    y = LABELS.tolist()
    total = sum(pair_term(theta[i][j], y[i] == y[j]) for i, j in ordered_pairs(3))
    assert DPSHLoss(eta=0.0, reducer=SumReducer())(U, LABELS).item() == pytest.approx(total, rel=1e-12)


def test_hashnet_step_factor_defaults_to_one_half():
    loss = HashNetLoss(alpha=1.0)
    loss.on_epoch_start(2, 10)
    assert loss.beta == pytest.approx(math.sqrt(1 + 0.5 * 2))


# -- CSQ's centres ------------------------------------------------------------------------------


def test_is_power_of_two_matches_the_powers_of_two():
    assert [n for n in range(-4, 70) if is_power_of_two(n)] == [1, 2, 4, 8, 16, 32, 64]
    assert hadamard_matrix(1).tolist() == [[1.0]]
    with raises_exactly(ValueError, "a Sylvester Hadamard matrix needs a power-of-two size, got 0"):
        hadamard_matrix(0)


def best_of_seeded_draws(num_classes: int, bits: int, seed: int) -> torch.Tensor:
    """Reference: the documented rule, the first of the seeded fair-coin draws whose closest two
    centres are farthest apart (Hamming distance counted bit by bit)."""
    generator = torch.Generator().manual_seed(seed)
    draws = [
        torch.randint(0, 2, (num_classes, bits), generator=generator).float() * 2 - 1
        for _ in range(_BERNOULLI_DRAWS)
    ]

    def closest(centres: torch.Tensor) -> int:
        rows = centres.tolist()
        return min(
            (
                sum(a != b for a, b in zip(rows[i], rows[j], strict=True))
                for i, j in itertools.combinations(range(len(rows)), 2)
            ),
            default=bits,
        )

    spreads = [closest(draw) for draw in draws]
    return draws[spreads.index(max(spreads))]


@pytest.mark.parametrize(
    ("num_classes", "bits", "seed"),
    # (20, 4): more classes than 4-bit codes, so every draw has two equal centres (spread 0).
    [(2, 8, 0), (3, 8, 0), (3, 6, 1), (5, 12, 2), (4, 5, 3), (20, 4, 0)],
)
def test_bernoulli_centres_are_the_first_draw_with_the_largest_minimum_distance(num_classes, bits, seed):
    assert torch.equal(
        bernoulli_centres(num_classes, bits, seed=seed), best_of_seeded_draws(num_classes, bits, seed)
    )


# -- full precision on a device without autocast -----------------------------------------------


def test_squared_distances_and_csq_run_on_a_device_type_without_autocast():
    """The meta device stands in for a backend where torch.autocast is unavailable."""
    assert not torch.amp.is_autocast_available("meta")
    distances = pairwise_squared_distances(torch.zeros(3, 2, device="meta"))
    assert distances.device.type == "meta" and distances.shape == (3, 3)
    loss = CSQLoss(bits=4, num_classes=2).to("meta")
    value = loss.compute(torch.zeros(2, 4, device="meta"), torch.tensor([0, 1], device="meta"))
    assert value.device.type == "meta" and value.shape == ()


def test_squared_distances_upcast_half_and_integer_codes_and_refuse_other_shapes():
    x = torch.tensor([[1.0, -1.0, 0.5], [0.25, 1.0, -1.0]])
    d01 = 0.75**2 + 2.0**2 + 1.5**2
    expected = torch.tensor([[0.0, d01], [d01, 0.0]])
    for dtype in (torch.bfloat16, torch.float16):
        distances = pairwise_squared_distances(x.to(dtype))  # these values are exact in half precision
        assert distances.dtype == torch.float32 and torch.equal(distances, expected)
    counts = pairwise_squared_distances(torch.tensor([[0, 1], [3, 1]]))
    assert counts.dtype == torch.float32 and counts.tolist() == [[0.0, 9.0], [9.0, 0.0]]
    with raises_exactly(ValueError, "expected embeddings of shape (B, D), got (3,)"):
        pairwise_squared_distances(torch.zeros(3))


# -- miners: the valid-triplet mask and what a miner may return -----------------------------------


def test_valid_triplet_mask_follows_the_labels_device_and_refuses_other_shapes():
    labels = torch.tensor([0, 0, 1])
    with torch.device("meta"):  # stands in for a GPU run whose default device is another one
        mask = valid_triplet_mask(labels)
    y = labels.tolist()
    expected = [
        [[a != p and y[a] == y[p] and y[n] != y[a] for n in range(3)] for p in range(3)] for a in range(3)
    ]
    assert mask.device.type == "cpu" and mask.tolist() == expected
    with raises_exactly(ValueError, "labels must have shape (B,), got (2, 2)"):
        valid_triplet_mask(torch.zeros(2, 2, dtype=torch.int64))


@pytest.mark.parametrize(
    ("output", "got"),
    [
        ("triplets", "str"),
        ([index(0), index(1), index(2)], "list"),  # only a tuple is read as pytorch-metric-learning's
        ((index(0), index(1), index(2), index(0), index(1)), "tuple"),
        (None, "NoneType"),
    ],
)
def test_a_miner_result_of_another_type_is_refused_naming_that_type(output, got: str):
    message = f"a miner must return Triplets, Pairs or a bool mask of shape (3, 3, 3), got {got}"
    with raises_exactly(ValueError, message):
        as_selection(output, 3)


def test_a_miner_result_needs_one_dimensional_indices_of_equal_lengths_per_pair_side():
    with raises_exactly(
        ValueError, "a miner's anchors must be a 1-d integer index tensor, got tensor([[0]])"
    ):
        as_selection(Triplets(torch.tensor([[0]]), index(1), index(2)), 3)
    with raises_exactly(ValueError, "a miner returned Triplets of unequal lengths"):
        as_selection(Triplets(index(0, 1), index(1, 0), index(2)), 3)  # only the negatives are short
    with raises_exactly(ValueError, "a miner returned Pairs of unequal lengths"):
        as_selection(Pairs(index(0), index(1), index(0, 1), index(2)), 3)  # only the negative side
    # Each side of Pairs may have its own length.
    assert isinstance(as_selection(Pairs(index(0), index(1), index(0, 1), index(2, 2)), 3), Pairs)


def test_triplet_ranking_turns_a_miners_pairs_into_the_triplets_sharing_an_anchor():
    # Positive pairs (0, 1), (1, 0) and negative pairs (0, 2), (1, 2): triplets (0, 1, 2), (1, 0, 2).
    loss = TripletRankingLoss(margin=1.0, miner=fixed_pairs([(0, 1), (1, 0)], [(0, 2), (1, 2)]))
    d01, d02, d12 = 0.25**2 + 0.75**2, 1.0**2 + 0.5**2, 1.25**2 + 0.25**2  # from U's rows
    expected = (max(0.0, 1 + d01 - d02) + max(0.0, 1 + d01 - d12)) / 2
    assert loss(U, LABELS).item() == pytest.approx(expected, rel=1e-12)
