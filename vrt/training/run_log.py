"""What a run reports, and where: the console, ``train.log``, TensorBoard.

Everything the Runner prints goes through :class:`RunLog`, which shows it on the console and
appends the same line, as plain text with a timestamp, to the run's ``train.log``: a run that
ran in a terminal now gone can still be read afterwards. Python warnings raised while the run
is under way (missing files, say) are copied there too. Per-epoch numbers go to TensorBoard
event files when the ``tensorboard`` package is installed (``pip install 'vrt[tensorboard]'``);
without it the run goes on and says once that it writes none.
"""

from __future__ import annotations

import io
import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType
from rich.markup import escape


class RunLog:
    """The console, plus ``train.log`` and TensorBoard events when ``log_file`` / ``events`` are given.

    Args:
        console: where lines are shown (a quiet console on the ranks that do not report).
        log_file: the run's ``train.log``, appended to (a resumed run continues it).
        events: the folder of TensorBoard event files.
        purge_step: on resume, TensorBoard drops the events of earlier attempts from this step on,
            so the curves show each epoch once.
    """

    def __init__(
        self,
        console: Console,
        *,
        log_file: Path | None = None,
        events: Path | None = None,
        purge_step: int | None = None,
    ) -> None:
        self.console = console
        self.log_file = log_file
        self._writer = _summary_writer(events, purge_step) if events is not None else None
        if events is not None and self._writer is None:
            self.record(
                "TensorBoard events are not written: install tensorboard (pip install 'vrt[tensorboard]')"
            )

    def print(self, text: str, *, style: str | None = None) -> None:
        """One line of plain text (not markup: file names hold brackets)."""
        self.console.print(escape(text) if style is None else f"[{style}]{escape(text)}[/]", highlight=False)
        self.record(text)

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]warning:[/] {escape(text)}", highlight=False)
        self.record(f"warning: {text}")

    def show(self, renderable: RenderableType) -> None:
        """A rich table or other renderable: drawn on the console, and as text in the log."""
        self.console.print(renderable)
        if self.log_file is not None:
            buffer = io.StringIO()
            Console(file=buffer, width=110, color_system=None).print(renderable)
            self.record(buffer.getvalue().rstrip("\n"))

    def scalars(self, record: Mapping[str, Any], *, step: int) -> None:
        """The numbers of one epoch's record, each as its own TensorBoard curve."""
        if self._writer is None:
            return
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self._writer.add_scalar(key.replace("@", "_at_"), value, global_step=step)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    @contextmanager
    def capturing_warnings(self) -> Iterator[None]:
        """Python warnings raised meanwhile are shown as usual and copied to ``train.log``."""
        with warnings.catch_warnings():
            shown = warnings.showwarning

            def show_and_log(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
                shown(message, category, filename, lineno, file, line)
                self.record(f"warning: {message}")

            warnings.showwarning = show_and_log
            yield

    def record(self, text: str) -> None:
        """Write ``text`` to ``train.log`` only (what the caller shows on the console itself)."""
        if self.log_file is None:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self.log_file.open("a", encoding="utf-8") as handle:
            handle.writelines(f"{stamp}  {line}\n" for line in text.splitlines() or [""])


def _summary_writer(folder: Path, purge_step: int | None) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is an optional extra
        return None
    return SummaryWriter(log_dir=str(folder), purge_step=purge_step)


# A warning's figures change from one validation to the next (93.8% of the items, then 95.0%)
# while what it says does not: they are left out of the text that decides whether it repeats.
_FIGURES = re.compile(r"\d+(?:\.\d+)?")


class RecurringWarnings:
    """Warnings that each validation may raise again: shown the first time, then counted.

    A three-epoch run used to print the same three sentences after every epoch. Here the first
    one is shown (``warn``), repeats are counted, and :meth:`summarise` says once, at the end,
    how many epochs repeated each, with its latest figures.
    """

    def __init__(self, warn: Callable[[str], None]) -> None:
        self._warn = warn
        self._epochs: dict[str, list[int]] = {}
        self._latest: dict[str, str] = {}

    def show(self, text: str, *, epoch: int) -> None:
        key = _FIGURES.sub("#", text)
        epochs = self._epochs.setdefault(key, [])
        if not epochs:
            self._warn(f"validation after epoch {epoch}: {text}")
        epochs.append(epoch)
        self._latest[key] = text

    def summarise(self) -> None:
        for key, epochs in self._epochs.items():
            if len(epochs) > 1:
                self._warn(
                    f"validation after {len(epochs)} epochs ({_epoch_list(epochs)}), "
                    f"latest after epoch {epochs[-1]}: {self._latest[key]}"
                )
        self._epochs.clear()
        self._latest.clear()


def _epoch_list(epochs: list[int]) -> str:
    """``1-3, 5`` for epochs 1, 2, 3 and 5."""
    runs: list[list[int]] = []
    for epoch in epochs:
        if runs and epoch == runs[-1][-1] + 1:
            runs[-1].append(epoch)
        else:
            runs.append([epoch])
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)
