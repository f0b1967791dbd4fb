"""Shared pictures: sniffed, bounded, re-encoded, stripped of every piece of metadata."""

from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image

from media.images import MAX_BYTES, sanitize
from server.exceptions import PictureError


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (640, 480), (120, 160, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # make
    exif[0x0112] = 6  # orientation: rotated
    gps = {1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.9)}
    exif[0x8825] = gps
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"12 Acacia Avenue")
    return out.getvalue()


@pytest.mark.hazard("HZ-06")
def test_a_photo_with_gps_comes_out_with_no_metadata() -> None:
    raw = _jpeg_with_gps()
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(0x8825)  # the GPS really is there
    clean = sanitize(raw)
    image = Image.open(io.BytesIO(clean.data))
    assert clean.mime == "image/jpeg"
    assert dict(image.getexif()) == {}
    assert (
        "exif" not in image.info and "comment" not in image.info and "icc_profile" not in image.info
    )
    assert (
        b"Acacia" not in clean.data
        and b"PhoneMaker" not in clean.data
        and b"Exif" not in clean.data
    )
    assert (clean.width, clean.height) == (480, 640)  # turned the right way up first


def test_transparency_is_kept_as_png() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (3000, 100), (255, 0, 0, 128)).save(out, "PNG")
    clean = sanitize(out.getvalue())
    assert clean.mime == "image/png" and (clean.width, clean.height) == (1600, 53)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"<html><script>alert(1)</script></html>", "not a picture"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "not a picture",
        ),
        (b"\x89PNG\r\n\x1a\n" + b"this is not really a png", "could not be read"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "could not be read"),
        (b"x" * (MAX_BYTES + 1), "limited to 8 MB"),
    ],
)
def test_what_is_not_a_picture_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(PictureError, match=message):
        sanitize(data)


def test_a_png_named_like_html_is_judged_by_its_content() -> None:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "PNG")
    assert sanitize(out.getvalue()).mime == "image/jpeg"


def _bomb(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels in a few kilobytes."""
    import struct

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (width + 1) * 16, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = _bomb(50_000, 50_000)
    assert len(bomb) < 10_000
    with pytest.raises(PictureError, match="too large"):
        sanitize(bomb)
