from __future__ import annotations

import urllib.error

import pytest
import torch
from torch import nn

from vrt.backbones import (
    KINETICS_NORMALIZATION,
    Normalization,
    PretrainedWeightsError,
    PretrainedWeightsWarning,
    check_backbone,
    load_pretrained,
)
from vrt.registry import BACKBONES

SMALL_CLIPS = (2, 3, 4, 32, 32)


def test_builtin_backbones_are_registered() -> None:
    assert {"r3d_18", "tiny3d"} <= set(BACKBONES.names())


@pytest.mark.parametrize("name", BACKBONES.names())
def test_backbone_contract_forward_and_gradients(name: str) -> None:
    torch.manual_seed(0)
    backbone = BACKBONES.get(name)()
    check_backbone(backbone, name=name)
    clips = torch.rand(*SMALL_CLIPS, requires_grad=True)

    features = backbone(clips)

    assert features.shape == (SMALL_CLIPS[0], backbone.out_dim)
    assert torch.isfinite(features).all()
    features.square().sum().backward()
    grads = [p.grad for p in backbone.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert clips.grad is not None and clips.grad.abs().sum() > 0


def test_r3d_18_metadata() -> None:
    backbone = BACKBONES.get("r3d_18")()
    assert backbone.out_dim == 512
    assert backbone.normalization == KINETICS_NORMALIZATION
    assert isinstance(backbone.fc, nn.Identity)


def test_tiny3d_width_sets_out_dim() -> None:
    assert BACKBONES.get("tiny3d")(width=8).out_dim == 32


def test_normalization_is_validated() -> None:
    with pytest.raises(ValueError, match="std"):
        Normalization(mean=(0.5, 0.5, 0.5), std=(0.2, 0.0, 0.2))
    with pytest.raises(ValueError, match="3"):
        Normalization(mean=(0.5, 0.5), std=(0.2, 0.2))  # type: ignore[arg-type]


# -- pretrained weights -------------------------------------------------------------------------


def _tiny(**kwargs: object) -> nn.Module:
    return BACKBONES.get("tiny3d")(width=4, **kwargs)


def _assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("name", BACKBONES.names())
def test_local_state_dict_round_trip(name: str, tmp_path) -> None:
    torch.manual_seed(1)
    source = BACKBONES.get(name)()
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)

    torch.manual_seed(2)
    loaded = BACKBONES.get(name)(pretrained=str(path))

    _assert_same_weights(source, loaded)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3, "arch": "tiny3d"},
        lambda sd: {"model": sd, "optimizer": {}},
        lambda sd: {f"_orig_mod.{k}": v for k, v in sd.items()},
        lambda sd: {**{f"backbone.{k}": v for k, v in sd.items()}, "head.fc.weight": torch.zeros(8, 16)},
    ],
    ids=["state_dict+module", "model", "torch.compile", "vrt-hashing-model"],
)
def test_checkpoint_containers_and_prefixes_are_unwrapped(wrap, tmp_path) -> None:
    torch.manual_seed(1)
    source = _tiny()
    path = tmp_path / "checkpoint.pth"
    torch.save(wrap(source.state_dict()), path)

    torch.manual_seed(2)
    loaded = _tiny(pretrained=str(path))

    _assert_same_weights(source, loaded)


def test_missing_and_unexpected_keys_are_reported(tmp_path) -> None:
    state = _tiny().state_dict()
    first_conv = "features.0.weight"
    del state[first_conv]
    state["extra.weight"] = torch.zeros(3)
    path = tmp_path / "partial.pt"
    torch.save(state, path)

    target = _tiny()
    with pytest.warns(PretrainedWeightsWarning) as record:
        report = load_pretrained(target, str(path), name="tiny3d")

    messages = [str(w.message) for w in record]
    assert any("1 model tensor(s) missing" in m and first_conv in m for m in messages)
    assert any("1 checkpoint tensor(s) not used" in m and "extra.weight" in m for m in messages)
    assert report is not None
    assert report.missing == [first_conv] and report.unexpected == ["extra.weight"]


def test_shape_mismatch_fails_unless_strict_shapes_is_false(tmp_path) -> None:
    path = tmp_path / "wider.pt"
    torch.manual_seed(1)
    torch.save(BACKBONES.get("tiny3d")(width=8).state_dict(), path)

    with pytest.raises(
        PretrainedWeightsError,
        match=r"features\.0\.weight: checkpoint \[8, 3, 3, 3, 3\] vs model \[4, 3, 3, 3, 3\]",
    ):
        _tiny(pretrained=str(path))

    # Same width, different head of the first block only: everything else must load.
    state = _tiny().state_dict()
    state["features.0.weight"] = torch.zeros(5, 3, 3, 3, 3)
    torch.save(state, path)
    with pytest.warns(PretrainedWeightsWarning, match="1 tensor\\(s\\) skipped for shape mismatch"):
        loaded = _tiny(pretrained=str(path), strict_shapes=False)
    assert loaded.features[0].weight.shape == (4, 3, 3, 3, 3)
    torch.testing.assert_close(loaded.features[3].weight, state["features.3.weight"], rtol=0, atol=0)


def test_checkpoint_of_another_architecture_fails(tmp_path) -> None:
    path = tmp_path / "other.pt"
    torch.save(nn.Linear(3, 4).state_dict(), path)
    with pytest.raises(PretrainedWeightsError, match="none of the 2 tensors"):
        _tiny(pretrained=str(path))


def test_unknown_name_or_missing_file_fails_clearly(tmp_path) -> None:
    with pytest.raises(
        PretrainedWeightsError, match="neither a named weight .*'kinetics400'.* nor an existing file"
    ):
        BACKBONES.get("r3d_18")(pretrained=str(tmp_path / "nope.pth"))
    with pytest.raises(PretrainedWeightsError, match=r"available: none"):
        _tiny(pretrained="kinetics400")


def test_unreadable_file_fails_clearly(tmp_path) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedWeightsError, match="could not read"):
        _tiny(pretrained=str(path))


def test_kinetics400_offline_gives_instructions(monkeypatch) -> None:
    from torchvision.models import WeightsEnum

    calls = []

    def offline(self, *args, **kwargs):
        calls.append(self)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    # Patch the download itself so the test never touches the network (or a warm cache).
    monkeypatch.setattr(WeightsEnum, "get_state_dict", offline)
    with pytest.raises(PretrainedWeightsError) as info:
        BACKBONES.get("r3d_18")(pretrained="Kinetics400")

    message = str(info.value)
    assert "R3D_18_Weights.KINETICS400_V1" in message
    assert "r3d_18-b3b3357e.pth" in message and "pretrained: /path/to/" in message
    assert len(calls) == 1


def test_kinetics400_weights_load_without_warnings(monkeypatch) -> None:
    """Stand-in for the download: a torchvision-layout state dict including the classifier."""
    from torchvision.models import WeightsEnum
    from torchvision.models.video import r3d_18

    torch.manual_seed(3)
    published = r3d_18(weights=None).state_dict()
    monkeypatch.setattr(WeightsEnum, "get_state_dict", lambda self, *a, **k: published)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", PretrainedWeightsWarning)
        backbone = BACKBONES.get("r3d_18")(pretrained="kinetics400")

    torch.testing.assert_close(backbone.stem[0].weight, published["stem.0.weight"], rtol=0, atol=0)
