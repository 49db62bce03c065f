"""Static pages of queries and what the codes retrieve for them: ``retrieval.html`` and search results.

For each query the page shows a strip of its frames and its nearest items by Hamming distance,
each tile with a frame of the item, its rank, distance, class and full id, framed green when
its class is the query's, red when not, and grey when either has no label (nothing to judge).
The page is one self-contained file: styles inline, frames embedded as base64 JPEG data URIs
(Pillow, which matplotlib already needs), no script and no external resource, so it opens
offline and can be mailed or archived as it is. No torch, no faiss.

:func:`write_retrieval_page` samples queries of an evaluation and ranks them itself (ties in
database order, as the metrics); :func:`write_search_page` shows results found elsewhere (an
index search), in the order given.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vrt.codes import UNLABELLED, CodeSet, check_comparable
from vrt.index.exact import exact_topk
from vrt.reporting.thumbnails import THUMBNAIL_SIDE, Thumbnails
from vrt.runtime.fileio import atomic_write_text

__all__ = [
    "LEGEND",
    "PAGE_MARKER",
    "PAGE_NAME",
    "PAGE_STYLE",
    "QueryResult",
    "RankedItem",
    "html_document",
    "is_vrt_page",
    "jpeg_bytes",
    "write_retrieval_page",
    "write_search_page",
]

PAGE_NAME = "retrieval.html"
# In the head of every page vrt writes: how a writer recognises a page it may replace.
PAGE_MARKER = '<meta name="generator" content="vrt">'
_STRIP_FRAMES = 8  # frames shown per query strip at most

PAGE_STYLE = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1d1d1f;
       background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px; }
.summary { color: #555; margin: 0 0 8px; }
.legend { margin: 0 0 20px; color: #555; }
.swatch { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; margin: 0 4px 0 10px;
          border: 3px solid; border-radius: 3px; }
.swatch.correct, .tile.correct { border-color: #1e8e3e; }
.swatch.wrong, .tile.wrong { border-color: #d93025; }
.swatch.unjudged, .tile.unjudged { border-color: #b0b0b0; }
section.query { background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 12px 16px;
                margin: 0 0 20px; }
section.query h2 { font-size: 16px; margin: 0 0 8px; overflow-wrap: anywhere; }
.query-id, .tile .id { color: #666; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.strip { display: flex; gap: 4px; margin: 0 0 8px; flex-wrap: wrap; }
.strip img { max-height: 96px; width: auto; border-radius: 3px; }
.placeholder { display: flex; align-items: center; justify-content: center; background: #eee; color: #888;
               font-size: 12px; border-radius: 3px; }
.strip .placeholder { height: 96px; width: 240px; }
.stats { color: #555; margin: 0 0 8px; }
ol.results { list-style: none; padding: 0; margin: 0; display: grid; gap: 8px;
             grid-template-columns: repeat(auto-fill, minmax(176px, 1fr)); }
.tile { border: 4px solid; border-radius: 6px; padding: 4px; background: #fff; min-width: 0; }
.tile img { display: block; width: 100%; height: auto; max-height: 160px; object-fit: contain;
            background: #111; border-radius: 3px; }
.tile .placeholder { height: 96px; }
.tile .meta { display: flex; justify-content: space-between; font-size: 12px; margin-top: 4px; }
.tile .class { display: block; font-weight: 600; overflow-wrap: anywhere; }
.tile .id { display: block; overflow-wrap: anywhere; }
""".strip()


#: What the tile frames mean (shared with the page of ``vrt serve``).
LEGEND = (
    '<p class="legend">Frame:<span class="swatch correct"></span>same class as the query'
    '<span class="swatch wrong"></span>another class'
    '<span class="swatch unjudged"></span>a class is not known</p>'
)


@dataclass(frozen=True)
class RankedItem:
    """One result: the item's id, label (-1 when unknown) and Hamming distance to the query."""

    id: str
    label: int
    distance: int


@dataclass(frozen=True)
class QueryResult:
    """A query (id and label, -1 when unknown) and its results, nearest first."""

    id: str
    label: int
    results: Sequence[RankedItem]


def write_retrieval_page(
    out_dir: Path,
    *,
    query: CodeSet,
    database: CodeSet,
    thumbnails: Thumbnails | None = None,
    num_queries: int = 8,
    topk: int = 10,
    seed: int = 0,
    title: str = "Retrieval examples",
) -> Path:
    """Write ``out_dir/retrieval.html`` and return its path.

    Args:
        query, database: codes of the query and database sets (same code length).
        thumbnails: ``id -> frames`` (uint8 ``H x W x 3``, or ``H x W`` grey) for a query strip;
            result tiles show the middle frame. None, or a call that fails, gives a placeholder
            instead: a missing video must not cost the evaluation that writes the page.
        num_queries: queries sampled (without replacement, with ``seed``), shown in set order.
        topk: results per query.
    """
    # The evaluation that writes the page has checked the two sets and said what it found.
    check_comparable(
        query, database, first_name="the queries", second_name="the database", force=True, warn=_quiet
    )
    if num_queries < 1 or topk < 1:
        raise ValueError(f"num_queries and topk must be at least 1, got {num_queries} and {topk}")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(query), size=min(num_queries, len(query)), replace=False))
    if len(database):
        distances, positions = exact_topk(query.codes[chosen], database.codes, topk)
    else:
        distances = positions = np.zeros((len(chosen), 0), dtype=np.int64)
    queries = [
        QueryResult(
            id=str(query.ids[q]),
            label=int(query.labels[q]),
            results=[
                RankedItem(str(database.ids[p]), int(database.labels[p]), int(d))
                for d, p in zip(distances[i].tolist(), positions[i].tolist(), strict=True)
            ],
        )
        for i, q in enumerate(chosen.tolist())
    ]
    summary = (
        f"{len(chosen)} of {len(query)} queries (sampled with seed {seed}) against a database of "
        f"{len(database)} items, {query.bits}-bit codes. Top {min(topk, len(database))} by Hamming "
        "distance, ties in database order."
    )
    page = _page(
        queries,
        class_names=query.class_names or database.class_names,
        thumbnails=thumbnails,
        query_thumbnails=thumbnails,
        title=title,
        summary=summary,
        attributes=f'data-num-queries="{len(chosen)}" data-topk="{topk}" data-seed="{seed}"',
    )
    path = Path(out_dir) / PAGE_NAME
    atomic_write_text(path, page)
    return path


def is_vrt_page(path: Path) -> bool:
    """Whether ``path`` is a page vrt wrote (its head, read from the first 4 KiB, has the marker)."""
    try:
        with open(path, "rb") as handle:
            return PAGE_MARKER.encode() in handle.read(4096)
    except OSError:
        return False


def write_search_page(
    path: Path,
    queries: Sequence[QueryResult],
    *,
    class_names: list[str] | None,
    thumbnails: Thumbnails | None = None,
    query_thumbnails: Thumbnails | None = None,
    title: str = "Search results",
    summary: str = "",
) -> Path:
    """Write a page of ``queries`` with their results as given (``vrt search --html``); returns ``path``.

    ``thumbnails`` gives the frames of result items, ``query_thumbnails`` those of the queries
    (their ids may name other files than the index's); either may be None (placeholders).
    """
    page = _page(
        queries,
        class_names=class_names,
        thumbnails=thumbnails,
        query_thumbnails=query_thumbnails,
        title=title,
        summary=summary,
        attributes=f'data-num-queries="{len(queries)}"',
    )
    atomic_write_text(path, page)
    return Path(path)


def _page(
    queries: Sequence[QueryResult],
    *,
    class_names: list[str] | None,
    thumbnails: Thumbnails | None,
    query_thumbnails: Thumbnails | None,
    title: str,
    summary: str,
    attributes: str,
) -> str:
    results, strips = _FrameCache(thumbnails), _FrameCache(query_thumbnails)
    sections = [
        _query_section(number, query, class_names=class_names, results=results, strips=strips)
        for number, query in enumerate(queries, 1)
    ]
    return html_document(
        title=title,
        style=PAGE_STYLE,
        body_attributes=attributes,
        body=[
            f"<h1>{_escape(title)}</h1>",
            f'<p class="summary">{_escape(summary)}</p>',
            LEGEND,
            *sections,
        ],
    )


def html_document(*, title: str, style: str, body_attributes: str, body: Sequence[str]) -> str:
    """A whole HTML page: UTF-8, a viewport for phones, inline styles, ``body`` as given."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            PAGE_MARKER,
            f"<title>{_escape(title)}</title>",
            f"<style>\n{style}\n</style>",
            "</head>",
            f"<body {body_attributes}>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def _query_section(
    number: int,
    query: QueryResult,
    *,
    class_names: list[str] | None,
    results: _FrameCache,
    strips: _FrameCache,
) -> str:
    tiles = []
    correct = wrong = 0
    for rank, item in enumerate(query.results, 1):
        judged = query.label != UNLABELLED and item.label != UNLABELLED
        status = "unjudged" if not judged else "correct" if item.label == query.label else "wrong"
        correct, wrong = correct + (status == "correct"), wrong + (status == "wrong")
        image = results.middle(item.id)
        picture = (
            f'<img src="{jpeg_data_uri(image)}" alt="{_escape(item.id)}">'
            if image is not None
            else '<div class="placeholder">no frame</div>'
        )
        name = _class_name(item.label, class_names)
        tiles.append(
            f'<li class="tile {status}" data-rank="{rank}" data-id="{_escape(item.id)}" '
            f'data-label="{item.label}" data-distance="{item.distance}" '
            f'data-correct="{str(status == "correct").lower()}">'
            f"{picture}"
            f'<div class="meta"><span class="rank">#{rank}</span><span class="distance">d = {item.distance}</span></div>'
            f'<span class="class">{_escape(name)}</span>'
            f'<span class="id" title="{_escape(item.id)}">{_escape(item.id)}</span>'
            "</li>"
        )
    strip_frames = strips.strip(query.id)
    if strip_frames:
        strip = "".join(
            f'<img src="{jpeg_data_uri(frame)}" alt="frame {i + 1} of {_escape(query.id)}">'
            for i, frame in enumerate(strip_frames)
        )
    else:
        strip = '<div class="placeholder">no thumbnails</div>'
    return (
        f'<section class="query" data-query-id="{_escape(query.id)}" data-label="{query.label}" '
        f'data-correct="{correct}" data-wrong="{wrong}">\n'
        f"<h2>Query {number}: {_escape(_class_name(query.label, class_names))} "
        f'<span class="query-id">{_escape(query.id)}</span></h2>\n'
        f'<div class="strip">{strip}</div>\n'
        f'<p class="stats">{_escape(_judgement(correct, wrong, len(tiles), query.label))}</p>\n'
        f'<ol class="results">\n' + "\n".join(tiles) + "\n</ol>\n</section>"
    )


def _judgement(correct: int, wrong: int, shown: int, query_label: int) -> str:
    if query_label == UNLABELLED:
        return f"{shown} results; the query has no label, so none is judged"
    judged = correct + wrong
    precision = f"{correct / judged:.2f}" if judged else "n/a"
    if judged == shown:
        return f"{correct} of {shown} results share the query's class (precision@{shown}: {precision})"
    return (
        f"{correct} of the {judged} labelled results share the query's class (precision: {precision}); "
        f"{shown - judged} results have no label"
    )


class _FrameCache:
    """Frames per id, fetched once (an id can be a result of several queries) and reduced for the page."""

    def __init__(self, thumbnails: Thumbnails | None) -> None:
        self._thumbnails = thumbnails
        self._frames: dict[str, list[np.ndarray]] = {}

    def _get(self, item_id: str) -> list[np.ndarray]:
        if self._thumbnails is None:
            return []
        if item_id not in self._frames:
            try:
                frames = [_as_rgb(frame) for frame in self._thumbnails(item_id)]
            except Exception:  # noqa: BLE001 - decoders raise many types; a placeholder is the answer to all
                frames = []
            self._frames[item_id] = frames
        return self._frames[item_id]

    def strip(self, item_id: str) -> list[np.ndarray]:
        frames = self._get(item_id)
        if len(frames) > _STRIP_FRAMES:
            picks = np.linspace(0, len(frames) - 1, _STRIP_FRAMES).round().astype(int)
            frames = [frames[i] for i in picks]
        return frames

    def middle(self, item_id: str) -> np.ndarray | None:
        frames = self._get(item_id)
        return frames[len(frames) // 2] if frames else None


def _as_rgb(frame: np.ndarray) -> np.ndarray:
    from PIL import Image

    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise ValueError(f"thumbnail frames must be uint8, got {frame.dtype}")
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or 0 in frame.shape:
        raise ValueError(f"thumbnail frames must be H x W x 3, got shape {frame.shape}")
    frame = np.ascontiguousarray(frame[:, :, :3])
    if max(frame.shape[:2]) <= THUMBNAIL_SIDE:
        return frame
    image = Image.fromarray(frame)
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)  # keeps the aspect ratio
    return np.asarray(image)


def jpeg_bytes(image: np.ndarray, *, quality: int = 85) -> bytes:
    """An RGB uint8 ``H x W x 3`` image as JPEG file bytes (a tenth of a PNG's size for video frames)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def jpeg_data_uri(image: np.ndarray) -> str:
    """``data:image/jpeg;base64,...`` of an RGB uint8 image, for an ``<img src>``."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes(image)).decode("ascii")


def _class_name(label: int, class_names: list[str] | None) -> str:
    if label == UNLABELLED:
        return "unlabelled"
    if class_names is not None and 0 <= label < len(class_names):
        return class_names[label]
    return f"class {label}"


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _quiet(_message: str) -> None:
    """Warnings already given by the evaluation the page belongs to."""
