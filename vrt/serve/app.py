"""The web app of ``vrt serve``: a search page and a JSON API over a :class:`SearchService` (FastAPI).

Routes (documented in ``docs/retrieval.md``):

* ``GET /`` the search page;
* ``POST /api/search?k=K`` with a video file in the multipart field ``file``: its nearest items;
* ``GET /api/search?id=ID&k=K``: the nearest items of an indexed item;
* ``GET /api/items?contains=TEXT&class_name=NAME&offset=O&limit=N``: indexed items, for the
  page's grid and picker;
* ``GET /api/thumbnail?id=ID``: a JPEG frame of an indexed item (404 without ``--videos``);
* ``GET /api/preview?id=ID&frame=F``: frame F of the few spread over its clip (hover previews);
* ``GET /api/info``: what is being served.

Errors are JSON ``{"detail": "one sentence"}``: 404 for an id not in the index, 413 for an
upload over the cap (refused while it arrives: nothing larger is stored), 415 for a file that is
not a readable video, 422 for bad parameters (``"k: Input should be less than or equal to 1000
(got '5000')"``), 503 when ``max_pending_uploads`` uploads are already being received or encoded
(with ``Retry-After``: one model encodes one video at a time, so a flood waits in a bounded
queue instead of piling up in memory). An upload is written to a private temporary folder,
encoded and deleted (also when its client goes away mid-upload); the folder is removed when the
app stops, and nothing else is written.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from vrt.index import UnknownIdError
from vrt.serve.page import search_page
from vrt.serve.service import MAX_TOPK, PREVIEW_FRAMES, NotAVideoError, SearchService

__all__ = ["DEFAULT_MAX_PENDING_UPLOADS", "DEFAULT_MAX_UPLOAD_MB", "create_app"]

DEFAULT_MAX_UPLOAD_MB = 200
DEFAULT_MAX_PENDING_UPLOADS = 32
RETRY_AFTER_SECONDS = 2
_COPY_CHUNK = 1 << 20

TopK = Annotated[int, Query(ge=1, le=MAX_TOPK, description="Results to return.")]


def create_app(
    service: SearchService,
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB << 20,
    max_pending_uploads: int = DEFAULT_MAX_PENDING_UPLOADS,
) -> FastAPI:
    """The app serving ``service``; uploads larger than ``max_upload_bytes`` are refused (413),
    and more than ``max_pending_uploads`` at once are turned away (503)."""
    if max_pending_uploads < 1:
        raise ValueError(f"max_pending_uploads must be at least 1, got {max_pending_uploads}")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.workdir = Path(tempfile.mkdtemp(prefix="vrt-serve-"))
        try:
            yield
        finally:
            shutil.rmtree(app.state.workdir, ignore_errors=True)

    app = FastAPI(title="vrt search", lifespan=lifespan, docs_url=None, redoc_url=None)
    too_large = (
        f"the upload is larger than this server accepts ({max_upload_bytes / 2**20:g} MiB; "
        "vrt serve --max-upload-mb sets it)"
    )
    busy = (
        f"the server is busy: {max_pending_uploads} uploads are already being received or encoded; "
        f"try again in {RETRY_AFTER_SECONDS} s (vrt serve --max-pending-uploads sets how many)"
    )
    pending = [0]  # uploads admitted and not yet answered (the middleware runs on the event loop)

    @app.middleware("http")
    async def admit_uploads(request: Request, call_next: Any) -> Response:
        """A declared size over the cap gets a JSON 413 before any byte is read (a body without
        one is cut off by the route's own limit, ``max_body_size``, while it arrives); an upload
        beyond the bounded queue gets a 503 before any byte is read."""
        if request.method != "POST":
            return await call_next(request)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_upload_bytes:
            return JSONResponse({"detail": too_large}, status_code=413)
        if pending[0] >= max_pending_uploads:
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
            return JSONResponse({"detail": busy}, status_code=503, headers=headers)
        pending[0] += 1
        try:
            return await call_next(request)
        finally:
            pending[0] -= 1

    @app.exception_handler(RequestValidationError)
    async def one_sentence(request: Request, error: RequestValidationError) -> JSONResponse:
        """The documented ``{"detail": "..."}`` rather than pydantic's list of dictionaries."""
        return JSONResponse({"detail": _validation_message(error)}, status_code=422)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return search_page()

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        return {**service.info(), "max_upload_bytes": max_upload_bytes}

    @app.get("/api/items")
    def items(
        contains: Annotated[str, Query(max_length=1000)] = "",
        class_name: Annotated[str, Query(max_length=1000)] = "",
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_TOPK)] = 50,
    ) -> dict[str, Any]:
        return service.items(contains, class_name=class_name, offset=offset, limit=limit)

    @app.get("/api/search")
    def search_by_id(id: Annotated[str, Query(description="An indexed id.")], k: TopK = 10) -> dict[str, Any]:  # noqa: A002
        try:
            return service.search_id(id, k)
        except UnknownIdError as error:
            raise HTTPException(status_code=404, detail=str(error)) from None

    # One upload is encoded at a time. The others wait here, on the event loop, rather than each
    # in one of the thread pool's 40 threads: id searches and thumbnails keep the threads.
    encoding = asyncio.Semaphore(1)

    def store(upload: UploadFile, stored: Path) -> None:
        with stored.open("wb") as handle:
            shutil.copyfileobj(upload.file, handle, _COPY_CHUNK)

    @app.post("/api/search", max_body_size=max_upload_bytes)
    async def search_by_video(
        file: Annotated[UploadFile, File(description="A video file (.mp4, .avi, .mkv, ...).")], k: TopK = 10
    ) -> dict[str, Any]:
        name = Path(file.filename or "upload").name
        # The upload's own name never touches the disk: a random name keeps its extension only.
        stored = app.state.workdir / f"{uuid.uuid4().hex}{Path(name).suffix.lower()[:16]}"
        try:
            await run_in_threadpool(store, file, stored)
            async with encoding:
                return await run_in_threadpool(lambda: service.search_video(stored, k, name=name))
        except NotAVideoError as error:
            raise HTTPException(status_code=415, detail=str(error)) from None
        finally:
            stored.unlink(missing_ok=True)

    @app.get("/api/thumbnail")
    def thumbnail(id: Annotated[str, Query(description="An indexed id.")]) -> Response:  # noqa: A002
        image = service.thumbnail(id)
        if image is None:
            raise HTTPException(status_code=404, detail=f"no thumbnail for {id!r}")
        return Response(image, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    @app.get("/api/preview")
    def preview(
        id: Annotated[str, Query(description="An indexed id.")],  # noqa: A002
        frame: Annotated[int, Query(ge=0, lt=PREVIEW_FRAMES)] = 0,
    ) -> Response:
        image = service.preview(id, frame)
        if image is None:
            raise HTTPException(status_code=404, detail=f"no preview for {id!r}")
        return Response(image, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    return app


def _validation_message(error: RequestValidationError) -> str:
    """``"k: Input should be greater than or equal to 1 (got '0')"``, one clause per problem."""
    clauses = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem.get("loc", ()) if part not in ("query", "body"))
        given = problem.get("input")
        got = f" (got {given!r:.60})" if isinstance(given, (str, int, float)) else ""
        clauses.append(f"{where or 'request'}: {problem.get('msg', 'invalid')}{got}")
    return "; ".join(clauses)
