"""Stopping a run cleanly on SIGINT/SIGTERM: finish the step, save, then leave.

While training, the handlers of :class:`~vrt.runtime.signals.StopRequest` only raise a flag; the
loop finishes the step it is in, writes a checkpoint and raises :class:`TrainingInterrupted`.
Importable without torch (the CLI catches the exception).
"""

from __future__ import annotations

from pathlib import Path

from vrt.errors import VrtError


class TrainingInterrupted(VrtError):
    """Training stopped on a signal after saving its state; the run can be resumed.

    Attributes:
        signal_number: the signal (``exit_code`` is the shell's ``128 + signal_number``).
        run_dir: the run directory to resume.
        checkpoint: the checkpoint that holds the saved state.
    """

    def __init__(self, message: str, *, signal_number: int, run_dir: Path, checkpoint: Path) -> None:
        super().__init__(message)
        self.signal_number = signal_number
        self.run_dir = run_dir
        self.checkpoint = checkpoint

    @property
    def exit_code(self) -> int:
        return 128 + self.signal_number

    def __reduce__(self):  # keyword-only arguments: rebuild explicitly (for broadcasting across ranks)
        return _rebuild_interrupted, (str(self), self.signal_number, self.run_dir, self.checkpoint)


def _rebuild_interrupted(
    message: str, signal_number: int, run_dir: Path, checkpoint: Path
) -> TrainingInterrupted:
    return TrainingInterrupted(message, signal_number=signal_number, run_dir=run_dir, checkpoint=checkpoint)
