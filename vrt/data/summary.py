"""A configured dataset at a glance, before training on it (``vrt data summary``).

:func:`summarize_data` builds the config's splits and reports their sizes, the classes, the
listed videos that are missing, how clips are made, and a decode check of a few videos. The
report is plain JSON-ready data; its keys are documented in ``docs/datasets.md``.
"""

from __future__ import annotations

import warnings
from typing import TypedDict

from vrt.config import Config
from vrt.data.checks import training_problems
from vrt.data.pipeline import DataSplits, build_data_splits
from vrt.errors import VideoDecodeError

__all__ = [
    "DataSummary",
    "DecodeCheck",
    "DecodeFailure",
    "SplitsSummary",
    "decode_check",
    "summarize_data",
    "summarize_splits",
]

# Missing files listed by name in a report; ``missing`` still counts all of them.
MISSING_LISTED = 10


class DecodeFailure(TypedDict):
    id: str
    reason: str


class DecodeCheck(TypedDict):
    checked: int
    failed: list[DecodeFailure]
    clip_shapes: list[list[int]]  # the distinct (C, T, H, W) of the clips decoded


class SplitsSummary(TypedDict):
    train: int
    val: int
    test: int
    classes: int
    missing: int
    missing_files: list[str]
    clips: dict[str, str]
    decode_check: DecodeCheck


class DataSummary(SplitsSummary):
    dataset: str
    warnings: list[str]
    problems: list[str]  # what would stop `vrt train` before it starts (vrt.data.checks)


def summarize_data(config: Config, *, check: int = 4) -> DataSummary:
    """Build ``config``'s splits and report them, decoding ``check`` videos along the way.

    The datasets warn about missing files while they are built; those warnings are caught and
    returned under ``warnings`` (not emitted), so a caller can print the report, or dump it as
    one clean JSON object, and still see them. Errors (a missing root, ``data.strict`` with
    missing files) raise as they would in training; what would stop training before it starts
    (:func:`vrt.data.checks.training_problems`) is listed under ``problems``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = build_data_splits(config)
    summary = summarize_splits(splits, check=check)
    problems = training_problems(config, splits)
    return {
        "dataset": config.data.dataset.name,
        **summary,
        "warnings": [str(warning.message) for warning in caught],
        "problems": problems,
    }


def summarize_splits(splits: DataSplits, *, check: int) -> SplitsSummary:
    """The report's numbers: ``train`` is the fit part, so ``train + val`` is the official training list."""
    sources = [splits.train_source, splits.test_source]
    missing_files = [path for source in sources for path in getattr(source, "missing", [])]
    return {
        "train": len(splits.fit_positions),
        "val": len(splits.val_positions),
        "test": len(splits.test_positions),
        "classes": len(splits.class_names),
        "missing": len(missing_files),
        "missing_files": missing_files[:MISSING_LISTED],
        "clips": splits.train_source.describe_clips(),
        "decode_check": decode_check(splits, check),
    }


def decode_check(splits: DataSplits, count: int) -> DecodeCheck:
    """Decode ``count`` videos, taken in turn from fit, val and test, evenly spread within each.

    Loads go straight to the dataset (not through a ClipView, which would turn a failure into
    a skipped item) so that the reason can be reported.
    """
    pools = [
        (source, positions)
        for source, positions in (
            (splits.train_source, splits.fit_positions),
            (splits.train_source, splits.val_positions),
            (splits.test_source, splits.test_positions),
        )
        if positions
    ]
    picks_per_pool = [len(range(p, count, len(pools))) for p in range(len(pools))] if pools else []
    failed: list[DecodeFailure] = []
    shapes: set[tuple[int, ...]] = set()
    checked = 0
    for (source, positions), picks in zip(pools, picks_per_pool, strict=True):
        chosen = dict.fromkeys(positions[(2 * j + 1) * len(positions) // (2 * picks)] for j in range(picks))
        for index in chosen:
            checked += 1
            try:
                shapes.add(tuple(source.load_clip(index, training=False).shape))
            except VideoDecodeError as error:
                failed.append({"id": source.ids[index], "reason": str(error)})
    return {"checked": checked, "failed": failed, "clip_shapes": [list(shape) for shape in sorted(shapes)]}
