"""vrt: video retrieval by learned binary hashing.

The public API, documented in ``docs/api.md``::

    import vrt

    vrt.list_backbones()                                  # what is registered (one lister per kind)
    model = vrt.create_model("tiny3d", head="linear", bits=32)
    trained = vrt.load("runs/demo/best.pt")               # a checkpoint, ready to encode
    codes = vrt.encode(trained, "my_videos/")             # a CodeSet
    index = vrt.Index.build(codes)                        # Hamming search
    result = vrt.evaluate(trained)                        # test split against train split

Importing the package is cheap on purpose: each name loads its module on first use, and heavy
libraries (torch, torchvision, faiss) are imported by the modules that need them, so the
command line starts fast and ``vrt eval`` on codes files never imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vrt.registry import REGISTRIES, declare_builtins

if TYPE_CHECKING:
    from vrt.api import create_model, encode, evaluate, load
    from vrt.codes import CodeSet, EncoderIdentity, check_comparable, load_codes, save_codes
    from vrt.config import Config, load_config
    from vrt.datasets.collection import ItemList, list_items
    from vrt.datasets.items import Item
    from vrt.errors import VrtError
    from vrt.index import HammingIndex as Index
    from vrt.inference import TrainedModel
    from vrt.inference.evaluation import Evaluation

__version__ = "0.1.0"

# The packages whose modules register vrt's built-in components, kind by kind. Declared here, at
# the root that every import of vrt passes through, so that vrt.registry (at the bottom of the
# layering) names no package above it; each registry imports its package on its first lookup.
declare_builtins(
    {
        "backbones": "vrt.backbones",
        "encoders": "vrt.backbones.encoders",
        "temporal_modules": "vrt.backbones.temporal",
        "motion_streams": "vrt.backbones.motion",
        "heads": "vrt.heads",
        "losses": "vrt.losses",
        "miners": "vrt.losses.miners",
        "reducers": "vrt.losses.reducers",
        "datasets": "vrt.datasets",
        "samplers": "vrt.datasets.samplers",
        "decoders": "vrt.datasets.decoders",
        "optimizers": "vrt.optim",
        "schedulers": "vrt.optim",
    }
)

# name -> (module, attribute): loaded on first use.
_LAZY = {
    "create_model": ("vrt.api", "create_model"),
    "load": ("vrt.api", "load"),
    "encode": ("vrt.api", "encode"),
    "evaluate": ("vrt.api", "evaluate"),
    "TrainedModel": ("vrt.inference", "TrainedModel"),
    "Evaluation": ("vrt.inference.evaluation", "Evaluation"),
    "Index": ("vrt.index", "HammingIndex"),
    "CodeSet": ("vrt.codes", "CodeSet"),
    "EncoderIdentity": ("vrt.codes", "EncoderIdentity"),
    "load_codes": ("vrt.codes", "load_codes"),
    "save_codes": ("vrt.codes", "save_codes"),
    "check_comparable": ("vrt.codes", "check_comparable"),
    "Item": ("vrt.datasets.items", "Item"),
    "ItemList": ("vrt.datasets.collection", "ItemList"),
    "list_items": ("vrt.datasets.collection", "list_items"),
    "Config": ("vrt.config", "Config"),
    "load_config": ("vrt.config", "load_config"),
    "VrtError": ("vrt.errors", "VrtError"),
}
_LISTERS = {f"list_{kind}": kind for kind in REGISTRIES}

# Pinned by tests/test_public_api.py, which also checks that every name resolves.
__all__ = [
    "CodeSet",
    "Config",
    "EncoderIdentity",
    "Evaluation",
    "Index",
    "Item",
    "ItemList",
    "TrainedModel",
    "VrtError",
    "__version__",
    "check_comparable",
    "create_model",
    "encode",
    "evaluate",
    "list_backbones",
    "list_datasets",
    "list_decoders",
    "list_encoders",
    "list_heads",
    "list_items",
    "list_losses",
    "list_miners",
    "list_motion_streams",
    "list_optimizers",
    "list_reducers",
    "list_samplers",
    "list_schedulers",
    "list_temporal_modules",
    "load",
    "load_codes",
    "load_config",
    "save_codes",
]


def _lister(kind: str) -> Any:
    def list_components(pattern: str | None = None) -> list[str]:
        return REGISTRIES[kind].names(pattern)

    list_components.__name__ = list_components.__qualname__ = f"list_{kind}"
    list_components.__doc__ = (
        f"The names of the registered {kind}, built-in and from plugins, sorted; ``pattern`` is a "
        f"glob (``'r3d*'``). Each name is what a config's ``name:`` takes."
    )
    return list_components


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
    elif name in _LISTERS:
        value = _lister(_LISTERS[name])
    else:
        raise AttributeError(f"module 'vrt' has no attribute {name!r}")
    globals()[name] = value  # found once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
