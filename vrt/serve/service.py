"""What the search app does, without the web: one index, one model, searches by id or by video.

:class:`SearchService` answers in plain data (what the JSON API returns), so it can be used and
tested without a server. It is safe to call from several threads: encoding takes a lock (one
model, one video at a time), searching and thumbnails do not need one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np

from vrt.datasets.splitfiles import VIDEO_EXTENSIONS
from vrt.errors import VideoDecodeError, VrtError
from vrt.index import HammingIndex, load_index
from vrt.reporting.retrieval_page import jpeg_bytes, jpeg_data_uri
from vrt.reporting.thumbnails import video_thumbnails

if TYPE_CHECKING:
    from vrt.datasets.items import SkippedClip
    from vrt.inference import TrainedModel

__all__ = ["MAX_TOPK", "PREVIEW_FRAMES", "NotAVideoError", "SearchService"]

MAX_TOPK = 1000  # results per query at most: a page of more is not read by anyone
PREVIEW_FRAMES = 4  # the frames a hovered tile cycles through, spread over its clip
MAX_LISTED_CLASSES = 1000  # /api/info lists the class names for the page's filter up to this many


class NotAVideoError(VrtError, ValueError):
    """An upload that is not a video file vrt can decode."""


class SearchService:
    """Searches one index, encoding uploaded videos with one trained model.

    Args:
        index: the items searched.
        trained: encodes uploaded videos; it must be the model that made the index's codes
            (:func:`vrt.codes.check_comparable`) unless ``force``.
        videos: the folder the index's ids are paths in (for thumbnails); None: no thumbnails.
    """

    def __init__(
        self,
        *,
        index: HammingIndex,
        trained: TrainedModel,
        videos: Path | None = None,
        force: bool = False,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        trained.check_comparable(index, name="the index", force=force, warn=warn)
        self.index = index
        # Lower-cased once, in numpy (no Python string per item of a ten-million index): the page
        # asks for matches on every keystroke.
        self._lowered_ids = np.char.lower(index.ids)
        self.trained = trained
        self.videos = videos
        # Ids come from the network: no file outside --videos is read, through links neither.
        roots = [videos] if videos is not None else []
        self._frames = video_thumbnails(roots, num_frames=1, links_out=False)
        self._preview_frames = video_thumbnails(roots, num_frames=PREVIEW_FRAMES, links_out=False)
        self._encoding = threading.Lock()
        self.thumbnail = lru_cache(maxsize=2048)(self._thumbnail)  # per service, not per class
        self._previews = lru_cache(maxsize=256)(self._preview)

    @classmethod
    def open(
        cls,
        index: str | Path,
        checkpoint: str | Path,
        *,
        videos: str | Path | None = None,
        overrides: Sequence[str] = (),
        force: bool = False,
        warn: Callable[[str], None] | None = None,
    ) -> SearchService:
        """Load the index and the checkpoint (``overrides``: ``--set`` changes of its stored config;
        ``force``: serve a checkpoint of another model than the index's anyway)."""
        from vrt.inference import TrainedModel

        if videos is not None and not Path(videos).is_dir():
            raise VrtError(f"--videos {videos}: no such folder")
        return cls(
            index=load_index(index),
            trained=TrainedModel.load(checkpoint, overrides=overrides).for_videos(),
            videos=Path(videos) if videos is not None else None,
            force=force,
            warn=warn,
        )

    def info(self) -> dict[str, Any]:
        labelled = int(self.index.codeset.labelled.sum())
        names = self.index.codeset.class_names
        return {
            "items": len(self.index),
            "labelled": labelled,
            "unlabelled": len(self.index) - labelled,
            "bits": self.index.bits,
            "kind": self.index.kind,
            "checkpoint": self.trained.checkpoint.name,
            "thumbnails": self.videos is not None,
            "max_topk": MAX_TOPK,
            # For the page's class filter; None without names, or with too many for a menu.
            "class_names": list(names) if names and len(names) <= MAX_LISTED_CLASSES else None,
        }

    def items(
        self, contains: str = "", *, class_name: str = "", offset: int = 0, limit: int = 50
    ) -> dict[str, Any]:
        """Indexed items whose id contains ``contains`` (case-insensitive) and, when given, of
        class ``class_name``: their number (``total``), and from ``offset`` on, in index order,
        up to ``limit`` of them (``ids``, and ``items`` with class and thumbnail)."""
        chosen = np.char.find(self._lowered_ids, contains.lower()) >= 0
        if class_name:
            names = list(self.index.codeset.class_names or ())
            if class_name in names:
                chosen &= self.index.labels == names.index(class_name)
            else:
                chosen[:] = False  # a class the index does not have: nothing
        positions = np.flatnonzero(chosen)
        page = positions[offset : offset + limit]
        items = [
            {**self._described(str(self.index.ids[p]), int(self.index.labels[p])),
             "thumbnail": self._thumbnail_url(str(self.index.ids[p]))}
            for p in page
        ]  # fmt: skip
        return {
            "total": len(positions),
            "offset": offset,
            "ids": [item["id"] for item in items],
            "items": items,
        }

    def search_id(self, item_id: str, k: int) -> dict[str, Any]:
        """The ``k`` nearest items of an indexed item (the item itself included, at distance 0)."""
        distances, positions = self.index.search_ids([item_id], k)
        position = self.index.position_of(item_id)
        label = int(self.index.labels[position])
        query = {**self._described(item_id, label), "thumbnail": self._thumbnail_url(item_id)}
        return {"query": query, "results": self._results(distances, positions)}

    def search_video(self, path: Path, k: int, *, name: str) -> dict[str, Any]:
        """The ``k`` nearest items of the video file at ``path`` (shown as ``name``)."""
        if Path(name).suffix.lower() not in VIDEO_EXTENSIONS:
            accepted = ", ".join(sorted(VIDEO_EXTENSIONS))
            raise NotAVideoError(f"{name!r} is not a video file: upload one of {accepted}")
        from vrt.datasets.items import Item

        skipped: list[SkippedClip] = []
        try:
            with self._encoding:
                codes = self.trained.encode([Item(name, path, "video")], workers=0, on_skipped=skipped.extend)
            if skipped:
                raise VideoDecodeError(skipped[0].reason)
            frames = video_thumbnails(paths={name: path}, num_frames=1)(name)
        except VideoDecodeError as error:
            reason = str(error).replace(str(path), name)
            raise NotAVideoError(f"{name!r} is not a readable video ({reason})") from None
        distances, positions = self.index.search(codes.codes, k)
        query = {"id": name, "label": -1, "class_name": None, "thumbnail": jpeg_data_uri(frames[0])}
        return {"query": query, "results": self._results(distances, positions)}

    def _results(self, distances: Any, positions: Any) -> list[dict[str, Any]]:
        (rows,) = self.index.results(distances, positions)
        return [{**row, "thumbnail": self._thumbnail_url(row["id"])} for row in rows]

    def _described(self, item_id: str, label: int) -> dict[str, Any]:
        return {"id": item_id, "label": label, "class_name": self.index.class_name(label)}

    def _thumbnail_url(self, item_id: str) -> str | None:
        return f"/api/thumbnail?id={quote(item_id, safe='')}" if self.videos is not None else None

    def preview(self, item_id: str, frame: int) -> bytes | None:
        """JPEG of frame ``frame`` of the :data:`PREVIEW_FRAMES` spread over an indexed item's
        clip (the page cycles through them on hover); None if there is none."""
        frames = self._previews(item_id)
        return frames[frame] if frames is not None and 0 <= frame < len(frames) else None

    def _preview(self, item_id: str) -> tuple[bytes, ...] | None:
        return self._jpegs(self._preview_frames, item_id)

    def _thumbnail(self, item_id: str) -> bytes | None:
        """JPEG of the middle frame of an indexed item's video (or segment); None if there is none."""
        frames = self._jpegs(self._frames, item_id)
        return frames[0] if frames else None

    def _jpegs(self, frames_of: Callable[[str], list[np.ndarray]], item_id: str) -> tuple[bytes, ...] | None:
        """The frames ``frames_of`` reads for an indexed item, as JPEGs; None for an id that is not
        indexed, or whose video is missing, outside ``videos`` or unreadable."""
        if self.videos is None or item_id not in self.index:
            return None
        try:
            return tuple(jpeg_bytes(frame) for frame in frames_of(item_id))
        except (KeyError, VideoDecodeError):
            return None
