"""torchvision's R3D-18 (Tran et al. 2018), the default backbone: 3D ResNet-18, 512-d features."""

from __future__ import annotations

from torch import nn

from vrt.backbones.base import KINETICS_NORMALIZATION
from vrt.backbones.weights import load_pretrained, torchvision_weights
from vrt.registry import BACKBONES


@BACKBONES.register("r3d_18")
def r3d_18(*, pretrained: str | None = None, strict_shapes: bool = True) -> nn.Module:
    """torchvision R3D-18 (3D ResNet-18), 512-d; pretrained: kinetics400 or a local state dict.

    The network is torchvision's own module with its classifier replaced by identity, so its
    state-dict keys are torchvision's and its published checkpoints load unchanged (their
    ``fc.*`` classifier tensors are dropped without a warning).

    Args:
        pretrained: ``None`` (random init), ``"kinetics400"`` (torchvision's
            ``R3D_18_Weights.KINETICS400_V1``, downloaded and cached on first use) or a path
            to a local state-dict file.
        strict_shapes: fail on checkpoint tensors whose shapes differ (else skip them).
    """
    # Imported here: torchvision adds about a second to start-up and only model building needs it.
    from torchvision.models.video import R3D_18_Weights
    from torchvision.models.video import r3d_18 as torchvision_r3d_18

    net = torchvision_r3d_18(weights=None)
    out_dim = net.fc.in_features
    net.fc = nn.Identity()
    net.out_dim = out_dim
    net.normalization = KINETICS_NORMALIZATION
    load_pretrained(
        net,
        pretrained,
        strict_shapes=strict_shapes,
        named={"kinetics400": torchvision_weights(R3D_18_Weights.KINETICS400_V1)},
        ignore_prefixes=("fc.",),
        name="r3d_18",
    )
    return net
