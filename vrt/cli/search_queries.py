"""What the ``--query`` values of `vrt search` are, their codes, and the page of their results.

A value is, in this order, a codes file (an ``.npz`` archive, whatever its name), an id in the
index, or videos (a video file, a frame folder, a folder of videos or a list file), which the
checkpoint encodes. Every value is classified, and every video source listed, before anything
is encoded, so that a mistake in the last ``--query`` costs no encoding time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import typer

if TYPE_CHECKING:
    from vrt.codes import CodeSet
    from vrt.index import HammingIndex
    from vrt.inference import TrainedModel
    from vrt.inference.collection import Collection


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

    def extend(self, index: HammingIndex, codes: CodeSet) -> None:
        """Append the queries of ``codes``, their labels put in :attr:`class_names` when possible."""
        from vrt.codes import UNLABELLED
        from vrt.index import IndexEditError, QueryMismatchError
        from vrt.index.editing import merge_class_names

        if codes.bits != index.bits:
            raise QueryMismatchError(
                f"query codes have {codes.bits} bits but the index has {index.bits}-bit codes"
            )
        # Merged with the names gathered so far, not the index's alone: two query files with
        # new classes of their own must not both claim the first free label.
        try:
            self.class_names, labels = merge_class_names(
                self.class_names, codes, first_labelled=self.index_labelled
            )
        except IndexEditError:  # bare class numbers against names: the labels cannot be shown
            labels = [UNLABELLED] * len(codes)
        self.ids += codes.ids.tolist()
        self.labels += [int(label) for label in labels]
        self.rows += list(codes.codes)
        self.all_indexed = False


def resolve_queries(
    index: HammingIndex, values: list[str], checkpoint: Path | None, *, exclude_self: bool = False
) -> SearchQueries:
    """Each ``--query``, in order, as a codes file, else an indexed id, else videos to encode."""
    from vrt.codes import load_codes
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
        raise typer.BadParameter("--exclude-self applies to id queries only")
    # Listed first: a source that holds no video is said so, not met with a call for --checkpoint.
    collections = {
        value: _list_query_videos(value)
        for value, kind in zip(values, kinds, strict=True)
        if kind == "videos"
    }
    if collections and checkpoint is None:
        shown = ", ".join(list(collections)[:3])
        raise typer.BadParameter(f"{shown}: videos, not ids in the index: pass --checkpoint to encode them")
    trained: TrainedModel | None = None
    queries = SearchQueries.of(index)
    for value, kind in zip(values, kinds, strict=True):
        if kind == "codes":
            queries.extend(index, load_codes(value))
        elif kind == "id":
            queries.add_indexed(index, value)
        else:
            from vrt.cli.collection_commands import load_encoder

            assert checkpoint is not None
            trained = trained or load_encoder(checkpoint, bits=index.bits)
            _encode_videos(trained, value, collections[value], index, queries)
    return queries


def _list_query_videos(value: str) -> Collection:
    """The videos a ``--query`` names; one that names none is an error saying what it is not."""
    from vrt.errors import VideoDecodeError, VrtError
    from vrt.inference.collection import list_collection
    from vrt.io.video import probe_video

    try:
        collection = list_collection([value])
        problem = None if collection.items else "; ".join(list(collection.unreadable.values())[:2])
        first = collection.items[0] if collection.items else None
        if first is not None and first.kind == "video" and first.path == Path(value):  # one video file
            try:  # opened now, so that a text file named .avi is not met with a call for --checkpoint
                probe_video(first.path)
            except VideoDecodeError as error:
                problem = str(error).removeprefix(f"{first.path}: ")
    except VrtError as error:
        problem = str(error)
    if problem is not None:
        raise VideoDecodeError(
            f"--query {value} is not an id in the index, not a codes file (.npz) and not a readable "
            f"video ({problem}); give an id, a codes file, or video files, frame folders or a list of them"
        )
    return collection


def _encode_videos(
    trained: TrainedModel, source: str, collection: Collection, index: HammingIndex, queries: SearchQueries
) -> None:
    from vrt.cli.collection_commands import encode_videos
    from vrt.errors import VideoDecodeError

    encoded = encode_videos(trained, collection)
    if not len(encoded):
        raise VideoDecodeError(f"--query {source}: no video could be read (see the warnings above)")
    queries.extend(index, encoded)
    queries.paths.update({item.id: item.path for item in collection.items})


def write_results_page(
    path: Path,
    index: HammingIndex,
    queries: SearchQueries,
    results: list[list[dict[str, Any]]],
    *,
    videos: Path | None,
) -> Path:
    """``vrt search --html``: each query with its ranked results and thumbnails, one page."""
    from vrt.reporting.retrieval_page import QueryResult, RankedItem, write_search_page
    from vrt.reporting.thumbnails import video_thumbnails

    roots = [videos] if videos is not None else []
    pages = [
        QueryResult(
            id=item_id,
            label=label,
            results=[RankedItem(row["id"], row["label"], row["distance"]) for row in rows],
        )
        for item_id, label, rows in zip(queries.ids, queries.labels, results, strict=True)
    ]
    return write_search_page(
        path,
        pages,
        class_names=queries.class_names,
        thumbnails=video_thumbnails(roots),
        query_thumbnails=video_thumbnails(roots, paths=queries.paths),
        summary=f"{len(pages)} queries against an index of {len(index)} items ({index.bits}-bit codes, "
        f"{index.kind} index), nearest first by Hamming distance.",
    )
