"""Pretrained weights for backbones: a named weight (``kinetics400``) or a local state-dict file.

Every backbone goes through :func:`load_pretrained` so that all of them accept the same
``pretrained:`` values and report partial loads the same way. A partial load is the usual
silent failure of transfer learning (a renamed layer leaves half the network random), so
missing and unexpected keys are always reported, and shape mismatches are an error unless the
caller opts out with ``strict_shapes=False``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from vrt.errors import VrtError

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

logger = logging.getLogger(__name__)

StateDict = Mapping[str, torch.Tensor]
# Fetches a named weight's state dict (downloading it if needed); raises PretrainedWeightsError
# with instructions when it cannot.
WeightFetcher = Callable[[], StateDict]

# Checkpoint containers seen in the wild: training scripts (``state_dict``, ``model_state_dict``),
# PySlowFast/pytorchvideo model-zoo files (``model_state``) and vrt's own checkpoints (``model``).
# Searched in this order.
_CONTAINER_KEYS = ("state_dict", "model_state_dict", "model_state", "model")
# Wrappers that prefix every key: DataParallel/DistributedDataParallel and torch.compile.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
_MAX_LISTED = 8


class PretrainedWeightsError(VrtError, RuntimeError):
    """Pretrained weights that cannot be found, read or loaded into the model."""


class PretrainedWeightsWarning(UserWarning):
    """Pretrained weights loaded only partly (missing, unexpected or skipped keys)."""


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_pretrained` did; the same facts it warned about."""

    source: str
    loaded: list[str]
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    # (key, shape in the checkpoint, shape in the model) for tensors skipped with strict_shapes=False
    skipped: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def torchvision_weights(weights: WeightsEnum) -> WeightFetcher:
    """A fetcher for a torchvision weights enum member, with an actionable error when offline.

    torchvision downloads into (and later reads from) the torch hub cache, so a machine without
    network access can still use the weights once the file is placed there or passed as a path.
    """

    def fetch() -> StateDict:
        try:
            return weights.get_state_dict(progress=True, check_hash=True, weights_only=True)
        except OSError as error:  # URLError, HTTPError, socket errors: all OSError subclasses
            file_name = weights.url.rsplit("/", 1)[-1]
            cache = Path(torch.hub.get_dir()) / "checkpoints" / file_name
            raise PretrainedWeightsError(
                f"could not download torchvision weights {weights} from {weights.url} "
                f"({_reason(error)}). Without network access, fetch that file on a "
                f"connected machine and either pass its path as the local state dict "
                f"(pretrained: /path/to/{file_name}) or copy it to {cache}, where torchvision "
                f"looks before downloading."
            ) from error

    return fetch


def hub_checkpoint(url: str, *, container_key: str | None = None) -> WeightFetcher:
    """A fetcher for a checkpoint file at ``url``, cached by torch hub, with an offline error.

    Used for published weights that are not torchvision enums (pytorchvideo's model zoo). The
    file is read with ``weights_only=True``: it is data, and unpickling arbitrary objects from a
    download would let the file run code.

    Args:
        url: where the file is published; its last path component names it in the cache.
        container_key: the key holding the state dict inside the file (``"model_state"`` for
            pytorchvideo), or ``None`` when the file is the state dict itself.
    """
    file_name = url.rsplit("/", 1)[-1]

    def fetch() -> StateDict:
        cache = Path(torch.hub.get_dir()) / "checkpoints" / file_name
        try:
            checkpoint = torch.hub.load_state_dict_from_url(
                url, map_location="cpu", progress=True, weights_only=True, file_name=file_name
            )
        except OSError as error:  # URLError, HTTPError, socket errors: all OSError subclasses
            raise PretrainedWeightsError(
                f"could not download {url} ({_reason(error)}). Without network access, "
                f"fetch that file on a connected machine and either pass its path as the local "
                f"checkpoint (pretrained: /path/to/{file_name}) or copy it to {cache}, where torch hub "
                f"looks before downloading."
            ) from error
        except Exception as error:  # a corrupt or non-tensor pickle; name the file instead of crashing
            raise PretrainedWeightsError(
                f"could not read the checkpoint downloaded from {url} (cached as {cache}) with "
                f"torch.load(weights_only=True): {_reason(error)}. Delete the cached file "
                f"to download it again."
            ) from error
        if container_key is not None and isinstance(checkpoint, Mapping) and container_key in checkpoint:
            return checkpoint[container_key]
        return checkpoint

    return fetch


def load_pretrained(
    model: nn.Module,
    source: str | None,
    *,
    strict_shapes: bool = True,
    named: Mapping[str, WeightFetcher] | None = None,
    ignore_prefixes: Sequence[str] = (),
    convert: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
    name: str | None = None,
) -> LoadReport | None:
    """Load ``source`` into ``model`` in place and report what did not fit.

    Args:
        model: the module whose ``state_dict()`` layout the weights must follow.
        source: ``None`` (keep the random initialisation), a key of ``named`` (case-insensitive,
            ``-`` same as ``_``), or a path to a file readable by
            ``torch.load(weights_only=True)``. Containers (``{"state_dict": ...}``,
            ``{"model": ...}``) are unwrapped and ``module.``/``_orig_mod.`` prefixes stripped.
        strict_shapes: when False, tensors whose shape differs from the model's are skipped
            (and reported) instead of failing, e.g. to reuse a backbone at another width.
        named: the backbone's named weights, e.g. ``{"kinetics400": torchvision_weights(...)}``.
        ignore_prefixes: checkpoint keys dropped silently because the backbone removes those
            layers on purpose (the classifier, e.g. ``("fc.",)``).
        convert: renames/reshapes a foreign checkpoint's keys into this model's layout; runs
            after unwrapping and prefix stripping.
        name: the backbone's name, for messages.

    Returns:
        A :class:`LoadReport`, or ``None`` when ``source`` is ``None``.

    Raises:
        PretrainedWeightsError: unknown name, unreadable file, offline download, no tensor in
            common with the model, or shape mismatches with ``strict_shapes=True``.
    """
    if source is None:
        return None
    label = name or type(model).__name__
    state = _resolve(source, named or {}, label)
    if convert is not None:
        state = convert(state)

    ignored = [k for k in state if k.startswith(tuple(ignore_prefixes))]
    state = {k: v for k, v in state.items() if not k.startswith(tuple(ignore_prefixes))}

    expected = model.state_dict()
    mismatched = [
        (k, tuple(v.shape), tuple(expected[k].shape))
        for k, v in state.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]
    if mismatched and strict_shapes:
        listing = "; ".join(
            f"{k}: checkpoint {list(a)} vs model {list(b)}" for k, a, b in mismatched[:_MAX_LISTED]
        )
        more = f" (and {len(mismatched) - _MAX_LISTED} more)" if len(mismatched) > _MAX_LISTED else ""
        raise PretrainedWeightsError(
            f"{len(mismatched)} tensor(s) in pretrained weights {source!r} do not match the shapes of "
            f"{label}: {listing}{more}. Pass strict_shapes: false to skip them and keep their "
            f"initial values."
        )
    skipped_keys = {k for k, _, _ in mismatched}
    state = {k: v for k, v in state.items() if k not in skipped_keys}

    loaded = [k for k in state if k in expected]
    if not loaded:
        raise PretrainedWeightsError(
            f"none of the {len(state)} tensors in pretrained weights {source!r} match {label}'s "
            f"parameters; is it a checkpoint of another architecture? Checkpoint keys start with "
            f"{_preview(list(state))}; the model expects {_preview(list(expected))}."
        )
    result = model.load_state_dict(state, strict=False)
    report = LoadReport(
        source=str(source),
        loaded=loaded,
        missing=[k for k in result.missing_keys if k not in skipped_keys],
        unexpected=list(result.unexpected_keys),
        skipped=mismatched,
        ignored=ignored,
    )
    _warn(report, label)
    logger.info(
        "%s: loaded %d/%d tensors from pretrained weights %r", label, len(loaded), len(expected), str(source)
    )
    return report


def _resolve(source: str, named: Mapping[str, WeightFetcher], label: str) -> dict[str, torch.Tensor]:
    if not isinstance(source, str) or not source.strip():
        raise PretrainedWeightsError(
            f"pretrained weights for {label} must be a name or a path, got {source!r}"
        )
    by_key = {_name_key(k): fetch for k, fetch in named.items()}
    fetch = by_key.get(_name_key(source))
    if fetch is not None:
        return _normalise_state_dict(fetch(), str(source))
    path = Path(source).expanduser()
    if path.is_file():
        return _normalise_state_dict(_read_file(path), str(path))
    available = ", ".join(repr(k) for k in named) if named else "none"
    raise PretrainedWeightsError(
        f"pretrained weights {source!r} for {label} are neither a named weight (available: {available}) "
        f"nor an existing file (looked for {path.resolve()}). Give a named weight or the path to a "
        f"local state-dict file (.pt/.pth)."
    )


def _reason(error: BaseException) -> str:
    """``error`` as one line, for a message that wraps it (the CLI prints errors as one line)."""
    text = str(error)
    # torch.load(weights_only=True) refuses a file with paragraphs of advice (to pass
    # weights_only=False, or to allow-list classes) that a vrt config cannot follow; the cause
    # is the first sentence after this marker.
    cause = text.partition("WeightsUnpickler error:")[2].strip().split("\n\n")[0].split(". ")[0]
    return f"{type(error).__name__}: {' '.join((cause or text).split()).rstrip('.')}"


def _name_key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _read_file(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling can fail in many ways; all mean "not a plain state dict"
        raise PretrainedWeightsError(
            f"could not read {path} as a PyTorch state dict (torch.load with weights_only=True): "
            f"{_reason(error)}. If it holds a whole pickled model, load it where it was "
            f"made and save model.state_dict() instead."
        ) from error


def _normalise_state_dict(obj: Any, source: str) -> dict[str, torch.Tensor]:
    """Unwrap checkpoint containers and wrapper prefixes down to ``{name: tensor}``."""
    while isinstance(obj, Mapping) and not _is_state_dict(obj):
        inner = next((obj[k] for k in _CONTAINER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping) or not _is_state_dict(obj):
        found = (
            f"a mapping with keys {_preview([str(k) for k in obj])}"
            if isinstance(obj, Mapping)
            else type(obj).__name__
        )
        raise PretrainedWeightsError(
            f"pretrained weights {source!r} do not contain a state dict (a mapping of names to tensors, "
            f"possibly under one of {', '.join(_CONTAINER_KEYS)}); found {found}"
        )
    state = dict(obj)
    # vrt's own HashingModel checkpoints: take the backbone part, so a trained run can seed another.
    if any(k.startswith("backbone.") for k in state) and all(
        k.startswith(("backbone.", "head.")) for k in state
    ):
        state = {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}
    stripped = True
    while stripped:
        stripped = False
        for prefix in _WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in state):
                state = {k[len(prefix) :]: v for k, v in state.items()}
                stripped = True
    return state


def _is_state_dict(obj: Mapping) -> bool:
    return len(obj) > 0 and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _preview(keys: Sequence[str]) -> str:
    if not keys:
        return "(nothing)"
    shown = ", ".join(keys[:_MAX_LISTED])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > _MAX_LISTED else "")


def _warn(report: LoadReport, label: str) -> None:
    where = f"pretrained weights {report.source!r} for {label}"
    if report.missing:
        warnings.warn(
            f"{where}: {len(report.missing)} model tensor(s) missing from the checkpoint, left at their "
            f"initial values: {_preview(report.missing)}",
            PretrainedWeightsWarning,
            stacklevel=3,
        )
    if report.unexpected:
        warnings.warn(
            f"{where}: {len(report.unexpected)} checkpoint tensor(s) not used by the model: "
            f"{_preview(report.unexpected)}",
            PretrainedWeightsWarning,
            stacklevel=3,
        )
    if report.skipped:
        shapes = ", ".join(f"{k} {list(a)}->{list(b)}" for k, a, b in report.skipped[:_MAX_LISTED])
        more = f", ... ({len(report.skipped)} in all)" if len(report.skipped) > _MAX_LISTED else ""
        warnings.warn(
            f"{where}: {len(report.skipped)} tensor(s) skipped for shape mismatch (strict_shapes=False), "
            f"left at their initial values: {shapes}{more}",
            PretrainedWeightsWarning,
            stacklevel=3,
        )
