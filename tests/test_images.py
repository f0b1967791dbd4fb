"""Shared pictures: sniffed, bounded, re-encoded (WebP, or JPEG and PNG without it), sized,
turned the right way up, and stripped of every piece of metadata."""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable

import pytest
from PIL import Image, ImageCms, ImageDraw, ImageFilter
from PIL.PngImagePlugin import PngInfo

from media import images
from media.images import MAX_BYTES, MAX_SIDE, sanitize
from server.exceptions import PictureError

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    b' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
    b' xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="51,30.2N"/>'
    b"</rdf:RDF></x:xmpmeta>"
)
# what a WebP may hold that is picture and nothing else: no ICCP, EXIF or XMP chunk
PICTURE_CHUNKS = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}
VP8X_METADATA = 0x20 | 0x08 | 0x04  # its flags for an ICC profile, EXIF, XMP


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


def _exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0112] = orientation
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.9)}
    return exif


def _save(image: Image.Image, kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def _with_everything(kind: str) -> bytes:
    """A photo-like picture carrying EXIF with GPS, XMP, an ICC profile and, where the format
    has one, a comment."""
    image = _photo(800, 600)
    if kind == "PNG":
        text = PngInfo()
        text.add_text("Comment", "12 Acacia Avenue")
        text.add_itxt("XML:com.adobe.xmp", XMP.decode())
        return _save(image, "PNG", exif=_exif(), icc_profile=ICC, pnginfo=text)
    if kind == "JPEG":
        return _save(image, "JPEG", exif=_exif(), icc_profile=ICC, xmp=XMP, comment=b"Acacia")
    return _save(image, "WEBP", exif=_exif(), icc_profile=ICC, xmp=XMP)


def _photo(width: int, height: int) -> Image.Image:
    """Many colours: gradients and soft grain, as a camera makes."""
    rnd = random.Random(width * height)
    base = Image.linear_gradient("L").resize((width, height))
    grain = Image.frombytes("L", (width, height), rnd.randbytes(width * height))
    grain = grain.filter(ImageFilter.GaussianBlur(1))
    return Image.merge("RGB", (base, grain, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))


def _drawing(width: int, height: int) -> Image.Image:
    """A few flat colours, as a child draws on a tablet."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 20, width // 2, height // 2), fill="#e63946", outline="black", width=4)
    draw.rectangle((width // 2, height // 3, width - 20, height - 20), fill="#2a9d8f")
    draw.line((0, height - 1, width, 0), fill="#ffb703", width=9)
    return image


def _chunks(webp: bytes) -> dict[bytes, bytes]:
    """A WebP's chunks by their kind."""
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
    found, at = {}, 12
    while at < len(webp):
        kind, size = webp[at : at + 4], struct.unpack("<I", webp[at + 4 : at + 8])[0]
        found[kind] = webp[at + 8 : at + 8 + size]
        at += 8 + size + (size & 1)
    return found


def _opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _assert_bare(data: bytes) -> None:
    """No metadata of any kind, judged by the decoder and by the bytes themselves."""
    image = _opened(data)
    assert dict(image.getexif()) == {}
    assert not {"exif", "xmp", "icc_profile", "comment"} & set(image.info)
    for secret in (b"Acacia", b"PhoneMaker", b"Exif", b"GPSLatitude", b"xmpmeta", ICC[40:]):
        assert secret not in data
    if data.startswith(b"RIFF"):
        chunks = _chunks(data)
        assert set(chunks) <= PICTURE_CHUNKS, set(chunks)
        assert not chunks.get(b"VP8X", b"\x00")[0] & VP8X_METADATA


# -- metadata


@pytest.mark.hazard("HZ-06")
def test_a_photo_with_gps_comes_out_with_no_metadata() -> None:
    raw = _jpeg_with_gps()
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(0x8825)  # the GPS really is there
    clean = sanitize(raw)
    assert clean.mime == "image/webp"
    _assert_bare(clean.data)
    assert (clean.width, clean.height) == (480, 640)  # turned the right way up first


@pytest.mark.hazard("HZ-06")
@pytest.mark.parametrize("kind", ["JPEG", "PNG", "WEBP"])
def test_exif_gps_xmp_icc_and_comments_do_not_survive(kind: str) -> None:
    raw = _with_everything(kind)
    before = _opened(raw)
    assert before.getexif().get_ifd(0x8825) and {"icc_profile", "xmp"} <= set(before.info)
    clean = sanitize(raw)
    assert clean.mime == "image/webp" and _chunks(clean.data).keys() == {b"VP8 "}  # lossy
    _assert_bare(clean.data)


@pytest.mark.hazard("HZ-06")
def test_without_webp_pictures_are_jpeg_or_png_as_bare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "WEBP", False)
    clean = sanitize(_with_everything("JPEG"))
    assert clean.mime == "image/jpeg" and _opened(clean.data).format == "JPEG"
    _assert_bare(clean.data)
    see_through = _save(
        Image.new("RGBA", (50, 40), (0, 90, 0, 100)), "PNG", exif=_exif(), icc_profile=ICC
    )
    clean = sanitize(see_through)
    assert clean.mime == "image/png" and _opened(clean.data).mode == "RGBA"
    _assert_bare(clean.data)
    opaque = _save(Image.new("RGBA", (50, 40), (0, 90, 0, 255)), "PNG")
    assert sanitize(opaque).mime == "image/jpeg"  # declared transparency that nothing uses


# -- the right way up, the right size


QUADRANTS = ("red", "lime", "blue", "yellow")  # top left, top right, bottom left, bottom right


@pytest.mark.parametrize(
    "orientation, size, corners",
    [
        (1, (80, 40), ("red", "lime", "blue", "yellow")),
        (3, (80, 40), ("yellow", "blue", "lime", "red")),  # turned half round
        (6, (40, 80), ("blue", "red", "yellow", "lime")),  # a quarter clockwise
        (8, (40, 80), ("lime", "yellow", "red", "blue")),  # a quarter anticlockwise
    ],
)
def test_the_exif_orientation_is_applied_before_it_is_dropped(
    orientation: int, size: tuple[int, int], corners: tuple[str, ...]
) -> None:
    stored = Image.new("RGB", (80, 40))
    for colour, box in zip(QUADRANTS, [(0, 0), (40, 0), (0, 20), (40, 20)], strict=True):
        stored.paste(colour, (*box, box[0] + 40, box[1] + 20))
    clean = sanitize(_save(stored, "JPEG", exif=_exif(orientation), quality=95))
    image = _opened(clean.data).convert("RGB")
    assert image.size == size == (clean.width, clean.height)
    w, h = size
    seen = [image.getpixel(p) for p in [(5, 5), (w - 6, 5), (5, h - 6), (w - 6, h - 6)]]
    for got, colour in zip(seen, corners, strict=True):
        want = Image.new("RGB", (1, 1), colour).getpixel((0, 0))
        assert max(abs(a - b) for a, b in zip(got, want, strict=True)) < 40, (got, colour)
    _assert_bare(clean.data)


@pytest.mark.parametrize(
    "size, shared",
    [
        ((4000, 3000), (2048, 1536)),
        ((1000, 6000), (341, 2048)),
        ((MAX_SIDE, 10), (MAX_SIDE, 10)),
        ((300, 200), (300, 200)),  # never enlarged
    ],
)
def test_the_long_side_is_at_most_2048(size: tuple[int, int], shared: tuple[int, int]) -> None:
    picture = Image.linear_gradient("L").resize(size).convert("RGB")
    clean = sanitize(_save(picture, "JPEG"))
    assert (clean.width, clean.height) == shared == _opened(clean.data).size


# -- what kind of WebP


def test_a_drawing_is_kept_pixel_for_pixel_and_small() -> None:
    drawing = _drawing(1200, 900)
    clean = sanitize(_save(drawing, "PNG"))
    assert clean.mime == "image/webp" and set(_chunks(clean.data)) == {b"VP8L"}  # lossless
    assert _opened(clean.data).convert("RGB").tobytes() == drawing.tobytes()
    assert len(clean.data) < len(_save(drawing, "WEBP", quality=images.QUALITY))


def test_a_photo_is_lossy_and_smaller_than_the_jpeg_it_replaces() -> None:
    photo = _save(_photo(1600, 1200), "JPEG", quality=95)
    clean = sanitize(photo)
    assert set(_chunks(clean.data)) == {b"VP8 "}
    source = _opened(photo).convert("RGB")
    assert len(clean.data) < len(_save(source, "JPEG", quality=images.JPEG_QUALITY))


def _noise() -> Image.Image:
    rnd = random.Random(5)
    noise = Image.frombytes("P", (256, 256), rnd.randbytes(256 * 256))
    noise.putpalette(rnd.randbytes(768))
    return noise


def _dithered() -> Image.Image:
    return _photo(512, 384).quantize(256, dither=Image.Dither.FLOYDSTEINBERG)


@pytest.mark.parametrize("make, chunk", [(_noise, b"VP8L"), (_dithered, b"VP8 ")])
def test_few_colours_that_cost_more_than_a_bit_a_pixel_keep_the_smaller_encoding(
    make: Callable[[], Image.Image], chunk: bytes
) -> None:
    """256 colours each: noise is smaller kept exactly, a dithered photo smaller lossy."""
    picture = make()
    clean = sanitize(_save(picture, "PNG"))
    pixels = picture.convert("RGB")
    lossless = images._save(
        pixels, "WEBP", lossless=True, quality=images.LOSSLESS_EFFORT, method=images.METHOD
    )
    lossy = images._save(pixels, "WEBP", quality=images.QUALITY, method=images.METHOD)
    assert len(clean.data) == min(len(lossless), len(lossy))
    assert set(_chunks(clean.data)) == {chunk}


# -- transparency


def test_transparency_is_kept() -> None:
    clean = sanitize(_save(Image.new("RGBA", (3000, 100), (255, 0, 0, 128)), "PNG"))
    assert clean.mime == "image/webp" and (clean.width, clean.height) == (2048, 68)
    image = _opened(clean.data)
    assert image.mode == "RGBA" and abs(image.getpixel((1000, 30))[3] - 128) <= 2


@pytest.mark.hazard("HZ-06")
@pytest.mark.parametrize("webp", [True, False])
def test_nothing_is_left_under_what_is_transparent(
    webp: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cut-out keeps no trace of what was cut away: the colour under a fully transparent
    pixel is invisible, but would come back with the alpha taken off."""
    monkeypatch.setattr(images, "WEBP", webp)
    cut = Image.new("RGBA", (200, 100), (200, 30, 40, 0))  # hidden: a colour, invisible
    cut.paste((10, 200, 10, 255), (0, 0, 100, 100))
    clean = sanitize(_save(cut, "PNG"))
    image = _opened(clean.data)
    assert image.getpixel((50, 50)) == (10, 200, 10, 255)
    assert image.getpixel((150, 50)) == (0, 0, 0, 0)


def test_a_transparent_gif_keeps_its_transparency() -> None:
    gif = Image.new("P", (40, 40), 1)
    gif.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    gif.paste(0, (0, 0, 20, 40))
    clean = sanitize(_save(gif, "GIF", transparency=1))
    image = _opened(clean.data)
    assert image.mode == "RGBA" and image.getpixel((30, 20))[3] == 0
    assert image.getpixel((10, 20)) == (0, 0, 0, 255)


# -- animations


def test_an_animated_gif_is_shared_as_its_first_frame_still() -> None:
    """As before: the first frame, and nothing moves."""
    frames = [Image.new("RGB", (60, 40), colour) for colour in ("red", "blue", "lime")]
    raw = _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert _opened(raw).n_frames == 3
    clean = sanitize(raw)
    image = _opened(clean.data)
    assert clean.mime == "image/webp" and getattr(image, "n_frames", 1) == 1
    assert b"ANIM" not in clean.data and image.convert("RGB").getpixel((30, 20)) == (255, 0, 0)


# -- what is refused


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
        (b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8, "could not be read"),
        (b"x" * (MAX_BYTES + 1), "limited to 8 MB"),
    ],
)
def test_what_is_not_a_picture_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(PictureError, match=message):
        sanitize(data)


def test_a_png_named_like_html_is_judged_by_its_content() -> None:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "PNG")
    assert sanitize(out.getvalue()).mime == "image/webp"


def _bomb(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels in a few kilobytes."""

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
