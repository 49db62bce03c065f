"""What every dataset adapter provides: a list of labelled videos that can be turned into clips.

A ``VideoDataset`` describes one subset (train or test) of a collection: class names, a 0-based
label, a stable id and optionally a source-video group for every video. Which videos are used
and whether augmentation is on is decided by a ``ClipView`` over it, so one decoded source can
serve the fit, validation and database views without being built twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import torch
from torch.utils.data import Dataset, get_worker_info

from vrt.codes import UNLABELLED
from vrt.datasets.items import SkippedClip
from vrt.errors import VideoDecodeError
from vrt.runtime.cpus import usable_cores
from vrt.runtime.reproducibility import derive_seed, isolated_seed

if TYPE_CHECKING:
    from vrt.datasets.pending import PendingClip


class VideoDataset(Dataset, ABC):
    """A subset of a video collection: metadata for every video plus ``load_clip``.

    Subclasses call ``super().__init__`` with their metadata, which is validated once here so
    that every adapter gets the same guarantees (labels in range, unique ids, one group per
    video), then implement ``load_clip``.

    Attributes:
        class_names: the names of all classes of the collection, indexed by label (a subset may
            not contain every class; labels stay comparable across subsets).
        labels: the 0-based class of every video, or :data:`~vrt.codes.UNLABELLED` (-1) for a
            video of no known class (a collection without labels).
        ids: a unique, stable string per video (written next to its binary code on export).
        groups: source-video keys, so that a validation split never puts clips cut from one
            long recording on both sides (UCF101's ``gGG``); ``None`` when every video stands alone.
        input_kind: what ``load_clip`` gives: ``"clips"`` (pixels, ``(3, T, H, W)``) or
            ``"features"`` (a feature file's frame features, ``(T, D)``); a model's backbone must
            read the same kind.
        made_by: for features, the record of the model that computed them (its
            :class:`~vrt.codes.EncoderIdentity` as a dict), else None.
    """

    input_kind: str = "clips"
    made_by: dict[str, Any] | None = None

    def __init__(
        self,
        *,
        class_names: Sequence[str],
        labels: Sequence[int],
        ids: Sequence[str],
        groups: Sequence[str] | None = None,
    ) -> None:
        self.class_names: list[str] = [str(name) for name in class_names]
        self.labels: list[int] = [int(label) for label in labels]
        self.ids: list[str] = [str(video_id) for video_id in ids]
        self.groups: list[str] | None = None if groups is None else [str(g) for g in groups]
        self._validate()

    def _validate(self) -> None:
        name = type(self).__name__
        if len(set(self.class_names)) != len(self.class_names):
            duplicates = sorted(n for n, c in Counter(self.class_names).items() if c > 1)
            raise ValueError(f"{name}: duplicate class names {duplicates[:5]}")
        if len(self.ids) != len(self.labels):
            raise ValueError(f"{name}: {len(self.ids)} ids for {len(self.labels)} labels")
        if self.groups is not None and len(self.groups) != len(self.labels):
            raise ValueError(f"{name}: {len(self.groups)} groups for {len(self.labels)} labels")
        bad = [
            label for label in self.labels if not 0 <= label < len(self.class_names) and label != UNLABELLED
        ]
        if bad:
            raise ValueError(
                f"{name}: labels must lie in [0, {len(self.class_names)}) (one per class name) or be "
                f"{UNLABELLED} (unlabelled), found {sorted(set(bad))[:5]}"
            )
        if len(set(self.ids)) != len(self.ids):
            duplicates = sorted(i for i, c in Counter(self.ids).items() if c > 1)
            raise ValueError(f"{name}: video ids must be unique, repeated: {duplicates[:5]}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_unlabelled(self) -> int:
        return sum(label == UNLABELLED for label in self.labels)

    def code_class_names(self) -> list[str] | None:
        """The class names written beside this dataset's codes (None: the labels are bare numbers)."""
        return list(self.class_names)

    def __len__(self) -> int:
        return len(self.labels)

    @abstractmethod
    def load_clip(self, index: int, *, training: bool, clip: int = 0, num_clips: int = 1) -> torch.Tensor:
        """The clip of video ``index`` as float32 ``(C, T, H, W)`` in [0, 1].

        ``training=True`` may augment with randomness drawn from torch's global RNG (seeded per
        DataLoader worker); ``training=False`` must return the same tensor on every call.
        ``clip`` of ``num_clips`` selects one of several test-time clips spread over the video.
        Raises :class:`~vrt.errors.VideoDecodeError` for a video that cannot be read.
        """

    def plan_clip(self, index: int, *, training: bool, clip: int = 0, num_clips: int = 1) -> ClipWork:
        """What a ``ClipView`` hands the DataLoader, in two steps: the clip's random choices are
        made now (from the RNG ``load_clip`` draws from), and the work returned does the
        rest, the reading, decoding and transforming, without drawing any more; ``ClipView``
        may call it in another thread. It returns the clip, or, for a dataset that leaves
        decoding and augmentation to the device (``data.pipeline: device``), the
        :class:`~vrt.datasets.pending.PendingClip` with its frames read and its recipe drawn.

        The default does all of ``load_clip`` now: a dataset that draws as it decodes cannot be
        split, and its clips load one after the other.
        """
        loaded = self.load_clip(index, training=training, clip=clip, num_clips=num_clips)
        return ClipWork(lambda: loaded, pays_in_a_thread=False)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        """The un-augmented clip, label and index (use a ``ClipView`` to choose videos or augment)."""
        return self.load_clip(index, training=False), self.labels[index], index

    def class_counts(self) -> list[int]:
        """Number of videos per label, indexed like ``class_names`` (zeros included)."""
        counts = Counter(self.labels)
        return [counts.get(label, 0) for label in range(self.num_classes)]

    def describe_clips(self) -> dict[str, str]:
        """How clips are made, for ``vrt data summary``: the sampler and transforms, resolved."""
        return {}

    def describe(self) -> str:
        """A few lines for logs and ``vrt data summary``: size, classes and their balance."""
        counts = [c for c in self.class_counts() if c > 0]
        lines = [
            repr(self),
            f"  videos: {len(self)}",
            f"  classes: {self.num_classes} ({len(counts)} present)",
        ]
        if counts:
            lines.append(f"  videos per class: min {min(counts)}, max {max(counts)}")
        if self.groups is not None:
            lines.append(f"  groups: {len(set(self.groups))}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(videos={len(self)}, classes={self.num_classes})"


@dataclass(frozen=True)
class ClipWork:
    """The work left for one planned clip (what ``plan_clip`` returns): call it for the clip.

    ``pays_in_a_thread`` says whether the work is mostly decoding, which runs outside the GIL
    and which threads therefore speed up; by default ``ClipView`` gives threads only such work.
    """

    run: Callable[[], torch.Tensor | PendingClip]
    pays_in_a_thread: bool = True

    def __call__(self) -> torch.Tensor | PendingClip:
        return self.run()


# What a ClipView yields: (clip, label, dataset index), the clip a tensor or what the device
# finishes (one PendingClip, or one per test-time clip), or why the video was skipped.
ViewItem: TypeAlias = "tuple[torch.Tensor | PendingClip | tuple[PendingClip, ...], int, int] | SkippedClip"


class ClipView(Dataset):
    """The videos of ``dataset`` at ``indices``, yielding ``(clip, label, dataset_index)``.

    The dataset index travels with every clip so that exported codes and bad-video reports can
    name the video without another lookup; ``labels`` and ``ids`` follow ``indices`` so samplers
    and exporters see exactly the view's videos. With ``num_clips > 1`` (test time only) an item
    holds that many clips stacked, ``(num_clips, C, T, H, W)``, whose codes the encoder averages.
    A video that fails to decode yields a :class:`SkippedClip` instead of raising.

    With ``augment_seed`` (training views), each clip's augmentation is drawn from RNGs seeded
    by ``(augment_seed, epoch, dataset index)``: the same clip whichever worker loads it, in
    whatever order, so the number of workers does not change a run and a run resumed in the
    middle of an epoch sees the clips the uninterrupted run saw. The epoch comes from
    ``set_epoch``, or with the key: ``view[(position, epoch)]`` (the training batch sampler
    sends such keys, so persistent workers, which keep their own copy of the view, follow the
    epoch too). Without ``augment_seed`` augmentation draws from the ambient global RNGs.

    ``threads`` load the clips of a batch side by side (see :meth:`load_threads`); the
    clips do not depend on it.
    """

    def __init__(
        self,
        dataset: VideoDataset,
        indices: Sequence[int],
        *,
        training: bool,
        num_clips: int = 1,
        augment_seed: int | None = None,
        threads: int | None = None,
    ) -> None:
        if num_clips < 1 or (training and num_clips != 1):
            raise ValueError(f"num_clips must be >= 1, and 1 in training; got {num_clips}")
        self.num_clips = num_clips
        self.dataset = dataset
        self.indices: list[int] = [int(i) for i in indices]
        size = len(dataset)
        outside = [i for i in self.indices if not 0 <= i < size]
        if outside:
            raise IndexError(f"ClipView: indices {outside[:5]} outside a dataset of {size} videos")
        self.training = training
        self.augment_seed = augment_seed
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 (None: one per core), got {threads}")
        self.threads = threads
        self.epoch = 0
        self.labels: list[int] = [dataset.labels[i] for i in self.indices]
        self.ids: list[str] = [dataset.ids[i] for i in self.indices]

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose augmentation bare positions get (see the class note)."""
        self.epoch = int(epoch)

    @property
    def class_names(self) -> list[str]:
        return self.dataset.class_names

    @property
    def groups(self) -> list[str] | None:
        groups = self.dataset.groups
        return None if groups is None else [groups[i] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: int | tuple[int, int]) -> ViewItem:
        return self.__getitems__([key])[0]

    def __getitems__(self, keys: Sequence[int | tuple[int, int]]) -> list[ViewItem]:
        """The items at ``keys``, a batch (torch's DataLoader asks for a whole batch when a
        dataset has this method).

        Every clip's random choices are made here, one clip after the other, each under its own
        seed; the reading, decoding and transforming is then spread over :meth:`load_threads`
        threads, which FFmpeg, libjpeg-turbo and torch let run at once. The clips are those of
        one thread, in any number of threads.
        """
        planned = [self._plan(key) for key in keys]
        jobs = [job for _, plan in planned if not isinstance(plan, SkippedClip) for job in plan]
        # Left to itself, the view gives threads only work that pays there (decoding); cheap
        # clips, such as frames stored at the clips' scale, loaded slower in threads.
        wanted = len(jobs) if self.threads else sum(job.pays_in_a_thread for job in jobs)
        threads = min(self.load_threads(), wanted)
        if threads > 1:
            with ThreadPoolExecutor(threads, thread_name_prefix="vrt-clips") as pool:
                done = iter(list(pool.map(_attempt, jobs)))
        else:
            done = iter([_attempt(job) for job in jobs])
        items: list[ViewItem] = []
        for index, plan in planned:
            if isinstance(plan, SkippedClip):
                items.append(plan)
                continue
            clips = [next(done) for _ in plan]
            failure = next((clip for clip in clips if isinstance(clip, VideoDecodeError)), None)
            if failure is not None:
                items.append(SkippedClip(index, self.dataset.ids[index], str(failure)))
            elif self.num_clips == 1:
                items.append((clips[0], self.dataset.labels[index], index))
            else:
                stacked = torch.stack(clips) if isinstance(clips[0], torch.Tensor) else tuple(clips)
                items.append((stacked, self.dataset.labels[index], index))
        return items

    def load_threads(self) -> int:
        """Threads that load the clips of a batch: ``threads`` when given, else one per usable
        core (at most 8) in the main process and one in each DataLoader worker (the workers
        already keep the cores busy). Left to its default, the view only gives threads work
        that pays there (see :class:`ClipWork`)."""
        if self.threads is not None:
            return self.threads
        return 1 if get_worker_info() is not None else min(usable_cores(), 8)

    def _plan(self, key: int | tuple[int, int]) -> tuple[int, list[ClipWork] | SkippedClip]:
        """(dataset index, the work left for each of its clips), or why it cannot be read."""
        position, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        index = self.indices[position]
        try:
            if self.training and self.augment_seed is not None:
                with isolated_seed(derive_seed(self.augment_seed, "augment", epoch, index)):
                    return index, [self.dataset.plan_clip(index, training=True)]
            return index, [
                self.dataset.plan_clip(index, training=self.training, clip=clip, num_clips=self.num_clips)
                for clip in range(self.num_clips)
            ]
        except VideoDecodeError as error:
            return index, SkippedClip(index, self.dataset.ids[index], str(error))

    def __repr__(self) -> str:
        mode = "training" if self.training else "eval"
        return f"ClipView({self.dataset!r}, videos={len(self)}, {mode})"


def _attempt(job: ClipWork) -> Any:
    """The job's clip, or the VideoDecodeError that says why its video cannot be used."""
    try:
        return job()
    except VideoDecodeError as error:
        return error
