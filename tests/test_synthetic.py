"""The synthetic dataset and the VideoDataset / ClipView contract it implements."""

from __future__ import annotations

import itertools
import typing

import numpy as np
import pytest
import torch

from vrt.datasets import ClipView, VideoDataset
from vrt.datasets.clips import ClipSpec
from vrt.datasets.synthetic import (
    MAX_CLASSES,
    MOTIONS,
    SHAPES,
    SyntheticVideos,
    _shape_mask,
    class_composition,
    synthetic,
)
from vrt.registry import DATASETS

FRAMES, SIZE = 4, 32


def make(subset: str = "train", **params) -> SyntheticVideos:
    params = {"num_classes": 4, "videos_per_class": 3, "test_videos_per_class": 2} | params
    return synthetic(subset=subset, clips=ClipSpec(num_frames=FRAMES, frame_size=SIZE), **params)


def test_registered_with_a_typed_keyword_only_builder():
    assert DATASETS.get("synthetic") is synthetic
    hints = typing.get_type_hints(synthetic)
    assert hints["subset"] == typing.Literal["train", "test"]
    assert hints["noise"] is float and hints["num_classes"] is int
    with pytest.raises(TypeError):
        synthetic("train", FRAMES, SIZE)  # type: ignore[misc]


@pytest.mark.parametrize("training", [False, True])
def test_clip_shape_dtype_and_range(training):
    dataset = make(noise=0.3)
    clip = dataset.load_clip(5, training=training)
    assert clip.shape == (3, FRAMES, SIZE, SIZE)
    assert clip.dtype == torch.float32
    assert clip.min() >= 0.0 and clip.max() <= 1.0
    assert clip.is_contiguous()


def test_metadata_blocks_ids_and_subset_sizes():
    train, test = make("train"), make("test")
    assert len(train) == 12 and len(test) == 8
    assert train.labels == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert test.labels == [0, 0, 1, 1, 2, 2, 3, 3]
    assert train.ids[11] == "synthetic/train/00011"
    assert len(set(train.ids)) == len(train.ids)
    assert not set(train.ids) & set(test.ids)
    assert train.class_names == test.class_names
    assert train.groups is None
    assert train.class_counts() == [3, 3, 3, 3]
    assert "videos: 12" in train.describe() and "SyntheticVideos" in repr(train)


def test_every_class_is_a_distinct_shape_motion_pair():
    pairs = [class_composition(label) for label in range(MAX_CLASSES)]
    assert len(set(pairs)) == MAX_CLASSES == len(SHAPES) * len(MOTIONS)
    names = make(num_classes=MAX_CLASSES).class_names
    assert len(set(names)) == MAX_CLASSES
    assert "disc_moving_right" in names and "triangle_static" in names
    # Consecutive classes differ in both cues, so the default 8 classes need shape and motion.
    for label in range(MAX_CLASSES - 1):
        (shape_a, motion_a), (shape_b, motion_b) = pairs[label], pairs[label + 1]
        assert shape_a != shape_b and motion_a != motion_b


def test_eval_clips_are_deterministic_across_calls_and_instances():
    first, second = make(), make()
    for index in (0, 7, 11):
        clip = first.load_clip(index, training=False)
        assert torch.equal(clip, first.load_clip(index, training=False))
        assert torch.equal(clip, second.load_clip(index, training=False))


def test_seed_subset_and_index_each_change_the_video():
    reference = make().load_clip(4, training=False)
    assert not torch.equal(reference, make(seed=1).load_clip(4, training=False))
    assert not torch.equal(reference, make("test").load_clip(4, training=False))
    assert not torch.equal(reference, make().load_clip(5, training=False))  # same class, other video


def test_train_and_test_never_share_content():
    train, test = (
        make(num_classes=2, videos_per_class=6, test_videos_per_class=6),
        make("test", num_classes=2),
    )
    train_clips = torch.stack([train.load_clip(i, training=False) for i in range(len(train))]).flatten(1)
    test_clips = torch.stack([test.load_clip(i, training=False) for i in range(len(test))]).flatten(1)
    assert torch.cdist(test_clips, train_clips).min() > 1.0


def test_training_redraws_the_noise_only():
    dataset = make(noise=0.1)
    clean = make(noise=0.0).load_clip(3, training=False)
    torch.manual_seed(0)
    first = dataset.load_clip(3, training=True)
    second = dataset.load_clip(3, training=True)
    torch.manual_seed(0)
    assert torch.equal(first, dataset.load_clip(3, training=True))  # reproducible from torch's RNG
    assert not torch.equal(first, second)
    # Same video underneath: the clean render plus noise of the requested strength.
    assert (first - clean).std().item() == pytest.approx(0.1, rel=0.25)
    assert (first - dataset.load_clip(3, training=False)).abs().mean() < 0.2


def _foreground_masks(clip: torch.Tensor) -> np.ndarray:
    """Per-frame mask of the brighter of the two colours of a noise-free clip, (T, H, W)."""
    brightness = clip.sum(dim=0).numpy()
    masks = (
        brightness
        > (brightness.min(axis=(1, 2), keepdims=True) + brightness.max(axis=(1, 2), keepdims=True)) / 2
    )
    for mask in masks:
        assert 10 < mask.sum() < mask.size / 2, (
            "the shape should be sizeable and distinct from the background"
        )
    return masks


def _bounding_box_sizes(mask: np.ndarray) -> tuple[int, int]:
    ys, xs = np.nonzero(mask)
    return int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1


@pytest.mark.parametrize("label", range(MAX_CLASSES))
def test_shape_moves_as_its_class_says_and_stays_in_frame(label):
    dataset = synthetic(
        subset="train",
        clips=ClipSpec(num_frames=6, frame_size=SIZE),
        num_classes=MAX_CLASSES,
        videos_per_class=1,
        noise=0.0,
    )
    masks = _foreground_masks(dataset.load_clip(label, training=False))
    centroids = np.array([(np.nonzero(m)[1].mean(), np.nonzero(m)[0].mean()) for m in masks])
    # A shape cut by the frame edge would shrink its bounding box by more than a pixel.
    boxes = np.array([_bounding_box_sizes(m) for m in masks])
    assert (boxes.max(axis=0) - boxes.min(axis=0) <= 1).all(), boxes
    _, motion = class_composition(label)
    direction = np.array(MOTIONS[motion])
    displacement = centroids[-1] - centroids[0]
    if motion == "static":
        assert np.abs(centroids - centroids[0]).max() < 1e-6
    else:
        assert displacement @ direction > 0.25 * SIZE, "the motion should be clear over the clip"
        sideways = direction[0] * displacement[1] - direction[1] * displacement[0]
        assert abs(sideways) < 1.0, "and along the class's direction"


def test_shapes_are_pairwise_distinct():
    grid = np.arange(32, dtype=np.float32) - 15.5
    masks = {shape: _shape_mask(shape, grid[None, :], grid[:, None], 12.0) for shape in SHAPES}
    for a, b in itertools.combinations(SHAPES, 2):
        iou = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
        assert iou < 0.8, (a, b, iou)
    with pytest.raises(ValueError, match="unknown shape"):
        _shape_mask("star", grid, grid, 12.0)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"num_classes": MAX_CLASSES + 1}, "num_classes"),
        ({"num_classes": 0}, "num_classes"),
        ({"videos_per_class": 0}, "videos per class"),
        ({"noise": -0.1}, "noise"),
        ({"seed": -1}, "seed"),
    ],
)
def test_invalid_parameters_fail_clearly(params, message):
    with pytest.raises(ValueError, match=message):
        make(**params)


def test_invalid_sizes_and_indices_fail_clearly():
    with pytest.raises(ValueError, match="frame_size"):
        synthetic(subset="train", clips=ClipSpec(num_frames=4, frame_size=8))
    with pytest.raises(ValueError, match="num_frames"):
        synthetic(subset="train", clips=ClipSpec(num_frames=0, frame_size=32))
    with pytest.raises(ValueError, match="subset"):
        synthetic(subset="val", clips=ClipSpec(num_frames=4, frame_size=32))  # type: ignore[arg-type]
    with pytest.raises(IndexError):
        make().load_clip(12, training=False)


def test_clip_view_follows_its_indices():
    dataset = make()
    view = ClipView(dataset, [7, 2, 9], training=False)
    assert len(view) == 3
    assert view.labels == [2, 0, 3]
    assert view.ids == ["synthetic/train/00007", "synthetic/train/00002", "synthetic/train/00009"]
    assert view.class_names == dataset.class_names and view.groups is None
    clip, label, index = view[1]
    assert (label, index) == (0, 2)
    assert torch.equal(clip, dataset.load_clip(2, training=False))
    with pytest.raises(IndexError, match="outside"):
        ClipView(dataset, [0, 12], training=False)


def test_clip_view_training_flag_reaches_the_dataset():
    dataset = make(noise=0.2)
    torch.manual_seed(3)
    augmented = ClipView(dataset, range(len(dataset)), training=True)[4][0]
    assert not torch.equal(augmented, dataset.load_clip(4, training=False))
    torch.manual_seed(3)
    assert torch.equal(augmented, dataset.load_clip(4, training=True))


def test_clip_view_batches_through_a_dataloader():
    view = ClipView(make(), range(6), training=False)
    clips, labels, indices = next(iter(torch.utils.data.DataLoader(view, batch_size=6)))
    assert clips.shape == (6, 3, FRAMES, SIZE, SIZE)
    assert labels.tolist() == view.labels and indices.tolist() == list(range(6))


class _Listed(VideoDataset):
    def load_clip(self, index: int, *, training: bool) -> torch.Tensor:
        return torch.zeros(3, 1, 2, 2)


def test_base_class_validates_metadata_for_every_adapter():
    ok = _Listed(class_names=["a", "b"], labels=[0, 1, 1], ids=["x", "y", "z"], groups=["g", "g", "h"])
    assert len(ok) == 3 and ok.num_classes == 2 and ok.groups == ["g", "g", "h"]
    assert ok[2][1:] == (1, 2)
    assert "groups: 2" in ok.describe()
    assert ClipView(ok, [0, 2], training=False).groups == ["g", "h"]
    with pytest.raises(ValueError, match="unique"):
        _Listed(class_names=["a"], labels=[0, 0], ids=["x", "x"])
    with pytest.raises(ValueError, match="labels must lie"):
        _Listed(class_names=["a"], labels=[0, 1], ids=["x", "y"])
    with pytest.raises(ValueError, match="groups"):
        _Listed(class_names=["a"], labels=[0, 0], ids=["x", "y"], groups=["g"])
    with pytest.raises(ValueError, match="duplicate class names"):
        _Listed(class_names=["a", "a"], labels=[0], ids=["x"])
    with pytest.raises(TypeError):
        VideoDataset(class_names=["a"], labels=[0], ids=["x"])  # type: ignore[abstract]
