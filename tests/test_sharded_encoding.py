"""Encoding past one process: torchrun ranks and separate jobs each write a shard, and the merged
file equals one process's codes file; a killed shard resumes; shards that do not make a whole are
refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from vrt.cli import app
from vrt.codes import CodeSet, load_codes
from vrt.inference.shards import (
    Shard,
    ShardError,
    merge_shards,
    own_shard,
    read_listing_record,
    shard_path,
    write_listing_codes,
)

from .conftest import REPO_ROOT, run_torch_free
from .video_collection import assert_same_codes, encode_args, interrupt_when_written, run_encode

cli = CliRunner()
WINDOWS = ("--segment", "0.2")  # 6 windows of each of the 7 clips: 42 items


def invoke(*args: str) -> str:
    result = cli.invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result.stderr


@pytest.fixture(scope="module")
def whole(footage, encoder_checkpoint, tmp_path_factory):
    """One process's codes file of the footage's windows: what every sharded run must equal."""
    out = tmp_path_factory.mktemp("whole") / "codes.npz"
    invoke(*encode_args(encoder_checkpoint, footage, out, *WINDOWS, "--workers", "0"))
    return out


def test_blocks_cover_the_listing_once_in_order():
    for count in (0, 1, 5, 42):
        for world in (1, 2, 3, 7):
            bounds = [Shard(rank, world).bounds(count) for rank in range(world)]
            assert bounds[0][0] == 0 and bounds[-1][1] == count
            assert all(stop == start for (_, stop), (start, _) in zip(bounds, bounds[1:], strict=False))
    assert Shard.parse("1/4") == Shard(1, 4)
    assert shard_path("out/codes.npz", Shard(1, 4)).as_posix() == "out/codes.shard-1-of-4.npz"
    for text in ("4/4", "-1/2", "1", "a/b"):
        with pytest.raises(ShardError, match="shard"):
            Shard.parse(text)
    assert own_shard(None, rank=1, world=2) == Shard(1, 2) and own_shard(None, rank=0, world=1) is None
    assert own_shard(Shard(2, 3), rank=0, world=1) == Shard(2, 3)
    with pytest.raises(ShardError, match="under torchrun each rank takes its own"):
        own_shard(Shard(0, 2), rank=0, world=2)


def _shard_file(path, ids, *, rank, world, complete=True, record=None):
    codes = CodeSet.from_bits(np.zeros((len(ids), 8), dtype=bool), labels=[-1] * len(ids), ids=ids)
    write_listing_codes(
        path, codes, {"labels": "none", **(record or {}), "shard": [rank, world], "complete": complete}
    )
    return path


@pytest.mark.filterwarnings("ignore:.*record no model")
def test_shards_that_do_not_make_a_whole_are_refused(tmp_path):
    first = _shard_file(tmp_path / "a.npz", ["a", "b"], rank=0, world=2)
    second = _shard_file(tmp_path / "b.npz", ["c"], rank=1, world=2)
    merged = merge_shards([second, first], tmp_path / "merged.npz")  # any order: rank order is kept
    assert merged.ids.tolist() == ["a", "b", "c"]
    assert read_listing_record(tmp_path / "merged.npz") == {"labels": "none", "complete": True}
    with pytest.raises(ShardError, match="each once; given: 0/2"):
        merge_shards([first], tmp_path / "x.npz")
    with pytest.raises(ShardError, match="each once; given: 0/2, 0/2"):
        merge_shards([first, first], tmp_path / "x.npz")
    unfinished = _shard_file(tmp_path / "c.npz", ["c"], rank=1, world=2, complete=False)
    with pytest.raises(ShardError, match="c.npz is not finished: run the same command with --resume"):
        merge_shards([first, unfinished], tmp_path / "x.npz")
    other = _shard_file(tmp_path / "d.npz", ["c"], rank=1, world=2, record={"segment": 2.0})
    with pytest.raises(ShardError, match="listed with other options"):
        merge_shards([first, other], tmp_path / "x.npz")
    with pytest.raises(ShardError, match="not a shard"):
        merge_shards([first, tmp_path / "merged.npz"], tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def test_codes_merge_needs_no_torch(tmp_path):
    _shard_file(tmp_path / "a.npz", ["a"], rank=0, world=2)
    _shard_file(tmp_path / "b.npz", ["b"], rank=1, world=2)
    done = run_torch_free(
        "from vrt.cli import main\nimport sys\n"
        f"sys.argv = ['vrt', 'codes', 'merge', {str(tmp_path / 'a.npz')!r}, {str(tmp_path / 'b.npz')!r}, "
        f"'--out', {str(tmp_path / 'm.npz')!r}]\nmain()"
    )
    assert "Wrote 2 codes of 8 bits from 2 shards" in done.stderr, done.stderr
    assert not (tmp_path / "a.npz").exists()  # merged: the shards are gone


@pytest.mark.slow
def test_a_killed_shard_resumes_and_the_merged_shards_equal_one_process(
    footage, encoder_checkpoint, whole, tmp_path
):
    out = tmp_path / "codes.npz"
    first, second = shard_path(out, Shard(0, 2)), shard_path(out, Shard(1, 2))
    options = (*WINDOWS, "--save-every", "0", "--batch-size", "1", "--workers", "0")
    process = run_encode(encoder_checkpoint, footage, out, *options, "--shard", "0/2")
    interrupt_when_written(process, first, signal.SIGKILL)
    process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL
    partial = len(load_codes(first))
    assert 0 < partial < 21 and read_listing_record(first)["complete"] is False

    resumed = invoke(*encode_args(encoder_checkpoint, footage, out, *options, "--shard", "0/2", "--resume"))
    assert f"{partial} kept from the earlier run" in resumed and "vrt codes merge" in resumed
    invoke(*encode_args(encoder_checkpoint, footage, out, *WINDOWS, "--workers", "0", "--shard", "1/2"))
    assert len(load_codes(first)) + len(load_codes(second)) == len(load_codes(whole))
    assert not out.exists()  # separate jobs leave the merge to `vrt codes merge`
    invoke("codes", "merge", second, first, "--out", out)
    assert_same_codes(out, whole)
    assert not first.exists() and not second.exists()


@pytest.mark.slow
def test_torchrun_encode_writes_the_codes_file_of_one_process(footage, encoder_checkpoint, whole, tmp_path):
    out = tmp_path / "codes.npz"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "vrt",
               *encode_args(encoder_checkpoint, footage, out, *WINDOWS, "--workers", "0")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        done.stderr.count("Wrote 42 codes") == 1 and "42 encoded" in done.stderr
    )  # rank 0 reports the whole run
    assert_same_codes(out, whole)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["codes.npz"]  # no shard left behind
