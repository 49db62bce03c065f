"""Encode a collection of videos into a codes file, in batches, resumably: what ``vrt encode`` runs.

    from vrt.inference import TrainedModel
    from vrt.inference.collection import list_collection
    from vrt.inference.collection_encoding import encode_collection

    trained = TrainedModel.load("runs/demo/best.pt")
    result = encode_collection(trained, list_collection(["footage/"]), out="codes.npz", resume=True)

Items are encoded like test videos (the run's clip sampler in test mode, ``data.clips_per_video``
views averaged, the deterministic transform), so their codes are comparable with the codes of
``vrt export``. DataLoader workers decode while the model encodes; unreadable videos are left
out and reported.

Nothing is lost to an interruption: the codes so far are written to ``out`` atomically every
``save_every`` seconds and whenever the loop ends, however it ends (a stop request, an
exception, Ctrl-C). Only a SIGKILL or a power cut can take the work of the last ``save_every``
seconds with it. ``resume=True`` skips the items already in ``out``, and the file it finishes
holds the same codes in the same order as a run that was never interrupted: the order of the
listing, then any item of ``out`` that the listing no longer has.

A codes file written here carries one more array than the codes layout, ``encoder``: a JSON
record of the checkpoint (its SHA-256), the clip settings, the labels and segment options, and
whether the file is complete. A resume is refused when any of them differs, so one file never
mixes codes of two models.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from vrt.codes import CodeSet, CodesFileError, codeset_arrays, is_codes_file, load_codes, pack_bits
from vrt.config import config_to_dict
from vrt.config.schema import DATA_SPEED_KEYS
from vrt.data.collate import collate_clips
from vrt.data.pipeline import clip_spec
from vrt.datasets.base import ClipView, ClipWork, SkippedClip, VideoDataset
from vrt.datasets.clips import ClipSpec
from vrt.datasets.reader import ClipReader
from vrt.errors import VrtError
from vrt.index.editing import merge_class_names
from vrt.inference.collection import Collection, CollectionItem
from vrt.inference.encoding import encoded_batches
from vrt.reporting.metrics_file import file_sha256
from vrt.runtime.fileio import atomic_write
from vrt.runtime.reproducibility import seed_worker

if TYPE_CHECKING:
    from vrt.inference.trained import TrainedModel

__all__ = [
    "ENCODER_KEY",
    "CollectionDataset",
    "EncodedCollection",
    "check_output",
    "encode_collection",
    "read_encoder_record",
]

ENCODER_KEY = "encoder"
# The data.* keys that decide what a video's code is (not where the data is or how fast it loads).
# The decoder is one: pyav with scale: true and torchcodec give slightly different pixels.
_ENCODING_KEYS = ("num_frames", "frame_size", "clip_sampler", "clips_per_video", "augment", "decoder")


class CollectionDataset(VideoDataset):
    """The items of a collection as a dataset the encoding loop can batch.

    The dataset's own labels are placeholders (every item is "item" 0): an item's real label,
    possibly unlabelled, travels in :class:`CollectionItem`, which the encoder looks up by index.
    """

    def __init__(self, items: Sequence[CollectionItem], clips: ClipSpec) -> None:
        super().__init__(class_names=["item"], labels=[0] * len(items), ids=[item.id for item in items])
        self.items = list(items)
        self.clips = clips
        self._reader = ClipReader(clips)

    def load_clip(self, index: int, *, training: bool, clip: int = 0, num_clips: int = 1) -> torch.Tensor:
        item = self.items[index]
        plan = self._reader.plan(
            item.path, item.kind, training=training, clip=clip, num_clips=num_clips, span=item.span
        )
        return self._reader.transformed(plan)

    def plan_clip(self, index: int, *, training: bool, clip: int = 0, num_clips: int = 1) -> ClipWork:
        item = self.items[index]
        plan = self._reader.plan(
            item.path,
            item.kind,
            video_id=item.id,
            training=training,
            clip=clip,
            num_clips=num_clips,
            span=item.span,
        )
        return self._reader.work(plan)


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
    collection: Collection,
    *,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    save_every: float = 30.0,
    batch_size: int | None = None,
    workers: int | None = None,
    on_start: Callable[[int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
    on_skipped: Callable[[list[SkippedClip]], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> EncodedCollection:
    """Codes of the items of ``collection`` (see the module docstring), written to ``out`` if given.

    Args:
        out: the codes file; it must not exist unless ``resume``.
        resume: skip the items already in ``out`` (written by an earlier call with the same
            checkpoint and settings).
        save_every: seconds between partial writes of ``out`` (0: after every batch).
        batch_size, workers: videos per batch and DataLoader worker processes; the config's
            ``data.eval_batch_size`` and ``data.num_workers`` by default.
        on_start: hears how many items are left to encode (for a progress bar) ...
        on_batch: ... and how many items each batch held.
        on_skipped: hears of the items that cannot be decoded.
        stop: polled after every batch; True ends the loop (the codes so far are kept).
    """
    out_path = Path(out) if out is not None else None
    record = encoder_record(trained, collection)
    previous = _previous_codes(out_path, resume=resume, record=record)
    stored = {item_id: row for row, item_id in enumerate(previous.ids.tolist())} if previous else {}
    todo = [item for item in collection.items if item.id not in stored]
    if on_start is not None:
        on_start(len(todo))
    encoded: dict[str, np.ndarray] = {}
    skipped: list[SkippedClip] = []

    def note_skipped(items: list[SkippedClip]) -> None:
        skipped.extend(items)
        if on_skipped is not None:
            on_skipped(items)

    def current(complete: bool) -> CodeSet:
        codes = _assemble(collection, previous, stored, encoded, bits=trained.bits)
        if out_path is not None:
            _save(out_path, codes, {**record, "complete": complete})
        return codes

    tried = 0
    last_save = time.monotonic()
    loader = _loader(trained, todo, batch_size=batch_size, workers=workers)
    try:
        for bits, indices, size in encoded_batches(
            trained.model,
            loader,
            device=trained.device,
            amp=trained.config.train.amp,
            on_skipped=note_skipped,
        ):
            for row, index in zip(pack_bits(bits), indices.tolist(), strict=True):
                encoded[todo[index].id] = row
            tried += size
            if on_batch is not None:
                on_batch(size)
            if stop is not None and stop():
                break
            if out_path is not None and time.monotonic() - last_save >= save_every:
                current(complete=False)
                last_save = time.monotonic()
    except Exception:
        # A stop signal also reaches the DataLoader's workers, whose end the loader reports as an
        # error: that is the stop, not a failure. Anything else is, after the codes are saved.
        if stop is None or not stop():
            current(complete=False)
            raise
    except BaseException:  # KeyboardInterrupt: save, then let it through
        current(complete=False)
        raise
    complete = tried == len(todo)
    return EncodedCollection(
        codes=current(complete=complete),
        encoded=len(encoded),
        reused=len(stored),
        skipped=skipped,
        complete=complete,
    )


def encoder_record(trained: TrainedModel, collection: Collection) -> dict[str, Any]:
    """What decides the codes of ``collection``: the checkpoint, the clip settings, the listing options."""
    data = config_to_dict(trained.config)["data"]
    return {
        "format": "vrt-encode",
        "checkpoint_sha256": file_sha256(trained.checkpoint),
        "clips": {key: _without_speed_keys(data[key], f"data.{key}") for key in _ENCODING_KEYS},
        **collection.settings,
    }


def _without_speed_keys(value: Any, path: str) -> Any:
    """``value`` (a config entry at ``path``) without the keys that only decide loading speed."""
    if not isinstance(value, dict):
        return value
    return {
        key: _without_speed_keys(item, f"{path}.{key}")
        for key, item in value.items()
        if f"{path}.{key}" not in DATA_SPEED_KEYS
    }


def read_encoder_record(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``encoder`` record of a codes file written by :func:`encode_collection`; None if it has none."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if ENCODER_KEY not in archive.files:
                return None
            record = json.loads(str(archive[ENCODER_KEY][()]))
    except (OSError, ValueError, EOFError, AttributeError, json.JSONDecodeError) as error:
        raise CodesFileError(f"{path}: unreadable '{ENCODER_KEY}' record ({error})") from error
    if not isinstance(record, dict):
        raise CodesFileError(f"{path}: the '{ENCODER_KEY}' record is not a JSON object")
    return record


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


def _previous_codes(out: Path | None, *, resume: bool, record: dict[str, Any]) -> CodeSet | None:
    if out is None:
        return None
    check_output(out, resume=resume)
    if not out.exists():
        return None
    codes = load_codes(out)
    stored = read_encoder_record(out)
    if stored is None:
        raise VrtError(f"{out} was not written by `vrt encode`, so there is nothing to resume in it")
    different = sorted(key for key in {*record, *stored} - {"complete"} if stored.get(key) != record.get(key))
    if different:
        raise VrtError(
            f"{out} was encoded with other settings ({', '.join(different)} differ): resume with the "
            "checkpoint and options it was made with, or choose another --out"
        )
    return codes


def _loader(
    trained: TrainedModel, items: list[CollectionItem], *, batch_size: int | None, workers: int | None
) -> DataLoader:
    data = trained.config.data
    view = ClipView(
        CollectionDataset(items, clip_spec(trained.config)),
        range(len(items)),
        training=False,
        num_clips=data.clips_per_video,
        threads=data.load_threads,
    )
    return DataLoader(
        view,
        batch_size=batch_size or data.eval_batch_size,
        shuffle=False,
        num_workers=data.num_workers if workers is None else workers,
        collate_fn=collate_clips,
        worker_init_fn=_init_worker,
        pin_memory=trained.device.type == "cuda",
    )


def _init_worker(worker_id: int) -> None:
    """Workers leave Ctrl-C to the main process, which stops after the batch and saves.

    Ctrl-C reaches the whole process group; a worker that died of it would end the loader
    with an error instead of the orderly stop.
    """
    seed_worker(worker_id)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _assemble(
    collection: Collection,
    previous: CodeSet | None,
    stored: dict[str, int],
    encoded: dict[str, np.ndarray],
    *,
    bits: int,
) -> CodeSet:
    """The listed items that have a code, in listing order, then the stored items not listed."""
    rows, labels, ids = [], [], []
    for item in collection.items:
        if item.id in encoded:
            rows.append(encoded[item.id])
        elif item.id in stored:
            rows.append(previous.codes[stored[item.id]])  # type: ignore[union-attr]
        else:
            continue
        labels.append(item.label)
        ids.append(item.id)
    listed = CodeSet(
        codes=np.stack(rows) if rows else np.zeros((0, bits // 8), dtype=np.uint8),
        bits=bits,
        labels=np.asarray(labels, dtype=np.int64),
        ids=np.asarray(ids, dtype=np.str_),
        class_names=collection.class_names,
    )
    if previous is None:
        return listed
    in_listing = set(ids)
    orphans = np.asarray([item_id not in in_listing for item_id in previous.ids.tolist()], dtype=bool)
    if not orphans.any():
        return listed
    kept = CodeSet(
        codes=previous.codes[orphans],
        bits=bits,
        labels=previous.labels[orphans],
        ids=previous.ids[orphans],
        class_names=previous.class_names,
    )
    class_names, kept_labels = merge_class_names(
        listed.class_names, kept, first_labelled=bool(listed.labelled.any())
    )
    return CodeSet(
        codes=np.concatenate([listed.codes, kept.codes]),
        bits=bits,
        labels=np.concatenate([listed.labels, kept_labels]),
        ids=np.concatenate([listed.ids, kept.ids]),
        class_names=class_names,
    )


def _save(path: Path, codes: CodeSet, record: dict[str, Any]) -> None:
    arrays = {
        **codeset_arrays(codes),
        ENCODER_KEY: np.asarray(json.dumps(record, sort_keys=True), dtype=np.str_),
    }
    atomic_write(path, lambda handle: np.savez(handle, **arrays))
