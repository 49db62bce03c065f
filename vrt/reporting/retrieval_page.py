"""``retrieval.html``: a static page of sampled queries and what the codes retrieve for them.

For each sampled query the page shows a strip of its frames and its top-K database items by
Hamming distance (ties in database order, as in the metrics), each tile framed green when its
class is the query's and red when not. The page is one self-contained file: styles inline,
frames embedded as base64 PNG data URIs, no script and no external resource, so it opens
offline and can be mailed or archived as it is. numpy only (no torch, no faiss, no Pillow):
the PNG encoder below is a few lines of zlib.
"""

from __future__ import annotations

import base64
import html
import struct
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from vrt.codes import CodeSet
from vrt.index.exact import exact_topk
from vrt.runtime.fileio import atomic_write_text

__all__ = ["PAGE_NAME", "png_bytes", "write_retrieval_page"]

PAGE_NAME = "retrieval.html"
Thumbnails = Callable[[str], Sequence[np.ndarray]]

_STRIP_FRAMES = 8  # frames shown per query strip at most
_MAX_SIDE = 128  # pixels; larger frames are subsampled before embedding

_STYLE = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1d1d1f;
       background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px; }
.summary { color: #555; margin: 0 0 8px; }
.legend { margin: 0 0 20px; color: #555; }
.swatch { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; margin: 0 4px 0 10px;
          border: 3px solid; border-radius: 3px; }
.swatch.correct, .tile.correct { border-color: #1e8e3e; }
.swatch.wrong, .tile.wrong { border-color: #d93025; }
section.query { background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 12px 16px;
                margin: 0 0 20px; }
section.query h2 { font-size: 16px; margin: 0 0 8px; }
.query-id, .tile .id { color: #666; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.strip { display: flex; gap: 4px; margin: 0 0 8px; flex-wrap: wrap; }
.strip img { height: 72px; border-radius: 3px; image-rendering: auto; }
.placeholder { display: flex; align-items: center; justify-content: center; background: #eee; color: #888;
               font-size: 12px; border-radius: 3px; }
.strip .placeholder { height: 72px; width: 240px; }
.stats { color: #555; margin: 0 0 8px; }
ol.results { list-style: none; padding: 0; margin: 0; display: grid; gap: 8px;
             grid-template-columns: repeat(auto-fill, minmax(128px, 1fr)); }
.tile { border: 4px solid; border-radius: 6px; padding: 4px; background: #fff; min-width: 0; }
.tile img, .tile .placeholder { width: 100%; height: 72px; object-fit: cover; border-radius: 3px; }
.tile .meta { display: flex; justify-content: space-between; font-size: 12px; margin-top: 4px; }
.tile .class { display: block; font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.tile .id { display: block; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
""".strip()


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
    if query.bits != database.bits:
        raise ValueError(f"query codes have {query.bits} bits but the database has {database.bits}")
    if num_queries < 1 or topk < 1:
        raise ValueError(f"num_queries and topk must be at least 1, got {num_queries} and {topk}")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(query), size=min(num_queries, len(query)), replace=False))
    if len(database):
        distances, positions = exact_topk(query.codes[chosen], database.codes, topk)
    else:
        distances = positions = np.zeros((len(chosen), 0), dtype=np.int64)
    class_names = query.class_names or database.class_names
    frames = _FrameCache(thumbnails)

    sections = [
        _query_section(
            rank_of_query=i + 1,
            query_id=str(query.ids[q]),
            query_label=int(query.labels[q]),
            distances=distances[i].tolist(),
            positions=positions[i].tolist(),
            database=database,
            class_names=class_names,
            frames=frames,
        )
        for i, q in enumerate(chosen.tolist())
    ]
    summary = (
        f"{len(chosen)} of {len(query)} queries (sampled with seed {seed}) against a database of "
        f"{len(database)} items, {query.bits}-bit codes. Top {min(topk, len(database))} by Hamming "
        "distance, ties in database order."
    )
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_escape(title)}</title>",
            f"<style>\n{_STYLE}\n</style>",
            "</head>",
            f'<body data-num-queries="{len(chosen)}" data-topk="{topk}" data-seed="{seed}">',
            f"<h1>{_escape(title)}</h1>",
            f'<p class="summary">{_escape(summary)}</p>',
            '<p class="legend">Frame:<span class="swatch correct"></span>same class as the query'
            '<span class="swatch wrong"></span>another class</p>',
            *sections,
            "</body>",
            "</html>",
            "",
        ]
    )
    path = Path(out_dir) / PAGE_NAME
    atomic_write_text(path, page)
    return path


def _query_section(
    *,
    rank_of_query: int,
    query_id: str,
    query_label: int,
    distances: list[int],
    positions: list[int],
    database: CodeSet,
    class_names: list[str] | None,
    frames: _FrameCache,
) -> str:
    tiles = []
    correct = 0
    for rank, (distance, position) in enumerate(zip(distances, positions, strict=True), 1):
        item_id, label = str(database.ids[position]), int(database.labels[position])
        is_correct = label == query_label
        correct += is_correct
        status = "correct" if is_correct else "wrong"
        image = frames.middle(item_id)
        picture = (
            f'<img src="{_data_uri(image)}" alt="{_escape(item_id)}">'
            if image is not None
            else '<div class="placeholder">no frame</div>'
        )
        tiles.append(
            f'<li class="tile {status}" data-rank="{rank}" data-id="{_escape(item_id)}" '
            f'data-label="{label}" data-distance="{distance}" data-correct="{str(is_correct).lower()}">'
            f"{picture}"
            f'<div class="meta"><span class="rank">#{rank}</span><span class="distance">d = {distance}</span></div>'
            f'<span class="class" title="{_escape(_class_name(label, class_names))}">'
            f"{_escape(_class_name(label, class_names))}</span>"
            f'<span class="id" title="{_escape(item_id)}">{_escape(item_id)}</span>'
            "</li>"
        )
    strip_frames = frames.strip(query_id)
    if strip_frames:
        strip = "".join(
            f'<img src="{_data_uri(frame)}" alt="frame {i + 1} of {_escape(query_id)}">'
            for i, frame in enumerate(strip_frames)
        )
    else:
        strip = '<div class="placeholder">no thumbnails</div>'
    shown = len(tiles)
    precision = f"{correct / shown:.2f}" if shown else "n/a"
    name = _class_name(query_label, class_names)
    return (
        f'<section class="query" data-query-id="{_escape(query_id)}" data-label="{query_label}" '
        f'data-correct="{correct}" data-wrong="{shown - correct}">\n'
        f'<h2>Query {rank_of_query}: {_escape(name)} <span class="query-id">{_escape(query_id)}</span></h2>\n'
        f'<div class="strip">{strip}</div>\n'
        f'<p class="stats">{correct} of {shown} results share the query\'s class (precision@{shown}: {precision})</p>\n'
        f'<ol class="results">\n' + "\n".join(tiles) + "\n</ol>\n</section>"
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
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise ValueError(f"thumbnail frames must be uint8, got {frame.dtype}")
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or 0 in frame.shape:
        raise ValueError(f"thumbnail frames must be H x W x 3, got shape {frame.shape}")
    step = -(-max(frame.shape[:2]) // _MAX_SIDE)  # subsample so the long side is at most _MAX_SIDE
    return np.ascontiguousarray(frame[::step, ::step, :3])


def png_bytes(image: np.ndarray) -> bytes:
    """An RGB uint8 ``H x W x 3`` image as PNG file bytes (8-bit truecolour, no filtering)."""
    height, width, _ = image.shape
    rows = np.concatenate([np.zeros((height, 1), dtype=np.uint8), image.reshape(height, width * 3)], axis=1)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits per channel, RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def _data_uri(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def _class_name(label: int, class_names: list[str] | None) -> str:
    if class_names is not None and 0 <= label < len(class_names):
        return class_names[label]
    return f"class {label}"


def _escape(text: str) -> str:
    return html.escape(text, quote=True)
