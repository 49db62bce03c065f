"""benchmarks/recipes.py: the rows called the recipes "now" are what the shipped configs train."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from vrt.config import config_from_dict, config_to_dict

from .conftest import benchmark_script


@pytest.fixture(scope="module")
def recipes():
    yield from benchmark_script("recipes.py")


def resolved(recipes, variant, tmp_path: Path) -> dict:
    raw = recipes.variant_config(variant, data=tmp_path, seed=0, overrides=[])
    resolved = config_to_dict(config_from_dict(raw))
    resolved.pop("name")
    return resolved


@pytest.mark.parametrize(
    ("label", "config"),
    [("demo_centres", "demo_synthetic.yaml"), ("reference_csq200_adam", "ucf101_48bit.yaml")],
)
def test_the_recipe_called_now_is_the_configs_own(recipes, label, config, tmp_path):
    (variant,) = recipes.variants(None, [label])
    assert variant.source == config
    # The config alone (no change on top) trains exactly what the row measured.
    assert resolved(recipes, replace(variant, recipe={}), tmp_path) == resolved(recipes, variant, tmp_path)
    assert "**" in variant.description and "now" in variant.description


def test_the_rows_before_pin_the_old_recipes(recipes, tmp_path):
    (before,) = recipes.variants(None, ["reference_before"])
    config = resolved(recipes, before, tmp_path)
    assert config["loss"]["name"] == "triplet_ranking" and config["train"]["optimizer"]["name"] == "sgd"
    assert config["train"]["grad_clip"] == 10.0
