"""Any torchvision image classifier as a frame encoder, with its ``Weights`` enum.

``name`` is a torchvision model (``resnet18``, ``mobilenet_v3_small``, ``efficientnet_b0``,
...; ``torchvision.models.list_models(torchvision.models)``) and ``weights`` one of its weights
(``DEFAULT``, ``IMAGENET1K_V1``, ...): the normalisation comes from the weights' own
transforms. The weights are downloaded when online; offline, give the path of the file
(``weights_file``), which is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from torch import nn

from vrt.backbones.base import Normalization
from vrt.backbones.encoders.base import PooledEncoder
from vrt.backbones.weights import load_pretrained, torchvision_weights
from vrt.registry import ENCODERS

#: torchvision's ImageNet statistics, for a network without weights.
IMAGENET_NORMALIZATION = Normalization(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
# Where torchvision's classifiers keep their last layer.
_CLASSIFIERS = ("fc", "classifier", "heads", "head")


def _drop_classifier(network: nn.Module, name: str) -> int:
    """Replace the network's final linear layer with an identity; returns its input width."""
    for attribute in _CLASSIFIERS:
        layer = getattr(network, attribute, None)
        if isinstance(layer, nn.Linear):
            setattr(network, attribute, nn.Identity())
            return layer.in_features
        if isinstance(layer, nn.Sequential) and isinstance(layer[-1], nn.Linear):
            width = layer[-1].in_features
            layer[-1] = nn.Identity()
            return width
    raise ValueError(f"torchvision model {name!r} has no final linear classifier vrt knows how to remove")


@ENCODERS.register("torchvision", metadata={"weights": ("DEFAULT", "IMAGENET1K_V1", "...")})
def torchvision_image(
    *, name: str = "resnet18", weights: str | None = "DEFAULT", weights_file: str | None = None
) -> nn.Module:
    """A torchvision image classifier without its classifier; normalisation from its Weights enum.

    Args:
        name: the torchvision model (``torchvision.models.list_models()``).
        weights: a member of its weights enum (``DEFAULT``, ``IMAGENET1K_V1``), or None for a
            random network.
        weights_file: the weights' file on disk (offline); its statistics are still the enum's.
    """
    import torchvision

    try:
        builder = torchvision.models.get_model_builder(name)
    except ValueError:
        known = ", ".join(sorted(torchvision.models.list_models(torchvision.models))[:12])
        raise ValueError(f"unknown torchvision model {name!r} (some: {known}, ...)") from None
    network = builder(weights=None)
    width = _drop_classifier(network, name)
    normalization = IMAGENET_NORMALIZATION
    if weights is not None:
        enum = torchvision.models.get_model_weights(name)
        try:
            member = enum[weights] if weights != "DEFAULT" else enum.DEFAULT
        except KeyError:
            raise ValueError(
                f"{name} has no weights {weights!r}; it has {', '.join(enum.__members__)}"
            ) from None
        transforms = member.transforms()
        normalization = Normalization(mean=tuple(transforms.mean), std=tuple(transforms.std))
        ignore = tuple(f"{attribute}." for attribute in _CLASSIFIERS)
        source = weights_file or str(weights)
        load_pretrained(
            network,
            source,
            named={str(weights): torchvision_weights(member)},
            ignore_prefixes=ignore,
            name=f"torchvision {name}",
        )
    return PooledEncoder(network, out_dim=width, normalization=normalization)
