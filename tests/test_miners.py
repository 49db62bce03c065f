"""Triplet miners against python-loop references, their edge cases, and their use by triplet_ranking."""

from __future__ import annotations

import itertools

import pytest
import torch

from vrt.components import build
from vrt.config import config_from_dict
from vrt.config.schema import ComponentSpec
from vrt.losses import TripletRankingLoss
from vrt.losses.combined import build_loss
from vrt.losses.miners import AllTripletsMiner, BatchHardMiner, Miner, SemiHardMiner, Triplets
from vrt.registry import BUILTIN_ORIGIN, LOSSES, MINERS, Entry

from .conftest import tiny_config_dict


def squared(x: list[list[float]], i: int, j: int) -> float:
    return sum((a - b) ** 2 for a, b in zip(x[i], x[j], strict=True))


def brute_force_batch_hard(embeddings: torch.Tensor, labels: torch.Tensor) -> set[tuple[int, int, int]]:
    x, y = embeddings.double().tolist(), labels.tolist()
    triplets = set()
    for a in range(len(y)):
        positives = [p for p in range(len(y)) if p != a and y[p] == y[a]]
        negatives = [n for n in range(len(y)) if y[n] != y[a]]
        if positives and negatives:
            # max()/min() return the first extreme element: ties go to the lowest index.
            p = max(positives, key=lambda j: squared(x, a, j))
            n = min(negatives, key=lambda j: squared(x, a, j))
            triplets.add((a, p, n))
    return triplets


def brute_force_semihard(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float
) -> set[tuple[int, int, int]]:
    x, y = embeddings.double().tolist(), labels.tolist()
    triplets = set()
    for a, p in itertools.permutations(range(len(y)), 2):
        if y[a] != y[p]:
            continue
        d_ap = squared(x, a, p)
        negatives = [n for n in range(len(y)) if y[n] != y[a]]
        semi_hard = [n for n in negatives if d_ap < squared(x, a, n) < d_ap + margin]
        hard = [n for n in negatives if squared(x, a, n) <= d_ap]
        if semi_hard:
            triplets.add((a, p, min(semi_hard, key=lambda n: squared(x, a, n))))
        elif hard:
            triplets.add((a, p, max(hard, key=lambda n: squared(x, a, n))))
    return triplets


def as_set(triplets: Triplets) -> set[tuple[int, int, int]]:
    assert all(t.dtype == torch.int64 and t.ndim == 1 for t in triplets)
    assert len(triplets.anchors) == len(triplets.positives) == len(triplets.negatives)
    found = set(zip(*(t.tolist() for t in triplets), strict=True))
    assert len(found) == len(triplets.anchors)  # no duplicates
    return found


def random_batch(seed: int, batch: int = 12, bits: int = 16, classes: int = 3):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.tanh(2 * torch.randn(batch, bits, generator=generator, dtype=torch.float64))
    labels = torch.randint(0, classes, (batch,), generator=generator)
    return embeddings, labels


@pytest.mark.parametrize("seed", range(5))
def test_batch_hard_matches_brute_force(seed: int) -> None:
    embeddings, labels = random_batch(seed)
    assert as_set(MINERS.get("batch_hard")()(embeddings, labels)) == brute_force_batch_hard(
        embeddings, labels
    )


@pytest.mark.parametrize("margin", [0.5, 4.0, 12.0])
@pytest.mark.parametrize("seed", range(4))
def test_semihard_matches_brute_force(seed: int, margin: float) -> None:
    embeddings, labels = random_batch(seed)
    mined = as_set(MINERS.get("semihard")(margin=margin)(embeddings, labels))
    assert mined == brute_force_semihard(embeddings, labels, margin)


def test_semihard_covers_all_three_cases() -> None:
    # Anchor 0, positive 1 at squared distance 1; negatives at squared distances 0.25, 2.25 and 16.
    embeddings = torch.tensor([[0.0], [1.0], [0.5], [1.5], [4.0]])
    labels = torch.tensor([0, 0, 1, 1, 1])
    miner = MINERS.get("semihard")(margin=2.0)
    mined = as_set(miner(embeddings, labels))
    assert (0, 1, 3) in mined  # semi-hard: 1 < 2.25 < 1 + 2
    # With a smaller margin nothing is semi-hard for (0, 1): the mildest hard negative is taken.
    assert (0, 1, 2) in as_set(MINERS.get("semihard")(margin=1.0)(embeddings, labels))
    # Pair (1, 0): d_ap = 1, negatives at 0.25, 0.25 and 9. None is semi-hard; the two hard ones
    # tie as the farthest hard negative, and the lower index wins.
    assert (1, 0, 2) in mined
    # A pair whose every negative lies beyond d_ap + margin gives no triplet.
    far = torch.tensor([[0.0], [0.1], [10.0]])
    assert as_set(miner(far, torch.tensor([0, 0, 1]))) == set()


@pytest.mark.parametrize("name", ["batch_hard", "semihard"])
@pytest.mark.parametrize(
    "labels", [[0, 0, 0, 0], [0, 1, 2, 3], [7]], ids=["one-class", "all-singletons", "single-clip"]
)
def test_no_valid_triplet_gives_empty_indices(name: str, labels: list[int]) -> None:
    miner = MINERS.get(name)(margin=1.0) if name == "semihard" else MINERS.get(name)()
    triplets = miner(torch.randn(len(labels), 8), torch.tensor(labels))
    assert isinstance(triplets, Triplets) and all(t.numel() == 0 for t in triplets)


@pytest.mark.parametrize("name", ["batch_hard", "semihard"])
def test_mined_triplets_are_valid_and_deterministic(name: str) -> None:
    embeddings, labels = random_batch(7, batch=16, classes=4)
    miner = MINERS.get(name)(margin=3.0) if name == "semihard" else MINERS.get(name)()
    first, second = miner(embeddings, labels), miner(embeddings.clone(), labels.clone())
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    for a, p, n in as_set(first):
        assert a != p and labels[a] == labels[p] and labels[n] != labels[a]


def test_semihard_triplets_all_violate_the_margin() -> None:
    embeddings, labels = random_batch(3, batch=16, classes=4)
    margin = 3.0
    for a, p, n in as_set(MINERS.get("semihard")(margin=margin)(embeddings, labels)):
        hinge = margin + squared(embeddings.tolist(), a, p) - squared(embeddings.tolist(), a, n)
        assert hinge > 0


@pytest.mark.parametrize("name", ["batch_hard", "semihard"])
def test_miners_reject_mismatched_shapes(name: str) -> None:
    miner = MINERS.get(name)(margin=1.0) if name == "semihard" else MINERS.get(name)()
    with pytest.raises(ValueError, match="embeddings"):
        miner(torch.randn(4, 8), torch.tensor([0, 1, 0]))


@pytest.mark.parametrize("margin", [0.0, -2.0, float("nan")])
def test_semihard_margin_must_be_positive(margin: float) -> None:
    with pytest.raises(ValueError, match="margin"):
        MINERS.get("semihard")(margin=margin)


# -- the Miner contract: the batch is checked once, in the base class ---------------------------

BUILTIN_MINERS = [name for name in MINERS.names() if MINERS.entry(name).origin == BUILTIN_ORIGIN]


def build_miner(name: str) -> Miner:
    return build(MINERS, ComponentSpec(name), section="loss.miner", margin=1.0)


@pytest.mark.parametrize("name", BUILTIN_MINERS)
@pytest.mark.parametrize(
    ("embeddings", "labels"),
    [
        (torch.zeros(4, 8), torch.zeros(3, dtype=torch.long)),
        (torch.zeros(8), torch.zeros(8, dtype=torch.long)),
        (torch.zeros(4, 8), torch.zeros(4, 1, dtype=torch.long)),
    ],
    ids=["fewer-labels", "1d-embeddings", "2d-labels"],
)
def test_every_miner_rejects_a_malformed_batch_before_mine(
    name: str, embeddings, labels, monkeypatch
) -> None:
    miner = build_miner(name)
    assert isinstance(miner, Miner)
    mined = []
    monkeypatch.setattr(type(miner), "mine", lambda self, emb, lab: mined.append(emb))
    with pytest.raises(ValueError, match="a miner expects embeddings"):
        miner(embeddings, labels)
    assert mined == []


class RecordingMiner(Miner):
    """Every valid triplet, remembering what it was handed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[torch.dtype, bool]] = []

    def mine(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.seen.append((embeddings.dtype, embeddings.requires_grad))
        return AllTripletsMiner().mine(embeddings, labels)


def test_a_miner_subclass_gets_detached_float32_codes_from_triplet_ranking() -> None:
    embeddings, labels = random_batch(1, batch=8, classes=3)
    miner = RecordingMiner()
    codes = embeddings.to(torch.bfloat16).requires_grad_()
    value = TripletRankingLoss(4.0, miner)(codes, labels)
    assert miner.seen == [(torch.float32, False)]
    expected = TripletRankingLoss(4.0, AllTripletsMiner())(codes.detach().float(), labels)
    torch.testing.assert_close(value, expected)


def test_a_miner_without_mine_cannot_be_built() -> None:
    class Unfinished(Miner):
        pass

    with pytest.raises(TypeError, match="mine"):
        Unfinished()


# -- through triplet_ranking ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reference"),
    [("batch_hard", lambda e, y, m: brute_force_batch_hard(e, y)), ("semihard", brute_force_semihard)],
)
@pytest.mark.parametrize("reduction", ["mean", "mean_active"])
def test_triplet_loss_with_miner_matches_brute_force(name: str, reference, reduction: str) -> None:
    embeddings, labels = random_batch(11, batch=12, classes=3)
    margin = 4.0
    value = LOSSES.get("triplet_ranking")(margin=margin, miner=name, reduction=reduction)(embeddings, labels)
    x = embeddings.tolist()
    hinges = [
        max(0.0, margin + squared(x, a, p) - squared(x, a, n))
        for a, p, n in reference(embeddings, labels, margin)
    ]
    if reduction == "mean_active":
        hinges = [h for h in hinges if h > 0]
    assert value.item() == pytest.approx(sum(hinges) / max(len(hinges), 1), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", ["batch_hard", "semihard"])
def test_mined_triplet_loss_has_finite_gradients(name: str) -> None:
    embeddings, labels = random_batch(2, batch=12, classes=3)
    embeddings = embeddings.float().requires_grad_()
    loss = LOSSES.get("triplet_ranking")(margin=6.0, miner=name)(embeddings, labels)
    loss.backward()
    assert loss.item() > 0
    assert (
        embeddings.grad is not None
        and torch.isfinite(embeddings.grad).all()
        and embeddings.grad.abs().sum() > 0
    )


@pytest.mark.parametrize("name", ["batch_hard", "semihard"])
def test_mined_loss_of_a_single_class_batch_is_zero_with_grad(name: str) -> None:
    embeddings = torch.randn(4, 8, requires_grad=True)
    loss = LOSSES.get("triplet_ranking")(miner=name)(embeddings, torch.zeros(4, dtype=torch.long))
    assert loss.item() == 0.0
    loss.backward()
    assert embeddings.grad is not None and torch.count_nonzero(embeddings.grad) == 0


def test_the_loss_margin_reaches_miners_that_take_one() -> None:
    loss = LOSSES.get("triplet_ranking")(margin=3.5, miner="semihard")
    assert isinstance(loss, TripletRankingLoss) and loss.miner.margin == 3.5


def test_miners_with_keyword_catch_all_get_the_margin_and_others_do_not(monkeypatch) -> None:
    received = {}

    def catch_all(**kwargs):
        received.update(kwargs)
        return MINERS.get("all")()

    entry = Entry(name="catch_all_test", builder=catch_all, origin="test", description="")
    monkeypatch.setitem(MINERS._entries, entry.name, entry)  # removed again after the test
    LOSSES.get("triplet_ranking")(margin=2.0, miner="catch_all_test")
    assert received == {"margin": 2.0}
    LOSSES.get("triplet_ranking")(margin=2.0, miner="batch_hard")  # takes no margin: not passed


@pytest.mark.parametrize(
    ("miner", "expected"),
    [("all", AllTripletsMiner), ("batch_hard", BatchHardMiner), ("semihard", SemiHardMiner)],
)
def test_config_selects_a_miner_by_name(miner: str, expected: type) -> None:
    data = tiny_config_dict()
    data["loss"] = {"name": "triplet_ranking", "margin": 4.0, "miner": miner}
    (term,) = build_loss(config_from_dict(data).loss, bits=16, num_classes=4).terms
    assert isinstance(term.miner, expected)
