"""The generic Registry: registration, normalisation, lookup errors, entry-point plugins."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from vrt.registry import BACKBONES, PluginImportError, Registry, RegistryError, normalize_name


def make_registry(group: str = "vrt.test_things") -> Registry:
    return Registry("things", entry_point_group=group)


def test_register_and_get_with_normalised_names():
    registry = make_registry()

    @registry.register("My-Thing")
    def build_thing(*, size: int = 1) -> int:
        """Builds a thing."""
        return size

    assert registry.get("my_thing") is build_thing
    assert registry.get("MY-THING") is build_thing
    assert "my-thing" in registry
    assert registry.names() == ["my_thing"]
    assert registry.entry("my_thing").description == "Builds a thing."
    assert registry.entry("my_thing").origin == "built-in"


def test_duplicate_name_is_refused():
    registry = make_registry()
    registry.add("thing", lambda: 1)
    with pytest.raises(RegistryError, match="already registered"):
        registry.add("THING", lambda: 2)


def test_unknown_name_suggests_close_matches_and_lists_all():
    registry = make_registry()
    for name in ("r3d_18", "mc3_18", "tiny3d"):
        registry.add(name, lambda: None)
    with pytest.raises(RegistryError) as excinfo:
        registry.get("r3d18")
    message = str(excinfo.value)
    assert "Did you mean 'r3d_18'" in message
    assert "mc3_18, r3d_18, tiny3d" in message


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_invalid_names_are_rejected(bad):
    with pytest.raises(RegistryError):
        normalize_name(bad)


def test_names_filter_by_glob():
    registry = make_registry()
    for name in ("x3d_xs", "x3d_s", "r3d_18"):
        registry.add(name, lambda: None)
    assert registry.names("x3d*") == ["x3d_s", "x3d_xs"]


def test_builtin_backbones_are_listed():
    assert {"r3d_18", "tiny3d"} <= set(BACKBONES.names())


def _install_fake_distribution(
    root: Path, *, name: str, group: str, entries: dict[str, str], module: str
) -> None:
    """A real (if minimal) installed distribution: a dist-info folder importlib.metadata reads."""
    dist_info = root / f"{name}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "\n".join(f"{key} = {value}" for key, value in entries.items())
    (dist_info / "entry_points.txt").write_text(f"[{group}]\n{lines}\n")
    (root / f"{name.replace('-', '_')}.py").write_text(textwrap.dedent(module))


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for mod in [m for m in sys.modules if m.startswith("vrt_fake_plugin")]:
        del sys.modules[mod]


def test_entry_point_plugins_load_lazily(plugin_path):
    _install_fake_distribution(
        plugin_path,
        name="vrt-fake-plugin",
        group="vrt.test_plugins",
        entries={"Fancy-Net": "vrt_fake_plugin:fancy", "broken": "vrt_fake_plugin_missing:nothing"},
        module='''
            def fancy(*, depth: int = 2):
                """A fancy plugin network."""
                return depth
        ''',
    )
    registry = Registry("things", entry_point_group="vrt.test_plugins")
    assert registry.names() == ["broken", "fancy_net"]
    assert "vrt_fake_plugin" not in sys.modules  # listing names imports nothing

    assert registry.get("fancy-net")(depth=3) == 3
    entry = registry.entry("fancy_net")
    assert entry.origin == "vrt-fake-plugin"
    assert entry.description == "A fancy plugin network."

    with pytest.raises(PluginImportError) as excinfo:
        registry.get("broken")
    assert "vrt-fake-plugin" in str(excinfo.value) and "broken" in str(excinfo.value)

    # A failing plugin does not break a full listing: it is reported beside the good ones.
    listed = list(registry.entries())
    assert any(getattr(e, "name", None) == "fancy_net" for e in listed)
    assert ("broken", registry._failed["broken"]) in listed


def test_plugin_cannot_shadow_builtin_silently(plugin_path):
    _install_fake_distribution(
        plugin_path,
        name="vrt-fake-plugin-shadow",
        group="vrt.test_shadow",
        entries={"thing": "vrt_fake_plugin_shadow:thing"},
        module="def thing():\n    return 'plugin'\n",
    )
    registry = Registry("things", entry_point_group="vrt.test_shadow")
    registry.add("thing", lambda: "built-in")
    assert registry.get("thing")() == "built-in"  # built-ins win; the plugin is never imported
    (warning,) = registry.shadowed_plugins()
    assert "vrt-fake-plugin-shadow" in warning and "ignored" in warning
