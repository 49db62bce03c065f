"""Distributed training on CPU with gloo: sharded batches, cross-rank loss gradients, torchrun runs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import yaml

from vrt.data.batching import ClassBalancedBatchSampler, ShardedBatchSampler, ShuffledBatchSampler

from .conftest import REPO_ROOT, tiny_config_dict

LABELS = [c for c in range(5) for _ in range(9)]


def shares(make_sampler, world_size: int, epoch: int) -> list[list[list[int]]]:
    result = []
    for rank in range(world_size):
        sampler = ShardedBatchSampler(make_sampler(), rank=rank, world_size=world_size)
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler) == sampler.batches_per_epoch
        result.append(batches)
    return result


@pytest.mark.parametrize(
    "make_sampler",
    [
        lambda: ClassBalancedBatchSampler(LABELS, classes_per_batch=3, videos_per_class=2, seed=4),
        lambda: ShuffledBatchSampler(45, batch_size=4, seed=4),
    ],
    ids=["class_balanced", "shuffled"],
)
@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_shards_are_disjoint_cover_the_epoch_and_have_equal_lengths(make_sampler, world_size):
    whole = make_sampler()
    whole.set_epoch(2)
    epoch_batches = list(whole)
    per_rank = shares(make_sampler, world_size, epoch=2)
    assert len({len(batches) for batches in per_rank}) == 1  # no rank waits for another
    dealt = [tuple(batch) for batches in per_rank for batch in batches]
    assert set(dealt) == {tuple(batch) for batch in epoch_batches}  # every batch of the epoch
    # Disjoint: a batch goes to two ranks only as padding, which repeats the epoch's first batches.
    padding = len(dealt) - len(epoch_batches)
    assert 0 <= padding < world_size
    repeated = Counter(dealt) - Counter(tuple(b) for b in epoch_batches)
    assert sorted(repeated.elements()) == sorted(tuple(b) for b in epoch_batches[:padding])
    if len(epoch_batches) % world_size == 0:
        ranks_of = [set(i for b in batches for i in b) for batches in per_rank]
        assert all(not (a & b) for n, a in enumerate(ranks_of) for b in ranks_of[n + 1 :])


def test_skip_resumes_a_share_part_way_and_epochs_differ():
    def make():
        return ClassBalancedBatchSampler(LABELS, classes_per_batch=3, videos_per_class=2, seed=4)

    full = shares(make, 2, epoch=1)[1]
    sampler = ShardedBatchSampler(make(), rank=1, world_size=2)
    sampler.set_epoch(1, skip=3)
    assert list(sampler) == full[3:] and len(sampler) == len(full) - 3
    assert shares(make, 2, epoch=0)[1] != full
    with pytest.raises(ValueError, match="skip"):
        sampler.set_epoch(1, skip=len(full) + 1)
    with pytest.raises(ValueError, match="rank"):
        ShardedBatchSampler(make(), rank=2, world_size=2)


# -- gradients of the cross-rank loss, in real gloo processes -----------------------------------


def _cross_rank_worker(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    from vrt.losses.combined import WeightedLossSum
    from vrt.losses.triplet_ranking import TripletRankingLoss
    from vrt.runtime import distributed
    from vrt.training.loop import TrainingStep

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 2 * 2 * 2, 8), torch.nn.Tanh())
        clips, labels = _cross_rank_batch()
        mine = slice(0, 5) if rank == 0 else slice(5, 12)  # unequal shares, like batches with skips
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: keep the weights, read the grads
        step = TrainingStep(
            model=torch.nn.parallel.DistributedDataParallel(model),
            loss_fn=WeightedLossSum([("triplet_ranking", 1.0, TripletRankingLoss(margin=2.0))]),
            optimizer=optimizer,
            parameters=list(model.parameters()),
            device=torch.device("cpu"),
            cross_rank=True,
        )
        from vrt.data.collate import ClipBatch

        loss_sum, count = step(ClipBatch(clips[mine], labels[mine], torch.arange(12)[mine], []))
        torch.save(
            {
                "grads": [p.grad for p in model.parameters()],
                "loss": loss_sum / count,
                "world": distributed.world_size(),
            },
            os.path.join(out_dir, f"rank{rank}.pt"),
        )
    finally:
        dist.destroy_process_group()


def _cross_rank_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(12, 3, 2, 2, 2, generator=generator), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])


@pytest.mark.slow
def test_cross_rank_loss_gives_the_gradient_of_one_process_holding_every_batch(tmp_path):
    from vrt.losses.triplet_ranking import TripletRankingLoss

    mp.spawn(_cross_rank_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 2 * 2 * 2, 8), torch.nn.Tanh())
    clips, labels = _cross_rank_batch()
    loss = TripletRankingLoss(margin=2.0)(model(clips), labels)
    loss.backward()
    for rank in range(2):
        result = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert result["world"] == 2
        assert result["loss"] == pytest.approx(loss.item(), rel=1e-5)
        for got, expected in zip(result["grads"], (p.grad for p in model.parameters()), strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


# -- a real torchrun run --------------------------------------------------------------------------


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "vrt", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.mark.slow
def test_torchrun_trains_and_exports_the_codes_one_process_exports(tmp_path):
    from vrt.codes import load_codes
    from vrt.inference import TrainedModel

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict(epochs=2)))
    run_dir = tmp_path / "run"
    trained = _torchrun(["train", str(config), "--output", str(run_dir)], tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "x 2 processes" in trained.stderr
    assert trained.stdout.count("Test queries vs training database") == 1  # rank 0 alone prints
    assert trained.stderr.count("epoch 2/2") == 1
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "best.pt",
        "codes_test.npz",
        "codes_train.npz",
        "config.yaml",
        "curves.png",
        "last.pt",
        "metrics.jsonl",
        "previous.pt",
        "results.json",
        "tensorboard",
        "train.log",
        "vrt-run.json",
    ]  # one set, written by rank 0 alone (run.lock went when the run ended)
    assert [
        r["epoch"] for r in map(yaml.safe_load, (run_dir / "metrics.jsonl").read_text().splitlines())
    ] == [1, 2]
    state = torch.load(run_dir / "last.pt", weights_only=True)
    assert state["world_size"] == 2

    exported = _torchrun(
        ["export", "--checkpoint", str(run_dir / "best.pt"), "--split", "train", "--out", "codes.npz"],
        tmp_path,
    )
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert exported.stderr.count("Wrote 32 codes") == 1
    distributed_codes = load_codes(tmp_path / "codes.npz")

    trained = TrainedModel.load(run_dir / "best.pt")
    single = trained.encode(trained.splits.view("train"))
    assert list(distributed_codes.ids) == list(single.ids)  # dataset order, not rank order
    np.testing.assert_array_equal(distributed_codes.codes, single.codes)
    np.testing.assert_array_equal(distributed_codes.labels, single.labels)
