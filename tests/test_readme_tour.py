"""The README's short tour runs as written, in its order, in a fresh folder.

Before: `make demo` wrote `runs/demo-<time>/` while the tour used `runs/demo/best.pt`, and the
error gave no hint. Here every command of the tour's code block runs, with the paths it names,
except those that need what this machine cannot have (UCF101 under /data, several GPUs) or that
serve until stopped (`vrt serve`, tested in test_serve.py). The files a reader brings (their
videos, a query clip) are made first; training commands get a shorter schedule appended, which
changes no path.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.helpers import vrt
from tests.video_collection import REPO_ROOT
from vrt.codes import load_codes

README = REPO_ROOT / "README.md"
# Commands left out, each by a fragment of its line, and why.
NOT_HERE = {
    "/data/UCF-101": "needs UCF101 under /data",
    "torchrun --nproc_per_node 4 -m vrt train": "needs four GPUs and UCF101",
    "data.dataset.root=/moved": "shows a moved dataset; there is none",
    "vrt serve": "serves until stopped; tests/test_serve.py starts it",
}
# A shorter schedule for the commands that train (paths unchanged).
SHORTER = {
    "vrt train configs/demo_synthetic.yaml": ["--set", "train.epochs=2"],
    "vrt train --output runs/demo --resume": ["--set", "train.epochs=3"],
    "vrt train configs/own_videos_conmh.yaml": ["--set", "train.epochs=2", "--set", "train.val_every=1"],
}


def tour_commands() -> list[str]:
    """The command lines of the README's first code block after "## A short tour" (comments
    removed, continued lines joined)."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## A short tour\s+```bash\n(.*?)```", text, re.DOTALL)
    assert block, "README.md has no tour block"
    joined = block.group(1).replace("\\\n", " ")
    lines = [line.split("  #", 1)[0].split("# ", 1)[0].strip() for line in joined.splitlines()]
    return [" ".join(line.split()) for line in lines if line]


def test_the_tour_is_what_this_test_runs():
    commands = tour_commands()
    assert len(commands) >= 25 and commands[0] == "vrt list backbones"
    for fragment in [*NOT_HERE, *SHORTER]:
        assert any(fragment in command for command in commands), f"the tour no longer says {fragment!r}"


def _bring_own_files(here: Path, footage: Path) -> None:
    """What the tour assumes a reader has: their videos, a query clip, and a folder of queries."""
    for copy in ("", "again/", "once more/"):  # 21 videos: enough for 16-bit ITQ codes
        shutil.copytree(footage, here / "my_videos" / copy, dirs_exist_ok=True)
    shutil.copyfile(footage / "street" / "clip1.mp4", here / "clip.avi")  # PyAV reads by content
    (here / "clips").mkdir()
    shutil.copyfile(footage / "park" / "clip2.mp4", here / "clips" / "park.mp4")


def _run(command: str, here: Path) -> None:
    words = shlex.split(command)
    words = [match for word in words for match in (sorted(glob.glob(word)) if "*" in word else [word])]
    for start, extra in SHORTER.items():
        if command.startswith(start):
            words += extra
    if words[0] == "torchrun":
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", *words[1:], "--workers", "0"],
                              capture_output=True, text=True, cwd=here, env=env, timeout=300)  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
        return
    assert words[0] == "vrt", command
    result = vrt(*words[1:])
    assert result.code == 0, f"{command}\n{result.stderr[-3000:]}"


@pytest.mark.slow
def test_the_readme_tour_runs_as_written(footage, tmp_path, monkeypatch):
    here = tmp_path / "clone"
    here.mkdir()
    (here / "configs").symlink_to(REPO_ROOT / "configs")  # the tour runs in the clone's root
    _bring_own_files(here, footage)
    monkeypatch.chdir(here)
    ran = []
    for command in tour_commands():
        if any(fragment in command for fragment in NOT_HERE):
            continue
        if "more.npz" in command:  # the tour's "more" videos: encoded by the tour's own command
            _run("vrt encode --checkpoint runs/demo/best.pt --videos clips/ --out more.npz", here)
        _run(command, here)
        ran.append(command)
    assert len(ran) == len(tour_commands()) - 5
    assert len(load_codes("mine.npz")) + 1 == len(load_codes("mine.index.npz")) == 22
    assert Path("results.html").is_file() and Path("runs/itq/codes_test.npz").is_file()
