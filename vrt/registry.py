"""A small generic registry of named components, extensible through entry points.

Built-in components register themselves with a decorator when their package is imported;
third-party packages advertise theirs in an entry-point group (``vrt.backbones``, ...).
Both are looked up lazily: nothing is imported until a name is requested or listed, and
only the requested plugin is imported on lookup.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.metadata
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from vrt.errors import VrtError

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
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry(Generic[T]):
    """Named builders of one kind of component (backbones, heads, losses, ...).

    Args:
        kind: plural noun used in messages and by ``vrt list`` (``"backbones"``).
        entry_point_group: where third-party packages advertise components (``"vrt.backbones"``).
        builtin_module: module whose import registers the built-in components; imported on
            first use so that importing the registry itself stays cheap.
    """

    def __init__(self, kind: str, *, entry_point_group: str, builtin_module: str | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._builtin_module = builtin_module
        self._entries: dict[str, Entry] = {}
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
    ) -> Callable[[T], T]:
        """Decorator: ``@BACKBONES.register("tiny3d")`` registers a builder under ``name``.

        ``metadata`` is free-form facts for docs and tests (input sizes, available weights, ...);
        a plugin builder can carry it as a ``vrt_metadata`` attribute instead.
        """

        def decorator(builder: T) -> T:
            self.add(name, builder, description=description, origin=origin, metadata=metadata)
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

    # -- lookup -------------------------------------------------------------------------

    def get(self, name: str) -> T:
        """The builder registered under ``name``; a helpful error when there is none."""
        return self.entry(name).builder  # type: ignore[return-value]

    def entry(self, name: str) -> Entry:
        key = normalize_name(name)
        self._load_builtins()
        if key not in self._entries:
            pending = self._pending_plugins().get(key)
            if pending is not None:
                self._load_plugin(pending, raise_errors=True)
        if key in self._entries:
            return self._entries[key]
        raise RegistryError(self.unknown_name_message(name))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            key = normalize_name(name)
        except RegistryError:
            return False
        self._load_builtins()
        return key in self._entries or key in self._pending_plugins()

    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted names, built-in and advertised by plugins, optionally filtered by a glob."""
        self._load_builtins()
        names = set(self._entries) | set(self._pending_plugins()) | set(self._failed)
        if pattern:
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
        close = difflib.get_close_matches(normalize_name(name), known, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(known) if known else "(none)"
        return f"unknown {self.kind[:-1] if self.kind.endswith('s') else self.kind} {name!r}.{hint} Available {self.kind}: {listing}"

    # -- lazy loading -------------------------------------------------------------------

    def _load_builtins(self) -> None:
        if self._builtin_module is not None:
            module, self._builtin_module = self._builtin_module, None
            importlib.import_module(module)

    def _pending_plugins(self) -> dict[str, _PendingPlugin]:
        if self._pending is None:
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


BACKBONES: Registry = Registry("backbones", entry_point_group="vrt.backbones", builtin_module="vrt.backbones")
HEADS: Registry = Registry("heads", entry_point_group="vrt.heads", builtin_module="vrt.heads")
LOSSES: Registry = Registry("losses", entry_point_group="vrt.losses", builtin_module="vrt.losses")
MINERS: Registry = Registry("miners", entry_point_group="vrt.miners", builtin_module="vrt.losses.miners")
DATASETS: Registry = Registry("datasets", entry_point_group="vrt.datasets", builtin_module="vrt.datasets")
SAMPLERS: Registry = Registry(
    "samplers", entry_point_group="vrt.samplers", builtin_module="vrt.data.samplers"
)

REGISTRIES: dict[str, Registry] = {r.kind: r for r in (BACKBONES, HEADS, LOSSES, MINERS, DATASETS, SAMPLERS)}
