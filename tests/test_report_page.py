"""retrieval.html: the right tiles in the right frames, escaped names, self-contained, and it
renders in headless Chromium (Debian's ``chromium``; .ci/run installs it) with every image."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from vrt.codes import CodeSet
from vrt.reporting.retrieval_page import jpeg_bytes, write_retrieval_page

CLASS_NAMES = ["Apply & Eye <b>", 'Body "Weight" (x)!', "Jump @ Rope #2"]
THUMBNAIL_FRAMES = 6


def codes(n: int, *, seed: int, prefix: str) -> CodeSet:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASS_NAMES), n)
    centres = np.random.default_rng(99).random((len(CLASS_NAMES), 16)) < 0.5
    bits = centres[labels] ^ (rng.random((n, 16)) < 0.2)  # many ties and some wrong neighbours
    ids = [f"{prefix}/{CLASS_NAMES[label]}/v_{i}&x=1.avi" for i, label in enumerate(labels)]
    return CodeSet.from_bits(bits, labels=labels, ids=ids, class_names=CLASS_NAMES)


def thumbnails(item_id: str) -> list[np.ndarray]:
    """Frames whose colour says the id, so a tile showing another item's frames would be visible."""
    shade = sum(item_id.encode()) % 200
    return [
        np.full((48, 64, 3), (shade, 40 * t % 255, 255 - shade), dtype=np.uint8)
        for t in range(THUMBNAIL_FRAMES)
    ]


def brute_force_top(query: np.ndarray, database: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    distances = (np.unpackbits(query)[None, :] != np.unpackbits(database, axis=1)).sum(axis=1)
    order = np.argsort(distances, kind="stable")[:k]
    return distances[order], order


class PageParser(HTMLParser):
    """Collects the query sections and their tiles (attributes as the page or the browser wrote them)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[dict] = []
        self.body: dict[str, str | None] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "body":
            self.body = attributes
        elif tag == "section" and "query" in classes:
            self.sections.append({**attributes, "tiles": []})
        elif tag == "li" and "tile" in classes:
            self.sections[-1]["tiles"].append({**attributes, "status": classes[1]})


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    return parser


@pytest.fixture
def page(tmp_path) -> tuple[Path, CodeSet, CodeSet]:
    query, database = codes(40, seed=1, prefix="test"), codes(150, seed=2, prefix="train")
    path = write_retrieval_page(
        tmp_path, query=query, database=database, thumbnails=thumbnails, num_queries=5, seed=3
    )
    return path, query, database


def check_tiles(
    parser: PageParser, query: CodeSet, database: CodeSet, *, num_queries: int, topk: int
) -> None:
    assert len(parser.sections) == num_queries
    query_position = {item_id: i for i, item_id in enumerate(query.ids.tolist())}
    for section in parser.sections:
        q = query_position[section["data-query-id"]]
        distances, positions = brute_force_top(query.codes[q], database.codes, topk)
        tiles = section["tiles"]
        assert [tile["data-id"] for tile in tiles] == database.ids[positions].tolist()
        assert [int(tile["data-distance"]) for tile in tiles] == distances.tolist()
        assert [int(tile["data-rank"]) for tile in tiles] == list(range(1, topk + 1))
        correct = database.labels[positions] == query.labels[q]
        assert [tile["status"] for tile in tiles] == ["correct" if c else "wrong" for c in correct]
        assert (int(section["data-correct"]), int(section["data-wrong"])) == (correct.sum(), (~correct).sum())


def test_page_shows_the_stable_top_k_with_correct_and_wrong_frames(page):
    path, query, database = page
    assert path.name == "retrieval.html"
    html = path.read_text(encoding="utf-8")
    parser = parse(html)
    check_tiles(parser, query, database, num_queries=5, topk=10)
    assert html.count('class="tile ') == 50
    statuses = [tile["status"] for section in parser.sections for tile in section["tiles"]]
    assert 0 < statuses.count("wrong") < statuses.count("correct")  # both frames are exercised


def test_page_is_self_contained_and_escapes_names(page):
    path, _, _ = page
    html = path.read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="(?!data:)', html)  # no external resource, nothing to fetch
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "Apply &amp; Eye &lt;b&gt;" in html and "<b>" not in html
    assert "Body &quot;Weight&quot; (x)!" in html and "&amp;x=1.avi" in html
    assert html.count("data:image/jpeg;base64,") == 5 * THUMBNAIL_FRAMES + 50  # strips + one frame per tile


def test_sampling_is_seeded_and_thumbnails_are_optional(tmp_path):
    query, database = codes(40, seed=1, prefix="test"), codes(150, seed=2, prefix="train")
    pages = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        path = write_retrieval_page(tmp_path / name, query=query, database=database, num_queries=4, seed=seed)
        pages[name] = path.read_text(encoding="utf-8")
    assert pages["a"] == pages["b"] and pages["a"] != pages["c"]
    assert "no thumbnails" in pages["a"] and "data:image" not in pages["a"]

    def broken(item_id: str) -> list[np.ndarray]:
        raise OSError(f"cannot decode {item_id}")

    path = write_retrieval_page(tmp_path / "d", query=query, database=database, thumbnails=broken, topk=200)
    parser = parse(path.read_text(encoding="utf-8"))
    assert [len(section["tiles"]) for section in parser.sections] == [150] * 8  # K clipped to the database


def test_jpeg_encoder_round_trip():
    import io

    from PIL import Image

    rng = np.random.default_rng(0)
    image = np.repeat(np.repeat(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8), 8, axis=0), 8, axis=1)
    data = jpeg_bytes(image)
    assert data[:3] == b"\xff\xd8\xff"
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - image).mean() < 12  # lossy, but the same picture


# -- headless Chromium ------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Counts the images that failed to decode once the page has loaded; added to a copy of the page only.
LOAD_PROBE = (
    '<script>window.addEventListener("load", () => { const images = [...document.images];'
    " document.body.dataset.images = images.length;"
    " document.body.dataset.brokenImages = images.filter(i => !i.complete || i.naturalWidth === 0).length;"
    ' document.body.dataset.loaded = "yes"; });</script>'
)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--virtual-time-budget=10000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)"
)
def test_page_renders_in_headless_chromium(page, tmp_path):
    path, query, database = page
    probed = tmp_path / "probed.html"
    probed.write_text(
        path.read_text(encoding="utf-8").replace("</body>", LOAD_PROBE + "</body>"), encoding="utf-8"
    )

    result = chromium(tmp_path, "--dump-dom", probed.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    parser = parse(result.stdout)
    assert parser.body.get("data-loaded") == "yes", "the load event never fired"
    assert parser.body["data-images"] == str(5 * THUMBNAIL_FRAMES + 50)
    assert parser.body["data-broken-images"] == "0"
    assert result.stdout.count('class="tile ') == 50
    check_tiles(parser, query, database, num_queries=5, topk=10)

    screenshot = tmp_path / "retrieval.png"
    shot = chromium(tmp_path, "--window-size=1280,1600", f"--screenshot={screenshot}", path.as_uri())
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000


def test_page_module_imports_neither_torch_nor_faiss():
    code = (
        "import sys\nimport vrt.reporting.retrieval_page\n"
        "assert not {'torch', 'faiss'} & set(sys.modules), sorted({'torch', 'faiss'} & set(sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)"
)
def test_page_of_a_trained_run_renders_with_thumbnails_and_every_tile(tmp_path, tiny_config_file):
    """The demo path end to end: train, `vrt eval --checkpoint`, open its retrieval.html."""
    from typer.testing import CliRunner

    from vrt.cli import app

    run_dir = tmp_path / "run"
    cli = CliRunner()
    trained = cli.invoke(
        app, ["train", str(tiny_config_file), "--output", str(run_dir), "--set", "train.epochs=1"]
    )
    assert trained.exit_code == 0, trained.output
    evaluated = cli.invoke(
        app,
        ["eval", "--checkpoint", str(run_dir / "best.pt"), "--no-plots", "--output", str(run_dir / "eval")],
    )
    assert evaluated.exit_code == 0, evaluated.output
    page = run_dir / "eval" / "retrieval.html"

    probed = tmp_path / "probed.html"
    probed.write_text(
        page.read_text(encoding="utf-8").replace("</body>", LOAD_PROBE + "</body>"), encoding="utf-8"
    )
    result = chromium(tmp_path, "--dump-dom", probed.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    parser = parse(result.stdout)
    assert parser.body.get("data-loaded") == "yes", "the load event never fired"
    assert parser.body["data-broken-images"] == "0"
    # 8 sampled queries of the 12 test videos, each with its top 10 of the 32 database videos.
    assert result.stdout.count('class="tile ') == 8 * 10
    # Query strips and result tiles carry real frames, not placeholders.
    assert int(parser.body["data-images"]) > 8 * 10
