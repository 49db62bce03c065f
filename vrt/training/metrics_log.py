"""``metrics.jsonl``: a run's per-epoch records, appended as epochs end and cut back on resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vrt.runtime.fileio import atomic_write_text


class MetricsLog:
    """``metrics.jsonl``: one JSON object per completed epoch, appended as epochs end."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    def records(self) -> list[dict[str, Any]]:
        """The records written so far (a line cut short by a crash is left out)."""
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def truncate(self, *, after_epoch: int) -> None:
        """Drop records of epochs after the checkpoint: a crash between the two writes repeats them.

        A line cut short by a crash mid-append is dropped too; the file is replaced atomically.
        """
        if not self.path.exists():
            return
        kept = [record for record in self.records() if record.get("epoch", 0) <= after_epoch]
        atomic_write_text(self.path, "".join(json.dumps(record) + "\n" for record in kept))
