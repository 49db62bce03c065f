"""torchvision's Kinetics-400 video classifiers as backbones: R3D/MC3/R(2+1)D-18, S3D, MViT-v2-S, Swin3D-T.

Every builder returns torchvision's own module with its classifier replaced by identity, so the
state-dict keys are torchvision's and the published checkpoints load unchanged (their classifier
tensors are dropped without a warning). Common parameters:

* ``pretrained``: ``None`` (random init), ``"kinetics400"`` (the model's ``KINETICS400_V1``
  torchvision weights, downloaded into the torch hub cache on first use) or the path of a local
  state-dict file.
* ``pooling``: ``"avg"`` or ``"max"`` over time and space, for the models whose last step is a
  pool (not MViT, whose feature is its class token). The fixed-size pools are replaced by
  adaptive ones, so every model but MViT accepts any clip size; at the training resolution the
  adaptive average is the original pool (S3D: see its builder).
* ``strict_shapes``: fail on checkpoint tensors whose shapes differ (else skip them).

The input normalisation is read from the weights' own ``transforms()``, so it cannot drift from
what the weights were trained with. It differs by family: the ResNets and S3D use torchvision's
Kinetics statistics (mean 0.43216/0.394666/0.37645, std 0.22803/0.22145/0.216989), MViT-v2-S
uses 0.45/0.225 and Swin3D-T the ImageNet statistics.

The Kinetics-400 accuracies in the registry metadata are ``<Weights>.KINETICS400_V1.meta
["_metrics"]["Kinetics-400"]["acc@1"]`` (tests check them against the installed torchvision);
note that torchvision measures the ResNets, MViT and Swin3D per video (several clips) and S3D
per clip of 128 frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from vrt.backbones.base import Normalization, Pooling, global_pool
from vrt.backbones.weights import load_pretrained, torchvision_weights
from vrt.backbones.zoo import ZooFactory, register_zoo_backbone
from vrt.registry import BACKBONES

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum


@dataclass(frozen=True)
class _Adaptation:
    """Where a torchvision video model keeps its classifier and its final pool."""

    classifier: str
    pool: str | None  # None: the model has no pool to choose (MViT reads its class token)


_VIDEO_RESNET = _Adaptation(classifier="fc", pool="avgpool")
# S3D pools, applies a 1x1x1 conv classifier, then averages what is left; with the classifier
# removed, the final average runs over a 1x1x1 map and the pool alone decides the feature.
_S3D = _Adaptation(classifier="classifier", pool="avgpool")
_SWIN3D = _Adaptation(classifier="head", pool="avgpool")
_MVIT = _Adaptation(classifier="head", pool=None)


def _kinetics400_weights(name: str) -> WeightsEnum:
    from torchvision.models import get_model_weights

    return get_model_weights(name).KINETICS400_V1


def _classifier_width(classifier: nn.Module) -> int:
    """Input width of a classifier: a Linear or 1x1x1 Conv3d, possibly after a Dropout."""
    layers = [m for m in classifier.modules() if isinstance(m, (nn.Linear, nn.Conv3d))]
    if not layers:
        raise TypeError(f"cannot find the classifier's input width in {classifier}")
    last = layers[-1]
    return last.in_features if isinstance(last, nn.Linear) else last.in_channels


def _torchvision_backbone(
    name: str,
    adaptation: _Adaptation,
    *,
    pretrained: str | None,
    strict_shapes: bool,
    pooling: Pooling = "avg",
) -> nn.Module:
    # Imported here: torchvision adds about a second to start-up and only model building needs it.
    from torchvision.models import get_model

    weights = _kinetics400_weights(name)
    net = get_model(name, weights=None)
    out_dim = _classifier_width(getattr(net, adaptation.classifier))
    setattr(net, adaptation.classifier, nn.Identity())
    if adaptation.pool is not None:
        setattr(net, adaptation.pool, global_pool(pooling))
    transforms = weights.transforms()
    net.out_dim = out_dim
    net.normalization = Normalization(mean=tuple(transforms.mean), std=tuple(transforms.std))
    load_pretrained(
        net,
        pretrained,
        strict_shapes=strict_shapes,
        named={"kinetics400": torchvision_weights(weights)},
        ignore_prefixes=(f"{adaptation.classifier}.",),
        name=name,
    )
    return net


def _metadata(
    *,
    tiny_input: tuple[int, int, int],
    min_input: tuple[int, int, int],
    default_input: tuple[int, int, int],
    top1: float,
    key_params: str,
) -> dict[str, Any]:
    return {
        "tiny_input": tiny_input,
        "tiny_params": {},
        "min_input": min_input,
        "default_input": default_input,
        "pretrained": ("kinetics400",),
        "kinetics400_top1": top1,
        "key_params": key_params,
    }


# The ResNets were trained on 16 frames of 112x112 (torchvision's reference recipe).
_RESNET_INPUTS = {"tiny_input": (4, 32, 32), "min_input": (1, 1, 1), "default_input": (16, 112, 112)}


def _family(adaptation: _Adaptation, name: str) -> ZooFactory:
    return partial(_torchvision_backbone, name, adaptation)


r3d_18 = register_zoo_backbone(
    "r3d_18",
    _family(_VIDEO_RESNET, "r3d_18"),
    description="""torchvision R3D-18 (3D ResNet-18, Tran et al. 2018), 512-d; pretrained: kinetics400 or a local file.

    Full 3x3x3 convolutions throughout. See the module docstring for the parameters.
    """,
    metadata=_metadata(**_RESNET_INPUTS, top1=63.2, key_params="pooling"),
)
mc3_18 = register_zoo_backbone(
    "mc3_18",
    _family(_VIDEO_RESNET, "mc3_18"),
    description="""torchvision MC3-18 (mixed 3D/2D convolutions, Tran et al. 2018), 512-d; pretrained: kinetics400.

    3D convolutions in the stem and first stage, 2D (1x3x3) after: motion is modelled early only.
    See the module docstring for the parameters.
    """,
    metadata=_metadata(**_RESNET_INPUTS, top1=63.96, key_params="pooling"),
)
r2plus1d_18 = register_zoo_backbone(
    "r2plus1d_18",
    _family(_VIDEO_RESNET, "r2plus1d_18"),
    description="""torchvision R(2+1)D-18 (Tran et al. 2018), 512-d; pretrained: kinetics400 or a local file.

    Each 3x3x3 convolution factorised into 1x3x3 spatial then 3x1x1 temporal. See the module
    docstring for the parameters.
    """,
    metadata=_metadata(**_RESNET_INPUTS, top1=67.463, key_params="pooling"),
)
s3d = register_zoo_backbone(
    "s3d",
    _family(_S3D, "s3d"),
    description="""torchvision S3D (separable 3D Inception, Xie et al. 2018), 1024-d; pretrained: kinetics400.

    torchvision averages S3D's last map with a 2x7x7 window at stride 1 and then averages the
    windows; the global average used here weighs the first and last frames of that map like the
    others instead of half, and accepts any input of at least 5x17x17. See the module docstring
    for the parameters.
    """,
    # Trained on 64 frames of 224x224 (torchvision's reference recipe). Its last max pool is an
    # unpadded 2x2x2 one after time is halved twice and space four times, hence the minimum; the
    # tiny input is larger so that the final map (1x2x2) leaves the pooling choice something to do.
    metadata=_metadata(
        tiny_input=(8, 64, 64),
        min_input=(5, 17, 17),
        default_input=(64, 224, 224),
        top1=68.368,
        key_params="pooling",
    ),
)
swin3d_t = register_zoo_backbone(
    "swin3d_t",
    _family(_SWIN3D, "swin3d_t"),
    description="""torchvision Swin3D-T (Video Swin Transformer, Liu et al. 2022), 768-d; pretrained: kinetics400.

    Normalises with the ImageNet statistics its weights were trained with. See the module
    docstring for the parameters.
    """,
    # Ported from the Video Swin paper's 32-frame, 224x224 model; windows are padded, so any
    # clip size runs.
    metadata=_metadata(
        tiny_input=(4, 32, 32),
        min_input=(1, 1, 1),
        default_input=(32, 224, 224),
        top1=77.715,
        key_params="pooling",
    ),
)


_MVIT_INPUT = (16, 224, 224)


@BACKBONES.register(
    "mvit_v2_s",
    # torchvision builds MViT-v2-S for one input size only (its relative position tables are
    # sized for it), so even the tests run it at 16x224x224.
    metadata=_metadata(
        tiny_input=_MVIT_INPUT, min_input=_MVIT_INPUT, default_input=_MVIT_INPUT, top1=80.757, key_params=""
    ),
)
def mvit_v2_s(*, pretrained: str | None = None, strict_shapes: bool = True) -> nn.Module:
    """torchvision MViT-v2-S (Li et al. 2022), 768-d class token; input exactly 16x224x224; kinetics400.

    The feature is the final class token after the last norm, so there is no pooling choice.
    Clips of any other size are rejected with a message naming the required size. See the
    module docstring for the parameters.
    """
    net = _torchvision_backbone("mvit_v2_s", _MVIT, pretrained=pretrained, strict_shapes=strict_shapes)
    net.register_forward_pre_hook(partial(_require_input_size, name="mvit_v2_s", size=_MVIT_INPUT))
    return net


def _require_input_size(
    module: nn.Module, args: tuple[Tensor, ...], *, name: str, size: tuple[int, int, int]
) -> None:
    # Without this, a wrong size fails deep inside the positional embedding with a bare shape error.
    clips = args[0]
    if tuple(clips.shape[2:]) != size:
        raise ValueError(
            f"{name} accepts clips of exactly {size[0]} frames of {size[1]}x{size[2]} (T, H, W = {size}), "
            f"got {tuple(clips.shape[2:])}; set data.num_frames: {size[0]} and data.frame_size: {size[1]}"
        )
