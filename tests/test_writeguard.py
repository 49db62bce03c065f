"""The writer guard itself (vrt.runtime.writeguard), case by case: what every writer checks before
it replaces a path. The CLI's use of it is tested in tests/hostile/test_every_output.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from vrt.errors import OutputError
from vrt.runtime.writeguard import check_output_folder, check_replaceable, output_path

from .conftest import exact_message


def is_mine(path: Path) -> bool:
    return path.is_file() and path.read_text() == "mine"


@pytest.mark.parametrize("text", ["", " ", "\t\n"])
def test_an_empty_or_blank_path_is_refused(text):
    with pytest.raises(
        OutputError, match=r"^--out is empty \(.*\); give a path \(is a shell variable unset\?\)$"
    ):
        output_path(text, option="--out")


def test_a_path_is_taken_as_given():
    assert output_path(" a b.npz", option="--out") == Path(" a b.npz")


def test_a_file_is_replaced_only_when_it_is_the_writers_own(tmp_path):
    target = tmp_path / "codes.npz"
    check_replaceable(target, kind="codes file", is_own=is_mine)  # new: fine
    target.write_text("mine")
    check_replaceable(target, kind="codes file", is_own=is_mine)  # its own kind: fine
    target.write_text("the user's")
    with pytest.raises(OutputError) as refused:
        check_replaceable(target, kind="codes file", is_own=is_mine, option="--html")
    assert str(refused.value) == (
        f"--html {target} exists and is not a codes file; vrt replaces only a codes file there: "
        "choose another name, or pass --force to replace it"
    )
    check_replaceable(target, kind="codes file", is_own=is_mine, force=True)  # forced: fine
    with pytest.raises(OutputError, match="is not an index file; vrt replaces only an index file"):
        check_replaceable(target, kind="index file", is_own=is_mine)  # "an" before a vowel


@pytest.mark.parametrize("force", [False, True])
def test_a_folder_is_never_replaced_by_a_file_even_forced(tmp_path, force):
    (tmp_path / "only.txt").write_text("one file")  # a folder holding one file is still a folder
    with pytest.raises(OutputError) as refused:
        check_replaceable(tmp_path, kind="codes file", is_own=lambda path: True, force=force)
    assert (
        str(refused.value)
        == f"--out {tmp_path} is a folder; a codes file is written to a file: give its name"
    )


def test_a_folder_is_written_into_when_new_empty_its_own_or_forced(tmp_path):
    check_output_folder(tmp_path / "new", what="results", is_own=lambda folder: False)
    (tmp_path / "empty").mkdir()
    check_output_folder(tmp_path / "empty", what="results", is_own=lambda folder: False)
    own = tmp_path / "own"
    own.mkdir()
    (own / "results.json").write_text("{}")
    check_output_folder(own, what="results", is_own=lambda folder: (folder / "results.json").is_file())
    check_output_folder(own, what="results", is_own=lambda folder: False, force=True)


def test_a_folder_of_other_files_is_refused_naming_three_of_them(tmp_path):
    for name in ("d.txt", "a.txt", "c.txt", "b.txt"):
        (tmp_path / name).write_text("x")
    with pytest.raises(OutputError) as refused:
        check_output_folder(tmp_path, what="results", is_own=lambda folder: False, option="--dst")
    assert str(refused.value) == (
        f"--dst {tmp_path} holds files vrt did not write (a.txt, b.txt, c.txt, ...); give a new or empty "
        "folder for the results, or pass --force to write there all the same"
    )
    (tmp_path / "d.txt").unlink()
    with pytest.raises(OutputError, match=r"\(a\.txt, b\.txt, c\.txt\); give"):  # three: no "..."
        check_output_folder(tmp_path, what="results", is_own=lambda folder: False)


@pytest.mark.parametrize("force", [False, True])
def test_a_file_where_a_folder_goes_is_refused_even_forced(tmp_path, force):
    target = tmp_path / "results"
    target.write_text("the user's")
    with pytest.raises(OutputError) as refused:
        check_output_folder(target, what="results", is_own=lambda folder: True, force=force)
    assert str(refused.value) == f"--output {target} is a file, not a folder; give a folder for the results"


# Edges that mutation testing (make mutation) found untested.


@pytest.mark.parametrize(("kind", "one"), [("index file", "an index file"), ("codes file", "a codes file")])
def test_the_writer_guard_names_the_kind_it_replaces_with_its_article(tmp_path, kind, one):
    target = tmp_path / "taken"
    target.write_text("the user's")
    message = (
        f"--out {target} exists and is not {one}; vrt replaces only {one} there: "
        "choose another name, or pass --force to replace it"
    )
    with pytest.raises(OutputError, match=exact_message(message)):
        check_replaceable(target, kind=kind, is_own=lambda path: False)
