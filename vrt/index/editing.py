"""Indexes that grow and shrink: add the items of a codes file, remove items by id, describe items.

An edit returns a new :class:`HammingIndex` of the same kind and parameters over the edited
items; the caller saves it (atomically, :func:`vrt.index.storage.save_index`), so a reader sees
the old index or the new one. Rebuilding the faiss structure from the codes keeps every kind
exact about what it holds (HNSW graphs and multi-hash tables cannot drop an item in place) and
costs little next to encoding the videos. numpy and faiss only, never torch.

Database order after an edit: the kept items in their old order, then the added ones in the
order of their codes file; an item replaced with ``replace=True`` keeps its place.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vrt.codes import ClassNamesError, CodeSet, check_comparable, load_codes, merge_class_names, source_groups
from vrt.errors import VrtError
from vrt.index.hamming_index import HammingIndex

__all__ = [
    "IndexEditError",
    "add_codes",
    "describe_items",
    "describe_size",
    "merge_indexes",
    "read_id_list",
    "remove_ids",
]

_SHOWN = 5  # ids quoted in a message; the rest are counted


class IndexEditError(VrtError, ValueError):
    """An edit that would lose or mix up information: duplicate ids, unknown ids, clashing labels."""


def add_codes(
    index: HammingIndex,
    codes: CodeSet,
    *,
    replace: bool = False,
    force: bool = False,
    codes_name: str = "the codes",
    warn: Callable[[str], None] | None = None,
) -> HammingIndex:
    """The index with the items of ``codes`` added (same kind and parameters).

    The codes must be comparable with the index's (:func:`vrt.codes.check_comparable`: one
    length, one model, unless ``force``); the index keeps its own record of the model. Ids
    already in the index are refused unless ``replace``, which gives those items their new code
    and label in place. Class names are merged by name: the index's classes keep their labels and
    new names are appended, so codes labelled under another class list land in the right
    classes; labels without class names cannot be merged with named ones.
    """
    check_comparable(codes, index, first_name=codes_name, second_name="the index", force=force, warn=warn)
    current = index.codeset
    try:
        class_names, labels = merge_class_names(
            current.class_names, codes, first_labelled=bool(current.labelled.any())
        )
    except ClassNamesError as error:
        raise IndexEditError(str(error)) from None
    position = {item_id: p for p, item_id in enumerate(current.ids.tolist())}
    new_ids = codes.ids.tolist()
    present = [p for p, item_id in enumerate(new_ids) if item_id in position]
    if present and not replace:
        shown = ", ".join(new_ids[p] for p in present[:_SHOWN]) + (", ..." if len(present) > _SHOWN else "")
        raise IndexEditError(
            f"{len(present)} of the {len(codes)} ids are already in the index ({shown}); "
            "pass --replace to give them the new codes"
        )
    all_codes, all_labels = current.codes.copy(), current.labels.copy()
    targets = np.asarray([position[new_ids[p]] for p in present], dtype=np.int64)
    all_codes[targets], all_labels[targets] = codes.codes[present], labels[present]
    added = np.setdiff1d(np.arange(len(codes)), present)  # sorted: codes-file order
    groups = None
    if current.groups is not None or codes.groups is not None:
        # The side without groups contributes its items' sources (the id before "#t="), the
        # groups it would be scored by: merging never changes what an item's source is.
        current_groups, new_groups = source_groups(current), source_groups(codes)
        groups = current_groups.astype(np.result_type(current_groups, new_groups))
        groups[targets] = new_groups[present]
        groups = np.concatenate([groups, new_groups[added]])
    merged = dataclasses.replace(
        current,
        codes=np.concatenate([all_codes, codes.codes[added]]),
        labels=np.concatenate([all_labels, labels[added]]),
        ids=np.concatenate([current.ids, codes.ids[added]]),
        class_names=class_names,
        groups=groups,
    )
    return index.rebuilt(merged)


def merge_indexes(
    indexes: Sequence[HammingIndex],
    *,
    names: Sequence[str] | None = None,
    force: bool = False,
    warn: Callable[[str], None] | None = None,
) -> HammingIndex:
    """One index of the items of ``indexes`` (shards built apart), in the order given.

    The shards must share a kind and its parameters and come from one model (unless ``force``);
    an id in two shards is refused. The faiss structure is built once, over every item.
    """
    if not indexes:
        raise IndexEditError("no indexes to merge")
    names = list(names) if names is not None else [f"index {number}" for number in range(len(indexes))]
    first = indexes[0]
    for index, name in zip(indexes[1:], names[1:], strict=True):
        if (index.kind, index.params) != (first.kind, first.params):
            raise IndexEditError(
                f"{name} is a {index.kind} index {index.params}, {names[0]} a {first.kind} index {first.params}: "
                "merge shards built with the same kind and options (or rebuild from the codes files)"
            )
    merged = first.codeset
    for index, name in zip(indexes[1:], names[1:], strict=True):
        check_comparable(index, first, first_name=name, second_name=names[0], force=force, warn=warn)
        clash = np.intersect1d(merged.ids, index.ids)
        if len(clash):
            shown = ", ".join(clash[:_SHOWN].tolist()) + (", ..." if len(clash) > _SHOWN else "")
            raise IndexEditError(f"{len(clash)} ids of {name} are already in the shards before it ({shown})")
        try:
            class_names, labels = merge_class_names(
                merged.class_names, index.codeset, first_labelled=bool(merged.labelled.any())
            )
        except ClassNamesError as error:
            raise IndexEditError(str(error)) from None
        merged = dataclasses.replace(
            merged,
            codes=np.concatenate([merged.codes, index.codes]),
            labels=np.concatenate([merged.labels, labels]),
            ids=np.concatenate([merged.ids, index.ids]),
            class_names=class_names,
            groups=None
            if merged.groups is None and index.codeset.groups is None
            else np.concatenate([source_groups(merged), source_groups(index.codeset)]),
        )
    return first.rebuilt(merged)


def remove_ids(index: HammingIndex, item_ids: Sequence[str]) -> HammingIndex:
    """The index without the items ``item_ids`` (all must be indexed; repeats are harmless)."""
    missing = [item_id for item_id in dict.fromkeys(item_ids) if item_id not in index]
    if missing:
        first = index.unknown_id_message(missing[0])
        more = f" and {len(missing) - 1} more ids" if len(missing) > 1 else ""
        raise IndexEditError(f"{first}{more}; nothing was removed")
    drop = np.zeros(len(index), dtype=bool)
    drop[[index.position_of(item_id) for item_id in item_ids]] = True
    current = index.codeset
    kept = dataclasses.replace(
        current,
        codes=current.codes[~drop],
        labels=current.labels[~drop],
        ids=current.ids[~drop],
        groups=None if current.groups is None else current.groups[~drop],
    )
    return index.rebuilt(kept)


def read_id_list(path: str | os.PathLike[str]) -> list[str]:
    """The ids of a text file, one per line, as written (blank lines skipped; no comment syntax,
    since an id, a path, may start with ``#``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise IndexEditError(f"id list not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise IndexEditError(f"cannot read the id list {path}: {error}") from None
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def describe_items(source: str | os.PathLike[str] | CodeSet) -> dict[str, Any]:
    """Counts of an index's (or codes file's, or code set's) items: total, labelled, unlabelled, classes."""
    codes = source if isinstance(source, CodeSet) else load_codes(source)
    labelled = int(np.count_nonzero(codes.labelled))
    present = np.unique(codes.labels[codes.labelled])
    return {
        "count": len(codes),
        "labelled": labelled,
        "unlabelled": len(codes) - labelled,
        "classes": len(codes.class_names) if codes.class_names is not None else int(present.size),
        "classes_present": int(present.size),
    }


def describe_size(path: str | os.PathLike[str], index: HammingIndex) -> dict[str, int]:
    """An index file's bytes on disk, and the bytes the loaded ``index`` holds."""
    return {"file_bytes": Path(path).stat().st_size, "memory_bytes": index.memory_bytes()}
