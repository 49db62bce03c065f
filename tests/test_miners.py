"""Miners against python-loop references, their edge cases, the pair/triplet conversions, and
their use by every pair and triplet loss (built by the construction layer, never by the loss)."""

from __future__ import annotations

import inspect
import itertools
from typing import Any

import pytest
import torch

from vrt.components import build
from vrt.config import config_from_dict, config_to_dict, load_config
from vrt.config.schema import ComponentSpec
from vrt.losses import TripletRankingLoss
from vrt.losses.combined import build_loss
from vrt.losses.miners import (
    AllTripletsMiner,
    BatchHardMiner,
    Miner,
    Pairs,
    SemiHardMiner,
    Triplets,
    as_selection,
    convert_to_pairs,
    convert_to_triplets,
    valid_triplet_mask,
)
from vrt.registry import BUILTIN_ORIGIN, LOSSES, MINERS, Entry

from .conftest import REPO_ROOT, make_loss, tiny_config_dict

# The losses that take a miner: every pair and triplet loss.
PAIR_AND_TRIPLET_LOSSES = ["triplet_ranking", "contrastive", "dpsh", "hashnet"]

# Values for the miners' required parameters, by name (squared distances of 16-bit codes).
MINER_TEST_VALUES: dict[str, Any] = {"margin": 4.0, "pos_margin": 2.0, "neg_margin": 40.0}


def miner_section(name: str) -> dict[str, Any]:
    """``{name, ...}`` with every required parameter of the miner set, so any loss can take it."""
    parameters = inspect.signature(MINERS.get(name)).parameters.values()
    required = [p.name for p in parameters if p.default is inspect.Parameter.empty]
    return {"name": name, **{key: MINER_TEST_VALUES[key] for key in required}}


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
    section = miner_section(name)
    return build(MINERS, ComponentSpec(section.pop("name"), section), section="loss.miner")


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
    value = make_loss("triplet_ranking", margin=margin, miner=name, reduction=reduction)(embeddings, labels)
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
    loss = make_loss("triplet_ranking", margin=6.0, miner=name)(embeddings, labels)
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
    loss = make_loss("triplet_ranking", miner=name)(embeddings, torch.zeros(4, dtype=torch.long))
    assert loss.item() == 0.0
    loss.backward()
    assert embeddings.grad is not None and torch.count_nonzero(embeddings.grad) == 0


def test_the_loss_margin_reaches_miners_that_take_one_unless_their_section_sets_it() -> None:
    loss = make_loss("triplet_ranking", margin=3.5, miner="semihard")
    assert isinstance(loss, TripletRankingLoss) and loss.miner.margin == 3.5
    assert make_loss("triplet_ranking", miner="semihard").miner.margin == 14.0  # the loss's default
    explicit = make_loss("triplet_ranking", margin=3.5, miner={"name": "semihard", "margin": 9.0})
    assert (explicit.margin, explicit.miner.margin) == (3.5, 9.0)


def test_a_miner_gets_the_loss_values_only_for_the_parameters_it_names(monkeypatch) -> None:
    received = []

    def catch_all(**kwargs):
        received.append(kwargs)
        return MINERS.get("all")()

    entry = Entry(name="catch_all_test", builder=catch_all, origin="test", description="")
    monkeypatch.setitem(MINERS._entries, entry.name, entry)  # removed again after the test
    make_loss("triplet_ranking", margin=2.0, miner="catch_all_test")
    make_loss("triplet_ranking", margin=2.0, miner={"name": "catch_all_test", "margin": 5.0})
    assert received == [{}, {"margin": 5.0}]
    make_loss("triplet_ranking", margin=2.0, miner="batch_hard")  # takes no margin: not passed


def test_the_construction_layer_builds_the_miner_once_and_the_loss_gets_that_object(monkeypatch) -> None:
    built = []

    def counting_batch_hard() -> torch.nn.Module:
        built.append(BatchHardMiner())
        return built[-1]

    entry = Entry(name="batch_hard", builder=counting_batch_hard, origin="test", description="")
    monkeypatch.setitem(MINERS._entries, "batch_hard", entry)
    data = tiny_config_dict()
    data["loss"] = {"name": "triplet_ranking", "margin": 4.0, "miner": "batch_hard"}
    (term,) = build_loss(config_from_dict(data).loss, bits=16, num_classes=4).terms
    assert len(built) == 1 and term.miner is built[0]


def test_a_loss_builder_called_with_a_miner_name_refuses_it() -> None:
    # Names are the config's business: the construction layer builds them, the loss never does.
    with pytest.raises(TypeError, match="must be a built miner"):
        LOSSES.get("triplet_ranking")(miner="batch_hard", reduction=None)
    with pytest.raises(LookupError, match="unknown miner 'al'.*Did you mean 'all'"):
        make_loss("triplet_ranking", miner="al")


@pytest.mark.parametrize(
    ("miner", "expected"),
    [("all", AllTripletsMiner), ("batch_hard", BatchHardMiner), ("semihard", SemiHardMiner)],
)
def test_config_selects_a_miner_by_name(miner: str, expected: type) -> None:
    data = tiny_config_dict()
    data["loss"] = {"name": "triplet_ranking", "margin": 4.0, "miner": miner}
    (term,) = build_loss(config_from_dict(data).loss, bits=16, num_classes=4).terms
    assert isinstance(term.miner, expected)


def test_an_existing_config_naming_batch_hard_builds_the_same_miner_and_resolves_unchanged() -> None:
    config = load_config(REPO_ROOT / "configs" / "synthetic_triplet_batch_hard_32bit.yaml")
    assert config_to_dict(config)["loss"]["miner"] == "batch_hard"
    (term,) = build_loss(config.loss, bits=32, num_classes=4).terms
    assert type(term.miner) is BatchHardMiner and term.margin == 8.0


# -- every miner with every pair and triplet loss -------------------------------------------------

BUILTIN_MINER_SECTIONS = [miner_section(name) for name in BUILTIN_MINERS]


@pytest.mark.parametrize("loss", PAIR_AND_TRIPLET_LOSSES)
@pytest.mark.parametrize("miner", BUILTIN_MINER_SECTIONS, ids=BUILTIN_MINERS)
def test_every_miner_works_with_every_pair_and_triplet_loss(loss: str, miner: dict[str, Any]) -> None:
    data = tiny_config_dict()
    data["loss"] = {"name": loss, "miner": miner}
    (term,) = build_loss(config_from_dict(data).loss, bits=16, num_classes=4).terms
    assert term.miner is not None
    embeddings, labels = random_batch(5, batch=12, bits=16, classes=3)
    codes = embeddings.float().requires_grad_()
    value = term(codes, labels)
    assert value.ndim == 0 and torch.isfinite(value)
    value.backward()
    assert codes.grad is not None and torch.isfinite(codes.grad).all()
    # A single-class batch has no negatives: 0 (or the loss's pair-free terms), never NaN.
    single = term(codes[:4].detach().requires_grad_(), torch.zeros(4, dtype=torch.long))
    assert torch.isfinite(single)


# -- conversions between triplets and pairs, as pytorch-metric-learning defines them --------------


def index(*values: int) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.long)


def as_lists(selection: tuple[torch.Tensor, ...]) -> list[list[int]]:
    return [t.tolist() for t in selection]


def test_triplets_become_their_positive_and_negative_pairs() -> None:
    # PML's convert_to_pairs: (a, p, n) -> (a, p, a, n), a pair once per triplet that holds it.
    triplets = Triplets(index(0, 0, 1), index(1, 1, 0), index(2, 3, 2))
    pairs = convert_to_pairs(triplets)
    assert isinstance(pairs, Pairs)
    assert as_lists(pairs) == [[0, 0, 1], [1, 1, 0], [0, 0, 1], [2, 3, 2]]
    assert convert_to_pairs(pairs) is pairs


def test_a_triplet_mask_becomes_pairs_in_index_order() -> None:
    mask = valid_triplet_mask(torch.tensor([0, 0, 1]))  # triplets (0, 1, 2) and (1, 0, 2)
    assert as_lists(convert_to_pairs(mask)) == [[0, 1], [1, 0], [0, 1], [2, 2]]
    assert as_lists(convert_to_triplets(mask)) == [[0, 1], [1, 0], [2, 2]]


def test_pairs_sharing_an_anchor_become_triplets() -> None:
    # PML's convert_to_triplets: every (positive pair, negative pair) with the same anchor, in the
    # order of the positive pairs, then of the negative pairs.
    pairs = Pairs(index(0, 0, 2), index(1, 4, 3), index(0, 2, 1, 0), index(3, 0, 2, 5))
    triplets = convert_to_triplets(pairs)
    assert isinstance(triplets, Triplets)
    assert as_lists(triplets) == [[0, 0, 0, 0, 2], [1, 1, 4, 4, 3], [3, 5, 3, 5, 0]]
    assert convert_to_triplets(triplets) is triplets
    lonely = Pairs(index(0), index(1), index(2), index(3))  # anchors 0 and 2 share nothing
    assert all(t.numel() == 0 for t in convert_to_triplets(lonely))


def test_one_triplet_per_anchor_survives_the_round_trip() -> None:
    embeddings, labels = random_batch(3, batch=12, classes=3)
    triplets = MINERS.get("batch_hard")()(embeddings, labels)
    assert as_lists(convert_to_triplets(convert_to_pairs(triplets))) == as_lists(triplets)


def test_miner_results_are_checked_and_plain_tuples_read_as_pml_does() -> None:
    assert isinstance(as_selection((index(0), index(1), index(2)), 3), Triplets)
    assert isinstance(as_selection((index(0), index(1), index(0), index(2)), 3), Pairs)
    with pytest.raises(ValueError, match="bool mask of shape"):
        as_selection(torch.ones(3, 3, dtype=torch.bool), 3)
    with pytest.raises(ValueError, match="unequal lengths"):
        as_selection(Triplets(index(0, 1), index(1), index(2)), 3)
    with pytest.raises(ValueError, match="integer index tensor"):
        as_selection(Pairs(index(0), torch.tensor([1.0]), index(0), index(2)), 3)


# -- the miners with parameters of their own -------------------------------------------------------


@pytest.mark.parametrize("kind", ["all", "hard", "semihard", "easy"])
@pytest.mark.parametrize("seed", range(3))
def test_triplet_margin_miner_matches_brute_force(seed: int, kind: str) -> None:
    embeddings, labels = random_batch(seed)
    margin = 4.0
    mask = MINERS.get("triplet_margin")(margin=margin, type_of_triplets=kind)(embeddings, labels)
    x, y = embeddings.tolist(), labels.tolist()
    expected = set()
    for a, p, n in itertools.product(range(len(y)), repeat=3):
        if a == p or y[a] != y[p] or y[n] == y[a]:
            continue
        gap = squared(x, a, n) - squared(x, a, p)
        keep = {"all": gap <= margin, "hard": gap <= 0, "semihard": 0 < gap <= margin, "easy": gap > margin}
        if keep[kind]:
            expected.add((a, p, n))
    assert mask.dtype == torch.bool and set(map(tuple, mask.nonzero().tolist())) == expected


def test_triplet_margin_miner_refuses_an_unknown_type() -> None:
    with pytest.raises(ValueError, match="type_of_triplets"):
        MINERS.get("triplet_margin")(margin=1.0, type_of_triplets="medium")


@pytest.mark.parametrize("seed", range(3))
def test_pair_margin_miner_matches_brute_force(seed: int) -> None:
    embeddings, labels = random_batch(seed)
    pairs = MINERS.get("pair_margin")(pos_margin=20.0, neg_margin=30.0)(embeddings, labels)
    x, y = embeddings.tolist(), labels.tolist()
    ordered = [(i, j) for i, j in itertools.permutations(range(len(y)), 2)]
    positives = [(i, j) for i, j in ordered if y[i] == y[j] and squared(x, i, j) > 20.0]
    negatives = [(i, j) for i, j in ordered if y[i] != y[j] and squared(x, i, j) < 30.0]
    assert isinstance(pairs, Pairs)
    assert list(zip(*as_lists(pairs[:2]), strict=True)) == positives
    assert list(zip(*as_lists(pairs[2:]), strict=True)) == negatives


def test_a_pair_loss_with_a_miner_matches_brute_force_over_the_mined_pairs() -> None:
    embeddings, labels = random_batch(4)
    miner = {"name": "pair_margin", "pos_margin": 20.0, "neg_margin": 30.0}
    value = make_loss("contrastive", margin=5.0, miner=miner)(embeddings, labels)
    pairs = MINERS.get("pair_margin")(pos_margin=20.0, neg_margin=30.0)(embeddings, labels)
    x = embeddings.tolist()
    terms = [0.5 * squared(x, a, p) for a, p in zip(*as_lists(pairs[:2]), strict=True)]
    terms += [
        0.5 * max(0.0, 5.0 - squared(x, a, n) ** 0.5) ** 2 for a, n in zip(*as_lists(pairs[2:]), strict=True)
    ]
    assert value.item() == pytest.approx(sum(terms) / len(terms), rel=1e-9)


def test_pair_margin_miner_leaves_pairs_exactly_at_a_margin_and_checks_its_margins() -> None:
    """A positive exactly at pos_margin is close enough, a negative exactly at neg_margin far enough."""
    embeddings = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0], [4.0, 0.0]])  # squared: 4, 9, 16
    labels = torch.tensor([0, 0, 1, 1])
    pairs = MINERS.get("pair_margin")(pos_margin=4.0, neg_margin=9.0)(embeddings, labels)
    assert as_lists(pairs[:2]) == [[2, 3], [3, 2]]  # d(0,1) = 4 is not above 4; d(2,3) = 25 is
    assert as_lists(pairs[2:]) == [[1, 3], [3, 1]]  # d(0,2) = 9 is not below 9; d(1,3) = 4 is
    assert MINERS.get("pair_margin")(pos_margin=0, neg_margin=1.0).pos_margin == 0.0  # zero allowed
    with pytest.raises(
        ValueError, match=r"^pair_margin miner pos_margin must be a finite number >= 0, got -1$"
    ):
        MINERS.get("pair_margin")(pos_margin=-1, neg_margin=1.0)
    with pytest.raises(
        ValueError, match=r"^pair_margin miner neg_margin must be a finite number > 0, got 0$"
    ):
        MINERS.get("pair_margin")(pos_margin=1.0, neg_margin=0)


@pytest.mark.parametrize("kind", ["all", "hard", "semihard", "easy", None])
def test_triplet_margin_miner_on_gaps_exactly_at_zero_and_at_the_margin(kind: str | None) -> None:
    """Integer points, so that gaps hit 0 and the margin exactly: each side of each bound is tested."""
    points = torch.tensor([[0.0], [1.0], [-1.0], [2.0], [0.0], [3.0]])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    margin = 3.0
    options = {} if kind is None else {"type_of_triplets": kind}  # None: the default, "all"
    mask = MINERS.get("triplet_margin")(margin=margin, **options)(points, labels)
    x, y = points.tolist(), labels.tolist()
    gaps, expected = set(), set()
    for a, p, n in itertools.product(range(len(y)), repeat=3):
        if a == p or y[a] != y[p] or y[n] == y[a]:
            continue
        gap = squared(x, a, n) - squared(x, a, p)
        gaps.add(gap)
        keep = {"all": gap <= margin, "hard": gap <= 0, "semihard": 0 < gap <= margin, "easy": gap > margin}
        if keep[kind or "all"]:
            expected.add((a, p, n))
    assert {0.0, margin} <= gaps
    assert set(map(tuple, mask.nonzero().tolist())) == expected
    with pytest.raises(ValueError, match=r"^triplet_margin miner margin must be a finite number > 0, got 0$"):
        MINERS.get("triplet_margin")(margin=0)


def test_batch_hard_skips_an_anchor_without_a_positive() -> None:
    """A class of one video gives no triplet; the anchors of the other classes still do."""
    points = torch.tensor([[0.0], [1.0], [5.0], [7.0], [20.0]])
    labels = torch.tensor([0, 0, 1, 1, 2])  # video 4 is alone in its class
    anchors, positives, negatives = as_lists(MINERS.get("batch_hard")()(points, labels))
    assert anchors == [0, 1, 2, 3]
    assert positives == [1, 0, 3, 2] and negatives == [
        2,
        2,
        1,
        1,
    ]  # the farthest positive, the nearest negative


def binary_batch(seed: int, batch: int = 12, bits: int = 8, classes: int = 3):
    """Saturated codes (every value ±1), as trained hash codes are: squared distances are
    multiples of 4, so distances tie and meet a margin of 8 exactly, all the time."""
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 2, (batch, bits), generator=generator).double() * 2 - 1
    return codes, torch.randint(0, classes, (batch,), generator=generator)


@pytest.mark.parametrize("seed", range(3))
def test_miners_on_saturated_codes_where_distances_tie_and_meet_the_margin(seed: int) -> None:
    """Before, the miners were tested on random floats only, where no distance equals another or
    a margin: a flipped < or <= went unnoticed."""
    codes, labels = binary_batch(seed)
    margin = 8.0
    x, y = codes.tolist(), labels.tolist()
    gaps = {
        squared(x, a, n) - squared(x, a, p)
        for a, p, n in itertools.permutations(range(len(y)), 3)
        if y[a] == y[p] and y[n] != y[a]
    }
    assert {0.0, margin} <= gaps  # the bounds are met exactly
    assert as_set(MINERS.get("semihard")(margin=margin)(codes, labels)) == brute_force_semihard(
        codes, labels, margin
    )
    assert as_set(MINERS.get("batch_hard")()(codes, labels)) == brute_force_batch_hard(codes, labels)


def test_the_triplet_margin_miner_takes_every_triplet_within_the_margin_by_default() -> None:
    from vrt.losses.miners.triplet_margin import TripletMarginMiner

    assert TripletMarginMiner(margin=1.0).type_of_triplets == "all"
    with pytest.raises(ValueError, match=r"^semihard miner margin must be a finite number > 0, got -1$"):
        MINERS.get("semihard")(margin=-1)
