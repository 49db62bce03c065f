"""vrt installs anywhere: the bundled configs are package data, found without a checkout.

The slow test builds a wheel, installs it into a fresh virtual environment and runs ``vrt demo``
from a folder with no ``configs/`` in it, as a user who ran ``pip install vrt`` would.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from vrt.cli.common import bundled_config
from vrt.config import load_config
from vrt.errors import VrtError

from .conftest import REPO_ROOT

REPO_CONFIGS = sorted(path.name for path in (REPO_ROOT / "configs").glob("*.yaml"))
# What the build reads; copied so the build leaves no build/ or egg-info in the checkout and no
# stale build/lib from an earlier build can slip into the wheel.
BUILD_INPUTS = ("pyproject.toml", "setup.py", "README.md", "vrt", "configs")


def test_bundled_configs_load_and_resolve_their_base():
    demo = load_config(bundled_config("demo_synthetic.yaml"))
    assert demo.name == "demo_synthetic"
    # synthetic_csq_32bit.yaml is demo_synthetic.yaml (its _base_) with another name and loss.
    derived = load_config(bundled_config("synthetic_csq_32bit.yaml"))
    assert derived.name == "synthetic_csq_32bit"
    assert derived.data == demo.data


def test_an_unknown_bundled_config_is_one_line_naming_the_bundled_ones():
    import vrt.configs

    # The folder vrt.configs is imported from: this checkout's configs/ under `make test`, but the
    # editable install's checkout when PYTHONPATH points at another one.
    bundled = sorted(path.name for path in Path(vrt.configs.__file__).parent.glob("*.yaml"))
    assert "demo_synthetic.yaml" in bundled
    with pytest.raises(VrtError) as raised:
        bundled_config("demo.yaml")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("no bundled config named 'demo.yaml'; bundled: ")
    assert message.split("bundled: ")[1].split(", ") == bundled


def run(command: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO_ROOT / name, source / name)
    # --no-build-isolation and --no-index: the build uses this environment's setuptools, offline.
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", "wheels", "./source"],
        cwd=tmp_path,
    )
    (wheel,) = (tmp_path / "wheels").glob("vrt-*.whl")
    return wheel


def dependency_dirs() -> list[str]:
    """Where this interpreter imports installed packages from: its site-packages and what .pth
    files add after it (this environment may itself be layered on another one that way)."""
    site_dirs = set(site.getsitepackages())
    first = next(index for index, entry in enumerate(sys.path) if entry in site_dirs)
    return [entry for entry in sys.path[first:] if Path(entry).is_dir()]


def fresh_venv_sharing_dependencies(venv: Path) -> Path:
    """A new venv without vrt that sees this environment's packages (torch & co.) through a .pth.

    The directories are added as plain paths, so an editable install of vrt in them (itself a
    .pth) stays inactive in the new venv.
    """
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv.parent)
    python = venv / "bin" / "python"
    new_site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=venv)
    (Path(new_site.strip()) / "shared-dependencies.pth").write_text("\n".join(dependency_dirs()) + "\n")
    return python


@pytest.mark.slow
def test_a_wheel_installed_in_a_fresh_venv_runs_the_demo_without_a_checkout(tmp_path):
    wheel = build_wheel(tmp_path)
    packaged = set(zipfile.ZipFile(wheel).namelist())
    assert {f"vrt/configs/{name}" for name in REPO_CONFIGS} <= packaged
    # A folder without __init__.py would import from a checkout yet be left out of the wheel.
    modules = {path.relative_to(REPO_ROOT).as_posix() for path in (REPO_ROOT / "vrt").rglob("*.py")}
    assert modules <= packaged, sorted(modules - packaged)

    python = fresh_venv_sharing_dependencies(tmp_path / "venv")
    pip_for_venv = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", python]
    run([*pip_for_venv, "install", "--no-deps", "--no-index", wheel], cwd=tmp_path)

    elsewhere = tmp_path / "elsewhere"  # no configs/ here, and not the checkout
    elsewhere.mkdir()
    # Without PYTHONPATH (which may name this checkout) only the installed vrt can be imported;
    # COLUMNS keeps rich from wrapping the table.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"} | {"COLUMNS": "120"}
    imported_from = run([python, "-c", "import vrt; print(vrt.__file__)"], cwd=elsewhere, env=env)
    assert Path(imported_from.strip()).is_relative_to(tmp_path / "venv")

    demo = [
        tmp_path / "venv" / "bin" / "vrt",
        "demo",
        "--output",
        tmp_path / "run",
        "--set",
        "train.epochs=1",
    ]
    printed = run(demo, cwd=elsewhere, env=env)
    assert "Demo: test queries vs training database" in printed
    assert "│ mAP " in printed
    assert (tmp_path / "run" / "results.json").is_file()
