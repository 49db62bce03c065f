"""The search page of ``vrt serve``: one HTML file with its styles and script inline.

The tiles look like those of ``retrieval.html`` (its style sheet is shared): a frame of the
item at its own aspect ratio, rank, Hamming distance, class and the full id. Every text from
the server is set as text (``textContent``), never as markup, so ids and file names cannot
inject anything. ``body[data-state]`` says where the page is (``idle``, ``searching``,
``done``, ``error``), which is what the browser test waits for.
"""

from __future__ import annotations

from functools import cache

from vrt.reporting.retrieval_page import LEGEND, PAGE_STYLE, html_document

__all__ = ["search_page"]

_STYLE = """
form { display: inline-flex; gap: 8px; align-items: center; margin: 0 24px 12px 0; flex-wrap: wrap; }
input[type=text] { width: 28em; max-width: 80vw; }
#k { width: 5em; }
#error { color: #d93025; font-weight: 600; }
#query .strip img { max-height: 120px; }
"""

_SCRIPT = """
const $ = (id) => document.getElementById(id);
const topk = () => Math.max(1, Math.min(1000, parseInt($("k").value, 10) || 10));

function setState(state, message) {
  document.body.dataset.state = state;
  $("status").textContent = state === "searching" ? "Searching..." : "";
  $("error").textContent = state === "error" ? message : "";
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function picture(src, alt) {
  const placeholder = () => element("div", "placeholder", "no frame");
  if (!src) return placeholder();
  const image = element("img");
  image.alt = alt;
  image.src = src;
  image.addEventListener("error", () => image.replaceWith(placeholder()));
  return image;
}

function className(item) {
  return item.class_name || (item.label === -1 ? "unlabelled" : "class " + item.label);
}

function render(data) {
  const query = $("query");
  query.replaceChildren();
  const heading = element("h2", "", "Query: " + className(data.query) + " ");
  heading.append(element("span", "query-id", data.query.id));
  const strip = element("div", "strip");
  strip.append(picture(data.query.thumbnail, data.query.id));
  query.append(heading, strip);
  query.dataset.queryId = data.query.id;
  const results = $("results");
  results.replaceChildren();
  for (const item of data.results) {
    const judged = data.query.label !== -1 && item.label !== -1;
    const status = !judged ? "unjudged" : item.label === data.query.label ? "correct" : "wrong";
    const tile = element("li", "tile " + status);
    Object.assign(tile.dataset, { rank: item.rank, id: item.id, label: item.label, distance: item.distance });
    const meta = element("div", "meta");
    meta.append(element("span", "rank", "#" + item.rank), element("span", "distance", "d = " + item.distance));
    const id = element("span", "id", item.id);
    id.title = item.id;
    tile.append(picture(item.thumbnail, item.id), meta, element("span", "class", className(item)), id);
    results.append(tile);
  }
  setState("done");
}

async function search(request) {
  setState("searching");
  try {
    const response = await request;
    const text = await response.text();
    let data = null;
    try { data = JSON.parse(text); } catch { data = { detail: text }; }
    if (!response.ok) {
      const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
      setState("error", response.status + ": " + (detail || response.statusText));
      return;
    }
    render(data);
  } catch (error) {
    setState("error", String(error));
  }
}

$("upload").addEventListener("submit", (event) => {
  event.preventDefault();
  const file = $("file").files[0];
  if (!file) return setState("error", "Choose a video file first.");
  const body = new FormData();
  body.append("file", file);
  search(fetch("/api/search?k=" + topk(), { method: "POST", body }));
});

$("pick").addEventListener("submit", (event) => {
  event.preventDefault();
  const id = $("item").value;
  if (!id) return setState("error", "Type or pick an indexed id first.");
  search(fetch("/api/search?id=" + encodeURIComponent(id) + "&k=" + topk()));
});

let suggestion = 0;
$("item").addEventListener("input", async () => {
  const asked = ++suggestion;
  const response = await fetch("/api/items?limit=50&contains=" + encodeURIComponent($("item").value));
  if (!response.ok || asked !== suggestion) return;
  const data = await response.json();
  $("item-list").replaceChildren(...data.ids.map((id) => Object.assign(element("option"), { value: id })));
});

fetch("/api/info").then((response) => response.json()).then((info) => {
  $("info").textContent = info.items + " items (" + info.labelled + " labelled), " + info.bits +
    "-bit codes, " + info.kind + " index; model " + info.checkpoint +
    "; uploads up to " + Math.floor(info.max_upload_bytes / 1048576) + " MB" +
    (info.thumbnails ? "" : "; no thumbnails (start vrt serve with --videos)");
  $("k").max = info.max_topk;
});
setState("idle");
"""

_BODY = """
<h1>vrt search</h1>
<p class="summary" id="info"></p>
<form id="upload">
  <label>Video <input type="file" id="file" name="file" accept="video/*,.mp4,.avi,.mkv,.mov,.webm,.m4v"></label>
  <button type="submit" id="upload-button">Search with this video</button>
</form>
<form id="pick">
  <label>Indexed item <input type="text" id="item" list="item-list" autocomplete="off"></label>
  <datalist id="item-list"></datalist>
  <button type="submit" id="pick-button">Search with this item</button>
</form>
<form><label>Results <input type="number" id="k" value="10" min="1" max="1000"></label></form>
<p class="stats"><span id="status" aria-live="polite"></span><span id="error" role="alert"></span></p>
LEGEND
<section class="query" id="query"><p class="stats">Upload a clip or pick an indexed item.</p></section>
<ol class="results" id="results"></ol>
"""


@cache
def search_page() -> str:
    """The page's HTML."""
    return html_document(
        title="vrt search",
        style=PAGE_STYLE + _STYLE,
        body_attributes='data-state="loading"',
        body=[_BODY.replace("LEGEND", LEGEND), f"<script>{_SCRIPT}</script>"],
    )
