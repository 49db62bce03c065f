"""A small generic registry of named components, extensible through entry points.

Built-in components register themselves with a decorator in their own module; a registry finds
them by importing every module of its built-in package (no hand-kept import list, so a new
file is enough). Which package that is, kind by kind, is declared by vrt's root package
(``vrt/__init__.py``, :func:`declare_builtins`), the one module every import passes through:
this module, at the bottom of the layering, names no package above it. Third-party packages
advertise their components in an entry-point group (``vrt.backbones``, ...). Both are looked up
lazily: nothing is imported until a name is requested or listed, and only the requested plugin
is imported on lookup.

A registry also says which values vrt injects into its builders (heads get ``in_dim``, losses
``bits`` and ``num_classes``, ...): a config may not set them, and :mod:`vrt.components` passes
them to every builder that asks. Old names stay valid as aliases, so renaming a component does
not break the checkpoints and configs that name it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from vrt.errors import VrtError

if TYPE_CHECKING:
    import importlib.metadata

# difflib, fnmatch, inspect, pkgutil and importlib.metadata are imported where they are used:
# every `import vrt` imports this module, and a command-line start must stay cheap.

T = TypeVar("T", bound=Callable)

BUILTIN_ORIGIN = "built-in"


class RegistryError(VrtError, LookupError):
    """A name that cannot be resolved, or a registration that would be ambiguous."""


class PluginImportError(RegistryError):
    """A plugin's entry point failed to import."""


def normalize_name(name: str) -> str:
    """Names compare case-insensitively and treat ``-`` like ``_`` (``R3D-18`` is ``r3d_18``)."""
    if not isinstance(name, str) or not name.strip():
        raise RegistryError(f"a component name must be a non-empty string, got {name!r}")
    return name.strip().lower().replace("-", "_")


@dataclass(frozen=True)
class Entry:
    """One registered component: the callable that builds it and where it came from."""

    name: str
    builder: Callable
    origin: str
    description: str
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class _PendingPlugin:
    name: str
    entry_point: importlib.metadata.EntryPoint
    distribution: str


def _first_docstring_line(obj: object) -> str:
    import inspect

    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry(Generic[T]):
    """Named builders of one kind of component (backbones, heads, losses, ...).

    Args:
        kind: plural noun used in messages and by ``vrt list`` (``"backbones"``).
        entry_point_group: where third-party packages advertise components (``"vrt.backbones"``).
        injects: the arguments vrt supplies to this kind's builders (a config cannot set them).

    The package of the built-in components is declared later (:meth:`declare_builtin`).
    """

    def __init__(
        self,
        kind: str,
        *,
        entry_point_group: str,
        injects: tuple[str, ...] = (),
    ):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.injects = frozenset(injects)
        self._builtin: str | None = None
        self._loading = False
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}
        self._pending: dict[str, _PendingPlugin] | None = None
        self._failed: dict[str, str] = {}

    # -- registration -------------------------------------------------------------------

    def register(
        self,
        name: str,
        *,
        description: str | None = None,
        origin: str = BUILTIN_ORIGIN,
        metadata: Mapping[str, Any] | None = None,
        aliases: tuple[str, ...] = (),
    ) -> Callable[[T], T]:
        """Decorator: ``@BACKBONES.register("tiny3d")`` registers a builder under ``name``.

        ``metadata`` is free-form facts for docs and tests (input sizes, available weights, ...);
        a plugin builder can carry it as a ``vrt_metadata`` attribute instead. ``aliases`` are
        former names that still resolve to this one (configs and checkpoints keep working).
        """

        def decorator(builder: T) -> T:
            self.add(
                name, builder, description=description, origin=origin, metadata=metadata, aliases=aliases
            )
            return builder

        return decorator

    def add(
        self,
        name: str,
        builder: T,
        *,
        description: str | None = None,
        origin: str = BUILTIN_ORIGIN,
        metadata: Mapping[str, Any] | None = None,
        aliases: tuple[str, ...] = (),
    ) -> None:
        key = normalize_name(name)
        if not callable(builder):
            raise RegistryError(f"{self.kind} entry {name!r} must be callable, got {builder!r}")
        existing = self._entries.get(key)
        if existing is not None and existing.builder is not builder:
            raise RegistryError(
                f"{self.kind} name {key!r} is already registered by {existing.origin} "
                f"({_qualified_name(existing.builder)}); choose another name"
            )
        if metadata is None:
            metadata = getattr(builder, "vrt_metadata", None) or {}
        self._entries[key] = Entry(
            name=key,
            builder=builder,
            origin=origin,
            description=description or _first_docstring_line(builder),
            metadata=MappingProxyType(dict(metadata)),
        )
        for alias in aliases:
            alias_key = normalize_name(alias)
            taken = self._aliases.get(alias_key, key) != key or alias_key in self._entries
            if taken:
                raise RegistryError(
                    f"{self.kind} alias {alias_key!r} of {key!r} is already a name or an alias"
                )
            self._aliases[alias_key] = key

    # -- lookup -------------------------------------------------------------------------

    def get(self, name: str) -> T:
        """The builder registered under ``name``; a helpful error when there is none."""
        return self.entry(name).builder  # type: ignore[return-value]

    def entry(self, name: str) -> Entry:
        """The entry of ``name`` (or of the component that ``name`` is a former name of)."""
        self._load_builtins()
        key = self.canonical_name(name)
        if key not in self._entries:
            pending = self._pending_plugins().get(key)
            if pending is not None:
                self._load_plugin(pending, raise_errors=True)
        if key in self._entries:
            return self._entries[key]
        raise RegistryError(self.unknown_name_message(name))

    def canonical_name(self, name: str) -> str:
        """``name`` normalised, and an alias replaced by the name it stands for."""
        key = normalize_name(name)
        self._load_builtins()
        return self._aliases.get(key, key)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            key = self.canonical_name(name)
        except RegistryError:
            return False
        return key in self._entries or key in self._pending_plugins()

    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted names, built-in and advertised by plugins, optionally filtered by a glob."""
        self._load_builtins()
        names = set(self._entries) | set(self._pending_plugins()) | set(self._failed)
        if pattern:
            import fnmatch

            names = {n for n in names if fnmatch.fnmatch(n, normalize_name(pattern))}
        return sorted(names)

    def entries(self) -> Iterator[Entry | tuple[str, str]]:
        """Every entry, importing every plugin; a failed plugin is yielded as ``(name, error)``."""
        self._load_builtins()
        for pending in list(self._pending_plugins().values()):
            if pending.name not in self._entries:
                self._load_plugin(pending, raise_errors=False)
        for name in self.names():
            if name in self._entries:
                yield self._entries[name]
            else:
                yield name, self._failed[name]

    def shadowed_plugins(self) -> list[str]:
        """Plugins whose name a built-in already takes: they are never loaded, so say so."""
        self._load_builtins()
        return [
            f"plugin {self.kind[:-1]} {p.name!r} from distribution {p.distribution!r} is ignored: "
            f"the name is taken by {self._entries[p.name].origin} {_qualified_name(self._entries[p.name].builder)}"
            for p in self._pending_plugins().values()
            if p.name in self._entries and self._entries[p.name].origin != p.distribution
        ]

    def unknown_name_message(self, name: str) -> str:
        known = self.names()
        import difflib

        close = difflib.get_close_matches(normalize_name(name), known, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(known) if known else "(none)"
        return f"unknown {self.kind[:-1] if self.kind.endswith('s') else self.kind} {name!r}.{hint} Available {self.kind}: {listing}"

    # -- lazy loading -------------------------------------------------------------------

    def declare_builtin(self, package: str) -> None:
        """``package`` (every module in it, recursively) or module registers the built-in
        components of this kind when imported; it is imported on the first lookup."""
        self._builtin = package

    def _load_builtins(self) -> None:
        if self._builtin is None or self._loading:
            return
        import pkgutil

        self._loading = True  # a module being imported may look a name up
        try:
            package = importlib.import_module(self._builtin)
            # Every module of the package registers what it defines: a new file needs no edit
            # elsewhere. Errors propagate (a built-in that fails to import is a bug to see).
            for module in pkgutil.walk_packages(getattr(package, "__path__", []), prefix=f"{self._builtin}."):
                importlib.import_module(module.name)
            self._builtin = None
        finally:
            self._loading = False

    def _pending_plugins(self) -> dict[str, _PendingPlugin]:
        if self._pending is None:
            import importlib.metadata

            self._pending = {}
            for ep in importlib.metadata.entry_points(group=self.entry_point_group):
                key = normalize_name(ep.name)
                dist = ep.dist.name if ep.dist is not None else "unknown distribution"
                self._pending[key] = _PendingPlugin(key, ep, dist)
        return self._pending

    def _load_plugin(self, pending: _PendingPlugin, *, raise_errors: bool) -> None:
        try:
            builder = pending.entry_point.load()
        except Exception as error:  # a plugin can fail in any way; name it instead of crashing
            message = (
                f"plugin {self.kind[:-1]} {pending.name!r} from distribution {pending.distribution!r} "
                f"({pending.entry_point.value}) failed to import: {type(error).__name__}: {error}"
            )
            self._failed[pending.name] = message
            if raise_errors:
                raise PluginImportError(message) from error
            return
        self._failed.pop(pending.name, None)
        if pending.name not in self._entries:
            self.add(pending.name, builder, origin=pending.distribution)


def _qualified_name(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


BACKBONES: Registry = Registry("backbones", entry_point_group="vrt.backbones")
HEADS: Registry = Registry("heads", entry_point_group="vrt.heads", injects=("in_dim",))
LOSSES: Registry = Registry(
    "losses", entry_point_group="vrt.losses", injects=("bits", "num_classes", "frame_dim")
)
# Miners and reducers are component sections of a loss (`loss.miner`, `loss.reduction`): vrt
# builds them and passes the objects (vrt.config.params.SUBCOMPONENTS). A miner parameter the loss
# also has (a margin) takes the loss's value unless the miner's section sets it.
MINERS: Registry = Registry("miners", entry_point_group="vrt.miners")
REDUCERS: Registry = Registry("reducers", entry_point_group="vrt.reducers")
# The parts of a frame backbone (``model.backbone.encoder``, ``.temporal``, ``.motion``), which it
# builds itself: an image encoder run on every frame, a temporal module over the frames'
# features (given the encoder's ``in_dim``), and an optional motion stream over the clip's pixels.
ENCODERS: Registry = Registry("encoders", entry_point_group="vrt.encoders")
TEMPORAL_MODULES: Registry = Registry(
    "temporal_modules", entry_point_group="vrt.temporal_modules", injects=("in_dim",)
)
MOTION_STREAMS: Registry = Registry("motion_streams", entry_point_group="vrt.motion_streams")
DATASETS: Registry = Registry("datasets", entry_point_group="vrt.datasets", injects=("subset", "clips"))
SAMPLERS: Registry = Registry("samplers", entry_point_group="vrt.samplers", injects=("num_frames",))
DECODERS: Registry = Registry("decoders", entry_point_group="vrt.decoders")

OPTIMIZERS: Registry = Registry("optimizers", entry_point_group="vrt.optimizers", injects=("params",))
SCHEDULERS: Registry = Registry(
    "schedulers",
    entry_point_group="vrt.schedulers",
    injects=("optimizer", "epochs"),
)

REGISTRIES: dict[str, Registry] = {
    r.kind: r
    for r in (
        BACKBONES,
        ENCODERS,
        TEMPORAL_MODULES,
        MOTION_STREAMS,
        HEADS,
        LOSSES,
        MINERS,
        REDUCERS,
        DATASETS,
        SAMPLERS,
        DECODERS,
        OPTIMIZERS,
        SCHEDULERS,
    )
}


def declare_builtins(packages: Mapping[str, str]) -> None:
    """Declare, kind by kind, the package whose modules register vrt's built-in components
    (``{"backbones": "vrt.backbones", ...}``); done once, by vrt's root package."""
    unknown = sorted(set(packages) - set(REGISTRIES))
    if unknown:
        raise RegistryError(f"no registry of {', '.join(unknown)}; registries: {', '.join(REGISTRIES)}")
    for kind, package in packages.items():
        REGISTRIES[kind].declare_builtin(package)
