"""Every CLI option that names an output goes through the writer guard: each one, given a file or a
folder of the user's own, refuses in one line and leaves it untouched.

The options are found by walking the command line (every option called ``--out``, ``--output``,
``--html`` or ``--dst``), so an output option added later without a case here fails the first test.
Before: ``vrt search --html precious.mp4`` turned the video into HTML and exited 0.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.feature_fixtures import write_vrt_features
from tests.hostile.helpers import assert_one_line_error, snapshot, tiny_config, vrt
from vrt.codes import save_codes

from .conftest import random_codes

pytestmark = pytest.mark.slow

OUTPUT_NAMES = {"--out", "--output", "--html", "--dst"}
PRECIOUS = b"\x00\x00\x00\x18ftypmp42 my holiday video"


def cli_output_options() -> set[tuple[str, str]]:
    """(command, option) for every option of the CLI that names where it writes."""
    from typer.main import get_command

    from vrt.cli import app

    found = set()

    def walk(command, context, name: str) -> None:  # noqa: ANN001 - click's (or typer's own) types
        if hasattr(command, "list_commands"):
            for sub_name in command.list_commands(context):
                sub = command.get_command(context, sub_name)
                walk(sub, type(context)(sub, parent=context), f"{name} {sub_name}".strip())
            return
        for parameter in command.params:
            found.update(
                (name, option) for option in getattr(parameter, "opts", ()) if option in OUTPUT_NAMES
            )

    root = get_command(app)
    walk(root, root.context_class(root), "")
    return found


@pytest.fixture
def material(tmp_path, trained_run, encoder_checkpoint, footage) -> dict[str, Path]:
    """Valid inputs for every command, so that only the output is wrong."""
    q, db = (
        save_codes(tmp_path / "q.npz", random_codes(6, seed=1)),
        save_codes(tmp_path / "db.npz", random_codes(30)),
    )
    assert vrt("index", "build", "--codes", db, "--out", tmp_path / "db.index.npz").code == 0
    assert vrt("index", "build", "--codes", q, "--out", tmp_path / "q.index.npz").code == 0
    features = write_vrt_features(tmp_path / "f.h5", count=24, seed=0)
    return {
        "q": q, "db": db, "index": tmp_path / "db.index.npz", "q_index": tmp_path / "q.index.npz",
        "features": features, "run": trained_run, "checkpoint": encoder_checkpoint, "footage": footage,
        "config": tiny_config(tmp_path / "tiny.yaml"),
    }  # fmt: skip


# (command, option) -> whether it writes a file or a folder, and its arguments but the output.
Args = Callable[[dict[str, Path]], list[object]]
CASES: dict[tuple[str, str], tuple[str, Args]] = {
    ("train", "--output"): ("folder", lambda m: ["train", m["config"]]),
    ("demo", "--output"): ("folder", lambda m: ["demo"]),
    ("eval", "--output"): ("folder", lambda m: ["eval", "--query", m["q"], "--database", m["db"]]),
    ("features hash", "--output"): (
        "folder",
        lambda m: ["features", "hash", m["features"], m["features"], "--method", "lsh", "--bits", "8"],
    ),  # fmt: skip
    ("prepare frames", "--dst"): ("folder", lambda m: ["prepare", "frames", "--src", m["footage"]]),
    ("export", "--out"): (
        "file",
        lambda m: ["export", "--checkpoint", m["run"] / "best.pt", "--split", "test"],
    ),
    ("encode", "--out"): (
        "file",
        lambda m: ["encode", "--checkpoint", m["checkpoint"], "--videos", m["footage"]],
    ),
    ("search", "--html"): ("file", lambda m: ["search", "--index", m["index"], "--query", m["q"]]),
    ("codes merge", "--out"): ("file", lambda m: ["codes", "merge", m["q"], m["db"]]),
    ("features extract", "--out"): (
        "file",
        lambda m: ["features", "extract", "--checkpoint", m["checkpoint"], "--videos", m["footage"]],
    ),  # fmt: skip
    ("index build", "--out"): ("file", lambda m: ["index", "build", "--codes", m["db"]]),
    ("index merge", "--out"): ("file", lambda m: ["index", "merge", m["index"], m["q_index"]]),
}


def test_every_output_option_of_the_cli_has_a_case():
    assert cli_output_options() == set(CASES)


@pytest.mark.parametrize("case", sorted(CASES), ids=lambda case: f"{case[0]} {case[1]}".replace(" ", "_"))
def test_every_output_option_refuses_what_vrt_did_not_write(case, material, tmp_path):
    kind, arguments = CASES[case]
    users = tmp_path / "users"
    users.mkdir()
    if kind == "file":
        target = users / "precious.mp4"
        target.write_bytes(PRECIOUS)
    else:
        target = users / "mine"
        target.mkdir()
        (target / "notes.txt").write_text("my notes\n")
        (target / "holiday.mp4").write_bytes(PRECIOUS)
    before = snapshot(users)
    result = vrt(*arguments(material), case[1], target)
    assert_one_line_error(result, case[1], str(target))
    assert snapshot(users) == before and sorted(path.name for path in users.iterdir()) == [target.name]
