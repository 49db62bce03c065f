"""Codes that know their model: the record every codes file and index carries, and the one check
that refuses codes of another model (with one line) unless --force."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from vrt.cli import app
from vrt.codes import (
    CodeSet,
    CodesWarning,
    EncoderIdentity,
    IncomparableCodesError,
    check_comparable,
    load_codes,
    save_codes,
)

cli = CliRunner()
MODEL = EncoderIdentity(
    checkpoint_sha256="a" * 64,
    backbone={"name": "tiny3d", "width": 8},
    head={"name": "linear", "bits": 16},
    bits=16,
    clips={"num_frames": 8, "frame_size": 32, "resize_short": 37, "decoder": {"name": "pyav"}},
    checkpoint="runs/a/best.pt",
)


def codes(encoder: EncoderIdentity | None, *, bits: int = 16, prefix: str = "v") -> CodeSet:
    bits_array = np.random.default_rng(0).random((4, bits)) > 0.5
    return CodeSet.from_bits(
        bits_array, labels=[0, 1, 0, 1], ids=[f"{prefix}{i}" for i in range(4)], encoder=encoder
    )


def invoke(*args) -> tuple[int, str]:
    result = cli.invoke(app, [str(arg) for arg in args])
    return result.exit_code, str(result.exception) if result.exception is not None else result.stderr


def test_the_identity_survives_a_codes_file_and_names_what_differs(tmp_path):
    save_codes(tmp_path / "a.npz", codes(MODEL))
    assert load_codes(tmp_path / "a.npz").encoder == MODEL
    assert MODEL.differences(replace(MODEL, checkpoint="elsewhere/best.pt")) == []  # a copy is the same model
    other = replace(MODEL, checkpoint_sha256="b" * 64, clips={**MODEL.clips, "num_frames": 16})
    assert MODEL.differences(other) == ["checkpoint_sha256", "clips"]
    with pytest.raises(
        IncomparableCodesError, match=r"^q and db come from different models \(their checkpoint, clip"
    ):
        check_comparable(codes(MODEL), codes(other), first_name="q", second_name="db")
    said = []
    check_comparable(
        codes(MODEL), codes(other), first_name="q", second_name="db", force=True, warn=said.append
    )
    assert len(said) == 1 and said[0].endswith("compared anyway (--force)")
    with pytest.raises(IncomparableCodesError, match="q hold 16-bit codes but db 32-bit codes"):
        check_comparable(codes(MODEL), codes(MODEL, bits=32), first_name="q", second_name="db", force=True)


def test_codes_without_a_record_load_and_are_compared_with_a_warning(tmp_path):
    save_codes(tmp_path / "old.npz", codes(None))
    old = load_codes(tmp_path / "old.npz")
    assert old.encoder is None
    with pytest.warns(CodesWarning, match="old.npz records no model .* cannot be checked"):
        check_comparable(old, codes(MODEL), first_name="old.npz", second_name="the index")


def test_a_legacy_encode_record_still_identifies_its_checkpoint():
    legacy = {
        "format": "vrt-encode",
        "checkpoint_sha256": "a" * 64,
        "clips": {"num_frames": 8, "frame_size": 32, "augment": {"resize_short": 37, "flip": True}},
        "labels": "auto",
    }
    identity = EncoderIdentity.from_dict(legacy)
    assert identity.checkpoint_sha256 == "a" * 64 and identity.clips["resize_short"] == 37
    assert identity.differences(MODEL) == []  # the facts it records agree
    assert identity.differences(replace(MODEL, checkpoint_sha256="c" * 64)) == ["checkpoint_sha256"]
    with pytest.raises(ValueError, match="not an encoder record"):
        EncoderIdentity.from_dict({"format": "something else"})


@pytest.fixture(scope="module")
def two_models(footage, encoder_checkpoint, tmp_path_factory):
    """Codes and an index of one model, codes and a checkpoint of another."""
    from .video_collection import save_untrained_checkpoint

    folder = tmp_path_factory.mktemp("two_models")
    other = save_untrained_checkpoint(folder / "other" / "best.pt", seed=1)
    for checkpoint, out in ((encoder_checkpoint, "mine.npz"), (other, "theirs.npz")):
        code, said = invoke(
            "encode", "--checkpoint", checkpoint, "--videos", footage / "street", "--out", folder / out
        )
        assert code == 0, said
    code, said = invoke("index", "build", "--codes", folder / "mine.npz", "--out", folder / "mine.index.npz")
    assert code == 0, said
    return {
        "folder": folder,
        "mine": encoder_checkpoint,
        "other": other,
        "video": footage / "more" / "clip4.mp4",
    }


def test_an_index_knows_its_model_and_refuses_codes_and_checkpoints_of_another(two_models, tmp_path):
    import shutil

    folder = two_models["folder"]
    index = tmp_path / "mine.index.npz"
    shutil.copy(folder / "mine.index.npz", index)
    info = json.loads(cli.invoke(app, ["index", "info", str(index)]).stdout)
    assert info["encoder"]["checkpoint"] == str(two_models["mine"])
    assert info["encoder"]["model"].startswith("tiny3d + linear, 32 bits, checkpoint ")

    code, said = invoke("index", "add", "--index", index, "--codes", folder / "theirs.npz")
    assert code != 0 and "come from different models (their checkpoint differs" in said and "\n" not in said
    assert len(load_codes(index)) == 3  # nothing was added (street/ holds three clips)
    result = cli.invoke(
        app,
        [
            "index",
            "add",
            "--index",
            str(index),
            "--codes",
            str(folder / "theirs.npz"),
            "--force",
            "--replace",
        ],
    )
    assert (
        result.exit_code == 0 and "warning:" in result.stderr and "compared anyway (--force)" in result.stderr
    )

    search = ["search", "--index", folder / "mine.index.npz", "--query", two_models["video"], "--json"]
    code, said = invoke(*search, "--checkpoint", two_models["other"])
    assert (
        code != 0 and f"the checkpoint {two_models['other']} and the index come from different models" in said
    )
    code, _ = invoke(*search, "--checkpoint", two_models["mine"])
    assert code == 0
    forced = cli.invoke(app, [str(arg) for arg in (*search, "--checkpoint", two_models["other"], "--force")])
    assert forced.exit_code == 0 and "compared anyway (--force)" in forced.stderr


def test_the_search_app_refuses_a_checkpoint_of_another_model(two_models):
    from vrt.serve.service import SearchService

    index = two_models["folder"] / "mine.index.npz"
    with pytest.raises(IncomparableCodesError, match="come from different models"):
        SearchService.open(index, two_models["other"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SearchService.open(index, two_models["other"], force=True)
    assert any("compared anyway" in str(warning.message) for warning in caught)
    SearchService.open(index, two_models["mine"])


def test_changed_clip_settings_make_another_model(two_models, footage, tmp_path):
    # Codes of 6-frame clips are not the index's 4-frame ones, even from the same weights.
    out = tmp_path / "short.npz"
    encode = ["encode", "--checkpoint", two_models["mine"], "--videos", footage / "more", "--out", out]
    code, said = invoke(*encode, "--set", "data.num_frames=6")
    assert code == 0, said
    code, said = invoke("index", "add", "--index", two_models["folder"] / "mine.index.npz", "--codes", out)
    assert code != 0 and "(their clip settings differ" in said
