"""Human-readable tables of retrieval metrics and registry listings (rich; no torch)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table

from vrt.metrics import RetrievalReport
from vrt.registry import Registry


def retrieval_table(
    report: RetrievalReport, *, title: str = "Retrieval by Hamming ranking", caption: str | None = None
) -> Table:
    """The report's values, the tie-aware ones first; the database-order mAP figures beside them
    when they were computed."""
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left", min_width=44)
    table.add_column("metric")
    table.add_column("value", justify="right")
    k = report.k_label  # the K used, and the K asked when the database is smaller
    table.add_row("mAP", f"{report.map:.4f}")
    if report.database_order:  # computed only when asked: they rank every pair
        table.add_row("mAP, ties in database order", f"{report.map_database_order:.4f}")
    table.add_row(f"mAP@{k}", f"{report.map_at_k:.4f}")
    if report.database_order:
        table.add_row(f"mAP@{k}, ties in database order", f"{report.map_at_k_database_order:.4f}")
    table.add_row(f"precision@{k}", f"{report.precision_at_k:.4f}")
    table.add_row(f"recall@{k}", f"{report.recall_at_k:.4f}")
    table.add_row(f"precision within Hamming radius {report.radius}", f"{report.precision_at_radius:.4f}")
    for depth, value in report.papers_map_at:  # only when ranked (database order)
        table.add_row(f"mAP@{depth}, papers' definition (/K, database order)", f"{value:.4f}")
    table.add_row("unique database codes", f"{report.database_codes.unique_fraction:.1%}")
    table.add_row("queries", str(report.num_queries))
    table.add_row("database", str(report.num_database))
    if report.num_queries_without_relevant:
        table.add_row(
            "queries without a relevant item (left out of mAP)", str(report.num_queries_without_relevant)
        )
    return table


def evaluation_tables(
    report: RetrievalReport,
    *,
    source: RetrievalReport | None = None,
    relevance: str = "class",
    title: str = "Retrieval by Hamming ranking",
    caption: str | None = None,
) -> list[Table]:
    """The tables of one evaluation: class relevance (or source relevance, for queries without
    a class), then source relevance beside it when it was measured (``Evaluation.source``)."""
    if relevance == "source":
        title += " (relevant: the same source video)"
    tables = [retrieval_table(report, title=title, caption=None if source is not None else caption)]
    if source is not None:
        tables.append(
            retrieval_table(
                source, title="The same video: source relevance (query itself left out)", caption=caption
            )
        )
    return tables


def registry_rows(registries: Iterable[Registry]) -> list[tuple[str, str, str, str]]:
    """(kind, name, origin, description) for every entry; plugins that fail show their error."""
    rows = []
    for registry in registries:
        for entry in registry.entries():
            if isinstance(entry, tuple):
                name, error = entry
                rows.append((registry.kind, name, "failed plugin", error))
            else:
                rows.append((registry.kind, entry.name, entry.origin, entry.description))
    return rows


def registry_table(rows: list[tuple[str, str, str, str]]) -> Table:
    table = Table(title_justify="left")
    for column in ("kind", "name", "origin", "description"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table
