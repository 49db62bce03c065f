"""Any timm model by name as a frame encoder (``pip install 'vrt[pretrained]'`` brings timm)."""

from __future__ import annotations

import importlib

from torch import nn

from vrt.backbones.base import Normalization
from vrt.backbones.encoders.base import PooledEncoder, missing_extra
from vrt.backbones.weights import load_pretrained
from vrt.registry import ENCODERS


@ENCODERS.register("timm")
def timm_image(*, name: str = "resnet18", pretrained: str | None = None, hub: bool = False) -> nn.Module:
    """Any timm model without its classifier (``timm.list_models()``); normalisation from its config.

    Args:
        name: the timm model.
        pretrained: a path to a state dict in timm's layout, or None.
        hub: download timm's published weights (needs network access; offline, give ``pretrained``).
    """
    try:
        timm = importlib.import_module("timm")
    except ImportError:
        raise missing_extra("the timm encoder", "timm") from None
    if name not in timm.list_models():
        raise ValueError(f"unknown timm model {name!r} (timm.list_models() lists them)")
    try:
        network = timm.create_model(name, pretrained=hub, num_classes=0)
    except OSError as error:  # no network access
        raise ValueError(
            f"could not download timm's weights for {name} ({error}); offline, give pretrained: PATH"
        ) from None
    load_pretrained(network, pretrained, name=f"timm {name}")
    config = network.pretrained_cfg
    normalization = Normalization(mean=tuple(config["mean"]), std=tuple(config["std"]))
    return PooledEncoder(network, out_dim=int(network.num_features), normalization=normalization)
