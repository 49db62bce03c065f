"""Progress bars for long work (training epochs, encoding), live on terminals only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


@contextmanager
def progress_bar(
    console: Console,
    description: str,
    *,
    total: int | None = None,
    show_loss: bool = False,
    quiet: bool = False,
) -> Iterator[Callable[..., None]]:
    """Yields ``update(total=n, advance=n | completed=n, loss=..., rate=...)``; a total can come later.

    A live bar only makes sense on a terminal; in logs the per-epoch line says it all.
    """
    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    if show_loss:
        columns += [TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[rate]:.1f} clips/s")]
    columns.append(TimeRemainingColumn())
    live = console.is_terminal and not console.quiet and not quiet
    with Progress(*columns, console=console, transient=True, disable=not live) as progress:
        task = progress.add_task(description, total=total, loss=0.0, rate=0.0)

        def update(**fields: float) -> None:
            progress.update(task, **fields)

        yield update
