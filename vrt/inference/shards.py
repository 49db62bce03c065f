"""Codes files of a collection, whole or in shards, and the merge of shards into one (no torch).

A codes file written by ``vrt encode`` holds, beside the codes, a ``listing`` record: the listing
options that shaped its items (labels, segment, stride, root), whether the file is complete and,
for a shard, which one (``"shard": [rank, world]``).

Shards split the listing into ``world`` contiguous blocks, block ``rank`` of items
``[rank * N // world, (rank + 1) * N // world)``. Contiguous rather than dealt round-robin, so
that the merge is a concatenation in rank order and equals, item for item, the file one process
writes: the listing's order, an unreadable video simply absent. Every process lists the same
items (the listing is sorted and deterministic), so no process needs to tell another its block.

``torchrun ... -m vrt encode`` has rank 0 merge the shards when every rank is done;
``vrt encode --shard R/W`` (one job per shard, on any machines sharing the folder) leaves that
to ``vrt codes merge``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from vrt.codes import CodeSet, CodesFileError, check_comparable, codeset_arrays, load_codes
from vrt.errors import VrtError
from vrt.runtime.fileio import atomic_write
from vrt.runtime.npzfile import read_npz

__all__ = [
    "LISTING_KEY",
    "Shard",
    "ShardError",
    "merge_shards",
    "own_shard",
    "read_listing_record",
    "shard_path",
    "write_listing_codes",
]

LISTING_KEY = "listing"
_LEGACY_RECORD = "encoder"  # before identities, `vrt encode` kept its listing options in this record
# Keys of the listing record that differ between a shard and the whole, or between shards.
_PER_FILE_KEYS = ("complete", "shard")


class ShardError(VrtError, ValueError):
    """Shards that do not make one whole: missing, repeated, unfinished, or from other runs."""


@dataclass(frozen=True)
class Shard:
    """Block ``rank`` of ``world`` contiguous blocks of a listing."""

    rank: int
    world: int

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world:
            raise ShardError(f"shard {self.rank}/{self.world}: the rank must lie in [0, {self.world})")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"R/W"`` (``--shard 0/4``: the first of four)."""
        rank, slash, world = text.partition("/")
        try:
            if not slash:
                raise ValueError
            return cls(int(rank), int(world))
        except ValueError:
            raise ShardError(
                f"--shard takes RANK/WORLD, such as 0/4 (the first of four), got {text!r}"
            ) from None

    def bounds(self, count: int) -> tuple[int, int]:
        """The listing positions ``[start, stop)`` of this block of ``count`` items."""
        return self.rank * count // self.world, (self.rank + 1) * count // self.world

    def __str__(self) -> str:
        return f"{self.rank}/{self.world}"


def own_shard(shard: Shard | None, *, rank: int, world: int) -> Shard | None:
    """The block this process works on: ``shard`` (a job started alone), or in a process group of
    ``world`` > 1 processes (torchrun) the block of its ``rank``; never both."""
    if world <= 1:
        return shard
    if shard is not None:
        raise ShardError(
            "--shard names the block of a job started alone; under torchrun each rank takes its own"
        )
    return Shard(rank, world)


def shard_path(out: str | os.PathLike[str], shard: Shard) -> Path:
    """Where shard ``shard`` of ``out`` is written: ``codes.npz`` -> ``codes.shard-1-of-4.npz``."""
    out = Path(out)
    stem = out.name.removesuffix(".npz")
    return out.with_name(f"{stem}.shard-{shard.rank}-of-{shard.world}.npz")


def write_listing_codes(path: Path, codes: CodeSet, record: dict[str, Any]) -> None:
    """Write ``codes`` with their ``listing`` record, atomically."""
    arrays = {
        **codeset_arrays(codes),
        LISTING_KEY: np.asarray(json.dumps(record, sort_keys=True), dtype=np.str_),
    }
    atomic_write(path, lambda handle: np.savez(handle, **arrays))


def read_listing_record(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``listing`` record of a codes file written by ``vrt encode``; None if it has none."""
    path = Path(path)
    arrays = read_npz(path, (LISTING_KEY, _LEGACY_RECORD), error=CodesFileError)
    if LISTING_KEY in arrays:
        return _json_record(arrays[LISTING_KEY], path, LISTING_KEY)
    if _LEGACY_RECORD in arrays:
        legacy = _json_record(arrays[_LEGACY_RECORD], path, _LEGACY_RECORD)
        if legacy.get("format") == "vrt-encode":
            return {
                key: value
                for key, value in legacy.items()
                if key not in ("format", "checkpoint_sha256", "clips")
            }
    return None


def _json_record(array: np.ndarray, path: Path, key: str) -> dict[str, Any]:
    try:
        record = json.loads(str(array[()]))
    except (ValueError, IndexError, TypeError) as error:
        raise CodesFileError(f"{path}: unreadable '{key}' record ({error})") from None
    if not isinstance(record, dict):
        raise CodesFileError(f"{path}: the '{key}' record is not a JSON object")
    return record


def merge_shards(
    paths: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *, previous: CodeSet | None = None
) -> CodeSet:
    """Merge the shard files ``paths`` (given in any order) into ``out``; returns the merged codes.

    Every shard of one world must be there once, finished, from one model and one set of listing
    options. The merged file holds the shards' items in rank order (the listing's order) and is
    complete. ``previous`` (the ``out`` a resumed run started from) gives the items that no
    block lists any more, kept after the rest as a resumed one-process run keeps them.
    """
    if not paths:
        raise ShardError("no shard files to merge")
    shards = []
    for path in map(Path, paths):
        if not path.is_file():
            raise ShardError(f"shard file not found: {path}")
        record = read_listing_record(path)
        position = None if record is None else record.get("shard")
        if not (isinstance(position, list) and len(position) == 2 and all(type(v) is int for v in position)):
            raise ShardError(f"{path} is not a shard written by `vrt encode --shard` or torchrun")
        shards.append((Shard(*position), record, path))
    shards.sort(key=lambda entry: entry[0].rank)
    first_shard, first_record, first_path = shards[0]
    world = first_shard.world
    ranks = [shard.rank for shard, _, _ in shards]
    if sorted({shard.world for shard, _, _ in shards}) != [world] or ranks != list(range(world)):
        found = ", ".join(str(shard) for shard, _, _ in shards)
        raise ShardError(
            f"the shards of one run are 0/{world} to {world - 1}/{world}, each once; given: {found}"
        )
    unfinished = [str(path) for _, record, path in shards if not record.get("complete")]
    if unfinished:
        raise ShardError(
            f"{', '.join(unfinished)} {'is' if len(unfinished) == 1 else 'are'} not finished: "
            "run the same command with --resume first"
        )
    settings = {key: value for key, value in first_record.items() if key not in _PER_FILE_KEYS}
    parts = [load_codes(first_path)]
    for _, record, path in shards[1:]:
        other = {key: value for key, value in record.items() if key not in _PER_FILE_KEYS}
        if other != settings:
            raise ShardError(f"{path} was listed with other options than {first_path}: {other} vs {settings}")
        codes = load_codes(path)
        check_comparable(codes, parts[0], first_name=str(path), second_name=str(first_path))
        parts.append(codes)
    merged = _concatenate(parts, previous)
    write_listing_codes(Path(out), merged, {**settings, "complete": True})
    return merged


def _concatenate(parts: list[CodeSet], previous: CodeSet | None) -> CodeSet:
    names = parts[0].class_names
    if any(part.class_names != names for part in parts):
        # Every block of one listing carries the listing's class names.
        raise ShardError("the shards name their classes differently: they come from different listings")
    if previous is not None:
        listed = {item_id for part in parts for item_id in part.ids.tolist()}
        kept = np.asarray([item_id not in listed for item_id in previous.ids.tolist()], dtype=bool)
        if kept.any():
            if previous.class_names != names:
                raise ShardError("the file being resumed names its classes differently from its shards")
            parts = [*parts, replace(previous, codes=previous.codes[kept], labels=previous.labels[kept],
                                     ids=previous.ids[kept], groups=None)]  # fmt: skip
    return replace(
        parts[0],
        codes=np.concatenate([part.codes for part in parts]),
        labels=np.concatenate([part.labels for part in parts]),
        ids=np.concatenate([part.ids for part in parts]),
        groups=None,  # a collection's sources are its ids' (vrt.codes.source_groups)
    )
