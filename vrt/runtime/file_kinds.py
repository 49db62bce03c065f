"""What a file is, for the messages that name the real problem when one kind of file is given
where another is expected: a checkpoint as a codes file, a codes file as an index, a config, a
feature file or a video as a checkpoint, and so on in every direction.

Read from the file's first bytes and, for a zip archive, its directory: nothing is unpickled or
inflated. torch-free and numpy-free, so that every loader can call it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

__all__ = ["CHECKPOINT", "LEGACY_CHECKPOINT", "describe_file"]

CHECKPOINT = "a torch checkpoint (give it to --checkpoint)"
LEGACY_CHECKPOINT = "a pickle (a torch checkpoint of the legacy format? give it to --checkpoint)"
_CODES_KEYS = frozenset(
    {"codes", "bits", "labels", "ids"}
)  # vrt.codes' required keys (a test keeps them equal)
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_PICKLE_PROTOCOL = 0x80  # the first byte of a pickle of protocol 2 or later
_VIDEO_SIGNATURES = (b"RIFF", b"\x1a\x45\xdf\xa3")  # AVI, Matroska/WebM; MP4 and MOV: "ftyp" at 4


def describe_file(path: Path) -> str:
    """``a codes file (...)``, ``a text file (it starts 'name: demo')``, ``an empty file``, ...:
    what ``path`` is, as a noun phrase with advice on where it goes when vrt writes such files."""
    if path.is_dir():
        return "a folder"
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError as error:  # called while reporting another error: never raise a new one
        return f"a file that cannot be read ({error.strerror or error})"
    if not head:
        return "an empty file"
    if zipfile.is_zipfile(path):
        return _describe_zip(path)
    if head.startswith(b"PK\x03\x04"):  # a zip's first entry without the directory at its end
        return "a zip archive cut short (truncated by a copy or a full disk?)"
    if head[0] == _PICKLE_PROTOCOL:
        return LEGACY_CHECKPOINT
    if head.startswith(_HDF5_SIGNATURE):
        return "an HDF5 file (a feature file? train on it with `data.dataset: features`)"
    if head.startswith(b"\x93NUMPY"):
        return "a single numpy array (.npy), not an .npz archive"
    if head.startswith(_VIDEO_SIGNATURES) or head[4:8] == b"ftyp":
        return "a video (give it to `vrt encode --videos` or `vrt search --query`)"
    text = _text(head)
    if text is not None:
        first = text.strip().splitlines()[0][:40] if text.strip() else ""
        return f"a text file (it starts {first!r}; a config is given to `vrt train CONFIG`)"
    return "a file of unknown binary content, neither a torch checkpoint nor a file vrt writes"


def _describe_zip(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return "a damaged zip archive"
    if any(name.endswith("data.pkl") for name in names):
        return CHECKPOINT
    members = {name.removesuffix(".npy") for name in names if name.endswith(".npy")}
    if "manifest" in members:
        return "a vrt index (give it to `vrt search --index`)"
    if _CODES_KEYS <= members:
        return "a codes file (give it to `vrt eval --query/--database` or `vrt index build --codes`)"
    return "a zip archive of other files"


def _text(head: bytes) -> str | None:
    """``head`` as text when it reads as UTF-8 of printable characters and white space (a cut
    multi-byte character at the end of the 512 bytes is allowed)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:
            return None
        text = head[: error.start].decode("utf-8")
    return text if all(c.isprintable() or c.isspace() for c in text) else None
