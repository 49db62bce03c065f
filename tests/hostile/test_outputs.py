"""Never touch what vrt did not write: every writer against folders and files that are not its own.

``vrt train`` writes only into a new or empty folder or one of its runs (``vrt-run.json``);
``export``, ``index build`` (test_indexes.py), ``eval --output`` and ``prepare frames``
replace only their own kind of file unless ``--force``; an empty path is refused, never read as
the current folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.datasets_fixtures import write_source_video
from tests.hostile.helpers import assert_one_line_error, snapshot, tiny_config, vrt
from vrt.codes import is_codes_file, load_codes

pytestmark = pytest.mark.slow

USER_FILES = {
    "config.yaml": "my settings\n",
    "results.json": "{}\n",
    "best.pt": "mine\n",
    "codes_test.npz": "x",
}


def users_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, text in USER_FILES.items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("command", ["train", "demo"])
def test_a_folder_of_the_users_own_files_is_refused_untouched(tmp_path, command):
    folder = users_folder(tmp_path / "mine")
    before = snapshot(folder)
    args = ["train", tiny_config(tmp_path / "c.yaml")] if command == "train" else ["demo"]
    result = vrt(*args, "--output", folder)
    assert_one_line_error(
        result, f"--output {folder} is not empty and is not a vrt run (4 entries: best.pt, codes_test.npz"
    )
    assert snapshot(folder) == before


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_output_path_is_refused_not_taken_for_the_current_folder(tmp_path, monkeypatch, text):
    monkeypatch.chdir(users_folder(tmp_path / "cwd"))
    before = snapshot(tmp_path)
    assert_one_line_error(
        vrt("train", tiny_config(tmp_path / "c.yaml"), "--output", text), f"--output is empty ({text!r})"
    )
    assert snapshot(tmp_path) == {**before, "c.yaml": snapshot(tmp_path)["c.yaml"]}


def test_an_output_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "run").write_text("not a folder\n")
    result = vrt("train", tiny_config(tmp_path / "c.yaml"), "--output", tmp_path / "run")
    assert_one_line_error(result, f"--output {tmp_path / 'run'} is a file, not a folder")
    assert (tmp_path / "run").read_text() == "not a folder\n"


def test_a_finished_run_is_not_overwritten_without_resume(tree, trained_run):
    before = snapshot(trained_run)
    result = vrt("train", tree.clean, "--output", trained_run)
    assert_one_line_error(result, f"{trained_run} already holds a run; pass --resume to continue it")
    assert snapshot(trained_run) == before


def test_resume_of_a_folder_that_holds_no_run(tmp_path):
    folder = users_folder(tmp_path / "mine")
    before = snapshot(folder)
    result = vrt("train", "--output", folder, "--resume")
    assert_one_line_error(result, f"cannot resume {folder}: it holds no vrt run (no vrt-run.json)")
    assert snapshot(folder) == before


# -- vrt export --out ------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["folder", "user-file", "index-file", "empty"])
def test_export_never_replaces_what_is_not_a_codes_file(trained_run, codes_pair, tmp_path, target):
    out = {"folder": tmp_path / "folder", "empty": ""}.get(target, tmp_path / "out.npz")
    if target == "folder":
        out.mkdir()
    elif target == "user-file":
        out.write_text("my notes\n")
    elif target == "index-file":
        assert vrt("index", "build", "--codes", codes_pair[1], "--out", out).code == 0
    expected = {
        "folder": f"--out {out} is a folder; a codes file is written to a file",
        "user-file": f"--out {out} exists and is not a codes file; vrt replaces only a codes file there",
        "index-file": f"--out {out} exists and is not a codes file",
        "empty": "--out is empty ('')",
    }[target]
    before = snapshot(tmp_path)
    result = vrt("export", "--checkpoint", trained_run / "best.pt", "--split", "test", "--out", out)
    assert_one_line_error(result, expected)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("existing", ["same-items", "other-items", "forced"])
def test_export_replaces_a_codes_file_and_with_force_anything(trained_run, codes_pair, tmp_path, existing):
    out = tmp_path / "out.npz"
    export = ("export", "--checkpoint", trained_run / "best.pt", "--split", "test", "--out", out)
    if existing == "same-items":
        assert vrt(*export).code == 0
    elif existing == "other-items":  # 6 items the new codes lack: dropped only on request
        out.write_bytes(codes_pair[0].read_bytes())
        before = snapshot(tmp_path)
        assert_one_line_error(
            vrt(*export), f"--out {out} is a codes file of 6 items, 6 of which the new one lacks"
        )
        assert snapshot(tmp_path) == before
    else:
        out.write_text("my notes\n")
    force = ["--force"] if existing != "same-items" else []
    result = vrt(*export, *force)
    assert result.code == 0, result.stderr
    assert is_codes_file(out) and list(load_codes(out).ids) == ["a/a3.avi", "b/b3.avi"]


# -- vrt eval --output ------------------------------------------------------------------------


def test_eval_output_refuses_a_folder_of_other_files(codes_pair, tmp_path):
    folder = users_folder(tmp_path / "mine")
    before = snapshot(folder)
    result = vrt("eval", "--query", codes_pair[0], "--database", codes_pair[1], "--output", folder)
    assert_one_line_error(
        result, f"--output {folder} holds files vrt did not write (best.pt, codes_test.npz, config.yaml, ...)"
    )
    assert snapshot(folder) == before


@pytest.mark.parametrize("again", ["its-own-results", "forced"])
def test_eval_output_replaces_its_own_results_and_with_force_writes_anywhere(codes_pair, tmp_path, again):
    folder = tmp_path / "eval"
    args = ["eval", "--query", codes_pair[0], "--database", codes_pair[1], "--no-plots"]
    if again == "its-own-results":
        assert vrt(*args, "--output", folder).code == 0
    else:
        users_folder(folder)
    result = vrt(*args, "--output", folder, *(["--force"] if again == "forced" else []))
    assert result.code == 0, result.stderr
    assert json.loads((folder / "results.json").read_text())["schema"].startswith("vrt.results/")
    if again == "forced":
        assert (folder / "config.yaml").read_text() == USER_FILES["config.yaml"]  # only its own names written


# -- vrt prepare frames --dst -----------------------------------------------------------------


@pytest.mark.parametrize("force", [False, True])
def test_prepare_frames_leaves_a_users_folder_in_a_videos_place_alone_unless_forced(tmp_path, force):
    write_source_video(tmp_path / "src", "clip.avi", num_frames=3)
    mine = users_folder(tmp_path / "dst" / "clip")
    before = snapshot(mine)
    command = ["prepare", "frames", "--src", tmp_path / "src", "--dst", tmp_path / "dst"]
    if not force:  # a folder of the user's as --dst: refused as a whole, before any video
        message = assert_one_line_error(
            vrt(*command), f"--dst {tmp_path / 'dst'} holds files vrt did not write"
        )
        assert "pass --force" in message and snapshot(mine) == before
        (tmp_path / "dst" / ".vrt-frames").touch()  # an earlier run's --dst: each video's place is checked
    result = vrt(*command, *(["--force"] if force else []))
    if force:
        assert result.code == 0, result.stderr
        assert sorted(p.name for p in mine.iterdir()) == [".done", "00001.jpg", "00002.jpg", "00003.jpg"]
    else:
        assert result.code == 1 and "Traceback" not in result.stderr
        assert f"{mine} exists and was not written by vrt prepare (no .done marker)" in result.stdout
        assert snapshot(mine) == before


def test_prepare_frames_refuses_an_empty_destination(tmp_path):
    write_source_video(tmp_path / "src", "clip.avi", num_frames=3)
    assert_one_line_error(
        vrt("prepare", "frames", "--src", tmp_path / "src", "--dst", ""), "--dst is empty ('')"
    )


def test_search_html_never_replaces_a_file_vrt_did_not_write(tmp_path, codes_pair):
    """`vrt search --html precious.mp4` wrote HTML over the video and said "Wrote precious.mp4"."""
    index = tmp_path / "db.index.npz"
    assert vrt("index", "build", "--codes", codes_pair[1], "--out", index).code == 0
    precious = tmp_path / "precious.mp4"
    precious.write_bytes(b"\x00\x00\x00\x18ftypmp42 my holiday")
    before = snapshot(tmp_path)
    search = ("search", "--index", index, "--query", "v3", "--html")
    assert_one_line_error(
        vrt(*search, precious), f"--html {precious} exists and is not a results page", "--force"
    )
    assert snapshot(tmp_path) == before
    page = tmp_path / "results.html"
    assert vrt(*search, page).code == 0 and vrt(*search, page).code == 0  # its own page: replaced
    assert vrt(*search, precious, "--force").code == 0 and precious.read_bytes().startswith(
        b"<!DOCTYPE html>"
    )
