"""What the queries of a search are: codes files, ids in the index, or videos to encode.

A value is, in this order, a codes file (an ``.npz`` archive, whatever its name), an id in the
index, or videos (a video file, a frame folder, a folder of videos or a list file), which a
checkpoint encodes. Every value is classified, and every video source listed, before anything
is encoded, so that a mistake in the last ``--query`` costs no encoding time. Query codes and
the checkpoint that encodes video queries pass the one comparability check against the index
(:func:`vrt.codes.check_comparable`). Importing this module imports no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vrt.codes import UNLABELLED, ClassNamesError, CodeSet, check_comparable, load_codes, merge_class_names
from vrt.datasets.collection import ItemList, list_items
from vrt.errors import VideoDecodeError, VrtError

if TYPE_CHECKING:
    from vrt.datasets.items import SkippedClip
    from vrt.index import HammingIndex
    from vrt.inference.encoding import Progress
    from vrt.inference.trained import TrainedModel

__all__ = ["SearchQueries", "resolve_queries"]


@dataclass
class SearchQueries:
    """The queries of a search: ids and labels, and their codes unless every query is an indexed id.

    Labels are in ``class_names``: the index's class names, then the names that only the query
    codes files have, in the order met. ``index_labelled`` says whether the index labels any
    item (with bare class numbers when it has no names, which named queries cannot match).
    """

    class_names: list[str] | None = None
    index_labelled: bool = False
    ids: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)  # packed codes, one per query
    all_indexed: bool = True
    paths: dict[str, Path] = field(default_factory=dict)  # source videos of encoded queries

    @classmethod
    def of(cls, index: HammingIndex) -> SearchQueries:
        return cls(class_names=index.class_names, index_labelled=bool(index.codeset.labelled.any()))

    @property
    def codes(self) -> np.ndarray | None:
        return None if self.all_indexed else np.stack(self.rows)

    def add_indexed(self, index: HammingIndex, item_id: str) -> None:
        """An item of the index as a query: its code and label as they are (the index's names come first)."""
        position = index.position_of(item_id)
        self.ids.append(item_id)
        self.labels.append(int(index.labels[position]))
        self.rows.append(index.codes[position])

    def extend(self, codes: CodeSet) -> None:
        """Append the queries of ``codes`` (checked against the index already), their labels put
        in :attr:`class_names` when possible."""
        # Merged with the names gathered so far, not the index's alone: two query files with
        # new classes of their own must not both claim the first free label.
        try:
            self.class_names, labels = merge_class_names(
                self.class_names, codes, first_labelled=self.index_labelled
            )
        except ClassNamesError:  # bare class numbers against names: the labels cannot be shown
            labels = np.full(len(codes), UNLABELLED)
        self.ids += codes.ids.tolist()
        self.labels += [int(label) for label in labels]
        self.rows += list(codes.codes)
        self.all_indexed = False


def resolve_queries(
    index: HammingIndex,
    values: list[str],
    *,
    encoder: Callable[[], TrainedModel] | None = None,
    exclude_self: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    on_skipped: Callable[[list[SkippedClip]], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> SearchQueries:
    """Each value, in order, as a codes file, else an indexed id, else videos to encode.

    Args:
        encoder: loads the model that encodes video queries (called once, only if a value names
            videos); None refuses video queries with a call for a checkpoint.
        exclude_self: the search will leave each id query out of its own results (ids only).
        force: search with codes or a checkpoint of another model than the index's anyway.
        progress, on_skipped: as :meth:`TrainedModel.encode` takes them, for video queries.
        warn: hears the comparability check's warnings.

    Raises:
        IncomparableCodesError: query codes or a checkpoint of another model (without ``force``).
        UnknownIdError: a value that is no codes file, indexed id, file or folder.
    """
    from vrt.index import UnknownIdError
    from vrt.runtime.npzfile import npz_members

    kinds: list[str] = []
    for value in values:
        path = Path(value)
        # Any .npz archive, whatever its name (no video is one): load_codes says what a bad one lacks.
        if path.is_file() and npz_members(path) is not None:
            kinds.append("codes")
        elif value in index:
            kinds.append("id")
        elif path.exists():
            kinds.append("videos")
        else:
            raise UnknownIdError(
                f"{index.unknown_id_message(value)}, and there is no file or folder of that name"
            )
    if exclude_self and set(kinds) != {"id"}:
        raise VrtError("--exclude-self applies to id queries only")
    # Listed first: a source that holds no video is said so, not met with a call for --checkpoint.
    listings = {
        value: _list_query_videos(value)
        for value, kind in zip(values, kinds, strict=True)
        if kind == "videos"
    }
    if listings and encoder is None:
        shown = ", ".join(list(listings)[:3])
        raise VrtError(f"{shown}: videos, not ids in the index: pass --checkpoint to encode them")
    trained: TrainedModel | None = None
    queries = SearchQueries.of(index)
    for value, kind in zip(values, kinds, strict=True):
        if kind == "codes":
            codes = load_codes(value)
            check_comparable(codes, index, first_name=value, second_name="the index", force=force, warn=warn)
            queries.extend(codes)
        elif kind == "id":
            queries.add_indexed(index, value)
        else:
            if trained is None:
                assert encoder is not None
                trained = encoder()
                trained.check_comparable(index, name="the index", force=force, warn=warn)
            encoded = trained.encode(listings[value], progress=progress, on_skipped=on_skipped)
            if not len(encoded):
                raise VideoDecodeError(f"--query {value}: no video could be read (see the warnings above)")
            queries.extend(encoded)
            queries.paths.update({item.id: item.path for item in listings[value].items})
    return queries


def _list_query_videos(value: str) -> ItemList:
    """The videos a ``--query`` names; one that names none is an error saying what it is not."""
    from vrt.datasets.decoders import PyAVDecoder, probe_item

    try:
        listing = list_items([value])
        problem = None if listing.items else "; ".join(list(listing.unreadable.values())[:2])
        first = listing.items[0] if listing.items else None
        if first is not None and first.kind == "video" and first.path == Path(value):  # one video file
            try:  # opened now, so that a text file named .avi is not met with a call for --checkpoint
                probe_item(first.path, "video", PyAVDecoder())
            except VideoDecodeError as error:
                problem = str(error).removeprefix(f"{first.path}: ")
    except VrtError as error:
        problem = str(error)
    if problem is not None:
        raise VideoDecodeError(
            f"--query {value} is not an id in the index, not a codes file (.npz) and not a readable "
            f"video ({problem}); give an id, a codes file, or video files, frame folders or a list of them"
        )
    return listing
