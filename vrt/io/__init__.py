"""Reading video files and frame folders into uint8 RGB arrays (PyAV, Pillow; no torch).

``video`` decodes clips from video files, decoding only what the frames a clip needs depend
on; ``rgb`` converts (and scales) decoded frames; ``frames`` reads folders of extracted frames;
``extract`` writes such folders (``vrt prepare frames``);
``synthetic_video`` writes small real videos whose frames carry their own index, for tests.
"""

from __future__ import annotations

from vrt.io.frames import list_frame_files, read_frame_files
from vrt.io.video import VideoInfo, probe_video, read_video_frames

__all__ = ["VideoInfo", "list_frame_files", "probe_video", "read_frame_files", "read_video_frames"]
