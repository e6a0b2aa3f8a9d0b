"""The hashing pipeline: media bytes -> signals, for stills, animations and video."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import av
import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageDraw, ImageOps

from jaga.media import CorruptMedia, UnsupportedMedia, decode_image, iter_video_frames
from jaga.signals import UnknownSignalType
from jaga.signals.hashing import ContentHashes, HashOptions, hash_bytes, hash_path
from jaga.signals.pdq import DIHEDRAL_VARIANTS, pdq_hash, pdq_hash_dihedral, pdq_hash_frame
from jaga.signals.vpdq import unpack


def _picture(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (w, h), (20, 40, 60))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x0, x1 = sorted(int(v) for v in rng.integers(0, w, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, h, 2))
        draw.ellipse((x0, y0, x1, y1), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return image


def _encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def _reference(rgb: Any) -> tuple[bytes, int]:
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes(), int(quality)


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return _encode(_picture(640, 480, 1), "JPEG", quality=95)


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    return _encode(_picture(2600, 2200, 2), "JPEG", quality=92)


@pytest.fixture(scope="module")
def gif() -> bytes:
    frames = [_picture(120, 90, seed).quantize(64) for seed in (3, 4, 5)]
    out = io.BytesIO()
    frames[0].save(
        out, format="GIF", save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=0
    )
    return out.getvalue()


@pytest.fixture(scope="module")
def video() -> bytes:
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(24):
            frame = av.VideoFrame.from_ndarray(
                np.asarray(_picture(96, 64, 10 + i // 4)), format="rgb24"
            )
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def test_still_image_gets_pdq_and_exact_digests_of_the_original_bytes(jpeg: bytes) -> None:
    result = hash_bytes(jpeg)
    assert (result.kind, result.format, result.width, result.height) == ("image", "JPEG", 640, 480)
    assert (result.size, result.frame_count) == (len(jpeg), 1)
    assert [s.signal_type for s in result.signals] == ["pdq", "md5", "sha1", "sha256"]
    by_type = {s.signal_type: s for s in result.signals}
    assert by_type["md5"].value == hashlib.md5(jpeg).digest()
    assert by_type["sha1"].value == hashlib.sha1(jpeg).digest()
    assert by_type["sha256"].value == hashlib.sha256(jpeg).digest()
    assert by_type["md5"].quality is None
    pdq = by_type["pdq"]
    assert (pdq.frame, pdq.timestamp, pdq.variant) == (None, None, "")
    assert 0 < (pdq.quality or 0) <= 100


def test_exact_mode_equals_the_reference_on_the_full_decode(big_jpeg: bytes) -> None:
    result = hash_bytes(big_jpeg, HashOptions(signal_types=("pdq",), exact=True))
    with Image.open(io.BytesIO(big_jpeg)) as image:
        rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    (signal,) = result.signals
    assert (signal.value, signal.quality) == _reference(rgb)
    assert (result.width, result.height) == (2600, 2200)


def test_fast_path_hashes_the_reduced_decode_and_stays_close(big_jpeg: bytes) -> None:
    fast = hash_bytes(big_jpeg, HashOptions(signal_types=("pdq",)))
    reduced = decode_image(big_jpeg, min_side=HashOptions().fast_min_side)
    assert reduced.scale == 2  # the fast path really is taken for this image
    assert fast.signals[0].value == pdq_hash(reduced.frames[0].rgb)[0]
    exact = hash_bytes(big_jpeg, HashOptions(signal_types=("pdq",), exact=True))
    distance = (
        int.from_bytes(fast.signals[0].value, "big") ^ int.from_bytes(exact.signals[0].value, "big")
    ).bit_count()
    assert distance <= 31  # still a match; benchmarks/pdq_fastpath.py measures the real spread
    assert (fast.width, fast.height) == (2600, 2200)


def test_animated_gif_gets_one_pdq_per_frame(gif: bytes) -> None:
    result = hash_bytes(gif, HashOptions(signal_types=("pdq", "md5")))
    pdqs = result.of_type("pdq")
    assert result.frame_count == 3
    assert [s.frame for s in pdqs] == [0, 1, 2]
    assert [s.timestamp for s in pdqs] == [0.0, 0.1, 0.3]
    with Image.open(io.BytesIO(gif)) as image:
        expected = []
        for index in range(3):
            image.seek(index)
            expected.append(pdq_hash(np.asarray(image.convert("RGB"))))
    assert [(s.value, s.quality) for s in pdqs] == expected
    assert len({s.value for s in pdqs}) == 3
    assert result.of_type("md5")[0].value == hashlib.md5(gif).digest()


def test_dihedral_option_adds_the_seven_other_orientations(jpeg: bytes) -> None:
    options = HashOptions(signal_types=("pdq",), dihedral=True, exact=True)
    result = hash_bytes(jpeg, options)
    assert [s.variant for s in result.signals] == list(DIHEDRAL_VARIANTS)
    rgb = decode_image(jpeg).frames[0].rgb
    hashes, quality = pdq_hash_dihedral(rgb)
    assert [s.value for s in result.signals] == hashes
    assert {s.quality for s in result.signals} == {quality}


def test_video_gets_vpdq_frames_and_exact_digests(video: bytes) -> None:
    result = hash_bytes(video, HashOptions(video_fps=None))
    assert result.kind == "video"
    assert (result.width, result.height) == (96, 64)
    frames = list(iter_video_frames(video, fps=None))
    vpdq = result.of_type("vpdq")
    assert len(vpdq) == len(frames) == result.frame_count == 24
    assert [s.frame for s in vpdq] == [f.index for f in frames]
    assert [s.timestamp for s in vpdq] == [f.timestamp for f in frames]
    assert [(s.value, s.quality) for s in vpdq] == [pdq_hash_frame(f.rgb) for f in frames]
    assert result.of_type("sha256")[0].value == hashlib.sha256(video).digest()
    assert not result.of_type("pdq")
    packed = result.vpdq_value()
    assert packed is not None
    assert [f.hash for f in unpack(packed)] == [s.value for s in vpdq]


def test_video_sampling_follows_video_fps(video: bytes) -> None:
    one_per_second = hash_bytes(video, HashOptions(signal_types=("vpdq",)))
    expected = list(iter_video_frames(video, fps=1.0))
    assert 2 <= len(one_per_second.signals) == len(expected) <= 4
    assert [s.frame for s in one_per_second.signals] == [f.index for f in expected]


def test_signal_selection_and_aliases() -> None:
    options = HashOptions(signal_types=("SHA-256", "md5", "sha256"))
    assert options.signal_types == ("sha256", "md5")
    with pytest.raises(UnknownSignalType):
        HashOptions(signal_types=("photodna",))


def test_exact_only_hashing_still_reports_the_image(jpeg: bytes) -> None:
    result = hash_bytes(jpeg, HashOptions(signal_types=("sha1",)))
    assert [s.signal_type for s in result.signals] == ["sha1"]
    assert (result.width, result.height, result.format) == (640, 480, "JPEG")


def test_hash_path_equals_hash_bytes(tmp_path: Path, jpeg: bytes) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg)
    assert hash_path(path) == hash_bytes(jpeg)
    assert isinstance(hash_path(str(path)), ContentHashes)


def test_bad_media_raises_typed_media_errors(jpeg: bytes) -> None:
    with pytest.raises(UnsupportedMedia):
        hash_bytes(b"just some text, not media")
    with pytest.raises(CorruptMedia):
        hash_bytes(jpeg[: len(jpeg) // 3])
