"""The Runner: trains a hashing model in a run directory, selects it on validation, reports on test.

It orchestrates pieces that live elsewhere (the training session's objects, the epoch loop, the
checkpoint policy, the inference encoder, the metrics) and knows nothing of the command line.
Under torchrun it runs on every rank: each trains on its share of the batches through
DistributedDataParallel, evaluation is shared and gathered, and rank 0 alone writes and prints.
The files of a run directory are described in :mod:`vrt.rundir`.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from rich.console import Console

from vrt.checkpoints.format import load_checkpoint
from vrt.checkpoints.keeper import CheckpointKeeper
from vrt.codes import CodeSet, save_codes
from vrt.config import Config
from vrt.data.bad_videos import BadVideoLog
from vrt.data.checks import check_trainable
from vrt.data.pipeline import DataSplits, SplitName, build_data_splits
from vrt.datasets.items import SkippedClip
from vrt.errors import TrainingError, VrtError
from vrt.inference.evaluation import Evaluation, evaluate
from vrt.inference.trained import TrainedModel
from vrt.metrics import RetrievalReport, code_stats
from vrt.metrics.retrieval import UnlabelledQueryError
from vrt.model import HashingModel
from vrt.reporting.plots import plot_training_curves
from vrt.reporting.progress import progress_bar
from vrt.rundir import RunDirectory
from vrt.runtime import distributed
from vrt.runtime.devices import resolve_device
from vrt.runtime.runlock import RunLock
from vrt.runtime.signals import StopRequest
from vrt.runtime.syserrors import is_system_error, system_error
from vrt.training.display import epoch_line, test_line
from vrt.training.feeding import starved_warning
from vrt.training.interrupt import TrainingInterrupted
from vrt.training.loop import NonFiniteLoss, train_epoch
from vrt.training.metrics_log import MetricsLog
from vrt.training.run_folder import check_output, intact_note, open_run
from vrt.training.run_log import RecurringWarnings, RunLog
from vrt.training.selection import improves, selection_score, selects_without_labels, validation_loss
from vrt.training.session import TrainingSession
from vrt.training.state import EpochProgress

__all__ = ["Runner"]

MISSING_REASON = "listed in the split file but not found under data.dataset.root"


class Runner:
    """Train, validate, checkpoint and evaluate one run.

    Args:
        config: the validated run configuration.
        run_dir: where the run's files go (created if missing).
        console: where progress and summaries are printed (rank 0 only).
    """

    def __init__(self, config: Config, run_dir: str | Path, *, console: Console | None = None):
        self.config = config
        self.paths = RunDirectory(Path(run_dir))
        # Joins torchrun's process group when launched by it (and picks this rank's GPU).
        self.device = distributed.init_from_env(resolve_device(config.train.device))
        self.console = (console or Console(stderr=True)) if distributed.is_main() else Console(quiet=True)
        self.log = RunLog(self.console)  # console only, until fit() has a run directory
        self.checkpoints = CheckpointKeeper(
            self.paths, keep_steps=config.train.keep_checkpoints, warn=self.log_warning
        )
        self.metrics = MetricsLog(self.paths.metrics)
        self._lock = RunLock(self.paths.lock, what=f"the run directory {self.paths.root}")
        self._splits: DataSplits | None = None
        self._bad_videos: BadVideoLog | None = None
        self._saved_at: tuple[int, int] | None = None  # (epoch, position) of the last step checkpoint
        self._warned_feeding = False
        self._validation_warnings = RecurringWarnings(self.log_warning)

    # -- public entry points ------------------------------------------------------------

    def fit(self, *, resume: bool = False) -> Evaluation | None:
        """Train for ``train.epochs`` epochs (continuing the run's newest checkpoint if ``resume``),
        then test. On SIGINT/SIGTERM, saves and raises :class:`TrainingInterrupted`.

        Everything that can fail before training (the output folder, the data, the batches, the
        device, the model) is checked before a new run directory is created.
        """
        try:
            with self.log.capturing_warnings():
                distributed.on_main_then_broadcast(lambda: check_output(self.paths, resume=resume))
                distributed.on_main_then_broadcast(lambda: check_trainable(self.config, self.splits))
                state = distributed.on_main_then_broadcast(lambda: self._open_run(resume)) if resume else None
                session = TrainingSession.start(
                    self.config, self.splits, device=self.device, state=state, warn=self.log_warning
                )
                if not resume:  # created once the model and data are known to build
                    distributed.on_main_then_broadcast(lambda: self._open_run(resume))
                self._open_run_log(session, resumed=state is not None)
                self._announce(session)
                self._train_epochs(session)
                self._draw_curves()
                return self._test_best(session.model)
        except VrtError as error:  # a stop on a signal (TrainingInterrupted) too
            self.log.record(f"{'stopped' if isinstance(error, TrainingInterrupted) else 'error'}: {error}")
            raise  # the caller shows it
        except OSError as error:
            if not is_system_error(error):
                raise
            failure = system_error(
                error, path=error.filename or self.paths.root, intact=intact_note(self.paths)
            )
            self.log.record(f"error: {failure}")
            raise failure from error
        finally:
            self.log.close()
            self._lock.release()

    def evaluate_model(
        self, model: HashingModel, *, query: SplitName, database: SplitName
    ) -> RetrievalReport:
        """Retrieval metrics of ``query`` clips against ``database`` clips (test transforms)."""
        encoder = self.encoder(model)
        codes = {split: self.encode(encoder, split) for split in (query, database)}
        return evaluate(
            query=codes[query], database=codes[database], topk=self.config.eval.topk, sources=False
        ).report

    def encoder(self, model: HashingModel, *, checkpoint: Path | None = None) -> TrainedModel:
        """``model`` as an encoder (``checkpoint``: the file its weights come from); under torchrun
        its buffers are made every rank's first, so that the ranks encode alike."""
        distributed.broadcast_buffers(model)
        return TrainedModel.from_model(
            model, self.config, device=self.device, checkpoint=checkpoint, splits=self.splits
        )

    def encode(self, encoder: TrainedModel, split: SplitName) -> CodeSet:
        """Codes of one split; under torchrun every rank encodes a share and gets the whole set."""
        with progress_bar(self.console, f"encoding {split}") as update:
            return encoder.encode(self.splits.view(split), progress=update, on_skipped=self.bad_videos.record)

    @property
    def bad_videos(self) -> BadVideoLog:
        """Unreadable videos met so far; listed in the run directory when there is one (rank 0)."""
        if self._bad_videos is None:
            path = self.paths.bad_videos if distributed.is_main() and self.paths.root.is_dir() else None
            self._bad_videos = BadVideoLog(path, warn=self.log_warning)
        return self._bad_videos

    @property
    def splits(self) -> DataSplits:
        if self._splits is None:
            self._splits = build_data_splits(self.config)
        return self._splits

    def log_warning(self, text: str) -> None:
        self.log.warn(text)

    # -- the steps of fit() ---------------------------------------------------------------

    def _open_run(self, resume: bool) -> dict[str, Any] | None:
        """Create or lock the run directory (rank 0); the state to resume from, if any."""
        return open_run(
            self.paths,
            config=self.config,
            resume=resume,
            lock=self._lock,
            checkpoints=self.checkpoints,
            warn=self.log_warning,
        )

    def _open_run_log(self, session: TrainingSession, *, resumed: bool) -> None:
        """From here on, what the run prints also goes to train.log and TensorBoard (rank 0)."""
        if not distributed.is_main():
            return
        self.metrics.truncate(after_epoch=session.run.epoch)
        self.log = RunLog(
            self.console,
            log_file=self.paths.train_log,
            events=self.paths.tensorboard,
            # A run restarted from the beginning drops its earlier events too.
            purge_step=session.run.epoch + 1 if resumed or self.paths.tensorboard.exists() else None,
        )

    def _announce(self, session: TrainingSession) -> None:
        config, splits, run = self.config, self.splits, session.run
        if run.epoch or run.within.position:
            where = f"epoch {run.epoch}" + (
                f", batch {run.within.position}/{session.batches_per_epoch} of epoch {run.epoch + 1}"
                if run.within.position
                else ""
            )
            self.log.print(f"Resuming {self.paths.root} after {where}.")
        missing = [*getattr(splits.train_source, "missing", ()), *getattr(splits.test_source, "missing", ())]
        # Listed-but-absent files go to bad_videos.txt too: one file names every video the run lacked.
        self.bad_videos.record((SkippedClip(-1, v, MISSING_REASON) for v in missing), announce=False)
        ranks = distributed.world_size()
        self.log.print(
            f"Training {config.model.backbone.name} + {config.model.head.name} ({session.model.bits} bits) "
            f"on {self.device}" + (f" x {ranks} processes" if ranks > 1 else "") + ": "
            f"{len(splits.fit_positions)} fit / {len(splits.val_positions)} val / "
            f"{len(splits.test_positions)} test videos, "
            + (f"{len(splits.class_names)} classes" if splits.class_names else "unlabelled")
            + (f" ({len(missing)} listed videos missing on disk)." if missing else ".")
        )

    def _train_epochs(self, session: TrainingSession) -> None:
        """Train, validate, step the schedule and checkpoint, epoch after epoch."""
        stop = StopRequest()
        with stop.installed(on_first=self._announce_stop):
            try:
                for epoch in range(session.run.epoch, self.config.train.epochs):
                    session.begin_epoch(epoch)
                    if not self._train_one_epoch(session, epoch, stop):
                        self._save_and_stop(session, stop, epoch)
                    if session.run.within.steps == 0:  # every batch unusable: nothing was learned
                        raise TrainingError(
                            f"epoch {epoch + 1} made no training step: no batch held two readable clips ("
                            f"{len(self.bad_videos)} unreadable videos, listed in {self.paths.bad_videos}); fix or remove them"
                        )
                    self._end_epoch(session, epoch)
                    if distributed.any_rank(stop.requested):
                        raise self._interrupted(stop, f"after epoch {epoch + 1}")
            finally:  # repeated validation warnings are counted once, however the run ends
                self._validation_warnings.summarise()

    def _end_epoch(self, session: TrainingSession, epoch: int) -> None:
        """Validate, keep the best model, step the schedule, record and checkpoint epoch ``epoch``."""
        record = session.epoch_record(epoch)
        self._check_feeding(record)
        record |= self._validate(session, epoch)
        run = session.run
        score = selection_score(record)
        improved = improves(score, run.best_score) if score is not None else not self._has_validation
        if improved:
            run.best_score, run.best_epoch = (score if score is not None else run.best_score), epoch + 1
        session.step_schedule(score)
        record["best_epoch"] = run.best_epoch
        run.epoch, run.within = epoch + 1, EpochProgress()
        if distributed.is_main():
            self.metrics.append(record)
            self.log.scalars(record, step=epoch + 1)
            self.checkpoints.save(session.snapshot(), best=improved)
        self._print_epoch(record, improved)

    def _check_feeding(self, record: dict[str, Any]) -> None:
        """Warn, once a run, when the step waited on the data loader too much of an epoch."""
        if self._warned_feeding:
            return
        storage = set(getattr(self.splits.train_source, "kinds", ()))
        warning = starved_warning(record, config=self.config, storage=storage, device_type=self.device.type)
        if warning is not None:
            self.log_warning(warning)
            self._warned_feeding = True

    @property
    def _has_validation(self) -> bool:
        return len(self.splits.val_positions) > 0

    def _train_one_epoch(self, session: TrainingSession, epoch: int, stop: StopRequest) -> bool:
        """The rest of epoch ``epoch``; False when a signal stopped it."""
        limit = self.config.train.max_steps_per_epoch
        total = session.batches_per_epoch if limit is None else min(limit, session.batches_per_epoch)
        run, every = session.run, self.config.train.checkpoint_every_steps

        def after_step(progress: EpochProgress) -> None:
            run.global_step += 1
            if every is not None and run.global_step % every == 0 and distributed.is_main():
                self.checkpoints.save(session.snapshot(), step=run.global_step)
                self._saved_at = (run.epoch, progress.position)

        label = f"epoch {epoch + 1}/{self.config.train.epochs}"
        with progress_bar(self.console, label, total=total, show_loss=True) as update:
            try:
                return train_epoch(
                    session.step,
                    session.loader,
                    run.within,
                    max_steps=limit,
                    stop=stop,
                    on_step=after_step,
                    on_skipped=self.bad_videos.record,
                    on_progress=lambda p, seconds: update(
                        completed=min(p.position, total),
                        loss=p.loss_sum / max(p.clips, 1),
                        rate=p.clips / max(seconds, 1e-9),
                    ),
                )
            except NonFiniteLoss as error:
                saved = (
                    f"{self.paths.last} still holds the last good state"
                    if run.epoch or run.global_step
                    else "no checkpoint had been written yet"
                )
                raise TrainingError(
                    f"{error} at epoch {epoch + 1}, step {run.within.steps + 1}; {saved}. "
                    "Start a new run with a lower train.optimizer.lr or with train.grad_clip set "
                    "(this one can still be resumed as it was)."
                ) from None

    def _validate(self, session: TrainingSession, epoch: int) -> dict[str, Any]:
        """Validation mAP (or, without labels, the validation loss) and the code spread when due
        (every ``val_every`` epochs and at the end); see :mod:`vrt.training.selection`."""
        train, model = self.config.train, session.model
        due = (epoch + 1) % train.val_every == 0 or epoch + 1 == train.epochs
        if not (self._has_validation and due):
            return {}
        if selects_without_labels(self.config, self.splits):
            loss = validation_loss(model, session.loss_fn, self.splits, self.config, device=self.device)
            stats = code_stats(self.encode(self.encoder(model), "val"))
            return {
                "val_loss": loss,
                "val_unique_codes": stats.unique_fraction,
                "val_constant_bits": stats.constant_bits,
            }
        report = self.evaluate_model(model, query="val", database="fit")
        for warning in report.warnings:  # collapsing codes show here first
            self._validation_warnings.show(warning, epoch=epoch + 1)
        codes = report.database_codes
        return {
            "val_map": report.map,
            f"val_map@{report.topk}": report.map_at_k,
            "val_unique_codes": codes.unique_fraction,
            "val_top_code_share": codes.top_code_share,
            "val_constant_bits": codes.constant_bits,
        }

    def _draw_curves(self) -> None:
        if distributed.is_main():
            title = f"{self.config.name}: {self.paths.root.name}"
            plot_training_curves(self.metrics.records(), self.paths.curves, title=title)

    def _test_best(self, model: HashingModel) -> Evaluation | None:
        """Evaluate best.pt on the test split; record it in results.json beside the codes. None
        when the test videos have no labels and no source to find (nothing to score)."""
        best = distributed.on_main_then_broadcast(
            lambda: {key: load_checkpoint(self.paths.best)[key] for key in ("model", "epoch")}
        )
        model.load_state_dict(best["model"])
        encoder = self.encoder(model, checkpoint=self.paths.best)
        encoder.state["epoch"] = best["epoch"]
        query_codes, database_codes = self.encode(encoder, "test"), self.encode(encoder, "train")
        main = distributed.is_main()
        if main:
            # The codes behind results.json, so that `vrt eval --query/--database` needs no re-encoding.
            save_codes(self.paths.codes("test"), query_codes)
            save_codes(self.paths.codes("train"), database_codes)
        try:
            result = evaluate(
                encoder,
                query=query_codes,
                database=database_codes,
                output=self.paths.root if main else None,
                plots=False,
                bad_videos=len(self.bad_videos),
            )
        except UnlabelledQueryError:
            result = None
        if main:
            self.log.print(
                test_line(
                    result, epoch=best["epoch"], codes=self.paths.codes("test"), results=self.paths.results
                )
            )
            if len(self.bad_videos):
                self.log.print(
                    f"{len(self.bad_videos)} unreadable videos were skipped; see {self.paths.bad_videos}",
                    style="yellow",
                )
        return result

    # -- stopping -------------------------------------------------------------------------

    def _save_and_stop(self, session: TrainingSession, stop: StopRequest, epoch: int) -> None:
        run = session.run
        if distributed.is_main() and self._saved_at != (run.epoch, run.within.position):
            self.checkpoints.save(session.snapshot())
        distributed.barrier()  # no rank leaves (and makes torchrun kill the rest) before the save
        where = (
            f"in epoch {epoch + 1}, after {run.within.position} of its {session.batches_per_epoch} batches"
        )
        raise self._interrupted(stop, where)

    def _interrupted(self, stop: StopRequest, where: str) -> TrainingInterrupted:
        name = stop.signal_name if stop.requested else "a signal to another process"
        return TrainingInterrupted(
            f"training stopped by {name} {where}; the state is saved in {self.paths.last}",
            signal_number=stop.signal_number or signal.SIGTERM,
            run_dir=self.paths.root,
            checkpoint=self.paths.last,
        )

    def _print_epoch(self, record: dict[str, Any], improved: bool) -> None:
        self.log.print(epoch_line(record, epochs=self.config.train.epochs, improved=improved))

    def _announce_stop(self, signal_name: str) -> None:
        self.log.print(f"{signal_name}: finishing the current step, then saving a checkpoint", style="yellow")
