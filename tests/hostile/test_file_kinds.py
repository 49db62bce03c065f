"""Messages that name the real problem in every direction: each kind of file vrt reads, given
where another kind goes, says what it is (and where it goes), in one line.

Before: a random file as --checkpoint said it "holds Python objects", a checkpoint as --codes
"missing keys [...] (has [])", a checkpoint as a config "not UTF-8 text (byte 64 ...)".
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.feature_fixtures import write_vrt_features
from tests.hostile.helpers import assert_one_line_error, snapshot, vrt
from tests.video_collection import sample_video
from vrt.codes import save_codes
from vrt.index import HammingIndex

from .conftest import random_codes

pytestmark = pytest.mark.slow

GIVEN = {  # the kind of file -> what the message calls it
    "checkpoint": "a torch checkpoint (give it to --checkpoint)",
    "codes": "a codes file (give it to `vrt eval --query/--database` or `vrt index build --codes`)",
    "index": "a vrt index (give it to `vrt search --index`)",
    "config": "a text file (it starts 'name: mine'",
    "features": "an HDF5 file (a feature file?",
    "video": "a video (give it to `vrt encode --videos` or `vrt search --query`)",
    "random": "a file of unknown binary content",
}
SLOTS = {  # where it is given -> the command, with FILE in that place
    "checkpoint": ["eval", "--checkpoint", "FILE"],
    "codes": ["index", "build", "--codes", "FILE", "--out", "OUT/new.index.npz"],
    "index": ["search", "--index", "FILE", "--query", "v1"],
    "features": [
        "features",
        "hash",
        "FILE",
        "FILE",
        "--method",
        "lsh",
        "--bits",
        "8",
        "--output",
        "OUT/hashed",
    ],
    "config": ["train", "FILE", "--output", "OUT/run"],
}


# An index holds its codes: `vrt index build --codes INDEX` reads them (a feature, not a mistake).
READABLE = {("codes", "index")}
# Where the loader has its own, more precise sentence.
OWN_WORDS = {
    ("index", "codes"): "it looks like a codes file: build an index with `vrt index build --codes FILE",
    (
        "config",
        "random",
    ): "not UTF-8 text (byte 128: invalid start byte)",  # perhaps Latin-1 text: not guessed
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("kinds")
    codes = random_codes(8)
    torch.save({"model": {"w": torch.zeros(2)}}, folder / "model.pt")
    save_codes(folder / "codes.npz", codes)
    HammingIndex.build(codes).save(folder / "videos.index.npz")
    (folder / "mine.yaml").write_text("name: mine\nmodel: {}\n")
    write_vrt_features(folder / "features.h5", count=4, seed=0)
    (folder / "clip.mp4").write_bytes(sample_video("bikes.mp4").read_bytes()[:4096])
    (folder / "random.bin").write_bytes(bytes(range(256)) * 4)
    names = [
        "model.pt",
        "codes.npz",
        "videos.index.npz",
        "mine.yaml",
        "features.h5",
        "clip.mp4",
        "random.bin",
    ]
    return dict(zip(GIVEN, (folder / name for name in names), strict=True))


@pytest.mark.parametrize("given", list(GIVEN))
@pytest.mark.parametrize("slot", list(SLOTS))
def test_a_file_of_one_kind_where_another_goes_is_named(files, tmp_path, slot, given):
    if slot == given or (slot, given) in READABLE:
        pytest.skip("a file it reads")
    path = files[given]
    before = snapshot(path.parent)
    args = [str(path) if word == "FILE" else word.replace("OUT", str(tmp_path)) for word in SLOTS[slot]]
    message = assert_one_line_error(vrt(*args), str(path), code=2)
    assert OWN_WORDS.get((slot, given), GIVEN[given]) in message
    assert snapshot(path.parent) == before and list(tmp_path.iterdir()) == []
