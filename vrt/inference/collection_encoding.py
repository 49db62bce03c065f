"""Encoding a collection of one's own videos into a codes file, resumably: what ``vrt encode`` runs.

    from vrt.datasets.collection import list_items
    from vrt.inference import TrainedModel
    from vrt.inference.collection_encoding import encode_collection

    trained = TrainedModel.load("runs/demo/best.pt")
    result = encode_collection(trained, list_items(["footage/"]), out="codes.npz", resume=True)

The codes are :meth:`TrainedModel.encode`'s, so they are comparable with the codes of
``vrt export``; this layer adds the file. Nothing is lost to an interruption: the codes so far
are written to ``out`` atomically every ``save_every`` seconds and whenever the loop ends,
however it ends (a stop request, an exception, Ctrl-C). Only a SIGKILL or a power cut can take
the work of the last ``save_every`` seconds with it. ``resume=True`` skips the items already in
``out``, and the file it finishes holds the same codes in the same order as a run that was never
interrupted: the order of the listing, then any item of ``out`` that the listing no longer has.

Beside the codes and the model that made them (the codes file's ``encoder`` record), such a
file holds a ``listing`` record: the labels and segment options and whether the file is
complete. A resume is refused when the model or the listing options differ, so one file never
mixes codes of two models or two cuts of the videos.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vrt.codes import CodeSet, is_codes_file, load_codes, merge_class_names
from vrt.datasets.collection import ItemList
from vrt.datasets.items import SkippedClip
from vrt.errors import VrtError
from vrt.inference.encoding import Progress
from vrt.inference.shards import (
    LISTING_KEY,
    Shard,
    merge_shards,
    own_shard,
    read_listing_record,
    shard_path,
    write_listing_codes,
)
from vrt.runtime import distributed

if TYPE_CHECKING:
    from vrt.inference.trained import TrainedModel

__all__ = ["LISTING_KEY", "EncodedCollection", "check_output", "encode_collection", "read_listing_record"]


@dataclass
class EncodedCollection:
    """What :func:`encode_collection` did.

    Attributes:
        codes: every code now known (the file's content when ``out`` was given).
        encoded: items encoded by this call.
        reused: items taken from the file being resumed.
        skipped: the items that could not be decoded this time.
        complete: False when a stop request ended the loop before every item was tried.
    """

    codes: CodeSet
    encoded: int
    reused: int
    skipped: list[SkippedClip]
    complete: bool


def encode_collection(
    trained: TrainedModel,
    listing: ItemList,
    *,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    save_every: float = 30.0,
    batch_size: int | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    on_skipped: Callable[[list[SkippedClip]], None] | None = None,
    stop: Callable[[], bool] | None = None,
    shard: Shard | None = None,
) -> EncodedCollection:
    """Codes of the items of ``listing`` (see the module docstring), written to ``out`` if given.

    Args:
        out: the codes file; it must not exist unless ``resume``.
        resume: skip the items already in ``out`` (written by an earlier call with the same
            checkpoint and settings), or in this process's shard of it.
        save_every: seconds between partial writes of ``out`` (0: after every batch).
        batch_size, workers, progress, on_skipped, stop: as :meth:`TrainedModel.encode` takes
            them; ``progress`` hears the number of items left to encode as its total.
        shard: encode only this block of the listing, into its shard file beside ``out``
            (:mod:`vrt.inference.shards`), for ``vrt codes merge`` to join. Inside a torchrun
            process group every rank takes its own block unasked, and rank 0 merges the shards
            into ``out`` once every rank has finished.
    """
    out_path = Path(out) if out is not None else None
    in_group = distributed.world_size() > 1
    shard = own_shard(shard, rank=distributed.rank(), world=distributed.world_size())
    options: dict[str, Any] = {
        "save_every": save_every, "batch_size": batch_size, "workers": workers, "progress": progress,
        "on_skipped": on_skipped, "stop": stop,
    }  # fmt: skip
    if shard is None:
        return _encode_into(
            trained, listing, out_path, settings=dict(listing.settings), resume=resume, resume_from=out_path,
            keep_unlisted=True, **options,
        )  # fmt: skip
    if out_path is None:
        raise ValueError("a shard is written beside its codes file: give out")
    start, end = shard.bounds(len(listing.items))
    block = ItemList(
        items=listing.items[start:end], class_names=listing.class_names, settings=listing.settings
    )
    own = shard_path(out_path, shard)
    # A shard resumes from its own file or, the first time, from the whole file being resumed.
    resume_from = out_path if resume and not own.exists() and out_path.exists() else own
    result = _encode_into(
        trained, block, own, settings={**listing.settings, "shard": [shard.rank, shard.world]},
        resume=resume, resume_from=resume_from, keep_unlisted=False, **options,
    )  # fmt: skip
    if not in_group:
        return result
    ranks = distributed.all_gather_objects((result.complete, result.encoded, result.reused, result.skipped))
    finished = all(done for done, _, _, _ in ranks)
    result = replace(
        result,
        encoded=sum(r[1] for r in ranks),
        reused=sum(r[2] for r in ranks),
        skipped=[item for r in ranks for item in r[3]],
    )  # the whole run's counts, on every rank
    merged: list[CodeSet] = []

    def merge() -> None:
        previous = load_codes(out_path) if resume and out_path.exists() else None
        paths = [shard_path(out_path, Shard(rank, shard.world)) for rank in range(shard.world)]
        merged.append(merge_shards(paths, out_path, previous=previous))
        for path in paths:  # the merged file holds every code now
            path.unlink()

    if finished:  # rank 0 merges; its error, if any, is raised on every rank (none waits for it)
        distributed.on_main_then_broadcast(merge)
    return replace(result, codes=merged[0] if merged else result.codes, complete=finished)


def _encode_into(
    trained: TrainedModel,
    listing: ItemList,
    out_path: Path | None,
    *,
    settings: dict[str, Any],
    resume: bool,
    resume_from: Path | None,
    keep_unlisted: bool,
    save_every: float,
    batch_size: int | None,
    workers: int | None,
    progress: Progress | None,
    on_skipped: Callable[[list[SkippedClip]], None] | None,
    stop: Callable[[], bool] | None,
) -> EncodedCollection:
    """Encode ``listing`` in this process alone into ``out_path`` (its record: ``settings``),
    skipping, when resuming, the items of ``resume_from``; that file's items that ``listing``
    lacks come after the rest if ``keep_unlisted``."""
    previous = _previous_codes(resume_from, resume=resume, trained=trained, settings=settings)
    stored = {item_id: row for row, item_id in enumerate(previous.ids.tolist())} if previous else {}
    todo = ItemList(
        items=[item for item in listing.items if item.id not in stored],
        class_names=listing.class_names,
        settings=settings,
    )
    encoded: dict[str, np.ndarray] = {}
    skipped: list[SkippedClip] = []
    tried = 0
    last_save = time.monotonic()

    def current(complete: bool) -> CodeSet:
        codes = _assemble(listing, previous, stored, encoded, trained=trained, keep_unlisted=keep_unlisted)
        if out_path is not None:
            write_listing_codes(out_path, codes, {**settings, "complete": complete})
        return codes

    def heard(**fields: Any) -> None:
        nonlocal tried
        tried += int(fields.get("advance", 0))
        if progress is not None:
            progress(**fields)

    def keep(batch: CodeSet) -> None:
        nonlocal last_save
        encoded.update(zip(batch.ids.tolist(), batch.codes, strict=True))
        if out_path is not None and time.monotonic() - last_save >= save_every:
            current(complete=False)
            last_save = time.monotonic()

    def note_skipped(items: list[SkippedClip]) -> None:
        skipped.extend(items)
        if on_skipped is not None:
            on_skipped(items)

    try:
        if todo.items:
            trained.encode(
                todo,
                batch_size=batch_size,
                workers=workers,
                progress=heard,
                on_skipped=note_skipped,
                on_codes=keep,
                stop=stop,
                alone=True,
            )
        elif progress is not None:
            progress(total=0)
    except Exception:
        # A stop signal also reaches the DataLoader's workers, whose end the loader reports as an
        # error: that is the stop, not a failure. Anything else is, after the codes are saved.
        if stop is None or not stop():
            current(complete=False)
            raise
    except BaseException:  # KeyboardInterrupt: save, then let it through
        current(complete=False)
        raise
    complete = tried == len(todo.items)
    codes = current(complete=complete)
    return EncodedCollection(
        codes=codes,
        encoded=len(encoded),
        reused=len(codes) - len(encoded),
        skipped=skipped,
        complete=complete,
    )


def check_output(out: Path, *, resume: bool) -> None:
    """Refuse an ``out`` that encoding could not write or continue, before any work is done.

    An existing file is never replaced: without ``resume`` it is an error, with it the file
    must be a codes file (:func:`encode_collection` then checks that its settings match).
    """
    if out.is_dir():
        raise VrtError(f"--out {out} is a folder; the codes are written to a file: give its name")
    if not out.exists():
        return
    if not resume:
        raise VrtError(
            f"{out} already exists: pass --resume to continue it (its items are kept and skipped), "
            "or choose another --out"
        )
    if not is_codes_file(out):
        raise VrtError(f"{out} is not a codes file (.npz), so there is nothing to resume in it")


def _previous_codes(
    out: Path | None, *, resume: bool, trained: TrainedModel, settings: dict[str, Any]
) -> CodeSet | None:
    if out is None:
        return None
    check_output(out, resume=resume)
    if not out.exists():
        return None
    codes = load_codes(out)
    stored = read_listing_record(out)
    if stored is None or codes.encoder is None:
        raise VrtError(f"{out} was not written by `vrt encode`, so there is nothing to resume in it")
    different = codes.encoder.differences(trained.encoder) if trained.encoder is not None else []
    # A shard may start from the whole file, which is no shard.
    ignored = {"complete"} | ({"shard"} if "shard" not in stored else set())
    different += sorted(key for key in {*settings, *stored} - ignored if stored.get(key) != settings.get(key))
    if different:
        raise VrtError(
            f"{out} was encoded with other settings ({', '.join(different)} differ): resume with the "
            "checkpoint and options it was made with, or choose another --out"
        )
    return codes


def _assemble(
    listing: ItemList,
    previous: CodeSet | None,
    stored: dict[str, int],
    encoded: dict[str, np.ndarray],
    *,
    trained: TrainedModel,
    keep_unlisted: bool = True,
) -> CodeSet:
    """The listed items that have a code, in listing order, then (``keep_unlisted``) the stored
    items not listed."""
    rows, labels, ids = [], [], []
    for item in listing.items:
        if item.id in encoded:
            rows.append(encoded[item.id])
        elif item.id in stored:
            rows.append(previous.codes[stored[item.id]])  # type: ignore[union-attr]
        else:
            continue
        labels.append(item.label)
        ids.append(item.id)
    bits = trained.bits
    listed = CodeSet(
        codes=np.stack(rows) if rows else np.zeros((0, bits // 8), dtype=np.uint8),
        bits=bits,
        labels=np.asarray(labels, dtype=np.int64),
        ids=np.asarray(ids, dtype=np.str_),
        class_names=listing.class_names,
        encoder=trained.encoder,
    )
    if previous is None or not keep_unlisted:
        return listed
    in_listing = set(ids)
    orphans = np.asarray([item_id not in in_listing for item_id in previous.ids.tolist()], dtype=bool)
    if not orphans.any():
        return listed
    kept = replace(
        previous,
        codes=previous.codes[orphans],
        labels=previous.labels[orphans],
        ids=previous.ids[orphans],
        groups=None,  # a collection's sources are its ids' (vrt.codes.source_groups)
    )
    class_names, kept_labels = merge_class_names(
        listed.class_names, kept, first_labelled=bool(listed.labelled.any())
    )
    return replace(
        listed,
        codes=np.concatenate([listed.codes, kept.codes]),
        labels=np.concatenate([listed.labels, kept_labels]),
        ids=np.concatenate([listed.ids, kept.ids]),
        class_names=class_names,
    )
