"""A trained model loaded from its checkpoint, ready to encode: vrt's inference API.

    from vrt.inference import TrainedModel

    trained = TrainedModel.load("runs/demo/best.pt")
    queries = trained.encode_split("test")            # a CodeSet, as `vrt export` writes
    code = trained.encode_video("clip.avi")           # packed bits, shape (1, bits // 8)

Nothing here trains, writes files or joins a process group: a caller launched by torchrun that
wants the work shared asks for it (:func:`vrt.runtime.distributed.init_from_env`) before
encoding, and every rank then gets the whole code set. The run directory a checkpoint comes from
is only read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vrt.checkpoints.format import load_checkpoint
from vrt.codes import CodeSet, pack_bits
from vrt.config import Config, apply_override, config_from_dict, config_to_dict
from vrt.config.typecheck import ConfigError
from vrt.data.collate import collate_clips
from vrt.data.pipeline import DataSplits, SplitName, build_data_splits, clip_spec, eval_loader
from vrt.datasets.base import ClipView, SkippedClip
from vrt.errors import CheckpointError, VideoDecodeError
from vrt.inference.encoding import encode_view, real_valued_codes
from vrt.model import HashingModel, binarize, build_model
from vrt.runtime.devices import autocast, resolve_device

__all__ = ["TrainedModel"]

# What --set may change in a stored config: where the data is and how it is read, never the model.
_FROZEN_SECTIONS = ("model.",)


@dataclass
class TrainedModel:
    """A :class:`HashingModel` with the config it was trained with, in eval mode.

    Attributes:
        model: the network (on ``device``).
        config: the run's resolved config, with any ``overrides`` applied.
        checkpoint: the file it was loaded from.
        state: the checkpoint's other entries (``epoch``, ``class_names``, ...).
        device: where encoding runs (``train.device`` of the config by default).
    """

    model: HashingModel
    config: Config
    checkpoint: Path
    state: dict[str, Any] = field(repr=False)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    _splits: DataSplits | None = field(default=None, repr=False)

    @classmethod
    def load(
        cls,
        checkpoint: str | Path,
        *,
        overrides: Sequence[str] = (),
        device: str | torch.device | None = None,
    ) -> TrainedModel:
        """Load ``checkpoint`` (written by ``vrt train``).

        Args:
            overrides: ``key.path=value`` changes to the stored config, checked like training
                overrides; data keys only (``data.dataset.root=/new/place``): the model must
                stay the one the weights belong to.
            device: where to encode; the config's ``train.device`` when None.
        """
        checkpoint = Path(checkpoint)
        state = load_checkpoint(checkpoint)
        if not isinstance(state.get("config"), dict):
            raise CheckpointError(
                f"checkpoint {checkpoint} holds no run config; was it written by `vrt train`?"
            )
        config = _stored_config(state["config"], checkpoint, overrides)
        model = build_model(config.model, load_pretrained=False)
        try:
            model.load_state_dict(state.pop("model"))
        except RuntimeError as error:  # torch lists every mismatching key, over many lines
            raise CheckpointError(
                f"checkpoint {checkpoint} does not fit the model its config describes: "
                + " ".join(str(error).split())[:500]
            ) from None
        resolved = resolve_device(device if device is not None else config.train.device)
        model.to(resolved).eval()
        return cls(model=model, config=config, checkpoint=checkpoint, state=state, device=resolved)

    @property
    def bits(self) -> int:
        return self.model.bits

    @property
    def class_names(self) -> list[str] | None:
        names = self.state.get("class_names")
        return list(names) if names is not None else None

    @property
    def splits(self) -> DataSplits:
        """The config's dataset, split as in training (built on first use)."""
        if self._splits is None:
            self._splits = build_data_splits(self.config)
        return self._splits

    def encode_split(
        self,
        split: SplitName,
        *,
        on_batch: Callable[[int], None] | None = None,
        on_skipped: Callable[[list[SkippedClip]], None] | None = None,
    ) -> CodeSet:
        """Codes of one split (``train``: the database, ``test``: the queries) with test-time clips.

        Unreadable videos are left out and handed to ``on_skipped``; ``on_batch`` hears how many
        videos each batch held (for a progress bar).
        """
        return encode_split(
            self.model,
            self.config,
            self.splits,
            split,
            device=self.device,
            on_batch=on_batch,
            on_skipped=on_skipped,
        )

    @torch.no_grad()
    def encode_video(self, path: str | Path) -> np.ndarray:
        """Packed code ``(1, bits // 8)`` of one video file or frame folder, encoded like a test video.

        Same clip sampler, ``data.clips_per_video`` views averaged and deterministic transform as
        the splits, so the code is comparable with the ones ``encode_split`` gives.
        """
        from vrt.datasets.files import VideoFileDataset
        from vrt.datasets.splitfiles import SplitEntry

        path = Path(path)
        single = VideoFileDataset(
            entries=[SplitEntry(path.name, 0, None)],
            root=path.parent,
            class_names=["query"],
            clips=replace(clip_spec(self.config), strict=True),
            name="query video",
        )
        # Through the collate step and onto the device, as a batch of one: with data.pipeline
        # device the item is a pending clip that only ClipBatch.on_device finishes.
        batch = collate_clips(
            [
                ClipView(
                    single,
                    [0],
                    training=False,
                    num_clips=self.config.data.clips_per_video,
                    threads=self.config.data.load_threads,
                )[0]
            ]
        )
        batch = batch.on_device(self.device)
        if batch.skipped:
            raise VideoDecodeError(batch.skipped[0].reason)
        with autocast(self.device, self.config.train.amp):
            u = real_valued_codes(self.model, batch.clips)
        return pack_bits(binarize(u).cpu().numpy())


def encode_split(
    model: HashingModel,
    config: Config,
    splits: DataSplits,
    split: SplitName,
    *,
    device: torch.device,
    on_batch: Callable[[int], None] | None = None,
    on_skipped: Callable[[list[SkippedClip]], None] | None = None,
) -> CodeSet:
    """Codes of ``split`` in view order (shared by the ranks of a process group, if one is joined)."""
    return encode_view(
        model,
        splits.view(split, training=False),
        lambda shard: eval_loader(shard, config, device=device),
        device=device,
        amp=config.train.amp,
        class_names=splits.class_names,
        on_batch=on_batch,
        on_skipped=on_skipped,
    )


def _stored_config(stored: dict[str, Any], checkpoint: Path, overrides: Sequence[str]) -> Config:
    source = f"{checkpoint} (stored config)"
    if not overrides:
        return config_from_dict(stored, source=source)
    raw = config_to_dict(config_from_dict(stored, source=source))
    for override in overrides:
        key = override.partition("=")[0].strip()
        if key.startswith(_FROZEN_SECTIONS) or key == "model":
            raise ConfigError(
                "the model cannot be changed: the checkpoint's weights belong to the stored model config",
                source="--set",
                key_path=key,
            )
        apply_override(raw, override, source="--set")
    return config_from_dict(raw, source=f"{source} with --set")
