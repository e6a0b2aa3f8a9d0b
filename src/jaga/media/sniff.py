"""What a blob of bytes is, from its first bytes alone.

File names and declared content types lie (text named ``.jpg``, a video named ``.png``), so the
kind of media is read from magic bytes. Only formats listed here reach a decoder, which also
keeps rarely used parsers (EPS via Ghostscript, playlists that open URLs...) out of reach.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from jaga.media.errors import CorruptMedia, UnsupportedMedia

MediaKind = Literal["image", "video"]


@dataclass(frozen=True)
class Sniffed:
    """The verdict on some bytes.

    ``format`` is a short name (Pillow's for images: "JPEG", "PNG"...; for video the container:
    "mp4", "mov", "webm", "mkv"...). ``decoders`` names the Pillow plugins (images) or the one
    FFmpeg demuxer (video) allowed to parse the bytes.
    """

    kind: MediaKind
    format: str
    decoders: tuple[str, ...]


# ISO base media (ftyp) brands of still images and image collections (HEIF, HEIC, AVIF).
_IMAGE_BRANDS = frozenset(
    {
        b"heic",
        b"heix",
        b"heim",
        b"heis",
        b"hevc",
        b"hevx",
        b"hevm",
        b"hevs",
        b"mif1",
        b"mif2",
        b"msf1",
        b"avif",
        b"avis",
        b"avio",
    }
)
_AVIF_BRANDS = frozenset({b"avif", b"avis", b"avio"})
# Major brands that settle an ftyp file as video even if image brands are also listed.
_VIDEO_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"qt  ", b"M4V "}
)
# QuickTime files from before ftyp existed start with one of these atoms.
_QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
# Binary magic numbers: a file that is a strict prefix of one of these is a truncated file, not
# some other format (no text starts with these bytes).
_BINARY_MAGIC = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\x1a\x45\xdf\xa3": "mkv",
}
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
# Sizes of the BMP info headers Pillow understands (OS/2 1.x and 2.x, Windows v1-v5).
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})

#: The FFmpeg demuxer for each video container format (pinned: FFmpeg never guesses).
VIDEO_DEMUXERS = {
    "mp4": "mov",
    "mov": "mov",
    "3gp": "mov",
    "webm": "matroska",
    "mkv": "matroska",
    "avi": "avi",
    "flv": "flv",
    "asf": "asf",
    "mpeg": "mpeg",
    "mpegts": "mpegts",
    "ogg": "ogg",
}


def sniff(data: bytes) -> Sniffed:
    """Classify ``data``; UnsupportedMedia if we do not decode it, CorruptMedia if empty."""
    if not data:
        raise CorruptMedia("empty file (0 bytes)")
    head = bytes(data[:64])
    found = _image(head) or _video(data, head)
    if found is not None:
        return found
    for magic, name in _BINARY_MAGIC.items():
        if len(head) < len(magic) and magic.startswith(head):
            raise CorruptMedia(f"truncated {name}: only {len(head)} bytes")
    raise UnsupportedMedia(f"not a supported image or video format (starts with {head[:8]!r})")


def sniff_kind(data: bytes) -> MediaKind:
    """``"image"`` or ``"video"``, from the magic bytes of ``data``."""
    return sniff(data).kind


def sniff_format(data: bytes) -> str:
    """The format name of ``data`` ("JPEG", "PNG", "GIF", "WEBP", "mp4", "webm"...)."""
    return sniff(data).format


def _image(head: bytes) -> Sniffed | None:
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "JPEG", ("JPEG",))
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "PNG", ("PNG",))
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("image", "GIF", ("GIF",))
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", "WEBP", ("WEBP",))
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return Sniffed("image", "TIFF", ("TIFF",))
    if head[:2] == b"BM" and len(head) >= 18:
        (info_size,) = struct.unpack_from("<I", head, 14)
        if info_size in _BMP_HEADER_SIZES:
            return Sniffed("image", "BMP", ("BMP",))
    brands = _ftyp_brands(head)
    if brands:
        major, compatible = brands[0], set(brands[1:])
        if major in _IMAGE_BRANDS or (compatible & _IMAGE_BRANDS and major not in _VIDEO_BRANDS):
            if _AVIF_BRANDS & {major, *compatible}:
                return Sniffed("image", "AVIF", ("AVIF", "HEIF"))
            return Sniffed("image", "HEIF", ("HEIF", "AVIF"))
    return None


def _video(data: bytes, head: bytes) -> Sniffed | None:
    brands = _ftyp_brands(head)
    if brands:
        major = brands[0]
        name = "mov" if major == b"qt  " else "3gp" if major[:2] == b"3g" else "mp4"
        return _video_format(name)
    if head[4:8] in _QUICKTIME_ATOMS:
        return _video_format("mov")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _video_format("webm" if b"webm" in head else "mkv")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return _video_format("avi")
    if head.startswith(b"FLV\x01"):
        return _video_format("flv")
    if head.startswith(_ASF_GUID):
        return _video_format("asf")
    if head.startswith(b"\x00\x00\x01\xba"):
        return _video_format("mpeg")
    if head.startswith(b"OggS"):
        return _video_format("ogg")
    if _is_mpegts(data):
        return _video_format("mpegts")
    return None


def _video_format(name: str) -> Sniffed:
    return Sniffed("video", name, (VIDEO_DEMUXERS[name],))


def _ftyp_brands(head: bytes) -> list[bytes]:
    """Major then compatible brands of an ISO base media ``ftyp`` box at offset 0, or []."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return []
    (size,) = struct.unpack_from(">I", head, 0)
    end = min(max(size, 16), len(head))
    brands = [head[8:12]]
    brands.extend(head[i : i + 4] for i in range(16, end - 3, 4))
    return brands


def _is_mpegts(data: bytes) -> bool:
    """MPEG transport stream: a sync byte every 188 bytes (or 192 for M2TS)."""
    for offset, stride in ((0, 188), (4, 192)):
        if len(data) >= offset + 2 * stride + 1 and all(
            data[offset + k * stride] == 0x47 for k in range(3)
        ):
            return True
    return False
