"""Atomic, self-checking checkpoint files that load with ``torch.load(weights_only=True)``.

A checkpoint is a dict of tensors and plain Python values only (no pickled objects), so loading
one never executes code, and writing goes through a temporary file and a rename so that a crash
mid-write leaves the previous checkpoint intact.

The rename protects against crashes, not against damage afterwards (a partial copy, a bad
disk). ``torch.load`` notices a truncated file but not changed bytes inside a tensor, so every
checkpoint also stores a SHA-256 of its content, checked on load. It lives inside the file,
not in a sidecar, so the file and its checksum are replaced together by the one rename.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from vrt.errors import CheckpointError
from vrt.runtime.file_kinds import CHECKPOINT, LEGACY_CHECKPOINT, describe_file
from vrt.runtime.fileio import atomic_write

CHECKPOINT_FORMAT = 1
DIGEST_KEY = "sha256"
__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "content_digest", "load_checkpoint", "save_checkpoint"]


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    payload = {"format": CHECKPOINT_FORMAT, **_to_cpu(state)}
    payload.pop(DIGEST_KEY, None)
    payload[DIGEST_KEY] = content_digest(payload)
    atomic_write(Path(path), lambda handle: torch.save(payload, handle))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        hint = f" (a run? its checkpoint is {path / 'best.pt'})" if (path / "best.pt").is_file() else ""
        raise CheckpointError(f"checkpoint {path} is a folder, not a checkpoint file{hint}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist{_similar_runs_hint(path)}")
    foreign = _foreign_kind(path)
    if foreign is not None:
        raise CheckpointError(f"checkpoint {path} cannot be read: it is {foreign}, not a checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} cannot be read{_refusal(error)}") from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT or "model" not in state:
        raise CheckpointError(f"{path} is not a vrt checkpoint (format {CHECKPOINT_FORMAT})")
    stored = state.pop(DIGEST_KEY, None)  # absent in checkpoints written before the checksum
    if stored is not None and stored != content_digest(state):
        raise CheckpointError(
            f"checkpoint {path} is corrupt: its content does not match the checksum written with it"
        )
    return state


def _foreign_kind(path: Path) -> str | None:
    """What a file that torch could not have written is (for the message), None when it may be
    torch's: a zip archive with a pickle inside, or a pickle. Nothing is unpickled."""
    kind = describe_file(path)
    return None if kind in (CHECKPOINT, LEGACY_CHECKPOINT) else kind


# How torch's weights_only unpickler refuses what it will not build: a class or function it does
# not allow ("Unsupported global: GLOBAL pathlib.PosixPath ...", "... posix.system whose module
# posix is blocked"), and the opcodes of pickle protocol 4 and later (FRAME 149, STACK_GLOBAL 147),
# which torch never writes. Anything else it says is damage ("Unsupported operand 0": a cut file).
_OBJECT_REFUSALS = ("Unsupported global", "is blocked")
_NEWER_PICKLE_REFUSALS = ("Unsupported operand 149", "Unsupported operand 147")


def _refusal(error: Exception) -> str:
    """The end of the message for a file torch could not load: objects, a foreign pickle, damage."""
    text = str(error)
    if any(marker in text for marker in _OBJECT_REFUSALS):
        return (
            ": it holds Python objects, not only tensors and plain values, and unpickling them could "
            f"run code ({_reason(error)})"
        )
    if any(marker in text for marker in _NEWER_PICKLE_REFUSALS):
        return (
            ": it is a pickle of protocol 4 or later, which torch does not write (not a checkpoint; "
            "it may hold Python objects, and is not unpickled)"
        )
    return f" (truncated or corrupt?): {_reason(error)}"


def _reason(error: Exception) -> str:
    """torch's message in one line: the weights_only refusal's cause (the line naming the GLOBAL
    it blocked), else its first line."""
    text = str(error)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].strip().split(". ", 1)[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    named = [line for line in lines if "GLOBAL" in line]
    return (named or lines or [type(error).__name__])[0]


def content_digest(state: Any) -> str:
    """SHA-256 of a checkpoint's content: every tensor's dtype, shape and bytes, every plain value."""
    digest = hashlib.sha256()
    _feed(digest, state)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    # Type tags and lengths keep different structures from hashing alike ([1, 2] vs [12]).
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"T{tensor.dtype}{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    elif isinstance(value, dict):
        digest.update(f"D{len(value)};".encode())
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, list | tuple):
        digest.update(f"{'L' if isinstance(value, list) else 'U'}{len(value)};".encode())
        for item in value:
            _feed(digest, item)
    elif isinstance(value, str):
        encoded = value.encode("utf-8", "surrogatepass")
        digest.update(f"S{len(encoded)};".encode())
        digest.update(encoded)
    else:  # None, bool, int, float: repr is exact (floats round-trip)
        digest.update(f"{type(value).__name__}:{value!r};".encode())


def _to_cpu(value: Any) -> Any:
    """The state with every tensor on the CPU, so hashing and saving copy each one only once."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_cpu(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_to_cpu(item) for item in value)
    return value


def _similar_runs_hint(path: Path) -> str:
    """Where a missing ``runs/demo/best.pt`` may be: the newest run folders beside ``runs/demo``
    whose names start with its name and that hold a file of that name (``make demo`` writes
    ``runs/demo-TIME/``). Empty when there are none."""
    folder = path.parent
    if folder.exists() or not folder.name or not folder.parent.is_dir():
        return ""
    try:
        found = [
            candidate / path.name
            for candidate in folder.parent.iterdir()
            if candidate.name.startswith(folder.name) and (candidate / path.name).is_file()
        ]
    except OSError:
        return ""
    newest = sorted(found, key=lambda file: file.stat().st_mtime, reverse=True)[:3]
    order = " (newest first)" if len(newest) > 1 else ""
    return f"; did you mean {' or '.join(map(str, newest))}?{order}" if newest else ""
