"""The functions of vrt's front door (``vrt.create_model``, ``vrt.load``, ``vrt.encode``,
``vrt.evaluate``); ``vrt/__init__.py`` exports them with the rest of the public API.

Each is a thin, typed entry to the one path that does the job, so that a script and the command
line get the same model, the same codes and the same numbers:

* :func:`create_model` builds through the registries as training does (``build_model``);
* :func:`load` is :meth:`vrt.inference.TrainedModel.load`;
* :func:`encode` is :meth:`~vrt.inference.TrainedModel.encode`, the one encoder;
* :func:`evaluate` is :func:`vrt.inference.evaluation.evaluate`, the one evaluation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vrt.config import Config, config_from_dict, load_config

if TYPE_CHECKING:
    import torch

    from vrt.codes import CodeSet
    from vrt.inference.encoding import EncodeSource
    from vrt.inference.evaluation import Evaluation
    from vrt.inference.trained import TrainedModel
    from vrt.model import HashingModel

__all__ = ["create_model", "encode", "evaluate", "load"]


def create_model(
    config_or_name: Config | Mapping[str, Any] | str | os.PathLike[str],
    *,
    head: str = "linear",
    bits: int = 48,
    pretrained: bool = True,
    **backbone_params: Any,
) -> HashingModel:
    """A hashing model (backbone + hash head), built as training builds it.

    Args:
        config_or_name: a backbone name (``vrt.list_backbones()``), a YAML config file, a config
            as a dictionary, or a :class:`~vrt.config.Config`; a config's ``model`` section is used.
        head, bits: the hash head and code length, with a backbone name.
        pretrained: load the backbone's pretrained weights when its config asks for some.
        backbone_params: the backbone builder's parameters, with a backbone name
            (``width=16``); checked against its signature, as in a config.

    Raises:
        ConfigError: an unknown name or parameter, in one line with close matches.
    """
    from vrt.model import build_model

    config = _config(config_or_name, head=head, bits=bits, backbone_params=backbone_params)
    return build_model(config.model, load_pretrained=pretrained)


def load(
    checkpoint: str | os.PathLike[str],
    *,
    device: str | torch.device | None = None,
    overrides: Sequence[str] = (),
) -> TrainedModel:
    """The model a checkpoint of ``vrt train`` holds, in eval mode, ready to :func:`encode`.

    ``overrides`` change data keys of its stored config (``data.dataset.root=/new/place``);
    ``device`` defaults to the config's ``train.device``.
    """
    from vrt.inference.trained import TrainedModel

    return TrainedModel.load(checkpoint, device=device, overrides=overrides)


def encode(model: TrainedModel | str | os.PathLike[str], items: EncodeSource, **options: Any) -> CodeSet:
    """The codes of ``items`` (paths, items, a dataset or a split's view) made by ``model`` (a
    loaded model or a checkpoint); ``options`` as :meth:`TrainedModel.encode` takes them."""
    trained = load(model) if isinstance(model, (str, os.PathLike)) else model
    return trained.encode(items, **options)


def evaluate(
    model: TrainedModel | str | os.PathLike[str] | None = None,
    *,
    query: CodeSet | str | os.PathLike[str] | None = None,
    database: CodeSet | str | os.PathLike[str] | None = None,
    **options: Any,
) -> Evaluation:
    """Retrieval metrics: a model's test split against its train split, or two sets of codes;
    ``options`` (``topk``, ``radius``, ``output``, ...) as :func:`vrt.inference.evaluation.evaluate`
    takes them."""
    from vrt.inference.evaluation import evaluate as evaluate_codes

    return evaluate_codes(model, query=query, database=database, **options)


def _config(
    given: Config | Mapping[str, Any] | str | os.PathLike[str],
    *,
    head: str,
    bits: int,
    backbone_params: dict[str, Any],
) -> Config:
    if isinstance(given, Config):
        config = given
    elif isinstance(given, Mapping):
        config = config_from_dict(given, source="create_model")
    elif Path(given).suffix.lower() in (".yaml", ".yml") or Path(given).is_file():
        config = load_config(given)
    else:
        model = {"backbone": {"name": str(given), **backbone_params}, "head": {"name": head, "bits": bits}}
        return config_from_dict({"model": model}, source="create_model")
    if backbone_params:
        raise TypeError("backbone parameters go with a backbone name; a config says them itself")
    return config
