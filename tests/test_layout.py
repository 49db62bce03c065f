"""The package layout the README describes: dependencies point one way, modules stay focused."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from .conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "vrt"


def layers_from_readme() -> list[str]:
    """The README's layout block, top to bottom: ``cli``, ``training``, ..., ``errors``."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index("## Layout") :]
    block = block[block.index("```text") : block.index("```", block.index("```text") + 7)]
    return re.findall(r"^vrt/(\w+)", block, flags=re.M)


def imported_units(path: Path) -> set[str]:
    """The top-level vrt units (``config``, ``codes``, ...) a module imports, anywhere in it."""
    units = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "vrt":
            names = [f"vrt.{a.name}" for a in node.names] if node.module == "vrt" else [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        units |= {name.split(".")[1] for name in names if name.startswith("vrt.") and name.count(".") >= 1}
    return units


def test_the_readme_lists_every_package_and_module_once():
    listed = layers_from_readme()
    present = {p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    present |= {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert sorted(listed) == sorted(present)


def test_every_import_points_down_the_layout():
    order = {unit: rank for rank, unit in enumerate(layers_from_readme())}
    upward = []
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        unit = parts[0]
        if unit not in order:
            continue
        upward += [
            f"{path.relative_to(REPO_ROOT)} imports vrt.{other}"
            for other in imported_units(path)
            if other in order and order[other] < order[unit]
        ]
    assert not upward, upward


def modules_named(path: Path) -> set[str]:
    """The vrt modules a file names in strings, to import them by name (``importlib.import_module``,
    a registry's built-in package): every string that is the dotted path of a vrt module or
    package, but for the entry-point groups that plugins advertise in (names, not modules)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    groups = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg == "entry_point_group"
    }
    named = set()
    for node in ast.walk(tree):
        texts = []
        if id(node) in groups:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append(node.value)
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            texts.append(str(node.values[0].value).rstrip("."))  # f"vrt.cli.{name}": at least vrt.cli
        for text in texts:
            parts = text.split(".")
            target = PACKAGE.parent.joinpath(*parts)
            if re.fullmatch(r"vrt(\.\w+)+", text) and (
                target.with_suffix(".py").is_file() or target.is_dir()
            ):
                named.add(parts[1])
    return named


def test_no_module_imports_a_layer_above_it_by_name():
    """``importlib.import_module("vrt.training...")`` is an import the first test cannot see."""
    order = {unit: rank for rank, unit in enumerate(layers_from_readme())}
    upward = []
    for path in PACKAGE.rglob("*.py"):
        unit = path.relative_to(PACKAGE).with_suffix("").parts[0]
        if unit not in order:  # vrt/__init__.py, the root, declares what the registries import
            continue
        upward += [
            f"{path.relative_to(REPO_ROOT)} names vrt.{other} to import it"
            for other in modules_named(path)
            if other in order and order[other] < order[unit]
        ]
    assert not upward, upward


def test_the_by_name_check_sees_a_registry_naming_its_package(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        'BACKBONES = Registry("backbones", entry_point_group="vrt.backbones", builtin="vrt.backbones")\n'
        'importlib.import_module(f"vrt.training.{name}")\n'
    )
    assert modules_named(planted) == {"backbones", "training"}


def test_at_most_eight_top_level_modules_and_none_over_400_lines():
    top = [p.name for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")]
    assert len(top) <= 8, top
    long = {
        str(p.relative_to(REPO_ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long, long


def test_the_run_directory_table_in_the_docs_is_current():
    from vrt.rundir import run_files_markdown

    text = (REPO_ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    assert run_files_markdown() in text, "docs/training.md: paste vrt.rundir.run_files_markdown() again"
