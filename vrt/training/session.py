"""What one ``Runner.fit`` trains: the modules, the optimiser and schedule, the loader, and where
the run stands; built fresh or restored from a checkpoint, and saved back into one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from vrt import __version__
from vrt.config import Config, config_to_dict
from vrt.data.pipeline import DataSplits, train_loader
from vrt.losses.combined import WeightedLossSum, build_loss
from vrt.model import HashingModel, build_model
from vrt.optim import Schedule, build_optimizer, build_scheduler, stretch_schedule
from vrt.runtime import distributed
from vrt.runtime.reproducibility import capture_rng_state, derive_seed, restore_rng_state, seed_everything
from vrt.training.feeding import feeding_record
from vrt.training.loop import TrainingStep
from vrt.training.state import RunState


@dataclass
class TrainingSession:
    """The objects of one training run and its position (see :meth:`start`)."""

    config: Config
    model: HashingModel
    loss_fn: WeightedLossSum
    optimizer: torch.optim.Optimizer
    scheduler: Schedule | None
    loader: DataLoader
    step: TrainingStep
    run: RunState
    class_names: list[str]
    # A mid-epoch checkpoint's RNG state, which continues the interrupted epoch's streams exactly.
    resume_rng: dict[str, Any] | None = None
    # What made the training inputs when they are frame features (the feature file's record):
    # kept in every checkpoint, so that the trained model can be put behind its image encoder
    # and encode videos (TrainedModel.for_videos).
    features_made_by: dict[str, Any] | None = None

    @classmethod
    def start(
        cls,
        config: Config,
        splits: DataSplits,
        *,
        device: torch.device,
        state: dict[str, Any] | None,
        warn: Callable[[str], None],
    ) -> TrainingSession:
        """Build the run's objects, then load ``state`` (a checkpoint to resume) into them if given."""
        seed_everything(config.train.seed)
        model = build_model(config.model, load_pretrained=state is None).to(device)
        if config.train.channels_last:
            model = model.to(memory_format=torch.channels_last_3d)
        loss_fn = build_loss(
            config.loss, bits=model.bits, num_classes=len(splits.class_names), frame_dim=model.frame_dim
        ).to(device)
        # Loss terms can learn too (the classification term's classifier, a frame decoder).
        optimizer = build_optimizer([model, loss_fn], config.train.optimizer)
        trainable = [p for group in optimizer.param_groups for p in group["params"]]
        train = config.train
        scheduler = build_scheduler(
            optimizer, train.scheduler, epochs=train.epochs, warmup_epochs=train.warmup_epochs
        )
        run = RunState()
        if state is not None:
            # The inverse of snapshot(): every state the checkpoint saved, into the new objects.
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if state.get("loss") is not None:  # loss terms may hold state (hash centres, a classifier)
                loss_fn.load_state_dict(state["loss"])
            if scheduler is not None and state.get("scheduler") is not None:
                scheduler.load_state_dict(state["scheduler"])
                stretch_schedule(scheduler, epochs=train.epochs, warmup_epochs=train.warmup_epochs)
            run = RunState.from_checkpoint(state)
        fit_view = splits.view("fit", training=True, augment_seed=derive_seed(train.seed, "augment"))
        ranks = distributed.world_size()
        loader = train_loader(fit_view, config, device=device, rank=distributed.rank(), world_size=ranks)
        batches = loader.batch_sampler.batches_per_epoch
        if state is not None:
            saved_ranks = int(state.get("world_size", 1))
            if run.rescale_position(saved_ranks=saved_ranks, ranks=ranks, batches_per_epoch=batches):
                warn(
                    f"the checkpoint was written by {saved_ranks} processes and this run has {ranks}; "
                    f"continuing epoch {run.epoch + 1} at batch {run.within.position} of each rank's "
                    "share (this epoch will not match an uninterrupted run exactly)"
                )
        step = TrainingStep(
            model=_training_model(model, config, device),
            loss_fn=loss_fn,
            optimizer=optimizer,
            parameters=trainable,
            device=device,
            amp=train.amp,
            grad_clip=train.grad_clip,
            channels_last=train.channels_last,
            cross_rank=config.loss.cross_rank,
        )
        resume_rng = state["rng"] if state is not None and run.within.position else None
        return cls(
            config,
            model,
            loss_fn,
            optimizer,
            scheduler,
            loader,
            step,
            run,
            splits.class_names,
            resume_rng,
            features_made_by=splits.train_source.made_by,
        )

    @property
    def batches_per_epoch(self) -> int:
        return self.loader.batch_sampler.batches_per_epoch

    def begin_epoch(self, epoch: int) -> None:
        """Seed and position everything for ``epoch`` (continuing a mid-epoch checkpoint)."""
        # Seeding per epoch makes an epoch's randomness independent of how we got there, which
        # is what lets a resumed run end with exactly the uninterrupted run's weights.
        seed_everything(derive_seed(self.config.train.seed, "epoch", epoch))
        if self.resume_rng is not None:
            restore_rng_state(self.resume_rng)
            self.resume_rng = None
        self.loader.batch_sampler.set_epoch(epoch, skip=self.run.within.position)
        self.loss_fn.on_epoch_start(epoch, self.config.train.epochs)

    def epoch_record(self, epoch: int) -> dict[str, Any]:
        """The epoch's line of ``metrics.jsonl`` (validation adds its own keys)."""
        within = self.run.within
        return {
            "epoch": epoch + 1,
            "loss": within.loss_sum / max(within.clips, 1),
            "lr": self.optimizer.param_groups[0]["lr"],
            "steps": within.steps,
            "clips": within.clips,
            "clips_per_s": within.clips / max(within.seconds, 1e-9),
            "seconds": within.seconds,
            **feeding_record(seconds=within.seconds, data_seconds=within.data_seconds),
        }

    def step_schedule(self, score: float | None) -> None:
        """The schedule's once-per-epoch step (``plateau`` steps on the selection score:
        validation mAP, or minus the validation loss; see vrt.training.selection)."""
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            if score is not None:
                self.scheduler.step(score)
        elif self.scheduler is not None:
            self.scheduler.step()

    def snapshot(self) -> dict[str, Any]:
        """Everything a checkpoint holds: states, position, RNG, config (see vrt.rundir)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "loss": self.loss_fn.state_dict(),
            **self.run.to_state(world_size=distributed.world_size()),
            "rng": capture_rng_state(),
            "config": config_to_dict(self.config),
            "class_names": self.class_names,
            "bits": self.model.bits,
            "vrt_version": __version__,
            **({"features_made_by": self.features_made_by} if self.features_made_by is not None else {}),
        }


def _training_model(model: HashingModel, config: Config, device: torch.device) -> nn.Module:
    """What runs the training forward: the model, DDP-wrapped across ranks, maybe compiled."""
    wrapped: nn.Module = model
    if distributed.world_size() > 1:
        device_ids = [device.index] if device.type == "cuda" else None
        wrapped = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    if config.train.compile:
        wrapped = torch.compile(wrapped)  # type: ignore[assignment]
    return wrapped
