"""A run directory's files, described once: their names, who writes them and what they hold.

``vrt train CONFIG --output DIR`` writes a run directory; ``vrt eval``, ``vrt export``,
``vrt report`` and ``--resume`` read it. Every one of them finds a file through
:class:`RunDirectory` rather than spelling its name, and :data:`RUN_FILES` is the table that
``docs/training.md`` shows. torch-free: ``vrt report`` reads runs without the training stack.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from vrt.runtime.fileio import atomic_write_text

__all__ = ["MARKER_FORMAT", "RUN_FILES", "STEP_FILE", "RunDirectory", "run_files_markdown"]

#: The ``format`` of ``vrt-run.json``.
MARKER_FORMAT = "vrt-run/1"

#: Every file (or folder) a run may hold, with what it holds, in the order a run writes them.
RUN_FILES: dict[str, str] = {
    "vrt-run.json": "written first: marks the folder as a vrt run (`--output` writes into no other non-empty folder)",
    "run.lock": "held while a `vrt train` writes here (its pid and host); a second one is refused",
    "config.yaml": "the fully resolved config",
    "metrics.jsonl": "one JSON object per epoch: loss, learning rate, clips/s, data-wait time and share, "
    "validation mAP, code spread",
    "train.log": "everything the run printed, with timestamps",
    "tensorboard/": "TensorBoard event files (with the tensorboard package installed)",
    "last.pt": "the newest state: model, optimiser, schedule, loss, position, RNG states, config",
    "previous.pt": "the state last.pt held before (a fallback should last.pt be damaged)",
    "step-NNNNNNNN.pt": "the newest step checkpoints, with train.checkpoint_every_steps",
    "best.pt": "the state with the best validation mAP, or the lowest validation loss when training "
    "without labels (the last one without validation); a tie goes to the later epoch",
    "curves.png": "training loss and validation mAP (or loss) per epoch",
    "results.json": "test-split retrieval metrics of best.pt, with the protocol (format in docs/metrics.md)",
    "codes_test.npz": "codes of best.pt on the test split (the queries; format in docs/metrics.md)",
    "codes_train.npz": "codes of best.pt on the train split (the database)",
    "bad_videos.txt": "videos that could not be read, if any",
    "eval/": "where `vrt eval --checkpoint ... --output RUN_DIR/eval` puts results.json, plots, retrieval.html",
}

#: The name of a step checkpoint; the number is the optimiser step, zero-padded to sort.
STEP_FILE = re.compile(r"^step-(\d{8,})\.pt$")


@dataclass(frozen=True)
class RunDirectory:
    """The paths of one run directory (nothing is created or read here)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def marker(self) -> Path:
        return self.root / "vrt-run.json"

    @property
    def lock(self) -> Path:
        return self.root / "run.lock"

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def train_log(self) -> Path:
        return self.root / "train.log"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def last(self) -> Path:
        return self.root / "last.pt"

    @property
    def previous(self) -> Path:
        return self.root / "previous.pt"

    @property
    def best(self) -> Path:
        return self.root / "best.pt"

    @property
    def curves(self) -> Path:
        return self.root / "curves.png"

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    @property
    def bad_videos(self) -> Path:
        return self.root / "bad_videos.txt"

    @property
    def eval(self) -> Path:
        """Where ``vrt eval --checkpoint`` writes unless told otherwise."""
        return self.root / "eval"

    @property
    def eval_results(self) -> list[Path]:
        """The results files ``vrt eval --output RUN_DIR/eval`` may have left, newest format first
        (``metrics.json`` is what it wrote before ``results.json``)."""
        return [self.eval / "results.json", self.eval / "metrics.json"]

    def codes(self, split: str) -> Path:
        """The exported codes of best.pt on ``split`` (``train``: the database, ``test``: the queries)."""
        return self.root / f"codes_{split}.npz"

    def step(self, number: int) -> Path:
        return self.root / f"step-{number:08d}.pt"

    def step_files(self) -> list[tuple[int, Path]]:
        """Step checkpoints present, oldest first."""
        if not self.root.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.root.iterdir() if (m := STEP_FILE.match(p.name))]
        return sorted(found)

    def holds_a_run(self) -> bool:
        """Whether training has saved a state here (a checkpoint), so only ``--resume`` may continue it."""
        return self.last.exists() or self.previous.exists() or bool(self.step_files())

    def is_marked(self) -> bool:
        """Whether vrt made this folder a run (``vrt-run.json``); runs from before the marker have last.pt."""
        return self.marker.is_file() or self.last.is_file()

    def foreign_entries(self) -> list[str]:
        """Names in the folder when it is not a vrt run (empty for a new, empty or vrt folder)."""
        if not self.root.is_dir() or self.is_marked():
            return []
        return sorted(entry.name for entry in self.root.iterdir())

    def mark(self) -> None:
        """Write the marker (first, before any other file of the run); kept when present."""
        if self.marker.is_file():
            return
        record = {"format": MARKER_FORMAT, "created": datetime.now().isoformat(timespec="seconds")}
        atomic_write_text(self.marker, json.dumps(record) + "\n")

    @classmethod
    def of_checkpoint(cls, checkpoint: str | Path) -> RunDirectory:
        """The run a checkpoint file belongs to: the folder that holds it."""
        return cls(Path(checkpoint).parent)


def run_files_markdown() -> str:
    """The table of :data:`RUN_FILES` that docs/training.md shows (a test keeps them equal)."""
    rows = [f"| `{name}` | {meaning} |" for name, meaning in RUN_FILES.items()]
    return "\n".join(["| file | holds |", "|---|---|", *rows]) + "\n"
