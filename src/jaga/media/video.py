"""Decoding video frames with PyAV (FFmpeg), within limits.

Frame sampling follows Meta's vPDQ reference so that our vPDQ hashes pick the same frames:
with the stream's average frame rate ``r`` (its base rate when the average is unknown) and
``fps`` sampled frames a second, every ``max(1, floor(r / fps))``-th decoded frame is kept,
counting from frame 0. When the container gives no frame rate, a frame is kept whenever its
timestamp reaches the next multiple of ``1 / fps`` seconds.

Timestamps are presentation times in seconds from the start of the stream (the frame's pts
minus the stream's start time), never negative; frame indices count decoded frames from 0.
Display rotation metadata is not applied (nor is it by the reference).

Hostile input: the container format is pinned from the magic bytes (FFmpeg never guesses, so no
playlist or concat demuxer can be reached), paths are opened by Python (never parsed as URLs),
nested opens are refused, and duration, frame count and frame size are checked from the
container before decoding and again while decoding. A packet that fails to decode is skipped
(damaged videos still yield their readable frames); a stream of only undecodable packets is
CorruptMedia. A demuxing error ends the stream, as end-of-file does in the reference.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, BinaryIO, Final

import av
import av.error
import numpy as np

from jaga.errors import InvalidInput
from jaga.media.errors import CorruptMedia, MediaTooLarge, UnsupportedMedia
from jaga.media.limits import DEFAULT_LIMITS, MediaLimits, check_frame_size
from jaga.media.sniff import sniff
from jaga.media.source import Source, open_source

#: Consecutive undecodable packets after which a stream is declared corrupt.
MAX_CONSECUTIVE_BAD_PACKETS: Final = 64
#: sws_scale filter of the reference's RGB conversion (matters when chroma is subsampled).
_INTERPOLATION: Final = "AREA"
_ATTACHED_PIC: Final = 0x0400  # AV_DISPOSITION_ATTACHED_PIC: cover art, not a video
_DECODE_ERRORS: Final = (
    av.error.FFmpegError,
    OSError,
    ValueError,
    EOFError,
    UnicodeError,
    OverflowError,
    RuntimeError,
    IndexError,  # PyAV's demux, when a stream appears mid-file (MPEG-TS)
)


@dataclass(frozen=True)
class VideoFrame:
    """One decoded video frame in RGB."""

    index: int  # frame number in the stream, 0-based, in decoding order of output
    timestamp: float  # seconds from the start of the stream
    rgb: np.ndarray  # (H, W, 3) uint8, C-contiguous, read-only (like ImageFrame.rgb)


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the video stream (None where it does not say)."""

    duration: float | None  # seconds
    frame_rate: float | None  # frames a second (average, else the base rate)
    width: int
    height: int
    codec: str  # FFmpeg decoder name: "h264", "hevc", "vp9", "mpeg4"...
    frame_count: int | None
    format: str = ""  # container: "mp4", "mov", "webm", "mkv", "avi"...


def probe_video(source: Source, *, limits: MediaLimits = DEFAULT_LIMITS) -> VideoInfo:
    """Open a video (bytes or a local path) and describe its video stream, decoding nothing.

    UnsupportedMedia (not a video, no video stream), CorruptMedia, MediaTooLarge (bytes,
    frame size, duration or frame count over ``limits``)."""
    with _Opened(source, limits) as opened:
        return opened.info


def iter_video_frames(
    source: Source, *, fps: float | None = 1.0, limits: MediaLimits = DEFAULT_LIMITS
) -> Iterator[VideoFrame]:
    """RGB frames of a video: every frame for ``fps=None``, else about ``fps`` a second.

    The video is opened and checked now (errors are raised by this call, not by the first
    ``next``); frames are decoded lazily. Limits are enforced again while decoding."""
    if fps is not None and (isinstance(fps, bool) or not math.isfinite(fps) or fps <= 0):
        raise InvalidInput(f"fps must be None or a finite number > 0, got {fps!r}")
    opened = _Opened(source, limits)
    return _frames(opened, fps, limits)


class _Opened:
    """A container opened on a video, with its chosen stream and info; closes both."""

    def __init__(self, source: Source, limits: MediaLimits) -> None:
        self.handle: BinaryIO = open_source(source, limits)
        try:
            head = self.handle.read(1024)
            self.handle.seek(0)
            sniffed = sniff(head)
            if sniffed.kind != "video":
                raise UnsupportedMedia(f"expected a video, got an image ({sniffed.format})")
            self.format = sniffed.format
            with av_errors(self.format):
                self.container: Any = av.open(
                    self.handle,
                    mode="r",
                    format=sniffed.decoders[0],
                    metadata_errors="replace",
                    io_open=_refuse_nested_open,
                )
            try:
                self.stream: Any = _video_stream(self.container, self.format)
                self.info = _info(self.container, self.stream, self.format)
                _check_info(self.info, limits)
            except BaseException:
                self.container.close()
                raise
        except BaseException:
            self.handle.close()
            raise

    def close(self) -> None:
        try:
            self.container.close()
        finally:
            self.handle.close()

    def __enter__(self) -> _Opened:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@contextmanager
def av_errors(fmt: str) -> Iterator[None]:
    """Run PyAV calls on ``fmt`` data; their failures come out as MediaError subclasses."""
    try:
        yield
    except MemoryError:
        raise MediaTooLarge(f"{fmt} video too large: out of memory while decoding") from None
    except _DECODE_ERRORS as error:
        raise CorruptMedia(_describe(fmt, error)) from error


def _describe(fmt: str, error: BaseException) -> str:
    # FFmpeg errors read "[Errno 1094995529] Invalid data found...: '<none>'"; keep the words.
    text = error.strerror if isinstance(error, av.error.FFmpegError) else None
    text = " ".join(str(text or error).split()) or type(error).__name__
    return f"corrupt {fmt}: {text}"


def _refuse_nested_open(url: str, flags: int, options: dict[str, str]) -> BinaryIO:
    # A demuxer asking to open another file or URL (external references): never allowed.
    raise PermissionError(f"refusing to open {url!r} referenced from inside a video")


def _video_stream(container: Any, fmt: str) -> Any:
    """The first real video stream; cover art (an attached picture) only when nothing else."""
    if not container.streams:
        raise CorruptMedia(f"corrupt {fmt}: no stream could be read")
    streams = list(container.streams.video)
    if not streams:
        raise UnsupportedMedia(f"{fmt} file has no video stream")
    moving = [s for s in streams if not int(s.disposition) & _ATTACHED_PIC]
    stream = (moving or streams)[0]
    if stream.codec_context is None:
        raise UnsupportedMedia(f"{fmt} file: no decoder for its video codec")
    return stream


def _info(container: Any, stream: Any, fmt: str) -> VideoInfo:
    duration: float | None = None
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    rate = _frame_rate(stream)
    context = stream.codec_context
    return VideoInfo(
        duration=duration,
        frame_rate=float(rate) if rate else None,
        width=int(context.width or 0),
        height=int(context.height or 0),
        codec=str(context.name or ""),
        frame_count=int(stream.frames) or None,
        format=fmt,
    )


def _frame_rate(stream: Any) -> Fraction | None:
    for rate in (stream.average_rate, stream.base_rate):
        if rate and rate > 0:
            return Fraction(rate)
    return None


def _check_info(info: VideoInfo, limits: MediaLimits) -> None:
    if info.width and info.height:
        check_frame_size(info.width, info.height, limits, f"{info.format} video")
    if info.duration is not None and info.duration > limits.max_video_seconds:
        raise MediaTooLarge(
            f"{info.format} video lasts {info.duration:.1f} s, over the limit of "
            f"{limits.max_video_seconds:g} s"
        )
    if info.frame_count is not None and info.frame_count > limits.max_video_frames:
        raise MediaTooLarge(
            f"{info.format} video has {info.frame_count} frames, over the limit of "
            f"{limits.max_video_frames}"
        )


def _frames(opened: _Opened, fps: float | None, limits: MediaLimits) -> Iterator[VideoFrame]:
    with opened:
        stream = opened.stream
        stream.thread_type = "AUTO"
        rate = _frame_rate(stream)
        step: int | None = None
        if fps is not None and rate is not None:
            step = max(1, math.floor(rate / Fraction(fps).limit_denominator(1_000_000)))
        period = 1.0 / fps if fps is not None else 0.0
        next_due = 0.0
        start: int | None = stream.start_time
        timestamp = 0.0
        index = 0
        for frame in _decoded(opened):
            if index >= limits.max_video_frames:
                raise MediaTooLarge(
                    f"{opened.format} video has more than {limits.max_video_frames} frames "
                    "(the limit)"
                )
            if frame.pts is not None and frame.time_base:
                if start is None:
                    start = frame.pts
                timestamp = max(0.0, float((frame.pts - start) * frame.time_base))
            elif rate:
                timestamp = float(index / rate)
            if timestamp > limits.max_video_seconds:
                raise MediaTooLarge(
                    f"{opened.format} video runs past {limits.max_video_seconds:g} s (the limit)"
                )
            if step is not None:
                wanted = index % step == 0
            else:
                wanted = timestamp >= next_due
                if wanted and period:
                    next_due = (math.floor(timestamp / period) + 1) * period
            if wanted:
                check_frame_size(frame.width, frame.height, limits, f"{opened.format} frame")
                with av_errors(opened.format):
                    rgb = frame.to_ndarray(format="rgb24", interpolation=_INTERPOLATION)
                rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
                rgb.flags.writeable = False
                yield VideoFrame(index, timestamp, rgb)
            index += 1
        if index == 0:
            raise CorruptMedia(f"corrupt {opened.format}: no decodable video frame")


def _decoded(opened: _Opened) -> Iterator[Any]:
    """Decoded frames of the stream; undecodable packets skipped, demux errors end it."""
    container, stream, fmt = opened.container, opened.stream, opened.format
    packets = container.demux(stream)
    bad = 0
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return  # demux ends with an empty packet, which has flushed the decoder
        except _DECODE_ERRORS:
            break  # like av_read_frame failing in the reference: the stream ends here
        try:
            frames = packet.decode()
        except _DECODE_ERRORS as error:
            bad += 1
            if bad > MAX_CONSECUTIVE_BAD_PACKETS:
                raise CorruptMedia(_describe(fmt, error)) from error
            continue
        bad = 0
        yield from frames
    # Ended by an error: flush the frames still inside the decoder.
    with av_errors(fmt):
        flushed = stream.codec_context.decode(None)
    yield from flushed
