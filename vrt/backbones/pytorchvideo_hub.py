"""pytorchvideo's Kinetics-400 model-zoo networks as backbones: X3D-XS/S/M and Slow R50 (8x8).

The networks are built with ``pytorchvideo.models`` (``create_x3d`` / ``create_resnet``) and the
hyper-parameters of pytorchvideo's torch-hub entries, so their state-dict keys are the model
zoo's and its checkpoints load unchanged. Only the classifier is removed: the dropout,
projection and softmax of the head (``blocks.5``), whose checkpoint tensors are dropped without
a warning. The head's fixed-size average pool (sized for one training resolution) becomes an
adaptive pool, equal to it at that resolution and usable at any other.

Common parameters:

* ``pretrained``: ``None``, ``"kinetics400"`` (the model-zoo checkpoint, downloaded into the torch
  hub cache on first use; without network access a clear error says where to put the file) or
  the path of a local file: the zoo's ``.pyth`` (``{"model_state": ...}``) or a state dict.
* ``pooling``: ``"avg"`` or ``"max"`` over time and space for the head's pool.
* ``strict_shapes``: fail on checkpoint tensors whose shapes differ (else skip them).

All four were trained on clips normalised with mean 0.45 and std 0.225 per channel (pytorchvideo's
torch-hub tutorial). The accuracies in the metadata are pytorchvideo's
docs/source/model_zoo.md, Kinetics-400 top-1 with 3 crops x 10 clips.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import Any

from torch import nn

from vrt.backbones.base import Normalization, Pooling, global_pool
from vrt.backbones.weights import hub_checkpoint, load_pretrained
from vrt.backbones.zoo import ZooFactory, register_zoo_backbone

PYTORCHVIDEO_NORMALIZATION = Normalization(mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225))

_ZOO = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics"
# The head is the last of the six blocks (stem, four stages, head) in both families.
_HEAD_PROJECTION = "blocks.5.proj."


def _zoo_backbone(
    name: str,
    create: Callable[[], nn.Module],
    checkpoint: str,
    *,
    pretrained: str | None,
    pooling: Pooling,
    strict_shapes: bool,
) -> nn.Module:
    net = create()
    head = net.blocks[-1]
    out_dim = head.proj.in_features
    # X3D pools inside a ProjectedPool (conv, pool, conv); Slow R50 pools directly in the head.
    pool_owner = head.pool if hasattr(head.pool, "post_conv") else head
    pool_owner.pool = global_pool(pooling)
    head.dropout = None
    head.proj = None
    head.activation = None  # X3D's softmax; its output_pool then averages a 1x1x1 map and flattens
    net.out_dim = out_dim
    net.normalization = PYTORCHVIDEO_NORMALIZATION
    load_pretrained(
        net,
        pretrained,
        strict_shapes=strict_shapes,
        named={"kinetics400": hub_checkpoint(f"{_ZOO}/{checkpoint}", container_key="model_state")},
        ignore_prefixes=(_HEAD_PROJECTION,),
        name=name,
    )
    return net


def _pytorchvideo(module: str) -> ModuleType:
    # Imported on first build: pytorchvideo pulls in torchvision, about a second of start-up.
    with warnings.catch_warnings():
        # pytorchvideo 0.1.5 applies torch.jit.script at import time (fvcore's weight init), which
        # current torch reports as deprecated: a warning about their code, not the user's.
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning
        )
        return importlib.import_module(module)


def _x3d(clip_length: int, crop_size: int) -> Callable[[], nn.Module]:
    def create() -> nn.Module:
        # X3D-XS/S/M share width 2.0 and depth 2.2 (create_x3d's defaults); they differ only in
        # the clip they were trained on, which sizes the head's (now adaptive) pool.
        create_x3d = _pytorchvideo("pytorchvideo.models.x3d").create_x3d
        # nn.SiLU is x * sigmoid(x), pytorchvideo's Swish, but native: their autograd Function
        # uses ctx.saved_variables, which torch has deprecated. Neither has parameters.
        return create_x3d(input_clip_length=clip_length, input_crop_size=crop_size, inner_act=nn.SiLU)

    return create


def _metadata(*, default_input: tuple[int, int, int], top1: float) -> dict[str, Any]:
    return {
        "tiny_input": (4, 32, 32),
        "tiny_params": {},
        # Every stride-2 layer is padded, so a single 1x1 frame still reaches the pool.
        "min_input": (1, 1, 1),
        "default_input": default_input,
        "pretrained": ("kinetics400",),
        "kinetics400_top1": top1,
        "key_params": "pooling",
    }


def _family(name: str, create: Callable[[], nn.Module], checkpoint: str) -> ZooFactory:
    return partial(_zoo_backbone, name, create, checkpoint)


x3d_xs = register_zoo_backbone(
    "x3d_xs",
    _family("x3d_xs", _x3d(4, 160), "X3D_XS.pyth"),
    description="pytorchvideo X3D-XS (Feichtenhofer 2020), 2048-d; 4x160x160 clips; pretrained: kinetics400.",
    metadata=_metadata(default_input=(4, 160, 160), top1=69.12),
)
x3d_s = register_zoo_backbone(
    "x3d_s",
    _family("x3d_s", _x3d(13, 160), "X3D_S.pyth"),
    description="pytorchvideo X3D-S (Feichtenhofer 2020), 2048-d; 13x160x160 clips; pretrained: kinetics400.",
    metadata=_metadata(default_input=(13, 160, 160), top1=73.33),
)
x3d_m = register_zoo_backbone(
    "x3d_m",
    _family("x3d_m", _x3d(16, 224), "X3D_M.pyth"),
    description="pytorchvideo X3D-M (Feichtenhofer 2020), 2048-d; 16x224x224 clips; pretrained: kinetics400.",
    metadata=_metadata(default_input=(16, 224, 224), top1=75.94),
)


def _slow_r50() -> nn.Module:
    create_resnet = _pytorchvideo("pytorchvideo.models.resnet").create_resnet
    # The "Slow" pathway of SlowFast: no temporal convolution before res4, 8 frames sampled
    # every 8th (the model zoo's SLOW_8x8_R50).
    return create_resnet(model_depth=50, stem_conv_kernel_size=(1, 7, 7), head_pool_kernel_size=(8, 7, 7))


slow_r50 = register_zoo_backbone(
    "slow_r50",
    _family("slow_r50", _slow_r50, "SLOW_8x8_R50.pyth"),
    description="pytorchvideo Slow R50 8x8 (Feichtenhofer et al. 2019), 2048-d; 8x224x224; pretrained: kinetics400.",
    metadata=_metadata(default_input=(8, 224, 224), top1=74.58),
)
