"""The example plugin package: installed with pip into a temporary site, used by child processes.

Child processes matter here: entry points are read from the installed distributions of the
interpreter that runs vrt, exactly as for a user who ``pip install``-ed a plugin.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from vrt.backbones.base import check_backbone

from .conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "vrt-plugin-example"
EXAMPLE_CONFIG = EXAMPLE / "configs" / "synthetic_plugin.yaml"

# The example config shrunk to the tiny synthetic setup of tests/conftest.py (4 frames of 32x32).
TINY_OVERRIDES = [
    "train.epochs=1",
    "train.max_steps_per_epoch=1",
    "model.backbone.width=4",
    "model.head.bits=16",
    "data.num_frames=4",
    "data.frame_size=32",
    "data.dataset.num_classes=4",
    "data.dataset.videos_per_class=4",
    "data.dataset.test_videos_per_class=2",
    "data.batch.classes_per_batch=4",
    "data.batch.videos_per_class=2",
    "data.val_fraction=0.25",
    "data.eval_batch_size=16",
]


def run_vrt(args: list[str], *, site: Path, cwd: Path) -> subprocess.CompletedProcess:
    # The checkout comes after the plugin site so the child imports this vrt even if the venv's
    # editable install points elsewhere; COLUMNS keeps rich from wrapping the names we look for.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO_ROOT)]), "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "vrt", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def row_naming(output: str, name: str) -> str:
    rows = [line for line in output.splitlines() if f"`{name}`" in line or f"| {name} |" in line]
    assert len(rows) == 1, f"expected one row for {name!r} in:\n{output}"
    return rows[0]


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example installed by pip (offline, no dependencies) into a fresh target folder."""
    root = tmp_path_factory.mktemp("plugin")
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = shutil.copytree(EXAMPLE, root / "source", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    site = root / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(site),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return site


@pytest.mark.slow
def test_installed_plugin_is_listed_with_its_distribution(plugin_site: Path, tmp_path: Path) -> None:
    backbones = run_vrt(["list", "backbones", "--format", "markdown"], site=plugin_site, cwd=tmp_path)
    assert backbones.returncode == 0, backbones.stderr
    assert "vrt-plugin-example" in row_naming(backbones.stdout, "frame_pool2d")
    assert "built-in" in row_naming(backbones.stdout, "tiny3d")

    losses = run_vrt(["list", "losses", "--format", "markdown"], site=plugin_site, cwd=tmp_path)
    assert losses.returncode == 0, losses.stderr
    assert "vrt-plugin-example" in row_naming(losses.stdout, "similarity_regression")


@pytest.mark.slow
def test_installed_plugin_trains_one_step(plugin_site: Path, tmp_path: Path) -> None:
    output = tmp_path / "run"
    overrides = list(itertools.chain.from_iterable(("--set", item) for item in TINY_OVERRIDES))
    result = run_vrt(
        ["train", str(EXAMPLE_CONFIG), "--output", str(output), *overrides], site=plugin_site, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    resolved = yaml.safe_load((output / "config.yaml").read_text())
    assert resolved["model"]["backbone"]["name"] == "frame_pool2d"
    assert [term["name"] for term in resolved["loss"]["terms"]] == ["similarity_regression", "quantization"]
    assert (output / "results.json").is_file()
    assert '"steps": 1' in (output / "metrics.jsonl").read_text()


def install_broken_distribution(site: Path) -> None:
    """A distribution whose backbone module fails to import (a dependency it lacks)."""
    dist_info = site / "vrt_broken_plugin-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: vrt-broken-plugin\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[vrt.backbones]\nbroken_net = vrt_broken_plugin:broken_net\n"
    )
    (site / "vrt_broken_plugin.py").write_text(
        textwrap.dedent(
            """
            import vrt_dependency_that_is_not_installed  # noqa: F401

            def broken_net(*, width: int = 4):
                raise AssertionError("never reached")
            """
        )
    )


@pytest.mark.slow
def test_a_plugin_that_fails_to_import_is_named_and_listing_still_works(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_broken_distribution(site)

    listing = run_vrt(["list", "backbones", "--format", "markdown"], site=site, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "built-in" in row_naming(listing.stdout, "tiny3d")
    broken_row = row_naming(listing.stdout, "broken_net")
    assert "vrt-broken-plugin" in broken_row and "vrt_dependency_that_is_not_installed" in broken_row

    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    config["model"]["backbone"] = {"name": "broken_net"}
    config["loss"] = {"name": "triplet_ranking", "margin": 4.0}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_vrt(["train", str(path), "--output", str(tmp_path / "run")], site=site, cwd=tmp_path)
    assert result.returncode != 0
    message = " ".join((result.stdout + result.stderr).split())
    assert "broken_net" in message and "vrt-broken-plugin" in message
    assert "failed to import" in message and "Traceback" not in message
    assert not (tmp_path / "run" / "last.pt").exists()


# -- the example's components, imported from the source tree (fast) -------------------------


@pytest.fixture
def example_modules(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    from vrt_plugin_example import backbone, loss

    yield backbone, loss
    for name in [m for m in sys.modules if m.startswith("vrt_plugin_example")]:
        del sys.modules[name]


def test_example_backbone_meets_the_backbone_contract(example_modules) -> None:
    backbone_module, _ = example_modules
    torch.manual_seed(0)
    net = backbone_module.frame_pool2d(**backbone_module.frame_pool2d.vrt_metadata["tiny_params"])
    check_backbone(net, name="frame_pool2d")
    t, h, w = backbone_module.frame_pool2d.vrt_metadata["tiny_input"]
    clips = torch.rand(2, 3, t, h, w, requires_grad=True)
    features = net(clips)
    assert features.shape == (2, net.out_dim)
    features.sum().backward()
    assert clips.grad is not None and torch.isfinite(clips.grad).all()


@pytest.mark.parametrize("balanced", [True, False])
def test_example_loss_matches_a_pair_loop(example_modules, balanced: bool) -> None:
    _, loss_module = example_modules
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.tanh(torch.randn(7, 8, generator=generator))
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 3])
    value = loss_module.similarity_regression(bits=8, balanced=balanced)(embeddings, labels)
    errors = {True: [], False: []}
    for i, j in itertools.permutations(range(7), 2):
        same = bool(labels[i] == labels[j])
        inner = float(embeddings[i] @ embeddings[j]) / 8
        errors[same].append((inner - (1.0 if same else -1.0)) ** 2)
    if balanced:
        expected = (sum(errors[True]) / len(errors[True]) + sum(errors[False]) / len(errors[False])) / 2
    else:
        expected = sum(errors[True] + errors[False]) / (len(errors[True]) + len(errors[False]))
    assert value.item() == pytest.approx(expected, rel=1e-5)
