"""Human-readable tables of retrieval metrics and registry listings (rich; no torch)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table

from vrt.metrics import RetrievalReport
from vrt.registry import Registry


def retrieval_table(
    report: RetrievalReport, *, title: str = "Retrieval by Hamming ranking", caption: str | None = None
) -> Table:
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left", min_width=44)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("mAP", f"{report.map:.4f}")
    table.add_row("mAP, tie-aware (ties in random order)", f"{report.map_tie_aware:.4f}")
    table.add_row(f"mAP@{report.topk}", f"{report.map_at_k:.4f}")
    table.add_row(f"precision@{report.topk}", f"{report.precision_at_k:.4f}")
    table.add_row(f"recall@{report.topk}", f"{report.recall_at_k:.4f}")
    table.add_row(f"precision within Hamming radius {report.radius}", f"{report.precision_at_radius:.4f}")
    table.add_row("queries", str(report.num_queries))
    table.add_row("database", str(report.num_database))
    if report.num_queries_without_relevant:
        table.add_row(
            "queries without a relevant item (left out of mAP)", str(report.num_queries_without_relevant)
        )
    return table


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
