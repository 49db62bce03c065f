from __future__ import annotations

import itertools

import pytest
import torch

from vrt.losses import TripletRankingLoss, pairwise_squared_distances
from vrt.losses.miners import Triplets, valid_triplet_mask
from vrt.registry import LOSSES, MINERS


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
    loss = LOSSES.get("triplet_ranking")(margin=margin, reduction=reduction)

    value = loss(embeddings, labels)

    expected = brute_force_triplet_loss(embeddings, labels, margin, reduction)
    assert value.item() == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_mean_and_mean_active_differ_when_some_triplets_are_satisfied() -> None:
    # Two tight, far-apart clusters: every triplet satisfied except those of the one outlier.
    embeddings = torch.tensor([[1.0, 1.0], [1.0, 0.9], [-1.0, -1.0], [-1.0, -0.9], [-0.9, -1.0]])
    labels = torch.tensor([0, 0, 1, 1, 0])
    mean = LOSSES.get("triplet_ranking")(margin=1.0, reduction="mean")(embeddings, labels)
    active = LOSSES.get("triplet_ranking")(margin=1.0, reduction="mean_active")(embeddings, labels)
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
    loss = LOSSES.get("triplet_ranking")(reduction=reduction)(embeddings, torch.tensor(labels))
    assert loss.item() == 0.0
    assert loss.requires_grad
    loss.backward()
    assert embeddings.grad is not None and torch.count_nonzero(embeddings.grad) == 0


def test_mean_active_is_zero_when_every_triplet_is_satisfied() -> None:
    embeddings = torch.tensor([[1.0, 1.0], [1.0, 1.0], [-1.0, -1.0]], requires_grad=True)
    loss = LOSSES.get("triplet_ranking")(margin=1.0, reduction="mean_active")(
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
        dense = TripletRankingLoss(5.0, MINERS.get("all")(), reduction)(embeddings, labels)
        sparse = TripletRankingLoss(5.0, index_miner, reduction)(embeddings, labels)
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
        LOSSES.get("triplet_ranking")(margin=margin)


def test_bad_reduction_and_unknown_miner_are_rejected() -> None:
    with pytest.raises(ValueError, match="reduction"):
        LOSSES.get("triplet_ranking")(reduction="sum")  # type: ignore[arg-type]
    with pytest.raises(LookupError, match="unknown miner 'al'.*Did you mean 'all'"):
        LOSSES.get("triplet_ranking")(miner="al")


def test_shape_errors_are_clear() -> None:
    loss = LOSSES.get("triplet_ranking")()
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
    value = LOSSES.get("triplet_ranking")(margin=8.0)(embeddings, labels)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(
        brute_force_triplet_loss(embeddings.float(), labels, 8.0, "mean"), rel=1e-5
    )
