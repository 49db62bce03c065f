"""Backbones: the contract for every registered entry, published weights offline, resnet3d's converter.

The contract tests are parametrised over ``BACKBONES.names()`` and read each entry's metadata
(``tiny_input``, ``tiny_params``), so new built-ins and installed plugins are covered without
editing this file.
"""

from __future__ import annotations

import inspect
import re
import urllib.error
import warnings

import pytest
import torch
from torch import nn

from vrt.backbones import (
    KINETICS_NORMALIZATION,
    Normalization,
    PretrainedWeightsError,
    PretrainedWeightsWarning,
    check_backbone,
    load_3d_resnets_checkpoint,
    load_pretrained,
)
from vrt.backbones.resnet3d import HARA_NORMALIZATION, ResNet3D, ZeroPadShortcut
from vrt.errors import VrtError
from vrt.registry import BACKBONES

# Above this many voxels per clip a forward pass costs seconds on a laptop CPU (MViT-v2-S cannot
# run below 16x224x224: about 2.5 s forward, 5 s forward+backward on 2 cores), so such entries run
# their forward tests with batch 1.
_HEAVY_VOXELS = 16 * 112 * 112


def _metadata(name: str):
    return BACKBONES.entry(name).metadata


def _collected_metadata(name: str):
    """For parametrising at collection time, where a broken plugin must not hide every other test."""
    try:
        return _metadata(name)
    except Exception:  # the plugin's own test cases report the error
        return {}


def _is_heavy(name: str) -> bool:
    t, *size = _collected_metadata(name).get("tiny_input", (1, 1, 1))
    return t * size[0] * size[-1] > _HEAVY_VOXELS


def _build(name: str, **params: object) -> nn.Module:
    """The entry's tiny test configuration, with ``params`` on top."""
    return BACKBONES.get(name)(**{**_metadata(name)["tiny_params"], **params})


def _shape_only(name: str, **params: object) -> nn.Module:
    """Built on the meta device: attributes and tensor shapes without the cost of initialising."""
    with torch.device("meta"):
        return _build(name, **params)


@pytest.fixture(scope="module")
def eval_model():
    """Seed-0 builds in eval mode, shared by the tests that only run them under no_grad."""
    cache: dict[str, nn.Module] = {}

    def get(name: str) -> nn.Module:
        if name not in cache:
            torch.manual_seed(0)
            cache[name] = _build(name).eval()
        return cache[name]

    yield get
    cache.clear()


def _reads_features(name: str) -> bool:
    """A backbone over feature files: its tiny input is (frames, width), not (T, H, W) pixels."""
    return _collected_metadata(name).get("input") == "features"


def _tiny_clips(name: str) -> torch.Tensor:
    batch = 1 if _is_heavy(name) else 2
    if _reads_features(name):
        return torch.randn(batch, *_metadata(name)["tiny_input"])
    return torch.rand(batch, 3, *_metadata(name)["tiny_input"])


def _has_param(name: str, param: str) -> bool:
    try:
        return param in inspect.signature(BACKBONES.get(name)).parameters
    except Exception:  # a broken plugin: see _collected_metadata
        return False


def _assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=0, atol=0, msg=key)


def _is_size(value: object) -> bool:
    return isinstance(value, tuple) and len(value) == 3 and all(isinstance(v, int) and v > 0 for v in value)


# -- every registered backbone -------------------------------------------------------------------


def test_builtin_backbones_are_registered() -> None:
    assert {
        "r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v2_s", "swin3d_t",
        "x3d_xs", "x3d_s", "x3d_m", "slow_r50", "resnet3d", "tiny3d",
    } <= set(BACKBONES.names())  # fmt: skip


@pytest.mark.parametrize("name", BACKBONES.names())
def test_metadata_declares_a_tiny_configuration(name: str) -> None:
    meta = _metadata(name)
    if _reads_features(name):
        frames, width = meta.get("tiny_input", (0, 0))
        assert frames > 0 and width > 0, f"{name}: metadata tiny_input must be (frames, width)"
    else:
        assert _is_size(meta.get("tiny_input")), f"{name}: metadata tiny_input must be (T, H, W)"
    assert isinstance(meta.get("tiny_params"), dict), f"{name}: metadata tiny_params must be a dict"
    for key in ("min_input", "default_input"):
        assert key not in meta or _is_size(meta[key]), f"{name}: metadata {key} must be (T, H, W)"
    if "min_input" in meta:
        assert all(m <= t for m, t in zip(meta["min_input"], meta["tiny_input"], strict=True))
    assert all(isinstance(p, str) for p in meta.get("pretrained", ()))
    if "kinetics400_top1" in meta:
        assert 0 < meta["kinetics400_top1"] < 100


@pytest.mark.parametrize("name", BACKBONES.names())
def test_forward_shape_and_gradients(name: str) -> None:
    torch.manual_seed(0)
    backbone = _build(name)
    check_backbone(backbone, name=name)
    clips = _tiny_clips(name).requires_grad_()

    features = backbone(clips)

    assert features.shape == (clips.shape[0], backbone.out_dim)
    assert torch.isfinite(features).all()
    features.square().sum().backward()
    grads = {n: p.grad for n, p in backbone.named_parameters() if p.requires_grad}
    assert grads
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), [
        n for n, g in grads.items() if g is None or not torch.isfinite(g).all()
    ]
    assert clips.grad is not None and clips.grad.abs().sum() > 0


@pytest.mark.parametrize("name", BACKBONES.names())
def test_same_seed_same_weights_and_eval_outputs_are_deterministic(name: str, eval_model) -> None:
    first = eval_model(name)
    torch.manual_seed(0)
    second = _build(name)
    _assert_same_weights(first, second)

    clips = _tiny_clips(name)
    with torch.no_grad():
        a, b = first(clips), first(clips)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("name", BACKBONES.names())
def test_min_input_runs(name: str, eval_model) -> None:
    meta = _metadata(name)
    if "min_input" not in meta or tuple(meta["min_input"]) == tuple(meta["tiny_input"]):
        pytest.skip("no min_input smaller than the tiny input")
    backbone = eval_model(name)
    with torch.no_grad():
        features = backbone(torch.rand(1, 3, *meta["min_input"]))
    assert features.shape == (1, backbone.out_dim)


@pytest.mark.parametrize("name", BACKBONES.names())
def test_local_state_dict_round_trip(name: str, eval_model, tmp_path) -> None:
    if not _has_param(name, "pretrained"):
        pytest.skip("the builder takes no pretrained weights")
    source = eval_model(name)
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)

    torch.manual_seed(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PretrainedWeightsWarning)
        loaded = _build(name, pretrained=str(path))

    _assert_same_weights(source, loaded)


POOLING = [n for n in BACKBONES.names() if _has_param(n, "pooling")]
# Where the pool is the last operation, max over a set >= its mean, feature by feature (not X3D,
# whose pool is followed by a 1x1x1 convolution).
POOL_IS_LAST = {"r3d_18", "mc3_18", "r2plus1d_18", "s3d", "swin3d_t", "slow_r50", "resnet3d"}


@pytest.mark.parametrize("name", POOLING)
def test_pooling_choice_changes_features_not_weights(name: str, eval_model) -> None:
    avg = eval_model(name)
    torch.manual_seed(0)
    peak = _build(name, pooling="max").eval()
    _assert_same_weights(avg, peak)  # the pools are parameter-free: a checkpoint fits either

    clips = _tiny_clips(name)
    with torch.no_grad():
        a, m = avg(clips), peak(clips)
    assert a.shape == m.shape
    scale = a.abs().max()  # untrained S3D's eval-mode features are ~1e-7: compare relative to scale
    assert (a - m).abs().max() > 1e-3 * scale
    if name in POOL_IS_LAST:
        assert (m >= a - 1e-5 * scale).all()


def test_unknown_pooling_is_rejected() -> None:
    with pytest.raises(ValueError, match="pooling must be 'avg' or 'max'"):
        _shape_only("r3d_18", pooling="median")


EXPECTED_OUT_DIM = {
    "r3d_18": 512, "mc3_18": 512, "r2plus1d_18": 512, "s3d": 1024, "mvit_v2_s": 768, "swin3d_t": 768,
    "x3d_xs": 2048, "x3d_s": 2048, "x3d_m": 2048, "slow_r50": 2048, "resnet3d": 512, "tiny3d": 16,
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED_OUT_DIM))
def test_builtin_out_dims(name: str) -> None:
    assert _shape_only(name).out_dim == EXPECTED_OUT_DIM[name]


def test_tiny3d_width_sets_out_dim() -> None:
    assert BACKBONES.get("tiny3d")(width=8).out_dim == 32


def test_normalization_is_validated() -> None:
    with pytest.raises(ValueError, match="std"):
        Normalization(mean=(0.5, 0.5, 0.5), std=(0.2, 0.0, 0.2))
    with pytest.raises(ValueError, match="3"):
        Normalization(mean=(0.5, 0.5), std=(0.2, 0.2))  # type: ignore[arg-type]


# -- torchvision and pytorchvideo: published weights, offline ------------------------------------

KINETICS = [n for n in BACKBONES.names() if "kinetics400" in _collected_metadata(n).get("pretrained", ())]
TORCHVISION = ["r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v2_s", "swin3d_t"]
PYTORCHVIDEO = ["x3d_xs", "x3d_s", "x3d_m", "slow_r50"]


def test_published_backbones_offer_kinetics400() -> None:
    assert set(TORCHVISION + PYTORCHVIDEO) <= set(KINETICS)


@pytest.mark.parametrize("name", KINETICS)
def test_kinetics400_offline_gives_instructions(name: str, monkeypatch) -> None:
    from torchvision.models import WeightsEnum

    requested: list[str] = []

    def offline_enum(self, *args, **kwargs):
        requested.append(self.url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    def offline_hub(url, *args, **kwargs):
        requested.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    # Patch the downloads themselves so the test never touches the network (or a warm cache).
    monkeypatch.setattr(WeightsEnum, "get_state_dict", offline_enum)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline_hub)
    with pytest.raises(PretrainedWeightsError) as info, torch.device("meta"):  # the fetch fails first
        BACKBONES.get(name)(pretrained="Kinetics400")

    assert len(requested) == 1
    message = str(info.value)
    file_name = requested[0].rsplit("/", 1)[-1]
    assert requested[0] in message
    assert f"pretrained: /path/to/{file_name}" in message
    assert re.search(r"copy it to \S+/checkpoints/" + re.escape(file_name), message)


def test_unreadable_download_fails_by_name(monkeypatch) -> None:
    import pickle

    def corrupt(url, *args, **kwargs):
        raise pickle.UnpicklingError("invalid load key, '<'.")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", corrupt)
    with pytest.raises(
        PretrainedWeightsError, match=r"could not read .*X3D_XS\.pyth.*Delete the cached file"
    ):
        _shape_only("x3d_xs", pretrained="kinetics400")


def _random_like(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Distinct real values in the shapes of a (meta) state dict: a stand-in for published weights."""
    return {
        k: torch.randn(v.shape) if v.is_floating_point() else torch.zeros(v.shape, dtype=v.dtype)
        for k, v in state.items()
    }


def _assert_loaded(backbone: nn.Module, published: dict[str, torch.Tensor]) -> None:
    state = backbone.state_dict()
    for key, value in state.items():
        torch.testing.assert_close(value, published[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_weights_load_without_warnings(name: str, monkeypatch) -> None:
    """Stand-in for the download: torchvision's own model's layout, classifier included."""
    from torchvision.models import WeightsEnum, get_model

    with torch.device("meta"):
        layout = get_model(name, weights=None).state_dict()
    torch.manual_seed(3)
    published = _random_like(layout)
    monkeypatch.setattr(WeightsEnum, "get_state_dict", lambda self, *a, **k: published)

    with warnings.catch_warnings():
        warnings.simplefilter("error", PretrainedWeightsWarning)
        backbone = BACKBONES.get(name)(pretrained="kinetics400")

    _assert_loaded(backbone, published)
    dropped = set(published) - set(backbone.state_dict())
    assert dropped and all(k.split(".")[0] in ("fc", "head", "classifier") for k in dropped)


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_metadata_matches_the_weights_enum(name: str) -> None:
    from torchvision.models import get_model_weights

    weights = get_model_weights(name).KINETICS400_V1
    assert _metadata(name)["kinetics400_top1"] == weights.meta["_metrics"]["Kinetics-400"]["acc@1"]


def test_mvit_metadata_is_its_fixed_input_size() -> None:
    from torchvision.models.video import MViT_V2_S_Weights

    meta = MViT_V2_S_Weights.KINETICS400_V1.meta
    assert _metadata("mvit_v2_s")["min_input"] == (meta["min_temporal_size"], *meta["min_size"])


@pytest.mark.parametrize(
    ("name", "mean", "std"),
    [
        ("r3d_18", KINETICS_NORMALIZATION.mean, KINETICS_NORMALIZATION.std),
        ("s3d", KINETICS_NORMALIZATION.mean, KINETICS_NORMALIZATION.std),
        ("mvit_v2_s", (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),
        ("swin3d_t", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ("x3d_xs", (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),
        ("slow_r50", (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),
    ],
)
def test_normalization_is_what_the_weights_were_trained_with(name: str, mean, std) -> None:
    assert _shape_only(name).normalization == Normalization(mean=mean, std=std)


def test_classifiers_are_removed() -> None:
    assert isinstance(_shape_only("r3d_18").fc, nn.Identity)
    assert isinstance(_shape_only("mvit_v2_s").head, nn.Identity)
    head = _shape_only("x3d_xs").blocks[5]
    assert head.proj is None and head.dropout is None and head.activation is None


def test_mvit_rejects_other_input_sizes_by_name() -> None:
    with pytest.raises(ValueError, match=r"exactly 16 frames of 224x224.*data\.num_frames: 16"):
        _shape_only("mvit_v2_s")(torch.rand(1, 3, 8, 224, 224, device="meta"))


def _pytorchvideo_hub_layout(name: str) -> dict[str, torch.Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pytorchvideo's own import-time torch.jit.script
        import pytorchvideo.models.hub as hub
    with torch.device("meta"):
        return getattr(hub, name)(pretrained=False).state_dict()


def _hub_url(name: str) -> str:
    from pytorchvideo.models.hub import resnet, x3d

    return {**x3d.checkpoint_paths, **resnet.checkpoint_paths}[name]


@pytest.mark.parametrize("name", PYTORCHVIDEO)
def test_pytorchvideo_checkpoint_loads_without_warnings(name: str, monkeypatch) -> None:
    """Stand-in for the download: a file in the model zoo's format with pytorchvideo's hub layout.

    Loading it without a missing or unexpected key proves the builder uses the hub's
    hyper-parameters; the requested URL must be the hub's too.
    """
    torch.manual_seed(3)
    published = _random_like(_pytorchvideo_hub_layout(name))
    requested: list[str] = []

    def download(url, *args, **kwargs):
        assert kwargs.get("weights_only") is True  # a download must never unpickle arbitrary objects
        requested.append(url)
        return {"model_state": published, "epoch": 196, "cfg": "TRAIN:\n  ENABLE: True\n"}

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", download)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PretrainedWeightsWarning)
        backbone = BACKBONES.get(name)(pretrained="kinetics400")

    assert requested == [_hub_url(name)]
    _assert_loaded(backbone, published)


def test_x3d_uses_native_silu_for_pytorchvideos_swish() -> None:
    from pytorchvideo.layers.swish import Swish

    net = _shape_only("x3d_xs")
    assert not any(isinstance(m, Swish) for m in net.modules())
    assert any(isinstance(m, nn.SiLU) for m in net.modules())
    x = torch.linspace(-8, 8, 101, requires_grad=True)
    y = torch.linspace(-8, 8, 101, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Swish's backward: the reason for the swap
        Swish()(x).sum().backward()
    nn.SiLU()(y).sum().backward()
    torch.testing.assert_close(nn.SiLU()(y), Swish()(x))
    torch.testing.assert_close(y.grad, x.grad)


def test_pytorchvideo_zoo_file_loads_from_a_local_path(tmp_path) -> None:
    torch.manual_seed(4)
    published = _random_like(_pytorchvideo_hub_layout("x3d_xs"))
    path = tmp_path / "X3D_XS.pyth"
    torch.save({"model_state": published, "epoch": 196, "cfg": "MODEL:\n  ARCH: x3d\n"}, path)

    with warnings.catch_warnings():
        warnings.simplefilter("error", PretrainedWeightsWarning)
        backbone = BACKBONES.get("x3d_xs")(pretrained=str(path))

    _assert_loaded(backbone, published)


# -- resnet3d (3D-ResNets-PyTorch) ----------------------------------------------------------------


def _hara_checkpoint(model: ResNet3D, depth: int) -> dict:
    """The layout of the project's published files: DataParallel keys, classifier, optimizer."""
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    state["module.fc.weight"] = torch.randn(400, model.out_dim)
    state["module.fc.bias"] = torch.randn(400)
    optimizer = {"state": {}, "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": [0, 1]}]}
    return {"arch": f"resnet-{depth}", "epoch": 200, "state_dict": state, "optimizer": optimizer}


@pytest.mark.parametrize(("depth", "shortcut"), [(18, "A"), (10, "B")])
def test_3d_resnets_checkpoint_loads_exactly(depth: int, shortcut: str, tmp_path) -> None:
    torch.manual_seed(5)
    source = ResNet3D(depth=depth, shortcut=shortcut)
    path = tmp_path / f"resnet-{depth}-kinetics.pth"
    torch.save(_hara_checkpoint(source, depth), path)

    torch.manual_seed(6)
    target = ResNet3D(depth=depth, shortcut=shortcut)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PretrainedWeightsWarning)
        report = load_3d_resnets_checkpoint(target, path)
        built = BACKBONES.get("resnet3d")(depth=depth, shortcut=shortcut, pretrained=str(path))

    assert sorted(report.ignored) == ["fc.bias", "fc.weight"]
    assert not report.missing and not report.unexpected and not report.skipped
    _assert_same_weights(source, target)
    _assert_same_weights(source, built)
    clips = torch.rand(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(source.eval()(clips), built.eval()(clips), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("saved", "model", "message"),
    [
        ((18, "B"), (18, "A"), r"ResNet-18 with shortcut B .*set the backbone's shortcut: B"),
        ((18, "A"), (18, "B"), r"ResNet-18 with shortcut A .*set the backbone's shortcut: A"),
        ((10, "A"), (18, "A"), r"ResNet-10, but the model has depth 18; set the backbone's depth: 10"),
    ],
)
def test_3d_resnets_checkpoint_of_another_configuration_fails_by_name(
    saved, model, message, tmp_path
) -> None:
    path = tmp_path / "resnet.pth"
    torch.save(_hara_checkpoint(ResNet3D(depth=saved[0], shortcut=saved[1]), saved[0]), path)
    with pytest.raises(PretrainedWeightsError, match=message):
        BACKBONES.get("resnet3d")(depth=model[0], shortcut=model[1], pretrained=str(path))


def test_resnet3d_has_no_named_weights() -> None:
    with pytest.raises(PretrainedWeightsError, match=r"no downloadable weights.*resnet-18-kinetics\.pth"):
        BACKBONES.get("resnet3d")(pretrained="kinetics400")


def _downsample_params(channels: list[tuple[int, int]]) -> int:
    return sum(c_in * c_out + 2 * c_out for c_in, c_out in channels)  # 1x1x1 conv + BN weight and bias


@pytest.mark.parametrize(
    ("depth", "projections"),
    [
        (10, [(64, 128), (128, 256), (256, 512)]),
        (18, [(64, 128), (128, 256), (256, 512)]),
        (34, [(64, 128), (128, 256), (256, 512)]),
        # Bottlenecks widen 4x, so even the first stage needs a projection.
        (50, [(64, 256), (256, 512), (512, 1024), (1024, 2048)]),
    ],
)
def test_shortcut_b_adds_exactly_the_projection_parameters(depth: int, projections) -> None:
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        a = ResNet3D(depth=depth, shortcut="A")
        b = ResNet3D(depth=depth, shortcut="B")
    count_a = sum(p.numel() for p in a.parameters())
    count_b = sum(p.numel() for p in b.parameters())
    assert count_b - count_a == _downsample_params(projections)


@pytest.mark.parametrize("depth", [10, 18, 34, 50])
def test_resnet3d_depths_out_dim(depth: int) -> None:
    with torch.device("meta"):
        assert ResNet3D(depth=depth).out_dim == (2048 if depth == 50 else 512)


def test_zero_pad_shortcut_subsamples_pads_and_passes_gradients() -> None:
    x = torch.randn(2, 4, 5, 6, 7, requires_grad=True)
    out = ZeroPadShortcut(out_channels=8, stride=2)(x)
    assert out.shape == (2, 8, 3, 3, 4)
    torch.testing.assert_close(out[:, :4], x[:, :, ::2, ::2, ::2], rtol=0, atol=0)
    assert (out[:, 4:] == 0).all()
    out.sum().backward()
    assert x.grad is not None and x.grad[:, :, ::2, ::2, ::2].eq(1).all()


def test_hara_normalization_is_the_0_255_mean_subtraction() -> None:
    mean = torch.tensor(HARA_NORMALIZATION.mean)
    std = torch.tensor(HARA_NORMALIZATION.std)
    pixels = torch.tensor([[0.0, 0.0, 0.0], [255.0, 255.0, 255.0], [114.7748, 107.7354, 99.4750]])
    expected = pixels - torch.tensor([114.7748, 107.7354, 99.4750])
    torch.testing.assert_close((pixels / 255 - mean) / std, expected, rtol=0, atol=1e-4)
    assert BACKBONES.get("resnet3d")().normalization == HARA_NORMALIZATION


# -- pretrained weights -------------------------------------------------------------------------


def _tiny(**kwargs: object) -> nn.Module:
    return BACKBONES.get("tiny3d")(width=4, **kwargs)


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
    # A pickled module, not a state dict: torch refuses it with paragraphs; vrt says it in one line.
    torch.save(nn.Linear(3, 4), path)
    with pytest.raises(VrtError, match=r"could not read .*: UnpicklingError: Unsupported global") as info:
        _tiny(pretrained=str(path))
    assert "\n" not in str(info.value) and "weights_only=False" not in str(info.value)
