"""Where training stands, as a checkpoint records it besides the modules' own states."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class EpochProgress:
    """How far a run is into its current epoch; a mid-epoch checkpoint stores it."""

    position: int = 0  # batches of this rank's share consumed, trained on or skipped
    steps: int = 0  # optimiser steps taken
    clips: int = 0  # clips trained on, all ranks together
    loss_sum: float = 0.0  # sum of the per-clip loss over those clips
    seconds: float = 0.0  # time spent in the epoch's loop
    data_seconds: float = 0.0  # of which waiting for the loader's next batch

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> EpochProgress:
        return cls(**state) if state else cls()


@dataclass
class RunState:
    """Completed epochs, steps, the best validation result so far and progress into the epoch."""

    epoch: int = 0  # completed epochs
    global_step: int = 0  # optimiser steps since the start of the run
    best_score: float = -math.inf  # what selection maximises: val mAP, or minus the val loss
    best_epoch: int | None = None
    within: EpochProgress = field(default_factory=EpochProgress)  # progress into epoch ``epoch``

    def to_state(self, *, world_size: int) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "position": self.within.position,
            "epoch_progress": self.within.to_state(),
            "global_step": self.global_step,
            "world_size": world_size,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
        }

    @classmethod
    def from_checkpoint(cls, state: dict[str, Any]) -> RunState:
        """Checkpoints written before mid-epoch saves lack the newer keys: they start an epoch."""
        mid_epoch = int(state.get("position", 0)) > 0
        return cls(
            epoch=int(state["epoch"]),
            global_step=int(state.get("global_step", 0)),
            # Checkpoints written before label-free selection kept the best val mAP as best_map.
            best_score=float(state.get("best_score", state.get("best_map", -math.inf))),
            best_epoch=state.get("best_epoch"),
            within=EpochProgress.from_state(state.get("epoch_progress") if mid_epoch else None),
        )

    def rescale_position(self, *, saved_ranks: int, ranks: int, batches_per_epoch: int) -> bool:
        """Map a mid-epoch position saved by ``saved_ranks`` processes onto ``ranks`` processes'
        shares; True when that changed anything (the epoch then cannot continue exactly)."""
        if not self.within.position or saved_ranks == ranks:
            return False
        consumed = self.within.position * saved_ranks  # batches of the epoch order already used
        self.within.position = min(consumed // ranks, batches_per_epoch)
        return True
