"""Per-frame features of videos into a feature file, resumably: what ``vrt features extract`` runs.

    from vrt.inference import TrainedModel
    from vrt.inference.features import extract_features

    encoder = TrainedModel.from_config(load_config("configs/realmotion_efficientnet_frozen.yaml"))
    done = extract_features(encoder, encoder.splits.view("train"), out="train.h5")

The items are those :meth:`TrainedModel.encode` takes (a split's view, a collection, paths),
read by the same item dataset and loop (:func:`vrt.inference.encoding.run_batches`), one clip of
``data.num_frames`` frames per item, test-time transform; what is kept is the frame backbone's
per-frame features (:meth:`vrt.model.HashingModel.frame_features`), not codes. The file is in
vrt's layout (:mod:`vrt.io.feature_files`), with the encoder's record beside the features.

Nothing is lost to an interruption: every ``save_every`` seconds, and whenever the loop ends,
the features so far are written atomically to a part file in ``OUT.parts/``; ``resume=True``
keeps the parts of an earlier run (made with the same model and settings) and encodes the rest.
When every item has been tried the parts are assembled, in item order, into ``OUT`` (written to a
temporary name and renamed) and removed.

Shards (:class:`~vrt.inference.shards.Shard`, as for ``vrt encode``): process ``RANK`` of ``WORLD``
extracts block ``RANK`` of the items into parts of its own in the shared ``OUT.parts/``. Under
torchrun rank 0 assembles ``OUT`` once every rank has finished; jobs given ``shard=`` leave that
to a final call without a shard and with ``resume=True``, which finds every item done.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vrt.data.pipeline import eval_loader
from vrt.datasets.base import ClipView
from vrt.datasets.items import SkippedClip
from vrt.errors import VrtError
from vrt.inference.encoding import EncodeSource, Progress, eval_view, run_batches
from vrt.inference.shards import Shard, own_shard
from vrt.io.feature_files import FeatureFileWriter
from vrt.runtime import distributed
from vrt.runtime.fileio import atomic_write, atomic_write_text

if TYPE_CHECKING:
    from vrt.inference.trained import TrainedModel
    from vrt.model import HashingModel

__all__ = ["ExtractedFeatures", "extract_features", "parts_folder"]

_META = "meta.json"
# Parts held in memory while assembling: the order of the parts is the order of the items, so one
# would do; a few absorb the items a resumed extraction wrote out of turn.
_PARTS_IN_MEMORY = 4


@dataclass
class ExtractedFeatures:
    """What :func:`extract_features` did: items written (or kept from an earlier run), skipped,
    and whether every item was tried (then ``out`` holds them all)."""

    path: Path
    encoded: int
    reused: int
    skipped: list[SkippedClip]
    complete: bool


def parts_folder(out: Path) -> Path:
    """Where the parts of an unfinished extraction into ``out`` are kept."""
    return out.with_name(out.name + ".parts")


def extract_features(
    trained: TrainedModel,
    items: EncodeSource,
    *,
    out: str | os.PathLike[str],
    resume: bool = False,
    save_every: float = 30.0,
    batch_size: int | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    on_skipped: Callable[[list[SkippedClip]], None] | None = None,
    stop: Callable[[], bool] | None = None,
    shard: Shard | None = None,
) -> ExtractedFeatures:
    """Write the per-frame features of ``items`` to the feature file ``out`` (see the module).

    ``shard``: extract only that block of the items (the parts are assembled by a later call
    without a shard); inside a torchrun process group each rank takes its own block unasked.
    """
    out = Path(out)
    in_group = distributed.world_size() > 1
    shard = own_shard(shard, rank=distributed.rank(), world=distributed.world_size())
    view = eval_view(items, clips=trained.clips, config=trained.config, on_skipped=on_skipped)
    if view.dataset.input_kind != "clips" or trained.model.input_kind != "clips":
        raise VrtError(
            "features are extracted from videos by a model with a frame backbone (model.backbone.name: "
            "frames); this data or model reads frame features already"
        )
    if view.num_clips != 1:  # one clip of data.num_frames frames: a feature file holds (T, D) per item
        view = ClipView(view.dataset, view.indices, training=False, num_clips=1, threads=view.threads)
    record = {"encoder": trained.encoder.to_dict() if trained.encoder is not None else None}
    if in_group:

        def prepare() -> None:  # rank 0 checks or creates the shared folder before the others join it
            _Parts(parts_folder(out), record, resume=resume)

        distributed.on_main_then_broadcast(prepare)
    parts = _Parts(parts_folder(out), record, resume=resume, rank=None if shard is None else shard.rank)
    block = list(view.indices)
    if shard is not None:
        start, end = shard.bounds(len(block))
        block = block[start:end]
    todo = [index for index in block if view.dataset.ids[index] not in parts.ids]
    reused = len(block) - len(todo)
    todo_view = ClipView(view.dataset, todo, training=False, num_clips=1, threads=view.threads)
    loader = eval_loader(
        todo_view, trained.config, device=trained.device, batch_size=batch_size, workers=workers
    )
    if progress is not None:
        progress(total=len(todo))
    skipped: list[SkippedClip] = []
    pending: list[tuple[np.ndarray, np.ndarray]] = []
    tried, encoded, last_save = 0, 0, time.monotonic()

    def note_skipped(batch: list[SkippedClip]) -> None:
        skipped.extend(batch)
        if on_skipped is not None:
            on_skipped(batch)

    def save() -> None:
        nonlocal pending
        if pending:
            parts.add(view.dataset, pending)
            pending = []

    try:
        for values, indices, size in run_batches(
            trained.model,
            loader,
            device=trained.device,
            amp=trained.config.train.amp,
            on_skipped=note_skipped,
            outputs=_frame_features,
        ):
            if values is not None:
                pending.append((values, indices))
                encoded += len(indices)
            tried += size
            if progress is not None:
                progress(advance=size)
            if stop is not None and stop():
                break
            if time.monotonic() - last_save >= save_every:
                save()
                last_save = time.monotonic()
    finally:
        save()  # however the loop ends: a stop, an error, Ctrl-C
    complete = tried == len(todo)
    if in_group:  # the whole run's counts, on every rank
        ranks = distributed.all_gather_objects((complete, encoded, reused, skipped))
        complete = all(done for done, _, _, _ in ranks)
        encoded, reused = sum(r[1] for r in ranks), sum(r[2] for r in ranks)
        skipped = [item for r in ranks for item in r[3]]
        if complete:  # rank 0 assembles; its error, if any, is raised on every rank
            distributed.on_main_then_broadcast(lambda: parts.assemble(out, view))
    elif complete and shard is None:
        parts.assemble(out, view)
    return ExtractedFeatures(out, encoded, reused, skipped, complete)


def _frame_features(model: HashingModel, clips: torch.Tensor) -> np.ndarray:
    return model.frame_features(clips).float().cpu().numpy()


class _Parts:
    """The part files of an extraction: each a few batches of features, written atomically."""

    def __init__(
        self, folder: Path, record: dict[str, Any], *, resume: bool, rank: int | None = None
    ) -> None:
        """``rank``: a shard's process, which shares the folder (made by another process, or by
        an earlier run of the same model) and names its parts ``part-rRANK-N``."""
        self.folder = folder
        self.ids: set[str] = set()
        self.prefix = "part-" if rank is None else f"part-r{rank:04d}-"
        if folder.exists() and not resume and rank is None:
            raise VrtError(
                f"{folder} holds the parts of an unfinished extraction: pass --resume to finish it, "
                "or remove the folder"
            )
        if folder.exists():
            stored = (
                json.loads((folder / _META).read_text(encoding="utf-8"))
                if (folder / _META).is_file()
                else None
            )
            if stored != record:
                raise VrtError(
                    f"{folder} was extracted with another model or other settings: resume with the ones "
                    "it was made with, or remove the folder"
                )
            for part in self.files():
                with np.load(part, allow_pickle=False) as archive:
                    self.ids.update(archive["ids"].tolist())
        else:
            folder.mkdir(parents=True, exist_ok=rank is not None)
            atomic_write_text(folder / _META, json.dumps(record, sort_keys=True))
        self.record = record

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("part-*.npz"))

    def add(self, dataset: Any, batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
        features = np.concatenate([values for values, _ in batches]).astype(np.float16)
        indices = np.concatenate([index for _, index in batches])
        ids = [dataset.ids[i] for i in indices]
        arrays = {"features": features, "ids": np.asarray(ids, dtype=np.str_)}
        number = len(list(self.folder.glob(f"{self.prefix}[0-9]*.npz")))
        atomic_write(
            self.folder / f"{self.prefix}{number:06d}.npz", lambda handle: np.savez(handle, **arrays)
        )
        self.ids.update(ids)

    def assemble(self, out: Path, view: ClipView) -> None:
        """Every part's features in the view's order, into ``out``; the parts are then removed.

        Only the parts' ids are read up front; features are read a part at a time as the view's
        order reaches them (the parts were written in that order), so a collection's features
        never have to fit in memory at once."""
        where: dict[str, tuple[Path, int]] = {}
        for part in self.files():
            with np.load(part, allow_pickle=False) as archive:
                where.update((item, (part, row)) for row, item in enumerate(archive["ids"].tolist()))
        dataset = view.dataset
        order = [index for index in view.indices if dataset.ids[index] in where]
        if not order:
            raise VrtError("no item could be read: there are no features to write")
        loaded: dict[Path, np.ndarray] = {}

        def features_of(item: str) -> np.ndarray:
            part, row = where[item]
            if part not in loaded:
                if len(loaded) >= _PARTS_IN_MEMORY:
                    del loaded[next(iter(loaded))]  # the part read first
                with np.load(part, allow_pickle=False) as archive:
                    loaded[part] = archive["features"]
            return loaded[part][row]

        frames, dim = features_of(dataset.ids[order[0]]).shape
        temporary = out.with_name(f".{out.name}.writing")
        writer = FeatureFileWriter(
            temporary,
            frames=frames,
            dim=dim,
            class_names=dataset.code_class_names(),
            encoder=self.record["encoder"],
        )
        groups = dataset.groups
        try:
            for first in range(0, len(order), 256):
                chunk = order[first : first + 256]
                writer.add(
                    np.stack([features_of(dataset.ids[i]) for i in chunk]),
                    [dataset.ids[i] for i in chunk],
                    [dataset.labels[i] for i in chunk],
                    [groups[i] if groups is not None else None for i in chunk],
                )
            writer.close()
        except BaseException:
            writer.abort()
            temporary.unlink(missing_ok=True)
            raise
        os.replace(temporary, out)
        shutil.rmtree(self.folder, ignore_errors=True)
