"""``vrt serve``: the local search web app (vrt.serve) on uvicorn."""

from __future__ import annotations

import errno
import ipaddress
import socket
from pathlib import Path
from typing import Annotated

import typer

from vrt.cli.common import DataOverridesOption, app, err_console, warn
from vrt.errors import VrtError, VrtRuntimeError


@app.command()
def serve(
    index: Annotated[
        str, typer.Option(help="Index file written by `vrt index build`, or milvus://LOCATION/NAME.")
    ],
    checkpoint: Annotated[Path, typer.Option(help="Checkpoint that encodes uploaded videos.")],
    videos: Annotated[
        Path | None, typer.Option(help="Folder of the indexed videos (ids are paths in it), for thumbnails.")
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; the default, 127.0.0.1, is this machine only.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8765,
    max_upload_mb: Annotated[int, typer.Option(help="Largest video upload accepted, in MiB.", min=1)] = 200,
    max_pending_uploads: Annotated[
        int,
        typer.Option(help="Uploads received or encoded at once; more get 503 (busy) at once.", min=1),
    ] = 32,
    overrides: DataOverridesOption = None,
    force: Annotated[
        bool, typer.Option(help="Serve a checkpoint of another model than the index's anyway.")
    ] = False,
) -> None:
    """Serve a search page and a JSON API for one index and one checkpoint (Ctrl-C stops it).

    Upload a clip or pick an indexed item and see its nearest items with thumbnails and
    Hamming distances. Needs the serve extra: pip install 'vrt[serve]'.
    """
    try:
        import uvicorn

        from vrt.serve.app import create_app
    except ImportError as error:
        raise VrtError(
            f"vrt serve needs the serve extra ({error.name} is not installed): pip install 'vrt[serve]'"
        ) from None
    from vrt.serve.service import SearchService

    service = SearchService.open(
        index, checkpoint, videos=videos, overrides=overrides or (), force=force, warn=warn
    )
    application = create_app(
        service, max_upload_bytes=max_upload_mb << 20, max_pending_uploads=max_pending_uploads
    )
    if not _is_loopback(host):
        err_console.print(
            f"[yellow]warning:[/] listening on {host}: other machines can search the index and upload videos",
            highlight=False,
        )
    shown = f"[{host}]" if ":" in host else host
    listening = _listening_socket(host, port, shown=shown)  # a busy port is said before "Serving"
    err_console.print(
        f"Serving {len(service.index)} items of {index} at http://{shown}:{port}/ (Ctrl-C stops)",
        highlight=False,
    )
    try:
        uvicorn.Server(uvicorn.Config(application, log_level="warning")).run(sockets=[listening])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it stopped on: a clean stop (as uvicorn.run)
        pass


def _listening_socket(host: str, port: int, *, shown: str) -> socket.socket:
    """A socket bound to ``host:port``, or one line saying why there is none (a port in use)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as error:
        raise VrtRuntimeError(f"cannot serve at {host}: {error.strerror}") from None
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # with proto 0 every keep-alive answer waited 40 ms for the client's delayed ACK (measured).
    listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restart after a stop
    try:
        listening.bind((host, port))
    except OSError as error:
        listening.close()
        reason = (
            "the port is in use (another server?): choose another --port"
            if error.errno == errno.EADDRINUSE
            else error.strerror
        )
        raise VrtRuntimeError(f"cannot serve at http://{shown}:{port}/: {reason}") from None
    return listening


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
