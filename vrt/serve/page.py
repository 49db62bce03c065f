"""The search page of ``vrt serve``: one HTML file with its styles and script inline.

Opened, it shows the collection: a paged grid of thumbnails, filtered by class or by text in the
ids. A click on any tile, of the collection or of a result, searches with that item ("more like
this"); an upload searches with a video. The address holds the query (``?id=ID&k=K``), so a
search can be reloaded, shared, or gone back to; hovering a tile plays a preview of its clip
(frames spread over it, ``/api/preview``). The tiles look like those of ``retrieval.html`` (its
style sheet is shared): a frame of the item at its own aspect ratio, rank, Hamming distance,
class and the full id. Every text from the server is set as text (``textContent``), never as
markup, so ids and file names cannot inject anything. ``body[data-state]`` says where the page
is (``idle``, ``searching``, ``done``, ``error``) and ``body[data-view]`` what it shows
(``collection`` or ``results``): what the browser test waits for.
"""

from __future__ import annotations

from functools import cache

from vrt.reporting.retrieval_page import LEGEND, PAGE_STYLE, html_document
from vrt.serve.service import PREVIEW_FRAMES

__all__ = ["PAGE_SIZE", "search_page"]

PAGE_SIZE = 48  # tiles of the collection per page

_STYLE = """
form { display: inline-flex; gap: 8px; align-items: center; margin: 0 24px 12px 0; flex-wrap: wrap; }
input[type=text] { width: 20em; max-width: 80vw; }
#k { width: 5em; }
#error { color: #d93025; font-weight: 600; }
#query .strip img { max-height: 120px; }
.tile button.more { width: 100%; margin-top: 4px; font-size: 12px; cursor: pointer; }
.tile img { cursor: pointer; }
.pager { display: flex; gap: 12px; align-items: center; margin: 12px 0; color: #555; }
body[data-view=collection] #result-view, body[data-view=results] #collection-view { display: none; }
"""

_SCRIPT = """
const $ = (id) => document.getElementById(id);
const PAGE_SIZE = __PAGE_SIZE__;
const PREVIEW_FRAMES = __PREVIEW_FRAMES__;
const topk = () => Math.max(1, Math.min(1000, parseInt($("k").value, 10) || 10));
let page = 0;
let shown = 0;  // bumped by every search and collection page: an answer that arrives late is dropped

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

function picture(src, alt, id) {
  const placeholder = () => element("div", "placeholder", "no frame");
  if (!src) return placeholder();
  const image = element("img");
  image.alt = alt;
  image.src = src;
  // A failed preview frame goes back to the still; a failed still becomes a placeholder.
  image.addEventListener("error", () => {
    if (image.dataset.preview !== undefined) { delete image.dataset.preview; image.src = src; }
    else image.replaceWith(placeholder());
  });
  if (id !== undefined) previewOnHover(image, id, src);
  return image;
}

// Hovering a tile's frame cycles through frames spread over its clip; leaving restores it. The
// cycle stops when the image leaves the page (a click replaced the view) or a frame fails.
function previewOnHover(image, id, still) {
  let timer = null;
  const stop = () => {
    clearInterval(timer);
    timer = null;
    if (image.dataset.preview !== undefined) image.src = still;
    delete image.dataset.preview;
  };
  image.addEventListener("mouseenter", () => {
    let frame = 0;
    const next = () => {
      if (!image.isConnected) return stop();
      image.src = "/api/preview?id=" + encodeURIComponent(id) + "&frame=" + frame;
      image.dataset.preview = frame;
      frame = (frame + 1) % PREVIEW_FRAMES;
    };
    next();
    timer = setInterval(next, 400);
  });
  image.addEventListener("mouseleave", stop);
  image.addEventListener("click", stop);
}

function className(item) {
  return item.class_name || (item.label === -1 ? "unlabelled" : "class " + item.label);
}

function tile(item, status, meta) {
  const node = element("li", "tile " + status);
  Object.assign(node.dataset, { id: item.id, label: item.label });
  const image = picture(item.thumbnail, item.id, item.thumbnail ? item.id : undefined);
  image.addEventListener("click", () => searchId(item.id));
  const more = element("button", "more", "more like this");
  more.type = "button";
  more.addEventListener("click", () => searchId(item.id));
  const id = element("span", "id", item.id);
  id.title = item.id;
  node.append(image, ...(meta ? [meta] : []), element("span", "class", className(item)), id, more);
  return node;
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
    const meta = element("div", "meta");
    meta.append(element("span", "rank", "#" + item.rank), element("span", "distance", "d = " + item.distance));
    const node = tile(item, status, meta);
    Object.assign(node.dataset, { rank: item.rank, distance: item.distance });
    results.append(node);
  }
  $("collection").replaceChildren();  // only the query and its results are on the page
  document.body.dataset.view = "results";
  setState("done");
}

async function search(request) {
  const mine = ++shown;  // an answer that arrives after another search or view is dropped
  setState("searching");
  try {
    const response = await request;
    const text = await response.text();
    if (mine !== shown) return;
    let data = null;
    try { data = JSON.parse(text); } catch { data = { detail: text }; }
    if (!response.ok) {
      const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
      setState("error", response.status + ": " + (detail || response.statusText));
      return;
    }
    render(data);
  } catch (error) {
    if (mine === shown) setState("error", String(error));
  }
}

// A search by id is an address of its own (?id=...&k=...): reloadable, shareable, and the
// browser's back button returns to the collection.
function searchId(id, remember = true) {
  $("item").value = id;
  const address = "?id=" + encodeURIComponent(id) + "&k=" + topk();
  if (remember && location.search !== address) history.pushState({ id }, "", address);
  search(fetch("/api/search" + address));
}

async function showCollection() {
  const mine = ++shown;
  document.body.dataset.view = "collection";
  $("results").replaceChildren();
  const address = "/api/items?offset=" + page * PAGE_SIZE + "&limit=" + PAGE_SIZE +
    "&contains=" + encodeURIComponent($("filter").value) + "&class_name=" + encodeURIComponent($("class").value);
  const response = await fetch(address);
  const text = await response.text();
  if (mine !== shown) return;
  if (!response.ok) return setState("error", response.status + ": " + text);
  const data = JSON.parse(text);
  $("collection").replaceChildren(...data.items.map((item) => tile(item, "unjudged")));
  const last = Math.min(data.total, (page + 1) * PAGE_SIZE);
  $("page-info").textContent = data.total ? (page * PAGE_SIZE + 1) + "-" + last + " of " + data.total : "no item matches";
  $("previous").disabled = page === 0;
  $("next").disabled = last >= data.total;
  document.body.dataset.grid = "ready";
  setState("idle");
}

function fromAddress() {
  const asked = new URLSearchParams(location.search);
  if (asked.get("k")) $("k").value = asked.get("k");
  if (asked.get("id")) searchId(asked.get("id"), false);
  else showCollection();
}

$("upload").addEventListener("submit", (event) => {
  event.preventDefault();
  const file = $("file").files[0];
  if (!file) return setState("error", "Choose a video file first.");
  const body = new FormData();
  body.append("file", file);
  if (location.search) history.pushState({}, "", location.pathname);  // an upload has no address
  search(fetch("/api/search?k=" + topk(), { method: "POST", body }));
});

$("pick").addEventListener("submit", (event) => {
  event.preventDefault();
  const id = $("item").value;
  if (!id) return setState("error", "Type or pick an indexed id first.");
  searchId(id);
});

let suggestion = 0;
$("item").addEventListener("input", async () => {
  const asked = ++suggestion;
  const response = await fetch("/api/items?limit=50&contains=" + encodeURIComponent($("item").value));
  if (!response.ok || asked !== suggestion) return;
  const data = await response.json();
  $("item-list").replaceChildren(...data.ids.map((id) => Object.assign(element("option"), { value: id })));
});

let filtering = null;
const refilter = () => { page = 0; clearTimeout(filtering); filtering = setTimeout(showCollection, 200); };
$("filter").addEventListener("input", refilter);
$("class").addEventListener("change", refilter);
$("previous").addEventListener("click", () => { page -= 1; showCollection(); });
$("next").addEventListener("click", () => { page += 1; showCollection(); });
$("browse").addEventListener("click", (event) => {
  event.preventDefault();
  history.pushState({}, "", location.pathname);
  showCollection();
});
window.addEventListener("popstate", fromAddress);

fetch("/api/info").then((response) => response.json()).then((info) => {
  $("info").textContent = info.items + " items (" + info.labelled + " labelled), " + info.bits +
    "-bit codes, " + info.kind + " index; model " + info.checkpoint +
    "; uploads up to " + Math.floor(info.max_upload_bytes / 1048576) + " MB" +
    (info.thumbnails ? "" : "; no thumbnails (start vrt serve with --videos)");
  $("k").max = info.max_topk;
  const classes = info.class_names || [];
  $("class").replaceChildren(Object.assign(element("option", "", "every class"), { value: "" }),
    ...classes.map((name) => Object.assign(element("option", "", name), { value: name })));
  $("class").hidden = classes.length === 0;
});
setState("idle");
fromAddress();
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
<div id="collection-view">
  <form id="filters">
    <label>Filter <input type="text" id="filter" placeholder="text in the ids" autocomplete="off"></label>
    <select id="class" aria-label="class" hidden></select>
  </form>
  <div class="pager"><button type="button" id="previous">previous</button><span id="page-info"></span>
    <button type="button" id="next">next</button></div>
  <ol class="results" id="collection"></ol>
</div>
<div id="result-view">
  <p><a href="./" id="browse">Back to the collection</a></p>
  LEGEND
  <section class="query" id="query"></section>
  <ol class="results" id="results"></ol>
</div>
"""


@cache
def search_page() -> str:
    """The page's HTML."""
    return html_document(
        title="vrt search",
        style=PAGE_STYLE + _STYLE,
        body_attributes='data-state="loading" data-view="collection"',
        body=[
            _BODY.replace("LEGEND", LEGEND),
            "<script>"
            + _SCRIPT.replace("__PAGE_SIZE__", str(PAGE_SIZE)).replace(
                "__PREVIEW_FRAMES__", str(PREVIEW_FRAMES)
            )
            + "</script>",
        ],
    )
