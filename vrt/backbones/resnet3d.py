"""3D ResNets in the design of Hara et al.'s 3D-ResNets-PyTorch, loading that project's Kinetics checkpoints.

The reference video-hashing code used this family (conv1 7x7x7 at stride 1x2x2, a 3x3x3 max
pool at stride 2, four stages, global average pool), so ``resnet3d`` with the project's
published ``resnet-<depth>-kinetics.pth`` reproduces it exactly. The module names are the
project's (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer2.0.downsample.0`` ...), so its
checkpoints load key for key: :func:`load_3d_resnets_checkpoint` strips the DataParallel
``module.`` prefix, drops the ``fc`` classifier and checks that depth and shortcut type match
before loading, because a mismatch would otherwise load as a silently partial network.

Which configuration each published checkpoint needs (the project's README): ResNet-18 and 34
use shortcut A, ResNet-50 and deeper use shortcut B. All were trained on 16 frames of 112x112.

Input normalisation. The checkpoints of the project's first release (the ``.pth`` files above,
2017) were trained on RGB frames in [0, 255] minus the ActivityNet mean [114.7748, 107.7354,
99.4750] with no division (its defaults ``--norm_value 1 --mean_dataset activitynet``, no
``--std_norm``). vrt feeds clips in [0, 1], so the same map is mean/255 and std 1/255:
``(x - 114.7748/255) / (1/255) = 255 x - 114.7748``. Later releases of the project (``r3d18_K_200ep``
and similar) changed both the normalisation and conv1; they are not what this backbone targets.

One deliberate difference from the original code: its shortcut A built the zero-padded identity
from ``out.data``, which cut the gradient of the identity path; here it is an ordinary
differentiable tensor. Forward outputs are identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, cast

import torch.nn.functional as F
from torch import Tensor, nn

from vrt.backbones.base import Normalization, Pooling, global_pool
from vrt.backbones.weights import LoadReport, PretrainedWeightsError, load_pretrained
from vrt.registry import BACKBONES

Depth = Literal[10, 18, 34, 50]
Shortcut = Literal["A", "B"]

# See the module docstring: [0, 255] minus the ActivityNet mean, expressed for [0, 1] input.
HARA_NORMALIZATION = Normalization(
    mean=(114.7748 / 255, 107.7354 / 255, 99.4750 / 255), std=(1 / 255, 1 / 255, 1 / 255)
)

# Blocks per stage and whether they are bottlenecks (expansion 4), as in the project.
_LAYOUTS: dict[int, tuple[tuple[int, int, int, int], bool]] = {
    10: ((1, 1, 1, 1), False),
    18: ((2, 2, 2, 2), False),
    34: ((3, 4, 6, 3), False),
    50: ((3, 4, 6, 3), True),
}
_STAGE_WIDTHS = (64, 128, 256, 512)


class ZeroPadShortcut(nn.Module):
    """Shortcut A: subsample with the block's stride and zero-pad the new channels (no parameters)."""

    def __init__(self, out_channels: int, stride: int) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        # avg_pool3d with kernel 1 is a strided subsampling, exactly what the original used.
        out = F.avg_pool3d(x, kernel_size=1, stride=self.stride)
        # F.pad pads the last dimensions first: (W, W, H, H, T, T, C_before, C_after).
        return F.pad(out, (0, 0, 0, 0, 0, 0, 0, self.out_channels - out.shape[1]))


def _conv3x3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv3d:
    return nn.Conv3d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3x3(planes, planes)
        self.bn2 = nn.BatchNorm3d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv3d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = _conv3x3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


class ResNet3D(nn.Module):
    """3D ResNet-10/18/34/50 without its classifier: ``(B, 3, T, H, W) -> (B, 512 * expansion)``.

    Time is downsampled by the max pool and stages 2-4 (16x in all), space additionally by conv1
    (32x); every strided layer is padded, so any clip of at least 1x1x1 runs, and the adaptive
    pool equals the original fixed one at 16x112x112.
    """

    def __init__(self, depth: Depth = 18, shortcut: Shortcut = "A", pooling: Pooling = "avg") -> None:
        super().__init__()
        if depth not in _LAYOUTS:
            raise ValueError(f"resnet3d depth must be one of {sorted(_LAYOUTS)}, got {depth!r}")
        if shortcut not in ("A", "B"):
            raise ValueError(f"resnet3d shortcut must be 'A' or 'B', got {shortcut!r}")
        self.depth = depth
        self.shortcut = shortcut
        blocks_per_stage, bottleneck = _LAYOUTS[depth]
        block: type[BasicBlock | Bottleneck] = Bottleneck if bottleneck else BasicBlock

        self.inplanes = 64
        self.conv1 = nn.Conv3d(3, 64, kernel_size=7, stride=(1, 2, 2), padding=(3, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, _STAGE_WIDTHS[0], blocks_per_stage[0], stride=1)
        self.layer2 = self._make_layer(block, _STAGE_WIDTHS[1], blocks_per_stage[1], stride=2)
        self.layer3 = self._make_layer(block, _STAGE_WIDTHS[2], blocks_per_stage[2], stride=2)
        self.layer4 = self._make_layer(block, _STAGE_WIDTHS[3], blocks_per_stage[3], stride=2)
        self.pool = global_pool(pooling)
        self.out_dim = _STAGE_WIDTHS[3] * block.expansion
        self.normalization = HARA_NORMALIZATION

        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm3d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _make_layer(
        self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int, *, stride: int
    ) -> nn.Sequential:
        out_channels = planes * block.expansion
        downsample: nn.Module | None = None
        if stride != 1 or self.inplanes != out_channels:
            if self.shortcut == "A":
                downsample = ZeroPadShortcut(out_channels, stride)
            else:
                downsample = nn.Sequential(
                    nn.Conv3d(self.inplanes, out_channels, kernel_size=1, stride=stride, bias=False),
                    nn.BatchNorm3d(out_channels),
                )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = out_channels
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, clips: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(clips))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.pool(x).flatten(1)


def load_3d_resnets_checkpoint(
    model: ResNet3D, path: str | Path, *, strict_shapes: bool = True
) -> LoadReport:
    """Load a 3D-ResNets-PyTorch checkpoint (e.g. ``resnet-18-kinetics.pth``) into ``model`` in place.

    The file is the project's training checkpoint, ``{"arch", "epoch", "state_dict", "optimizer"}``
    with every key prefixed ``module.``; a plain state dict or a vrt checkpoint works too. The
    ``fc`` classifier is dropped. Depth and shortcut type are read from the tensors themselves
    (blocks per stage, bottleneck ``conv3``, ``downsample`` convolutions) and must match the
    model's, with an error that says which setting to change.

    Raises:
        PretrainedWeightsError: unreadable file, another depth or shortcut type, or (with
            ``strict_shapes``) tensors of other shapes.
    """
    report = load_pretrained(
        model,
        str(path),
        strict_shapes=strict_shapes,
        ignore_prefixes=("fc.",),
        convert=lambda state: _check_layout(state, model, str(path)),
        name=f"resnet3d (depth {model.depth}, shortcut {model.shortcut})",
    )
    return cast(LoadReport, report)  # None only when the source is None, and a path never is


def _check_layout(state: dict[str, Tensor], model: ResNet3D, source: str) -> dict[str, Tensor]:
    blocks = tuple(_blocks_in_stage(state, stage) for stage in range(1, 5))
    if not any(blocks):
        return state  # not a ResNet at all: load_pretrained reports "no tensor in common"
    bottleneck = any(".conv3." in key for key in state)
    depth = next((d for d, layout in _LAYOUTS.items() if layout == (blocks, bottleneck)), None)
    shortcut = "B" if any(".downsample." in key for key in state) else "A"
    if depth is None:
        kind = "bottleneck" if bottleneck else "basic"
        raise PretrainedWeightsError(
            f"{source} holds a 3D ResNet with {list(blocks)} {kind} blocks per stage, which is none of "
            f"resnet3d's depths ({', '.join(str(d) for d in _LAYOUTS)})"
        )
    if depth != model.depth:
        raise PretrainedWeightsError(
            f"{source} holds a 3D ResNet-{depth}, but the model has depth {model.depth}; "
            f"set the backbone's depth: {depth}"
        )
    if shortcut != model.shortcut:
        raise PretrainedWeightsError(
            f"{source} holds a 3D ResNet-{depth} with shortcut {shortcut} "
            f"({'1x1x1 convolution' if shortcut == 'B' else 'zero-padded identity'} shortcuts), but the "
            f"model uses shortcut {model.shortcut}; set the backbone's shortcut: {shortcut}"
        )
    return state


def _blocks_in_stage(state: dict[str, Tensor], stage: int) -> int:
    prefix = f"layer{stage}."
    heads = (key[len(prefix) :].split(".", 1)[0] for key in state if key.startswith(prefix))
    indices = [int(head) for head in heads if head.isdigit()]
    return max(indices) + 1 if indices else 0


@BACKBONES.register(
    "resnet3d",
    metadata={
        # 64x64 rather than 32x32: the last map must be larger than 1x1x1 for pooling to matter.
        "tiny_input": (4, 64, 64),
        "tiny_params": {"depth": 10},
        "min_input": (1, 1, 1),
        "default_input": (16, 112, 112),
        # No downloadable weights: the project's checkpoints are passed as local paths.
        "pretrained": (),
        "key_params": "depth, shortcut, pooling",
    },
)
def resnet3d(
    *,
    depth: Depth = 18,
    shortcut: Shortcut = "A",
    pooling: Pooling = "avg",
    pretrained: str | None = None,
    strict_shapes: bool = True,
) -> nn.Module:
    """3D ResNet-10/18/34/50 of Hara et al. (3D-ResNets-PyTorch), 512/2048-d; loads its Kinetics .pth files.

    Args:
        depth: 10, 18, 34 (basic blocks, 512-d) or 50 (bottlenecks, 2048-d).
        shortcut: ``"A"`` (zero-padded identity, the published ResNet-18/34) or ``"B"``
            (1x1x1 convolution + BN, the published ResNet-50).
        pooling: ``"avg"`` (the original) or ``"max"`` over time and space.
        pretrained: ``None`` or the path of a 3D-ResNets-PyTorch checkpoint such as
            ``resnet-18-kinetics.pth`` (see :func:`load_3d_resnets_checkpoint`) or of a state dict.
        strict_shapes: fail on checkpoint tensors whose shapes differ (else skip them).
    """
    net = ResNet3D(depth=depth, shortcut=shortcut, pooling=pooling)
    if pretrained is not None:
        if not Path(pretrained).expanduser().is_file():
            raise PretrainedWeightsError(
                f"pretrained weights {pretrained!r} for resnet3d: no such file. resnet3d has no "
                f"downloadable weights; pass the path of a 3D-ResNets-PyTorch checkpoint, e.g. "
                f"resnet-18-kinetics.pth (depth: 18, shortcut: A) or resnet-50-kinetics.pth "
                f"(depth: 50, shortcut: B), from that project's releases."
            )
        load_3d_resnets_checkpoint(net, pretrained, strict_shapes=strict_shapes)
    return net
