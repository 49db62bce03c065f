"""docs/models.md is generated from the registries; it must match what the code registers."""

from __future__ import annotations

from typer.testing import CliRunner

from vrt.cli import app
from vrt.registry import REGISTRIES
from vrt.reporting.models import model_table_markdown

from .conftest import REPO_ROOT


def test_models_doc_is_current():
    expected = model_table_markdown(REGISTRIES.values())
    current = (REPO_ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    assert current == expected, "docs/models.md is stale: run `vrt list --format markdown > docs/models.md`"


def test_markdown_listing_is_what_the_cli_prints():
    result = CliRunner().invoke(app, ["list", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert result.stdout == model_table_markdown(REGISTRIES.values())


def test_every_registered_entry_appears():
    text = model_table_markdown(REGISTRIES.values())
    for registry in REGISTRIES.values():
        for name in registry.names():
            assert f"`{name}`" in text
