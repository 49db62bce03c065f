"""Never touch what vrt did not write: the checks every writer makes before it replaces a path.

A codes file replaces only a codes file, an index only an index, a folder of results only a
folder vrt wrote (each writer says how it recognises its own); anything else needs ``--force``.
An empty or blank path (an unset shell variable) is refused rather than read as the current
folder. Nothing here writes. torch-free.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vrt.errors import OutputError

__all__ = ["check_output_folder", "check_replaceable", "output_path"]


def output_path(text: str, *, option: str) -> Path:
    """``text`` as a path, refusing an empty or blank one (``--out "$UNSET"``)."""
    if not text.strip():
        raise OutputError(f"{option} is empty ({text!r}); give a path (is a shell variable unset?)")
    return Path(text)


def check_replaceable(
    path: Path, *, kind: str, is_own: Callable[[Path], bool], force: bool = False, option: str = "--out"
) -> None:
    """Refuse to write ``path`` when it is a folder, or a file that ``is_own`` does not recognise.

    Args:
        kind: what the writer writes, for the message ("codes file", "index file").
        is_own: whether an existing file is one of the writer's own kind (it may be replaced).
        force: replace a file of another kind all the same.
    """
    one = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder; {one} is written to a file: give its name")
    if path.exists() and not force and not is_own(path):
        raise OutputError(
            f"{option} {path} exists and is not {one}; vrt replaces only {one} there: "
            "choose another name, or pass --force to replace it"
        )


def check_output_folder(
    folder: Path, *, what: str, is_own: Callable[[Path], bool], force: bool = False, option: str = "--output"
) -> None:
    """Refuse to write into ``folder`` when it is a file, or a non-empty folder ``is_own`` does not recognise."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{option} {folder} is a file, not a folder; give a folder for the {what}")
    if not folder.is_dir() or force or is_own(folder):
        return
    entries = sorted(entry.name for entry in folder.iterdir())
    if entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise OutputError(
            f"{option} {folder} holds files vrt did not write ({shown}); give a new or empty folder for "
            f"the {what}, or pass --force to write there all the same"
        )
