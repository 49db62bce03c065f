"""A trained model loaded from its checkpoint, ready to encode: vrt's inference API.

    from vrt.inference import TrainedModel

    trained = TrainedModel.load("runs/demo/best.pt")
    queries = trained.encode(trained.splits.view("test"))    # a CodeSet, as `vrt export` writes
    mine = trained.encode("footage/")                         # one's own videos (folders, lists)

:meth:`TrainedModel.encode` is the one encoder: `vrt export`, `vrt eval`, `vrt encode`,
`vrt search` video queries, `vrt serve` uploads and training's own evaluation all go through
it. Nothing here trains, writes files or joins a process group: a caller launched by torchrun
that wants the work shared asks for it (:func:`vrt.runtime.distributed.init_from_env`) before
encoding, and every rank then gets the whole code set. The run directory a checkpoint comes
from is only read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from vrt.checkpoints.format import load_checkpoint
from vrt.codes import CodeSet, EncoderIdentity, check_comparable
from vrt.codes.identity import CodeSource
from vrt.config import Config, apply_override, config_from_dict, config_to_dict
from vrt.config.schema import DATA_SPEED_KEYS
from vrt.config.typecheck import ConfigError
from vrt.data.pipeline import DataSplits, build_data_splits, clip_spec
from vrt.datasets.clips import ClipSpec
from vrt.datasets.items import SkippedClip
from vrt.errors import CheckpointError
from vrt.inference.encoding import EncodeSource, Progress, encode_view, eval_view
from vrt.model import HashingModel, build_model
from vrt.runtime.devices import resolve_device
from vrt.runtime.fileio import file_sha256

__all__ = ["TrainedModel", "encoder_identity"]

# What --set may change in a stored config: where the data is and how it is read, never the model.
_FROZEN_SECTIONS = ("model.",)
# The data.* entries that decide what a video's code is (not where the data is or how fast it
# loads). The decoder is one: pyav with scale: true and torchcodec give slightly different pixels.
_CLIP_FACTS = ("num_frames", "frame_size", "clip_sampler", "clips_per_video", "decoder", "pipeline")


@dataclass
class TrainedModel:
    """A :class:`HashingModel` with the config it was trained with, in eval mode.

    Attributes:
        model: the network (on ``device``).
        config: the run's resolved config, with any ``overrides`` applied.
        checkpoint: the file it was loaded from (None for a model still in training).
        state: the checkpoint's other entries (``epoch``, ``class_names``, ...).
        device: where encoding runs (``train.device`` of the config by default).
        encoder: which model this is, written beside every code it makes
            (:class:`~vrt.codes.EncoderIdentity`).
    """

    model: HashingModel
    config: Config
    checkpoint: Path | None = None
    state: dict[str, Any] = field(default_factory=dict, repr=False)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    encoder: EncoderIdentity | None = None
    _splits: DataSplits | None = field(default=None, repr=False)
    _video: TrainedModel | None = field(default=None, repr=False)

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
        return cls.from_model(model, config, device=resolved, checkpoint=checkpoint, state=state)

    @classmethod
    def from_config(cls, config: Config, *, device: str | torch.device | None = None) -> TrainedModel:
        """The model ``config`` describes, with the pretrained weights it names and nothing
        trained: a frozen pretrained frame backbone extracts features this way (no checkpoint)."""
        model = build_model(config.model)
        resolved = resolve_device(device if device is not None else config.train.device)
        model.to(resolved).eval()
        return cls.from_model(model, config, device=resolved)

    @classmethod
    def from_model(
        cls,
        model: HashingModel,
        config: Config,
        *,
        device: torch.device,
        checkpoint: Path | None = None,
        state: dict[str, Any] | None = None,
        splits: DataSplits | None = None,
    ) -> TrainedModel:
        """Encode with a model in memory (training's validation and test), on ``device``, where it
        must already be; ``checkpoint``, when given, is the file whose weights ``model`` holds, and
        names the codes' model. Encoding puts the model in eval mode and then back as it was."""
        sha256 = file_sha256(checkpoint) if checkpoint is not None else None
        return cls(
            model=model,
            config=config,
            checkpoint=checkpoint,
            state=state or {},
            device=device,
            encoder=encoder_identity(config, bits=model.bits, checkpoint=checkpoint, sha256=sha256),
            _splits=splits,
        )

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

    @cached_property
    def clips(self) -> ClipSpec:
        """How this model cuts clips of items and paths it encodes (``data.*``); a split's view
        keeps its dataset's own, built from the same config."""
        return clip_spec(self.config)

    def for_videos(self) -> TrainedModel:
        """This model as it encodes videos: itself, or, for a model trained on frame features,
        the model rebuilt behind the image encoder that made them
        (:func:`vrt.inference.video_model.video_model`; built once)."""
        if self.model.input_kind != "features":
            return self
        if self._video is None:
            from vrt.inference.video_model import video_model

            self._video = video_model(self)
        return self._video

    def check_comparable(
        self, codes: CodeSource, *, name: str, force: bool = False, warn: Callable[[str], None] | None = None
    ) -> None:
        """Refuse to search ``codes`` (an index, a codes file's codes) with this model's codes when
        another model made them (:func:`vrt.codes.check_comparable`; ``force`` only warns)."""
        check_comparable(
            self,
            codes,
            first_name=f"the checkpoint {self.checkpoint}",
            second_name=name,
            force=force,
            warn=warn,
        )

    def encode(
        self,
        items: EncodeSource,
        *,
        batch_size: int | None = None,
        workers: int | None = None,
        progress: Progress | None = None,
        on_skipped: Callable[[list[SkippedClip]], None] | None = None,
        on_codes: Callable[[CodeSet], None] | None = None,
        stop: Callable[[], bool] | None = None,
        alone: bool = False,
    ) -> CodeSet:
        """The codes of ``items``, made with test-time clips (the run's clip sampler in test mode,
        ``data.clips_per_video`` views averaged, the deterministic transform), so that every code
        this model makes is comparable with every other.

        Args:
            items: a split's view (``trained.splits.view("test")``), a dataset, an
                :class:`~vrt.datasets.collection.ItemList`, :class:`~vrt.datasets.items.Item` s,
                or paths of videos, frame folders, folders of them and list files.
            batch_size, workers: videos per batch and DataLoader worker processes
                (``data.eval_batch_size`` and ``data.num_workers`` by default).
            progress: hears ``progress(total=N)``, then ``progress(advance=n)`` per batch.
            on_skipped: hears of the videos that cannot be read (they get no code).
            on_codes: hears the codes of each batch as they are made (to save work so far).
            stop: polled after every batch; True ends encoding with the codes made so far.
            alone: encode every item in this process even inside a torchrun process group
                (where the ranks otherwise share the items and each returns all the codes): for
                a caller that gives each rank its own items (``vrt encode``'s shards).

        A model trained on frame features encodes a feature file's items itself, and videos
        through :meth:`for_videos` (whose identity the codes then carry).

        Returns:
            The codes in the order of ``items``, labelled as listed, carrying :attr:`encoder`.
        """
        # Only a dataset (or a view of one) can give features; items and paths are videos.
        given = getattr(getattr(items, "dataset", items), "input_kind", "clips")
        model = self
        if given != self.model.input_kind:
            if self.model.input_kind != "features":
                raise ValueError(
                    "this model reads video clips; feature files are read by models with a "
                    "frame_features backbone"
                )
            model = self.for_videos()
        view = eval_view(items, clips=model.clips, config=model.config, on_skipped=on_skipped)
        return encode_view(
            model.model,
            view,
            config=model.config,
            device=model.device,
            encoder=model.encoder,
            batch_size=batch_size,
            workers=workers,
            progress=progress,
            on_skipped=on_skipped,
            on_codes=on_codes,
            stop=stop,
            alone=alone,
        )


def encoder_identity(
    config: Config, *, bits: int, checkpoint: Path | None, sha256: str | None
) -> EncoderIdentity:
    """What decides the codes a model makes: its weights (the checkpoint's SHA-256), backbone,
    head and code length, and how its clips are cut (without the options that only change speed)."""
    raw = config_to_dict(config)
    data = raw["data"]
    clips = {key: _without_speed_keys(data[key], f"data.{key}") for key in _CLIP_FACTS}
    clips["resize_short"] = data["augment"]["resize_short"]
    return EncoderIdentity(
        checkpoint_sha256=sha256,
        backbone=raw["model"]["backbone"],
        head=raw["model"]["head"],
        bits=bits,
        clips=clips,
        checkpoint=None if checkpoint is None else str(checkpoint),
    )


def _without_speed_keys(value: Any, path: str) -> Any:
    """``value`` (a config entry at ``path``) without the keys that only decide loading speed."""
    if not isinstance(value, dict):
        return value
    return {
        key: _without_speed_keys(item, f"{path}.{key}")
        for key, item in value.items()
        if f"{path}.{key}" not in DATA_SPEED_KEYS
    }


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
