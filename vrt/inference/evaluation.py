"""The one evaluation: a checkpoint (its test split against its train split) or two codes files.

    from vrt.inference.evaluation import evaluate

    result = evaluate("runs/demo/best.pt", output="runs/demo/eval")    # encodes, then scores
    result = evaluate(query="q.npz", database="db.npz")                 # no torch imported
    print(result.report.map)

Training's test, ``vrt eval`` and ``vrt demo`` all call :func:`evaluate`, and every results file
is written by it (:mod:`vrt.reporting.results`). The two sets must pass the one comparability
check (:func:`vrt.codes.check_comparable`). Scoring codes imports no torch; a checkpoint loads
torch when it is encoded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vrt.codes import CodeSet, check_comparable, load_codes
from vrt.errors import CodesFileError, VrtError
from vrt.metrics import QueryScores, RetrievalReport, score_queries
from vrt.metrics.sources import score_sources
from vrt.reporting.results import codes_record, metrics_record, protocol_record, write_results

if TYPE_CHECKING:
    from vrt.datasets.items import SkippedClip
    from vrt.inference.trained import TrainedModel

__all__ = ["Evaluation", "evaluate"]

#: Makes a progress callback for encoding one split, given its label ("encoding test").
ProgressFactory = Callable[[str], AbstractContextManager[Callable[..., None] | None]]


@dataclass
class Evaluation:
    """What :func:`evaluate` measured: the codes, the per-query scores and how they were obtained.

    ``scores`` rank by class (the queries' labels), or by source when the queries have no class
    (``relevance``); ``source`` holds the source-relevance scores beside class ones (does a search
    find *the same* video: :mod:`vrt.metrics.sources`), None when no query has another item of
    its source. ``protocol`` (how the numbers were obtained: the sets' sizes and hashes, the
    checkpoint) and ``written`` (``results.json`` and the plots) are there when an output was given.
    """

    query: CodeSet
    database: CodeSet
    scores: QueryScores
    protocol: dict[str, Any] | None = None
    written: list[Path] = field(default_factory=list)
    source: QueryScores | None = None
    relevance: str = "class"
    #: Queries that are items of the database too (same ids), and whether their own items were
    #: left out of their rankings (the default) or kept (``keep_self``).
    shared_items: dict[str, Any] = field(default_factory=lambda: {"count": 0, "left_out": False})

    @property
    def report(self) -> RetrievalReport:
        return self.scores.report()

    def metrics(self) -> dict[str, Any]:
        """The metrics as ``vrt eval --json`` prints them and ``results.json`` keeps them."""
        return metrics_record(self.scores, source=self.source, shared_items=self.shared_items)


def evaluate(
    model: TrainedModel | str | os.PathLike[str] | None = None,
    *,
    query: CodeSet | str | os.PathLike[str] | None = None,
    database: CodeSet | str | os.PathLike[str] | None = None,
    topk: int | None = None,
    radius: int = 2,
    output: str | os.PathLike[str] | None = None,
    plots: bool = True,
    database_order: bool | None = None,
    sources: bool = True,
    keep_self: bool = False,
    force: bool = False,
    workers: int | None = None,
    bad_videos: int | None = None,
    progress: ProgressFactory | None = None,
    on_skipped: Callable[[list[SkippedClip]], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Evaluation:
    """Retrieval metrics of ``query`` codes against ``database`` codes, written to ``output``.

    Args:
        model: a checkpoint (or a loaded :class:`~vrt.inference.TrainedModel`); its test split
            is encoded as the queries and its train split as the database, unless ``query`` or
            ``database`` is given.
        query, database: code sets or codes files.
        topk: K of mAP@K, P@K and R@K (the model's ``eval.topk``, else 100).
        radius: r of the precision within Hamming radius r.
        output: a folder to write ``results.json`` and (with ``plots``) its plots into.
        database_order: also compute the values with ties in database order (``*_database_order``,
            the mAP@K curve), which rank every pair; the headline values are tie-aware and need
            only counts. By default, when ``output`` is given (a results file holds them all).
        sources: also score source relevance (does a search find other clips of the query's own
            video; :mod:`vrt.metrics.sources`); unlabelled queries are scored by it alone.
        keep_self: when queries are items of the database too (the same file, or the same ids),
            keep each query's own item in its ranking: it finds itself first, which inflates
            every figure. By default it is left out (tie-aware values only then: the values with
            ties in database order rank the whole database).
        force: compare codes of different models anyway (a warning instead of an error).
        workers: threads ranking the queries (one per core by default).
        bad_videos: how many videos could not be read while making the codes, for the protocol
            (counted here when the splits are encoded here).
        progress, on_skipped: as :meth:`TrainedModel.encode` takes them, for the encoded splits.
        warn: hears warnings of the comparability check (``warnings.warn`` by default).

    Raises:
        IncomparableCodesError: codes of different lengths, or of different models without ``force``.
        CodesFileError: an empty set, or a codes file that cannot be read.
    """
    trained = _trained(model)
    if trained is None and (query is None or database is None):
        raise VrtError("evaluate needs a checkpoint, or query and database codes")
    unreadable: set[str] = set()

    def note_skipped(items: list[SkippedClip]) -> None:
        unreadable.update(item.video_id for item in items)
        if on_skipped is not None:
            on_skipped(items)

    query_codes, query_path = _codes(query, trained, "test", progress, note_skipped)
    database_codes, database_path = _codes(database, trained, "train", progress, note_skipped)
    encoded = trained is not None and (query is None or database is None)
    if bad_videos is None and encoded:
        bad_videos = len(unreadable)
    query_name = str(query_path) if query_path else "the test split" if query is None else "the query codes"
    database_name = (
        str(database_path)
        if database_path
        else "the train split"
        if database is None
        else "the database codes"
    )
    for name, codes in ((query_name, query_codes), (database_name, database_codes)):
        if len(codes) == 0:
            raise CodesFileError(f"{name} holds no codes: nothing to evaluate (was its split empty?)")
    check_comparable(
        query_codes, database_codes, first_name=query_name, second_name=database_name, force=force, warn=warn
    )
    if trained is not None:
        check_comparable(
            trained,
            query_codes,
            first_name=str(trained.checkpoint),
            second_name=query_name,
            force=force,
            warn=warn,
        )
    if radius > query_codes.bits:
        raise VrtError(f"--radius must be at most the code length ({query_codes.bits} bits), got {radius}")
    k = topk or (trained.config.eval.topk if trained is not None else 100)
    shared = int(np.count_nonzero(np.isin(query_codes.ids, database_codes.ids)))
    leave_out = shared > 0 and not keep_self
    shared_items = {"count": shared, "left_out": leave_out}
    if database_order is None or leave_out:
        database_order = output is not None and not leave_out
    found = (
        score_sources(query_codes, database_codes, topk=k, radius=radius, workers=workers)
        if sources
        else None
    )
    relevance = "class" if query_codes.labelled.all() or found is None else "source"
    if relevance == "class":  # refuses unlabelled queries when there is no source to find either
        scores = score_queries(
            query_codes,
            database_codes,
            topk=k,
            radius=radius,
            workers=workers,
            database_order=database_order,
            curve=database_order and output is not None,
            exclude_self=leave_out,
        )
    else:
        scores, found = found, None
    protocol = None
    written: list[Path] = []
    if output is not None:  # the record of how the numbers were obtained (hashes of both sets) goes with them
        protocol = protocol_record(
            query=codes_record(query_codes, source=_source(query, "test"), path=query_path),
            database=codes_record(database_codes, source=_source(database, "train"), path=database_path),
            topk=k,
            radius=radius,
            checkpoint=None if trained is None else trained.checkpoint,
            epoch=None if trained is None else trained.state.get("epoch"),
            config_hash=None if trained is None else _config_hash(trained),
            bad_videos=bad_videos,
            shared_items=shared_items,
        )
        written = write_results(
            output, scores, protocol=protocol, plots=plots, source=found, relevance=relevance
        )
    return Evaluation(query_codes, database_codes, scores, protocol, written, found, relevance, shared_items)


def _trained(model: TrainedModel | str | os.PathLike[str] | None) -> TrainedModel | None:
    if model is None or not isinstance(model, (str, os.PathLike)):
        return model
    from vrt.inference.trained import TrainedModel

    return TrainedModel.load(model)


def _codes(
    given: CodeSet | str | os.PathLike[str] | None,
    trained: TrainedModel | None,
    split: str,
    progress: ProgressFactory | None,
    on_skipped: Callable[[list[SkippedClip]], None] | None,
) -> tuple[CodeSet, Path | None]:
    """The codes given, loaded from their file, or encoded from ``split`` of the model's dataset."""
    if isinstance(given, CodeSet):
        return given, None
    if given is not None:
        return load_codes(given), Path(given)
    assert trained is not None
    with (progress or (lambda _label: nullcontext()))(f"encoding {split}") as update:
        return trained.encode(trained.splits.view(split), progress=update, on_skipped=on_skipped), None  # type: ignore[arg-type]


def _source(given: CodeSet | str | os.PathLike[str] | None, split: str) -> str:
    if given is None:
        return f"{split} split, encoded with test-time transforms"
    return "code set" if isinstance(given, CodeSet) else "codes file"


def _config_hash(trained: TrainedModel) -> str:
    from vrt.config import config_hash  # YAML and the registries: not needed to score codes files

    return config_hash(trained.config)
