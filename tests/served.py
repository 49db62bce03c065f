"""Helpers for tests that start `vrt serve` in a process of its own."""

from __future__ import annotations

import socket
import subprocess
import time


def free_port() -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(process: subprocess.Popen, url: str, *, within: float = 180.0) -> None:
    """Return once ``url``/api/info answers 200; fail if the server exits or ``within`` s pass."""
    import httpx

    deadline = time.monotonic() + within
    while True:
        assert process.poll() is None, process.communicate()
        try:
            if httpx.get(f"{url}/api/info", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"vrt serve did not answer within {within:.0f} s"
        time.sleep(0.2)
