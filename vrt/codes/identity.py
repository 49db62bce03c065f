"""Which model made a set of codes, and the one check that two sets of codes may be compared.

Codes are only comparable when one model made them: the same weights, the same backbone and
head, the same code length, and clips cut the same way (frames, size, sampler, decoder). Codes
files, indexes and loaded checkpoints carry an :class:`EncoderIdentity` saying so, and
:func:`check_comparable` is the one gate every evaluation, index edit and search goes through.

numpy only, never torch.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vrt.errors import CodesFileError, IncomparableCodesError

__all__ = [
    "COMPARED_FACTS",
    "ENCODER_KEY",
    "CodeSource",
    "CodesWarning",
    "EncoderIdentity",
    "Comparison",
    "check_comparable",
    "check_lengths",
    "compare",
    "read_identity",
]

ENCODER_KEY = "encoder"  # the array of a codes or index file that holds the identity's JSON
IDENTITY_FORMAT = "vrt-encoder/1"
_LEGACY_FORMAT = "vrt-encode"  # the record `vrt encode` wrote before identities: checkpoint and clips only
# What decides a code; the checkpoint's path is shown in messages, never compared (a copy is the same model).
COMPARED_FACTS = ("checkpoint_sha256", "backbone", "head", "bits", "clips")
_FACT_NAMES = {
    "checkpoint_sha256": "checkpoint",
    "backbone": "backbone",
    "head": "head",
    "bits": "code length",
    "clips": "clip settings",
}


class CodesWarning(UserWarning):
    """Codes whose origin cannot be checked (files written before vrt recorded it), or a mismatch forced through."""


@dataclass(frozen=True)
class EncoderIdentity:
    """The model behind a set of codes.

    Attributes:
        checkpoint_sha256: SHA-256 of the checkpoint file's bytes.
        backbone, head: the model config's sections (``{"name": ..., **params}``).
        bits: the code length.
        clips: how clips are cut at test time: ``num_frames``, ``frame_size``, ``resize_short``,
            ``clip_sampler``, ``clips_per_video`` and ``decoder`` (without its speed options).
        checkpoint: the file the model was loaded from, for messages only.

    A fact left None is unknown (a record written by an older vrt) and is not compared.
    """

    checkpoint_sha256: str | None = None
    backbone: Mapping[str, Any] | None = None
    head: Mapping[str, Any] | None = None
    bits: int | None = None
    clips: Mapping[str, Any] | None = None
    checkpoint: str | None = None

    def differences(self, other: EncoderIdentity) -> list[str]:
        """The facts both identities know and that differ, in :data:`COMPARED_FACTS` order."""
        return [
            name
            for name in COMPARED_FACTS
            if getattr(self, name) is not None
            and getattr(other, name) is not None
            and not _same(_canonical(getattr(self, name)), _canonical(getattr(other, name)))
        ]

    def describe(self) -> str:
        """One phrase: ``tiny3d + linear, 32 bits, checkpoint 3fa2c1d0e9ab (runs/demo/best.pt)``."""
        parts = []
        if self.backbone is not None and self.head is not None:
            parts.append(f"{self.backbone.get('name')} + {self.head.get('name')}")
        if self.bits is not None:
            parts.append(f"{self.bits} bits")
        if self.checkpoint_sha256 is not None:
            where = f" ({self.checkpoint})" if self.checkpoint else ""
            parts.append(f"checkpoint {self.checkpoint_sha256[:12]}{where}")
        return ", ".join(parts) or "an unknown model"

    def to_dict(self) -> dict[str, Any]:
        return {"format": IDENTITY_FORMAT, **_canonical(asdict(self))}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> EncoderIdentity:
        """An identity from :meth:`to_dict`'s record, or from the record older ``vrt encode`` wrote.

        Raises:
            ValueError: a record of another format, or facts of the wrong type.
        """
        kind = record.get("format")
        if kind == _LEGACY_FORMAT:
            return cls(
                checkpoint_sha256=record.get("checkpoint_sha256"), clips=_legacy_clips(record.get("clips"))
            )
        if kind != IDENTITY_FORMAT:
            raise ValueError(f"not an encoder record (format {kind!r}, expected {IDENTITY_FORMAT!r})")
        known = {field.name for field in fields(cls)}
        values = {name: record.get(name) for name in known}
        for name in ("backbone", "head", "clips"):
            if values[name] is not None and not isinstance(values[name], dict):
                raise ValueError(f"the encoder record's {name!r} is not an object")
        if values["bits"] is not None and (
            isinstance(values["bits"], bool) or not isinstance(values["bits"], int)
        ):
            raise ValueError("the encoder record's 'bits' is not an integer")
        for name in ("checkpoint_sha256", "checkpoint"):
            if values[name] is not None and not isinstance(values[name], str):
                raise ValueError(f"the encoder record's {name!r} is not a string")
        return cls(**values)


def _same(first: Any, second: Any) -> bool:
    """Equal facts; of two clip settings only the entries both record are compared, since a record
    written by an older vrt lacks the ones it did not know (a newer one always has them all)."""
    if isinstance(first, dict) and isinstance(second, dict):
        return all(first[key] == second[key] for key in first.keys() & second.keys())
    return first == second


def _legacy_clips(clips: Any) -> dict[str, Any] | None:
    """The clip facts of an old ``vrt encode`` record, which kept the whole ``augment`` section."""
    if not isinstance(clips, dict):
        return None
    augment = clips.get("augment") if isinstance(clips.get("augment"), dict) else {}
    facts = {key: value for key, value in clips.items() if key != "augment"}
    return {**facts, "resize_short": augment.get("resize_short")}


def _canonical(value: Any) -> Any:
    """JSON's view of a value: tuples become lists and mappings plain dicts, so that a record read
    back from a file compares equal to the one that was written."""
    return json.loads(
        json.dumps(value, default=lambda item: dict(item) if isinstance(item, Mapping) else str(item))
    )


def read_identity(array: np.ndarray, *, source: str | Path) -> EncoderIdentity:
    """The identity stored in a codes or index file's ``encoder`` array."""
    try:
        record = json.loads(str(array[()]))
        if not isinstance(record, dict):
            raise ValueError("the record is not a JSON object")
        return EncoderIdentity.from_dict(record)
    except (ValueError, TypeError, IndexError) as error:
        raise CodesFileError(f"{source}: unreadable '{ENCODER_KEY}' record ({error})") from None


class CodeSource(Protocol):
    """Anything that holds or makes codes: a code set, an index, a loaded checkpoint."""

    @property
    def bits(self) -> int: ...

    @property
    def encoder(self) -> EncoderIdentity | None: ...


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` found: the two code lengths, the sides that record no model, and the
    facts in which the two models differ."""

    bits: tuple[int, int]
    unrecorded: tuple[bool, bool]
    differing: tuple[str, ...]


def compare(first: CodeSource, second: CodeSource) -> Comparison:
    """Whether two sources of codes agree: their code lengths and the models that made them."""
    differing = (
        tuple(first.encoder.differences(second.encoder))
        if first.encoder is not None and second.encoder is not None
        else ()
    )
    return Comparison(
        bits=(first.bits, second.bits),
        unrecorded=(first.encoder is None, second.encoder is None),
        differing=differing,
    )


def check_lengths(first_bits: int, second_bits: int, *, first_name: str, second_name: str) -> None:
    """Codes of different lengths can never be ranked together (not even with ``force``)."""
    if first_bits != second_bits:
        raise IncomparableCodesError(
            f"{first_name} hold {first_bits}-bit codes but {second_name} {second_bits}-bit codes; "
            "compare codes of one model"
        )


def check_comparable(
    first: CodeSource,
    second: CodeSource,
    *,
    first_name: str,
    second_name: str,
    force: bool = False,
    warn: Callable[[str], None] | None = None,
) -> None:
    """Whether codes of ``first`` may be ranked against codes of ``second``; raises if not.

    The one gate: every evaluation, index edit, search and the search app go through it. Codes
    of different lengths never pass. Codes whose models differ (:meth:`EncoderIdentity.
    differences`) are refused unless ``force``, which only warns. A side that does not record
    its model (a file written before vrt recorded it) cannot be checked: a warning says so.
    Warnings go to ``warn`` (default: :func:`warnings.warn` with :class:`CodesWarning`).

    Raises:
        IncomparableCodesError: one line naming both sides and what differs.
    """
    say = warn or (lambda text: warnings.warn(text, CodesWarning, stacklevel=3))
    found = compare(first, second)
    check_lengths(*found.bits, first_name=first_name, second_name=second_name)
    if any(found.unrecorded):
        unknown = [
            name for name, missing in zip((first_name, second_name), found.unrecorded, strict=True) if missing
        ]
        say(
            f"{' and '.join(unknown)} record{'' if len(unknown) > 1 else 's'} no model (written before vrt "
            f"recorded one): whether {first_name} and {second_name} come from one model cannot be checked"
        )
        return
    if not found.differing:
        return
    named = [_FACT_NAMES[name] for name in found.differing]
    assert first.encoder is not None and second.encoder is not None
    message = (
        f"{first_name} and {second_name} come from different models (their {', '.join(named)} "
        f"differ{'s' if len(named) == 1 else ''}: {first.encoder.describe()}, against {second.encoder.describe()})"
    )
    if force:
        say(f"{message}; compared anyway (--force)")
        return
    raise IncomparableCodesError(
        f"{message}; codes of two models cannot be compared (--force compares them anyway)"
    )
