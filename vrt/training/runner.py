"""The Runner: trains a hashing model in a run directory, selects it on validation, reports on test.

It orchestrates pieces that live elsewhere (data pipeline, model and loss builders, the training
step and epoch loop, checkpoint policy, encoding, metrics) and knows nothing of the command line.
Under torchrun it runs on every rank: each trains on its share of the batches through
DistributedDataParallel, evaluation is shared and gathered, and rank 0 alone writes and prints.

A run directory holds::

    config.yaml       the fully resolved config
    metrics.jsonl     one JSON object per epoch
    last.pt           the latest state (model, optimiser, schedule, position, RNG, config)
    previous.pt       the state before it (a fallback should last.pt be damaged)
    step-*.pt         the newest step checkpoints, with train.checkpoint_every_steps
    best.pt           the state with the best validation mAP (the last one without validation)
    results.json      test-split retrieval metrics of best.pt
    codes_test.npz    codes of best.pt on the test split (queries) and on the training split
    codes_train.npz   (database), in the format of docs/metrics.md
    bad_videos.txt    videos that could not be read, if any
    train.log         everything the run printed, with timestamps
    curves.png        training loss and validation mAP per epoch
    tensorboard/      TensorBoard event files (with the tensorboard package installed)
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from vrt import __version__
from vrt.checkpoints.format import load_checkpoint
from vrt.checkpoints.keeper import CheckpointKeeper, MetricsLog, RunDirectory, check_resumable
from vrt.codes import CodeSet, save_codes
from vrt.config import Config, config_from_dict, config_to_dict, config_to_yaml
from vrt.config.loader import loss_term_paths
from vrt.data.bad_videos import BadVideoLog
from vrt.data.pipeline import (
    DataSplits,
    build_data_splits,
    builder_errors_as_config_errors,
    call_with_injected,
    eval_loader,
    train_loader,
)
from vrt.datasets.base import SkippedClip
from vrt.errors import CheckpointError, TrainingError, VrtError
from vrt.inference.encoding import encode_view_sharded
from vrt.losses.combined import WeightedLossSum
from vrt.metrics import RetrievalReport, evaluate_retrieval
from vrt.model import HashingModel, build_model
from vrt.registry import LOSSES
from vrt.reporting.plots import plot_training_curves
from vrt.runtime import distributed
from vrt.runtime.devices import resolve_device
from vrt.runtime.fileio import atomic_write_text
from vrt.runtime.reproducibility import capture_rng_state, derive_seed, restore_rng_state, seed_everything
from vrt.training.display import epoch_line, progress_bar
from vrt.training.interrupt import StopRequest, TrainingInterrupted
from vrt.training.loop import NonFiniteLoss, TrainingStep, train_epoch
from vrt.training.optim import build_optimizer, build_scheduler
from vrt.training.run_log import RunLog
from vrt.training.state import EpochProgress, RunState, restore_modules

__all__ = ["Runner", "RunDirectory", "build_loss", "build_model_from_config", "model_from_checkpoint"]

MISSING_REASON = "listed in the split file but not found under data.dataset.root"


def build_loss(config: Config, *, bits: int, num_classes: int) -> WeightedLossSum:
    """The weighted sum of the configured loss terms, each given ``bits``/``num_classes`` if it asks."""
    injected = {"bits": bits, "num_classes": num_classes}
    return WeightedLossSum(
        [
            (
                term.name,
                term.weight,
                call_with_injected(LOSSES.get(term.name), term.params, injected, section=path),
            )
            for term, path in zip(config.loss.terms, loss_term_paths(config.loss), strict=True)
        ]
    )


def build_model_from_config(config: Config, *, load_pretrained: bool = True) -> HashingModel:
    """The model a config describes; ``load_pretrained=False`` when a checkpoint will fill it."""
    backbone_params = dict(config.model.backbone.params)
    if not load_pretrained:
        backbone_params.pop("pretrained", None)
    with builder_errors_as_config_errors("model"):
        return build_model(
            backbone_name=config.model.backbone.name,
            backbone_params=backbone_params,
            head_name=config.model.head.name,
            head_params=dict(config.model.head.params),
        )


def model_from_checkpoint(path: str | Path) -> tuple[HashingModel, Config, dict[str, Any]]:
    state = load_checkpoint(path)
    if not isinstance(state.get("config"), dict):
        raise CheckpointError(f"checkpoint {path} holds no run config; was it written by `vrt train`?")
    config = config_from_dict(state["config"], source=f"{path} (stored config)")
    model = build_model_from_config(config, load_pretrained=False)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:  # torch lists every mismatching key, over many lines
        raise CheckpointError(
            f"checkpoint {path} does not fit the model its config describes: "
            + " ".join(str(error).split())[:500]
        ) from None
    return model, config, state


def code_record(report: RetrievalReport) -> dict[str, float | int]:
    """How the validation database's codes use the code space, for metrics.jsonl and TensorBoard."""
    codes = report.database_codes
    return {
        "val_unique_codes": codes.unique_fraction,
        "val_top_code_share": codes.top_code_share,
        "val_constant_bits": codes.constant_bits,
    }


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
        # Until fit() has a run directory, lines go to the console only.
        self.log = RunLog(self.console)
        self.checkpoints = CheckpointKeeper(
            self.paths, keep_steps=config.train.keep_checkpoints, warn=self._warn
        )
        self.metrics = MetricsLog(self.paths.metrics)
        self._splits: DataSplits | None = None
        self._bad_videos: BadVideoLog | None = None
        self._saved_at: tuple[int, int] | None = None  # (epoch, position) of the last step checkpoint

    # -- public entry points ------------------------------------------------------------

    def fit(self, *, resume: bool = False) -> RetrievalReport:
        """Train for ``train.epochs`` epochs (continuing the run's newest checkpoint if ``resume``),
        then test. On SIGINT/SIGTERM, saves and raises :class:`TrainingInterrupted`."""
        try:
            with self.log.capturing_warnings():
                return self._fit(resume=resume)
        except VrtError as error:  # a stop on a signal (TrainingInterrupted) too
            self.log.record(f"{'stopped' if isinstance(error, TrainingInterrupted) else 'error'}: {error}")
            raise  # the caller shows it
        finally:
            self.log.close()

    def _fit(self, *, resume: bool) -> RetrievalReport:
        config = self.config
        start_state = distributed.on_main_then_broadcast(lambda: self._prepare_run_directory(resume))
        seed_everything(config.train.seed)
        splits = self.splits
        model = build_model_from_config(config, load_pretrained=start_state is None).to(self.device)
        if config.train.channels_last:
            model = model.to(memory_format=torch.channels_last_3d)
        loss_fn = build_loss(config, bits=model.bits, num_classes=len(splits.class_names)).to(self.device)
        # Loss terms can learn too (the classification term's classifier).
        optimizer = build_optimizer([*model.parameters(), *loss_fn.parameters()], config.train.optimizer)
        scheduler = build_scheduler(
            optimizer,
            config.train.scheduler,
            epochs=config.train.epochs,
            warmup_epochs=config.train.warmup_epochs,
        )
        run = RunState()
        if start_state is not None:
            restore_modules(
                start_state,
                model=model,
                loss_fn=loss_fn,
                optimizer=optimizer,
                scheduler=scheduler,
                epochs=config.train.epochs,
                warmup_epochs=config.train.warmup_epochs,
            )
            run = RunState.from_checkpoint(start_state)
        if distributed.is_main():
            self.metrics.truncate(after_epoch=run.epoch)
            self.log = RunLog(
                self.console,
                log_file=self.paths.train_log,
                events=self.paths.tensorboard,
                purge_step=run.epoch + 1 if start_state is not None else None,
            )

        fit_view = splits.view("fit", training=True, augment_seed=derive_seed(config.train.seed, "augment"))
        loader = train_loader(
            fit_view,
            config,
            device=self.device,
            rank=distributed.rank(),
            world_size=distributed.world_size(),
        )
        batches_per_epoch = loader.batch_sampler.batches_per_epoch
        ranks = distributed.world_size()
        if start_state is not None:
            saved_ranks = int(start_state.get("world_size", 1))
            if run.rescale_position(
                saved_ranks=saved_ranks, ranks=ranks, batches_per_epoch=batches_per_epoch
            ):
                self._warn(
                    f"the checkpoint was written by {saved_ranks} processes and this run has {ranks}; "
                    f"continuing epoch {run.epoch + 1} at batch {run.within.position} of each rank's "
                    "share (this epoch will not match an uninterrupted run exactly)"
                )
            where = f"epoch {run.epoch}" + (
                f", batch {run.within.position}/{batches_per_epoch} of epoch {run.epoch + 1}"
                if run.within.position
                else ""
            )
            self.log.print(f"Resuming {self.paths.root} after {where}.")
        has_validation = len(splits.val_positions) > 0
        missing = [*getattr(splits.train_source, "missing", ()), *getattr(splits.test_source, "missing", ())]
        # Listed-but-absent files go to bad_videos.txt too: one file names every video the run lacked.
        self.bad_videos.record((SkippedClip(-1, v, MISSING_REASON) for v in missing), announce=False)
        self.log.print(
            f"Training {config.model.backbone.name} + {config.model.head.name} ({model.bits} bits) "
            f"on {self.device}" + (f" x {ranks} processes" if ranks > 1 else "") + ": "
            f"{len(fit_view)} fit / {len(splits.val_positions)} val / "
            f"{len(splits.test_positions)} test videos, {len(splits.class_names)} classes"
            + (f" ({len(missing)} listed videos missing on disk)." if missing else ".")
        )
        step = TrainingStep(
            model=self._training_model(model),
            loss_fn=loss_fn,
            optimizer=optimizer,
            parameters=[p for p in (*model.parameters(), *loss_fn.parameters()) if p.requires_grad],
            device=self.device,
            amp=config.train.amp,
            grad_clip=config.train.grad_clip,
            channels_last=config.train.channels_last,
            cross_rank=config.loss.cross_rank,
        )

        def snapshot() -> dict[str, Any]:
            return {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "loss": loss_fn.state_dict(),
                **run.to_state(world_size=ranks),
                "rng": capture_rng_state(),
                "config": config_to_dict(config),
                "class_names": splits.class_names,
                "bits": model.bits,
                "vrt_version": __version__,
            }

        every = config.train.checkpoint_every_steps

        def after_step(progress: EpochProgress) -> None:
            run.global_step += 1
            if every is not None and run.global_step % every == 0 and distributed.is_main():
                self.checkpoints.save(snapshot(), step=run.global_step)
                self._saved_at = (run.epoch, progress.position)

        # A mid-epoch checkpoint's RNG state continues the interrupted epoch's streams exactly.
        resume_rng = start_state["rng"] if start_state is not None and run.within.position else None
        stop = StopRequest()
        with stop.installed(on_first=self._announce_stop):
            for epoch in range(run.epoch, config.train.epochs):
                # Seeding per epoch makes an epoch's randomness independent of how we got there,
                # which is what lets a resumed run end with exactly the uninterrupted run's weights.
                seed_everything(derive_seed(config.train.seed, "epoch", epoch))
                if resume_rng is not None:
                    restore_rng_state(resume_rng)
                    resume_rng = None
                loader.batch_sampler.set_epoch(epoch, skip=run.within.position)
                loss_fn.on_epoch_start(epoch, config.train.epochs)
                completed = self._train_epoch(step, loader, run, epoch, stop, after_step, batches_per_epoch)
                if not completed:
                    self._save_and_stop(snapshot, run, stop, epoch, batches_per_epoch)
                record = self._epoch_record(run, epoch, optimizer)
                due = (epoch + 1) % config.train.val_every == 0 or epoch + 1 == config.train.epochs
                if has_validation and due:
                    report = self.evaluate_model(model, query="val", database="fit")
                    record["val_map"] = report.map
                    record[f"val_map@{report.topk}"] = report.map_at_k
                    record |= code_record(report)
                    for warning in report.warnings:  # collapsing codes show here first
                        self._warn(f"validation after epoch {epoch + 1}: {warning}")
                improved = record["val_map"] > run.best_map if "val_map" in record else not has_validation
                if improved:
                    run.best_map, run.best_epoch = record.get("val_map", run.best_map), epoch + 1
                if scheduler is not None:
                    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                        if "val_map" in record:
                            scheduler.step(record["val_map"])
                    else:
                        scheduler.step()
                record["best_epoch"] = run.best_epoch
                run.epoch, run.within = epoch + 1, EpochProgress()
                if distributed.is_main():
                    self.metrics.append(record)
                    self.log.scalars(record, step=epoch + 1)
                    self.checkpoints.save(snapshot(), best=improved)
                self._print_epoch(record, improved)
                if distributed.any_rank(stop.requested):
                    raise self._interrupted(stop, f"after epoch {epoch + 1}")

        if distributed.is_main():
            plot_training_curves(
                self.metrics.records(), self.paths.curves, title=f"{config.name}: {self.paths.root.name}"
            )
        return self._test_best(model)

    def evaluate_model(self, model: HashingModel, *, query: str, database: str) -> RetrievalReport:
        """Retrieval metrics of ``query`` clips against ``database`` clips (test transforms)."""
        query_codes = self.encode(model, query)
        database_codes = self.encode(model, database)
        return evaluate_retrieval(query_codes, database_codes, topk=self.config.eval.topk)

    def encode(self, model: HashingModel, split: str) -> CodeSet:
        """Codes of one split in view order; under torchrun every rank encodes a share and
        every rank gets the whole code set."""
        view = self.splits.view(split, training=False)  # type: ignore[arg-type]
        model = model.to(self.device)
        distributed.broadcast_buffers(model)
        shard_size = -(-len(view) // distributed.world_size())
        with progress_bar(self.console, f"encoding {split}", total=shard_size) as update:
            return encode_view_sharded(
                model,
                view,
                lambda shard: eval_loader(shard, self.config, device=self.device),
                device=self.device,
                amp=self.config.train.amp,
                class_names=self.splits.class_names,
                on_batch=lambda clips: update(advance=clips),
                on_skipped=self.bad_videos.record,
            )

    @property
    def bad_videos(self) -> BadVideoLog:
        """Unreadable videos met so far; listed in the run directory when there is one (rank 0)."""
        if self._bad_videos is None:
            path = self.paths.bad_videos if distributed.is_main() and self.paths.root.is_dir() else None
            self._bad_videos = BadVideoLog(path, warn=self._warn)
        return self._bad_videos

    @property
    def splits(self) -> DataSplits:
        if self._splits is None:
            self._splits = build_data_splits(self.config)
        return self._splits

    # -- internals ----------------------------------------------------------------------

    def _test_best(self, model: HashingModel) -> RetrievalReport:
        """Report best.pt on the test split; record it in results.json beside the codes."""
        best_state = distributed.on_main_then_broadcast(
            lambda: {key: load_checkpoint(self.paths.best)[key] for key in ("model", "epoch")}
        )
        model.load_state_dict(best_state["model"])
        query_codes, database_codes = self.encode(model, "test"), self.encode(model, "train")
        report = evaluate_retrieval(query_codes, database_codes, topk=self.config.eval.topk)
        if distributed.is_main():
            # The codes behind results.json, so that `vrt eval --query/--database` needs no re-encoding.
            save_codes(self.paths.codes("test"), query_codes)
            save_codes(self.paths.codes("train"), database_codes)
            results = {
                "checkpoint": str(self.paths.best),
                "epoch": best_state["epoch"],
                "bad_videos": len(self.bad_videos),
                **report.to_dict(),
            }
            atomic_write_text(self.paths.results, json.dumps(results, indent=2) + "\n")
            self.log.print(
                f"Test (best.pt, epoch {best_state['epoch']}): mAP {report.map:.4f}, "
                f"mAP@{report.topk} {report.map_at_k:.4f}, P@{report.topk} {report.precision_at_k:.4f}; "
                f"written to {self.paths.results}"
            )
            if len(self.bad_videos):
                self.log.print(
                    f"{len(self.bad_videos)} unreadable videos were skipped; see {self.paths.bad_videos}",
                    style="yellow",
                )
        return report

    def _training_model(self, model: HashingModel) -> nn.Module:
        """What runs the training forward: the model, DDP-wrapped across ranks, maybe compiled."""
        wrapped: nn.Module = model
        if distributed.world_size() > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            wrapped = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        if self.config.train.compile:
            wrapped = torch.compile(wrapped)  # type: ignore[assignment]
        return wrapped

    def _train_epoch(
        self,
        step: TrainingStep,
        loader: torch.utils.data.DataLoader,
        run: RunState,
        epoch: int,
        stop: StopRequest,
        after_step: Callable[[EpochProgress], None],
        batches_per_epoch: int,
    ) -> bool:
        limit = self.config.train.max_steps_per_epoch
        total = batches_per_epoch if limit is None else min(limit, batches_per_epoch)
        label = f"epoch {epoch + 1}/{self.config.train.epochs}"
        with progress_bar(self.console, label, total=total, show_loss=True) as update:

            def show(progress: EpochProgress, seconds: float) -> None:
                update(
                    completed=min(progress.position, total),
                    loss=progress.loss_sum / max(progress.clips, 1),
                    rate=progress.clips / max(seconds, 1e-9),
                )

            try:
                return train_epoch(
                    step,
                    loader,
                    run.within,
                    max_steps=limit,
                    stop=stop,
                    on_step=after_step,
                    on_skipped=self.bad_videos.record,
                    on_progress=show,
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

    def _save_and_stop(
        self,
        snapshot: Callable[[], dict[str, Any]],
        run: RunState,
        stop: StopRequest,
        epoch: int,
        batches_per_epoch: int,
    ) -> None:
        if distributed.is_main() and self._saved_at != (run.epoch, run.within.position):
            self.checkpoints.save(snapshot())
        distributed.barrier()  # no rank leaves (and makes torchrun kill the rest) before the save
        raise self._interrupted(
            stop, f"in epoch {epoch + 1}, after {run.within.position} of its {batches_per_epoch} batches"
        )

    def _interrupted(self, stop: StopRequest, where: str) -> TrainingInterrupted:
        name = stop.signal_name if stop.requested else "a signal to another process"
        return TrainingInterrupted(
            f"training stopped by {name} {where}; the state is saved in {self.paths.last}",
            signal_number=stop.signal_number or signal.SIGTERM,
            run_dir=self.paths.root,
            checkpoint=self.paths.last,
        )

    def _announce_stop(self, signal_name: str) -> None:
        self.log.print(f"{signal_name}: finishing the current step, then saving a checkpoint", style="yellow")

    def _epoch_record(self, run: RunState, epoch: int, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        within = run.within
        return {
            "epoch": epoch + 1,
            "loss": within.loss_sum / max(within.clips, 1),
            "lr": optimizer.param_groups[0]["lr"],
            "steps": within.steps,
            "clips": within.clips,
            "clips_per_s": within.clips / max(within.seconds, 1e-9),
            "seconds": within.seconds,
        }

    def _prepare_run_directory(self, resume: bool) -> dict[str, Any] | None:
        """Create the run directory, or load the state to resume from; never overwrite a run."""
        root = self.paths.root
        if resume:
            state, _ = self.checkpoints.load_latest()
            check_resumable(self.config, state["config"], paths=self.paths)
            atomic_write_text(self.paths.config, config_to_yaml(self.config))
            return state
        if self.paths.last.exists() or self.paths.metrics.exists():
            raise FileExistsError(
                f"{root} already holds a run; pass --resume to continue it, or choose another --output"
            )
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.paths.config, config_to_yaml(self.config))
        return None

    def _warn(self, text: str) -> None:
        self.log.warn(text)

    def _print_epoch(self, record: dict[str, Any], improved: bool) -> None:
        self.log.print(epoch_line(record, epochs=self.config.train.epochs, improved=improved))
