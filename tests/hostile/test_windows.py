"""Windows in seconds exist: a video cut short after a header that states its whole length
(an MP4 with its index first, as a download or copy stopped halfway leaves it) is cut into
windows only as far as its frames decode, and says so once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.helpers import vrt
from tests.video_collection import sample_video
from vrt.codes import load_codes
from vrt.datasets.collection import list_items
from vrt.datasets.decoders import PyAVDecoder
from vrt.datasets.windows import resolve_windows
from vrt.io.sample_clips import cut_clips
from vrt.io.video import decodable_frames, probe_video


def _index_first(source: Path, target: Path) -> None:
    """``source`` remuxed with its index (moov) before the frames, as a streaming MP4 has it."""
    import av

    with (
        av.open(str(source)) as reader,
        av.open(str(target), "w", options={"movflags": "faststart"}) as writer,
    ):
        stream = reader.streams.video[0]
        out = writer.add_stream_from_template(stream)
        for packet in reader.demux(stream):
            if packet.dts is not None:
                packet.stream = out
                writer.mux(packet)


@pytest.fixture(scope="module")
def cut_short(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """videos/half.mp4: 10 s (250 frames at 25 fps) stated, the first half of the bytes kept."""
    root = tmp_path_factory.mktemp("cut_short")
    whole, streaming = root / "whole.mp4", root / "streaming.mp4"
    cut_clips(sample_video("bikes.mp4"), {whole: (0, 250)}, width=64)
    _index_first(whole, streaming)
    data = streaming.read_bytes()
    (root / "videos").mkdir()
    (root / "videos" / "half.mp4").write_bytes(data[: len(data) // 2])
    return root / "videos" / "half.mp4"


def test_the_header_overstates_what_decodes(cut_short):
    """The case itself: the header promises 250 frames, about half decode."""
    assert probe_video(cut_short).num_frames == 250
    assert 100 < decodable_frames(cut_short) < 150


def test_segments_stop_at_the_last_decodable_frame_and_say_so_once(cut_short):
    """Before: windows #t=6,8 and #t=8,10 past the 4.4 s that decoded, with identical codes."""
    decodable = decodable_frames(cut_short) / 25.0
    with pytest.warns(UserWarning, match=r"header states 250 frames \(10 s\) but only \d+ decode") as caught:
        cut = resolve_windows(list_items([cut_short.parent]), decoder=PyAVDecoder(), segment=2.0)
    assert len(caught) == 1
    ends = [item.window[1] for item in cut.items]
    assert max(ends) == pytest.approx(decodable) and len(ends) == int(-(-decodable // 2))


def test_a_listed_window_past_the_decodable_end_is_reported_not_encoded(cut_short, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"{cut_short}#t=0,2\n{cut_short}#t=8,10\n")
    with pytest.warns(UserWarning, match="its windows stop there"):
        cut = resolve_windows(list_items([listing]), decoder=PyAVDecoder())
    assert [item.window for item in cut.items] == [(0.0, 2.0)]
    assert [reason for reason in cut.unreadable.values()] == [
        f"{cut_short} decodes for {decodable_frames(cut_short) / 25:g} s only: the window from 8 s is past its end"
    ]


def test_vrt_encode_segments_a_cut_short_video_only_where_it_decodes(cut_short, encoder_checkpoint, tmp_path):
    out = tmp_path / "codes.npz"
    with pytest.warns(UserWarning, match="but only") as caught:  # the CLI prints it as one line
        result = vrt("encode", "--checkpoint", encoder_checkpoint, "--videos", cut_short.parent,
                     "--out", out, "--segment", "2")  # fmt: skip
    assert result.code == 0, result.stderr
    assert len(caught) == 1
    end = f"{decodable_frames(cut_short) / 25:g}"
    assert list(load_codes(out).ids) == ["half.mp4#t=0,2", "half.mp4#t=2,4", f"half.mp4#t=4,{end}"]
