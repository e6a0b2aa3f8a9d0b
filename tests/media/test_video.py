"""Video: probing, frames at fps=None and fps=1, limits, and the bad cases, on generated clips."""

from __future__ import annotations

import io
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from jaga.errors import InvalidInput
from jaga.media import (
    CorruptMedia,
    MediaError,
    MediaLimits,
    MediaNotFound,
    MediaTooLarge,
    UnsupportedMedia,
    VideoFrame,
    iter_video_frames,
    probe_video,
)

WIDTH, HEIGHT = 64, 48


def _grey(index: int) -> int:
    """The grey level of frame ``index``: distinct from its neighbours, survives encoding."""
    return (index * 37) % 200 + 20


def _clip(fmt: str, codec: str, rate: int, frames: int) -> bytes:
    """``frames`` flat grey frames at ``rate`` fps, frame i of grey level _grey(i)."""
    out = io.BytesIO()
    with av.open(out, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for index in range(frames):
            pixels = np.full((HEIGHT, WIDTH, 3), _grey(index), np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


@pytest.fixture(scope="module")
def mp4() -> bytes:
    return _clip("mp4", "mpeg4", rate=10, frames=25)  # 2.5 s


@pytest.fixture(scope="module")
def mkv() -> bytes:
    return _clip("matroska", "libx264", rate=8, frames=20)  # 2.5 s, no frame count in header


@pytest.fixture(scope="module")
def audio_only() -> bytes:
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        for index in range(8):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 8000, index * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def _greys(frames: list[VideoFrame]) -> list[int]:
    return [round(float(frame.rgb.mean())) for frame in frames]


def test_probe_reads_the_container(mp4: bytes, mkv: bytes) -> None:
    info = probe_video(mp4)
    assert (info.format, info.codec, info.width, info.height) == ("mp4", "mpeg4", 64, 48)
    assert info.frame_rate == 10.0
    assert info.frame_count == 25
    assert info.duration == pytest.approx(2.5)
    other = probe_video(mkv)
    assert (other.format, other.codec, other.frame_rate) == ("mkv", "h264", 8.0)
    assert other.duration == pytest.approx(2.5, abs=0.1)


def test_every_frame_with_index_and_timestamp(mp4: bytes) -> None:
    frames = list(iter_video_frames(mp4, fps=None))
    assert [f.index for f in frames] == list(range(25))
    assert [f.timestamp for f in frames] == pytest.approx([i / 10 for i in range(25)])
    for frame in frames:
        assert frame.rgb.shape == (HEIGHT, WIDTH, 3)
        assert frame.rgb.dtype == np.uint8
        assert frame.rgb.flags.c_contiguous
    # The frames are the right ones, in order (flat greys survive the codec within a few levels).
    assert np.allclose(_greys(frames), [_grey(i) for i in range(25)], atol=4)


def test_one_frame_a_second(mp4: bytes, mkv: bytes) -> None:
    frames = list(iter_video_frames(mp4, fps=1.0))
    assert [f.index for f in frames] == [0, 10, 20]
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 1.0, 2.0])
    assert np.allclose(_greys(frames), [_grey(i) for i in (0, 10, 20)], atol=4)
    h264 = list(iter_video_frames(mkv))  # fps=1.0 is the default
    assert [f.index for f in h264] == [0, 8, 16]
    assert [f.timestamp for f in h264] == pytest.approx([0.0, 1.0, 2.0])


def test_other_rates_follow_the_reference_frame_step(mp4: bytes) -> None:
    # vPDQ reference: every floor(frame_rate / fps)-th frame.
    assert [f.index for f in iter_video_frames(mp4, fps=2.0)] == [0, 5, 10, 15, 20]
    assert [f.index for f in iter_video_frames(mp4, fps=3.0)] == [0, 3, 6, 9, 12, 15, 18, 21, 24]
    assert [f.index for f in iter_video_frames(mp4, fps=0.5)] == [0, 20]
    assert len(list(iter_video_frames(mp4, fps=100.0))) == 25


def test_without_a_frame_rate_sampling_follows_timestamps(
    mp4: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_rate(stream: object) -> Fraction | None:
        return None

    monkeypatch.setattr("jaga.media.video._frame_rate", no_rate)
    frames = list(iter_video_frames(mp4, fps=1.0))
    assert [f.index for f in frames] == [0, 10, 20]
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 1.0, 2.0])


@pytest.mark.parametrize(
    ("fmt", "codec", "name"),
    [
        ("webm", "libvpx", "webm"),
        ("avi", "mpeg4", "avi"),
        ("mov", "libx264", "mov"),
        ("mpegts", "mpeg4", "mpegts"),
    ],
)
def test_other_containers(fmt: str, codec: str, name: str) -> None:
    data = _clip(fmt, codec, rate=10, frames=15)
    assert probe_video(data).format == name
    frames = list(iter_video_frames(data, fps=None))
    assert [f.index for f in frames] == list(range(15))
    assert frames[-1].timestamp == pytest.approx(1.4)


def test_a_path_is_read_from_disk(mp4: bytes, tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(mp4)
    assert probe_video(path).frame_count == 25
    assert [f.index for f in iter_video_frames(str(path))] == [0, 10, 20]
    with pytest.raises(MediaNotFound):
        probe_video(tmp_path / "missing.mp4")


def test_a_file_with_only_audio_is_unsupported(audio_only: bytes) -> None:
    with pytest.raises(UnsupportedMedia, match="mp4 file has no video stream"):
        probe_video(audio_only)
    with pytest.raises(UnsupportedMedia, match="no video stream"):
        iter_video_frames(audio_only)  # raised by the call, not by the first next()


@pytest.mark.parametrize(
    "magic",
    [b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", b"\x1a\x45\xdf\xa3", b"RIFF\0\0\0\0AVI "],
)
def test_garbage_behind_a_video_magic_is_corrupt(magic: bytes) -> None:
    garbage = magic + np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    with pytest.raises(CorruptMedia, match=r"^corrupt"):
        probe_video(garbage)


def test_empty_and_images_and_text(mp4: bytes) -> None:
    with pytest.raises(CorruptMedia, match="empty"):
        probe_video(b"")
    with pytest.raises(UnsupportedMedia, match=r"expected a video, got an image \(PNG\)"):
        probe_video(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(UnsupportedMedia):
        list(iter_video_frames(b"plain text, not a video at all"))


def test_truncated_video_is_corrupt_or_yields_what_is_there(mp4: bytes) -> None:
    # mp4 from PyAV keeps its index at the end: without it nothing can be read.
    with pytest.raises(CorruptMedia):
        probe_video(mp4[: len(mp4) // 2])
    data = _clip("mpegts", "mpeg4", rate=10, frames=25)
    frames = list(iter_video_frames(data[: len(data) // 2], fps=None))
    assert 0 < len(frames) < 25
    assert [f.index for f in frames] == list(range(len(frames)))


def test_limits_from_the_container(mp4: bytes) -> None:
    with pytest.raises(MediaTooLarge, match=r"lasts 2.5 s, over the limit of 2 s"):
        probe_video(mp4, limits=MediaLimits(max_video_seconds=2))
    with pytest.raises(MediaTooLarge, match="has 25 frames, over the limit of 24"):
        iter_video_frames(mp4, limits=MediaLimits(max_video_frames=24))
    with pytest.raises(MediaTooLarge, match="64x48"):
        probe_video(mp4, limits=MediaLimits(max_pixels=1000))
    with pytest.raises(MediaTooLarge, match="bytes, over the limit of 100 bytes"):
        probe_video(mp4, limits=MediaLimits(max_bytes=100))


def test_limits_while_decoding_when_the_container_does_not_say(mkv: bytes) -> None:
    assert probe_video(mkv).frame_count is None
    frames = iter_video_frames(mkv, fps=None, limits=MediaLimits(max_video_frames=12))
    with pytest.raises(MediaTooLarge, match="more than 12 frames"):
        list(frames)


def test_duration_enforced_while_decoding(mp4: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    # A container that understates its duration: the timestamps still stop the decode.
    def no_checks(info: object, limits: MediaLimits) -> None:
        return None

    monkeypatch.setattr("jaga.media.video._check_info", no_checks)
    frames = iter_video_frames(mp4, fps=None, limits=MediaLimits(max_video_seconds=1.5))
    with pytest.raises(MediaTooLarge, match=r"runs past 1\.5 s"):
        list(frames)


def test_fps_must_be_positive(mp4: bytes) -> None:
    for fps in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InvalidInput, match="fps"):
            iter_video_frames(mp4, fps=fps)


def test_abandoned_iteration_closes_cleanly(mp4: bytes) -> None:
    frames: Iterator[VideoFrame] = iter_video_frames(mp4, fps=None)
    first = next(frames)
    assert first.index == 0
    frames.close()  # type: ignore[attr-defined]
    with pytest.raises(StopIteration):
        next(frames)


def test_damaged_videos_yield_frames_or_raise_a_media_error(mp4: bytes, mkv: bytes) -> None:
    rng = np.random.default_rng(7)
    messages: list[str] = []
    for data in (mp4, mkv):
        for _ in range(40):
            damaged = bytearray(data)
            for position in rng.integers(0, len(damaged), 6):
                damaged[position] = int(rng.integers(0, 256))
            try:
                for frame in iter_video_frames(bytes(damaged), fps=None):
                    assert frame.rgb.shape[2:] == (3,)
            except MediaError as error:
                messages.append(str(error))
    assert all("\n" not in message for message in messages)
