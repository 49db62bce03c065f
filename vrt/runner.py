"""The Runner: trains a hashing model in a run directory, selects it on validation, reports on test.

It orchestrates pieces that live elsewhere (data pipeline, model and loss builders, optimiser
and schedule, checkpoint I/O, encoding, metrics) and knows nothing of the command line.

A run directory holds::

    config.yaml     the fully resolved config
    metrics.jsonl   one JSON object per epoch
    last.pt         the latest state (model, optimiser, schedule, epoch, RNG, config)
    best.pt         the state with the best validation mAP (the last one without validation)
    results.json    test-split retrieval metrics of best.pt
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vrt import __version__
from vrt.checkpoint import load_checkpoint, save_checkpoint
from vrt.codes import CodeSet
from vrt.config import Config, config_from_dict, config_to_dict, config_to_yaml
from vrt.data.bad_videos import BadVideoLog
from vrt.data.collate import ClipBatch
from vrt.data.pipeline import DataSplits, build_data_splits, call_with_injected, eval_loader, train_loader
from vrt.datasets.base import SkippedClip
from vrt.devices import autocast, resolve_device
from vrt.encoding import encode_view
from vrt.errors import CheckpointError, TrainingError
from vrt.fileio import atomic_write_text
from vrt.losses.combined import WeightedLossSum
from vrt.metrics import RetrievalReport, evaluate_retrieval
from vrt.model import HashingModel, build_model
from vrt.registry import LOSSES
from vrt.reproducibility import capture_rng_state, derive_seed, restore_rng_state, seed_everything
from vrt.training.optim import build_optimizer, build_scheduler

MISSING_REASON = "listed in the split file but not found under data.dataset.root"


@dataclass(frozen=True)
class RunDirectory:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def last(self) -> Path:
        return self.root / "last.pt"

    @property
    def best(self) -> Path:
        return self.root / "best.pt"

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    @property
    def bad_videos(self) -> Path:
        return self.root / "bad_videos.txt"


def build_loss(config: Config, *, bits: int, num_classes: int) -> WeightedLossSum:
    """The weighted sum of the configured loss terms, each given ``bits``/``num_classes`` if it asks."""
    injected = {"bits": bits, "num_classes": num_classes}
    return WeightedLossSum(
        [
            (term.name, term.weight, call_with_injected(LOSSES.get(term.name), term.params, injected))
            for term in config.loss.terms
        ]
    )


def build_model_from_config(config: Config, *, load_pretrained: bool = True) -> HashingModel:
    """The model a config describes; ``load_pretrained=False`` when a checkpoint will fill it."""
    backbone_params = dict(config.model.backbone.params)
    if not load_pretrained:
        backbone_params.pop("pretrained", None)
    return build_model(
        backbone_name=config.model.backbone.name,
        backbone_params=backbone_params,
        head_name=config.model.head.name,
        head_params=dict(config.model.head.params),
    )


def model_from_checkpoint(path: str | Path) -> tuple[HashingModel, Config, dict[str, Any]]:
    state = load_checkpoint(path)
    config = config_from_dict(state["config"], source=f"{path} (stored config)")
    model = build_model_from_config(config, load_pretrained=False)
    model.load_state_dict(state["model"])
    return model, config, state


class Runner:
    """Train, validate, checkpoint and evaluate one run.

    Args:
        config: the validated run configuration.
        run_dir: where the run's files go (created if missing).
        console: where progress and summaries are printed.
    """

    def __init__(self, config: Config, run_dir: str | Path, *, console: Console | None = None):
        self.config = config
        self.paths = RunDirectory(Path(run_dir))
        self.console = console or Console(stderr=True)
        self.device = resolve_device(config.train.device)
        self._splits: DataSplits | None = None
        self._bad_videos: BadVideoLog | None = None

    # -- public entry points ------------------------------------------------------------

    def fit(self, *, resume: bool = False) -> RetrievalReport:
        """Train for ``train.epochs`` epochs (continuing ``last.pt`` if ``resume``), then test."""
        config = self.config
        start_state = self._prepare_run_directory(resume)
        seed_everything(config.train.seed)
        splits = self.splits
        model = build_model_from_config(config, load_pretrained=start_state is None).to(self.device)
        loss_fn = build_loss(config, bits=model.bits, num_classes=len(splits.class_names)).to(self.device)
        optimizer = build_optimizer(model.parameters(), config.train.optimizer)
        scheduler = build_scheduler(optimizer, config.train.scheduler, epochs=config.train.epochs)
        start_epoch, best_map, best_epoch = 0, -math.inf, None
        if start_state is not None:
            model.load_state_dict(start_state["model"])
            optimizer.load_state_dict(start_state["optimizer"])
            if scheduler is not None and start_state.get("scheduler") is not None:
                scheduler.load_state_dict(start_state["scheduler"])
                if isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
                    scheduler.T_max = config.train.epochs  # resuming with more epochs stretches the schedule
            restore_rng_state(start_state["rng"])
            start_epoch = int(start_state["epoch"])
            best_map = float(start_state.get("best_map", -math.inf))
            best_epoch = start_state.get("best_epoch")
            self.console.print(f"Resuming {self.paths.root} after epoch {start_epoch}.")
        self._truncate_metrics(after_epoch=start_epoch)

        fit_view = splits.view("fit", training=True)
        loader = train_loader(fit_view, config, pin_memory=self.device.type == "cuda")
        has_validation = len(splits.val_positions) > 0
        missing = [*getattr(splits.train_source, "missing", ()), *getattr(splits.test_source, "missing", ())]
        # Listed-but-absent files go to bad_videos.txt too: one file names every video the run lacked.
        self.bad_videos.record((SkippedClip(-1, v, MISSING_REASON) for v in missing), announce=False)
        self.console.print(
            f"Training {config.model.backbone.name} + {config.model.head.name} ({model.bits} bits) "
            f"on {self.device}: {len(fit_view)} fit / {len(splits.val_positions)} val / "
            f"{len(splits.test_positions)} test videos, {len(splits.class_names)} classes"
            + (f" ({len(missing)} listed videos missing on disk)." if missing else ".")
        )
        for epoch in range(start_epoch, config.train.epochs):
            # Seeding per epoch makes an epoch's randomness independent of how we got there,
            # which is what lets a resumed run end with exactly the uninterrupted run's weights.
            seed_everything(derive_seed(config.train.seed, "epoch", epoch))
            loader.batch_sampler.set_epoch(epoch)
            loss_fn.on_epoch_start(epoch, config.train.epochs)
            record = self._train_one_epoch(model, loss_fn, optimizer, loader, epoch)
            due = (epoch + 1) % config.train.val_every == 0 or epoch + 1 == config.train.epochs
            if has_validation and due:
                report = self.evaluate_model(model, query="val", database="fit")
                record["val_map"] = report.map
                record[f"val_map@{report.topk}"] = report.map_at_k
            improved = record["val_map"] > best_map if "val_map" in record else not has_validation
            if improved:
                best_map, best_epoch = record.get("val_map", best_map), epoch + 1
            if scheduler is not None:
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    if "val_map" in record:
                        scheduler.step(record["val_map"])
                else:
                    scheduler.step()
            record["best_epoch"] = best_epoch
            self._append_metrics(record)
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "epoch": epoch + 1,
                "best_map": best_map,
                "best_epoch": best_epoch,
                "rng": capture_rng_state(),
                "config": config_to_dict(config),
                "class_names": splits.class_names,
                "bits": model.bits,
                "vrt_version": __version__,
            }
            save_checkpoint(self.paths.last, state)
            if improved:
                save_checkpoint(self.paths.best, state)
            self._print_epoch(record, improved)

        best_state = load_checkpoint(self.paths.best)
        model.load_state_dict(best_state["model"])
        report = self.evaluate_model(model, query="test", database="train")
        results = {
            "checkpoint": str(self.paths.best),
            "epoch": best_state["epoch"],
            "bad_videos": len(self.bad_videos),
            **report.to_dict(),
        }
        atomic_write_text(self.paths.results, json.dumps(results, indent=2) + "\n")
        if len(self.bad_videos):
            self.console.print(
                f"[yellow]{len(self.bad_videos)} unreadable videos were skipped; see {self.paths.bad_videos}[/]"
            )
        return report

    def evaluate_model(self, model: HashingModel, *, query: str, database: str) -> RetrievalReport:
        """Retrieval metrics of ``query`` clips against ``database`` clips (test transforms)."""
        query_codes = self.encode(model, query)
        database_codes = self.encode(model, database)
        return evaluate_retrieval(query_codes, database_codes, topk=self.config.eval.topk)

    def encode(self, model: HashingModel, split: str) -> CodeSet:
        view = self.splits.view(split, training=False)  # type: ignore[arg-type]
        loader = eval_loader(view, self.config, pin_memory=self.device.type == "cuda")
        with self._progress(f"encoding {split}", total=len(view), unit="clips") as advance:
            return encode_view(
                model.to(self.device),
                view,
                loader,
                device=self.device,
                amp=self.config.train.amp,
                class_names=self.splits.class_names,
                on_batch=advance,
                on_skipped=self.bad_videos.record,
            )

    @property
    def bad_videos(self) -> BadVideoLog:
        """Unreadable videos met so far; listed in the run directory when there is one."""
        if self._bad_videos is None:
            path = self.paths.bad_videos if self.paths.root.is_dir() else None
            self._bad_videos = BadVideoLog(
                path, warn=lambda text: self.console.print(f"[yellow]warning:[/] {text}")
            )
        return self._bad_videos

    @property
    def splits(self) -> DataSplits:
        if self._splits is None:
            self._splits = build_data_splits(self.config)
        return self._splits

    # -- internals ----------------------------------------------------------------------

    def _train_one_epoch(
        self,
        model: HashingModel,
        loss_fn: WeightedLossSum,
        optimizer: torch.optim.Optimizer,
        loader: torch.utils.data.DataLoader,
        epoch: int,
    ) -> dict[str, Any]:
        config = self.config
        model.train()
        total_loss, seen, steps = 0.0, 0, 0
        started = time.perf_counter()
        label = f"epoch {epoch + 1}/{config.train.epochs}"
        limit = config.train.max_steps_per_epoch
        total = len(loader) if limit is None else min(limit, len(loader))
        with self._progress(label, total=total, unit="steps", show_loss=True) as advance:
            batch: ClipBatch
            for batch in loader:
                if steps == total:
                    break
                self.bad_videos.record(batch.skipped)
                if len(batch) < 2:  # nothing to rank in a batch of one (or of unreadable videos)
                    continue
                clips = batch.clips.to(self.device, non_blocking=True)
                labels = batch.labels.to(self.device, non_blocking=True)
                with autocast(self.device, config.train.amp):
                    codes = model(clips)
                loss = loss_fn(codes.float(), labels)
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"the loss became {loss.item()} at epoch {epoch + 1}, step {steps + 1}; "
                        f"{self.paths.last} still holds the last good state. Lower train.optimizer.lr "
                        "or set train.grad_clip, then resume with --resume."
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.train.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
                optimizer.step()
                total_loss += loss.item() * len(clips)
                seen += len(clips)
                steps += 1
                elapsed = max(time.perf_counter() - started, 1e-9)
                advance(1, loss=total_loss / seen, rate=seen / elapsed)
        elapsed = time.perf_counter() - started
        return {
            "epoch": epoch + 1,
            "loss": total_loss / max(seen, 1),
            "lr": optimizer.param_groups[0]["lr"],
            "steps": steps,
            "clips": seen,
            "clips_per_s": seen / max(elapsed, 1e-9),
            "seconds": elapsed,
        }

    def _prepare_run_directory(self, resume: bool) -> dict[str, Any] | None:
        """Create the run directory, or load the state to resume from; never overwrite a run."""
        root = self.paths.root
        if resume:
            if not self.paths.last.is_file():
                raise FileNotFoundError(f"cannot resume: {self.paths.last} does not exist")
            state = load_checkpoint(self.paths.last)
            self._check_resumable(state["config"])
            atomic_write_text(self.paths.config, config_to_yaml(self.config))
            return state
        if self.paths.last.exists() or self.paths.metrics.exists():
            raise FileExistsError(
                f"{root} already holds a run; pass --resume to continue it, or choose another --output"
            )
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.paths.config, config_to_yaml(self.config))
        return None

    def _check_resumable(self, stored: dict[str, Any]) -> None:
        """Only ``train.epochs`` may change on resume: anything else would make a different run."""
        current, previous = _flatten(config_to_dict(self.config)), _flatten(stored)
        differences = sorted(
            path
            for path in current.keys() | previous.keys()
            if path != "train.epochs" and current.get(path) != previous.get(path)
        )
        if differences:
            raise CheckpointError(
                f"cannot resume {self.paths.root}: the config differs from the run's in "
                f"{', '.join(differences)}; resume with the run's own config ({self.paths.config})"
            )

    def _append_metrics(self, record: dict[str, Any]) -> None:
        with self.paths.metrics.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    def _truncate_metrics(self, *, after_epoch: int) -> None:
        """Drop records of epochs after the checkpoint: a crash between the two writes repeats them."""
        if not self.paths.metrics.exists():
            return
        lines = self.paths.metrics.read_text().splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line).get("epoch", 0) <= after_epoch]
        self.paths.metrics.write_text("".join(line + "\n" for line in kept))

    def _print_epoch(self, record: dict[str, Any], improved: bool) -> None:
        parts = [
            f"epoch {record['epoch']}/{self.config.train.epochs}",
            f"loss {record['loss']:.4f}",
            f"lr {record['lr']:.3g}",
            f"{record['clips_per_s']:.1f} clips/s",
        ]
        if "val_map" in record:
            parts.append(f"val mAP {record['val_map']:.4f}" + (" (best)" if improved else ""))
        self.console.print("  ".join(parts))

    @contextmanager
    def _progress(self, description: str, *, total: int, unit: str, show_loss: bool = False) -> Iterator[Any]:
        columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        if show_loss:
            columns += [
                TextColumn("loss {task.fields[loss]:.4f}"),
                TextColumn("{task.fields[rate]:.1f} clips/s"),
            ]
        columns.append(TimeRemainingColumn())
        # A live bar only makes sense on a terminal; in logs the per-epoch line says it all.
        live = self.console.is_terminal
        with Progress(*columns, console=self.console, transient=True, disable=not live) as progress:
            task = progress.add_task(description, total=total, loss=0.0, rate=0.0)

            def advance(steps: int, **fields: float) -> None:
                progress.update(task, advance=steps, **fields)

            yield advance


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat
