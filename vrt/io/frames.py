"""Reading clips from folders of extracted frames (``00001.jpg``, ``img_00002.png`` ...).

Frame folders trade disk space for loading speed: a clip costs T image reads instead of a seek
and a decode. The order of the frames is the number in their names, not the alphabetical
order, because not every tool pads the numbers (``1.jpg, 2.jpg, 10.jpg``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vrt.errors import VideoDecodeError

FRAME_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png"})
_DIGITS = re.compile(r"\d+")


def _frame_order(file: Path) -> tuple[int, int, str]:
    # The last run of digits is the frame number (``clip2_frame_0010.jpg`` -> 10); names
    # without digits go last, alphabetically, rather than failing.
    numbers = _DIGITS.findall(file.stem)
    return (0, int(numbers[-1]), file.name) if numbers else (1, 0, file.name)


def list_frame_files(folder: str | Path) -> list[Path]:
    """The image files of ``folder`` (jpg, jpeg, png; any case) in frame-number order.

    Hidden files are ignored: the ``.done`` marker of ``vrt prepare frames`` and the ``._*``
    resource forks that macOS leaves on shared drives are not frames.

    Raises:
        VideoDecodeError: the folder is missing or holds no frames.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise VideoDecodeError(f"{folder}: no such frame folder")
    files = [
        entry
        for entry in folder.iterdir()
        if entry.suffix.lower() in FRAME_EXTENSIONS and not entry.name.startswith(".") and entry.is_file()
    ]
    if not files:
        raise VideoDecodeError(f"{folder}: the frame folder holds no .jpg/.jpeg/.png frames")
    return sorted(files, key=_frame_order)


ImageDecoder = Callable[[Sequence[np.ndarray], Sequence[Path]], Sequence[Any]]


def read_frames(
    files: Sequence[str | Path], indices: Sequence[int], *, decode: ImageDecoder | None = None
) -> list[Any]:
    """The images ``files[i]`` for ``i`` in ``indices``, in that order: vrt's one frame-image reader.

    Each file is read once however often it repeats; ``decode`` turns the files' bytes into
    RGB images ``(H, W, 3)`` uint8 (Pillow's numpy arrays by default; the clip readers pass
    libjpeg-turbo's batch decoder, :func:`vrt.datasets.decoders.read_frame_images`, which gives
    the same pixels as tensors). Grey, palette and RGBA images come out as RGB.

    Raises:
        IndexError: an index outside ``files``.
        VideoDecodeError: an image is missing, unreadable, or of another size than the first.
    """
    encoded = read_frame_bytes(files, indices)
    order = list(encoded)
    images = (decode or decode_with_pillow)([encoded[i] for i in order], [Path(files[i]) for i in order])
    shapes = {tuple(image.shape) for image in images}
    if len(shapes) > 1:
        raise VideoDecodeError(
            f"{Path(files[order[0]]).parent}: the frames of one clip differ in size {sorted(shapes)}"
        )
    by_index = dict(zip(order, images, strict=True))
    return [by_index[int(i)] for i in indices]


def read_frame_files(files: Sequence[str | Path], indices: Sequence[int]) -> np.ndarray:
    """:func:`read_frames` decoded by Pillow, stacked: uint8 RGB ``(len(indices), H, W, 3)``."""
    return np.stack(read_frames(files, indices))


def decode_with_pillow(encoded: Sequence[np.ndarray], files: Sequence[Path]) -> list[np.ndarray]:
    """Image files' bytes as RGB uint8 arrays, or a VideoDecodeError naming the file that fails."""
    from PIL import Image, UnidentifiedImageError

    images = []
    for data, file in zip(encoded, files, strict=True):
        try:
            with Image.open(io.BytesIO(data.tobytes())) as image:
                images.append(np.asarray(image.convert("RGB")))
        except (OSError, UnidentifiedImageError, ValueError) as error:
            raise VideoDecodeError(f"{file}: cannot read the frame ({error})") from error
    return images


def read_frame_bytes(files: Sequence[str | Path], indices: Sequence[int]) -> dict[int, np.ndarray]:
    """The encoded bytes of ``files[i]`` for each distinct ``i`` of ``indices``, as uint8 arrays.

    What a decoder elsewhere (torchvision, possibly on a GPU) needs, read without decoding.

    Raises:
        IndexError: an index outside ``files``.
        VideoDecodeError: a file is missing or cannot be read.
    """
    encoded: dict[int, np.ndarray] = {}
    for index in dict.fromkeys(_checked_indices(files, indices)):
        file = Path(files[index])
        try:
            encoded[index] = np.fromfile(file, dtype=np.uint8)
        except OSError as error:
            raise VideoDecodeError(f"{file}: cannot read the frame ({error.strerror or error})") from error
    return encoded


def _checked_indices(files: Sequence[str | Path], indices: Sequence[int]) -> list[int]:
    wanted = [int(i) for i in indices]
    if not wanted:
        raise ValueError("reading frames needs at least one frame index")
    outside = [i for i in wanted if not 0 <= i < len(files)]
    if outside:
        raise IndexError(f"frame indices {outside[:5]} outside a folder of {len(files)} frames")
    return wanted


def image_size(encoded: np.ndarray, *, source: str | Path) -> tuple[int, int]:
    """(width, height) of an encoded image, from its header (nothing is decoded).

    Raises:
        VideoDecodeError: the bytes are not an image Pillow knows.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(encoded.tobytes())) as image:
            return image.size
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise VideoDecodeError(f"{source}: cannot read the frame ({error})") from error
