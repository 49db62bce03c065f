"""Stopping long work cleanly on SIGINT/SIGTERM: the handler only raises a flag.

A cluster scheduler ends a job with SIGTERM (and SIGKILL a little later); a user presses
Ctrl-C. Training, encoding and feature extraction all want the same thing then: finish the
step or batch in hand, save, and leave. :class:`StopRequest` is that flag, polled at step
boundaries; what is saved and what is raised belongs to the caller. Importable without torch.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["HANDLED_SIGNALS", "REPEAT_GRACE_S", "StopRequest"]

HANDLED_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
# torchrun relays the signal it gets to its workers, which the terminal has already signalled
# (Ctrl-C reaches the whole process group): a repeat this soon is that echo, not a second press.
REPEAT_GRACE_S = 1.0


class StopRequest:
    """Whether a stop signal arrived while :meth:`installed`; polled at step boundaries."""

    def __init__(self) -> None:
        self.signal_number: int | None = None
        self._received_at = 0.0

    @property
    def requested(self) -> bool:
        return self.signal_number is not None

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal_number).name if self.signal_number is not None else "none"

    @contextmanager
    def installed(self, on_first: Callable[[str], None] | None = None) -> Iterator[StopRequest]:
        """Handle SIGINT/SIGTERM inside the block; the previous handlers come back afterwards.

        The first signal sets the flag (and calls ``on_first`` with its name). A second one of
        the same kind, sent deliberately later, aborts at once through the previous handler
        (Ctrl-C twice raises KeyboardInterrupt; a second SIGTERM terminates). A signal this
        process ignores stays ignored: a shell starts background jobs (``vrt train ... &``
        without job control) ignoring SIGINT so that a Ctrl-C meant for another command does
        not reach them. Signal handlers can only be set from the main thread; elsewhere the
        block runs without them.
        """
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous: dict[int, object] = {}

        def handle(number: int, frame: FrameType | None) -> None:
            now = time.monotonic()
            if self.signal_number is None:
                self.signal_number, self._received_at = number, now
                if on_first is not None:
                    on_first(signal.Signals(number).name)
            elif number == self.signal_number and now - self._received_at > REPEAT_GRACE_S:
                signal.signal(number, _restorable(previous[number]))
                signal.raise_signal(number)

        for number in HANDLED_SIGNALS:
            if signal.getsignal(number) is not signal.SIG_IGN:
                previous[number] = signal.signal(number, handle)
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, _restorable(handler))


def _restorable(handler: object) -> Callable | int:
    # signal.signal returns None for a handler installed from C; the default is the closest.
    return signal.SIG_DFL if handler is None else handler  # type: ignore[return-value]
