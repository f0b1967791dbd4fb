"""Making a shared picture safe: the real type is sniffed (never the name or the declared
type), the picture is decoded within bounds, re-drawn into fresh pixels, and re-encoded
with no metadata at all, so a photo taken at home cannot say where a child lives.

What is shared is WebP, sized for a board on any screen (``MAX_SIDE``): a photo lossy, a
drawing, screenshot or cut-out (few colours) pixel for pixel. Where Pillow was built
without WebP, a JPEG, or a PNG where transparency needs it. Pictures stored earlier stay
what they were (JPEG or PNG), with their type beside them."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError, features

from server.exceptions import PictureError

MAX_BYTES = 8 * 1024 * 1024  # what may be sent
MAX_PIXELS = 24_000_000  # what may be decoded (a 6000 x 4000 photo)
MAX_SIDE = 2048  # what is shared: sharp on a board as wide as a large screen

WEBP = features.check("webp")  # read when encoding, so tests can take it away
# lossy WebP, for photos: at 82 a 2048 px photo is a third smaller than a JPEG at 85 and as
# faithful (PSNR); method 4 costs twice as much for 1% fewer bytes (docs/performance.md)
QUALITY, METHOD = 82, 2
# at most this many colours is a drawing, a screenshot or a cut-out: lossless WebP keeps it
# exactly and is smaller than lossy; unless it costs more than a bit a pixel (a dithered
# photo), when the lossy one is made too and the smaller kept
GRAPHIC_COLOURS, LOSSLESS_EFFORT, LOSSLESS_BITS = 4096, 50, 1
JPEG_QUALITY = 85  # without WebP

SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
}


@dataclass(frozen=True)
class CleanPicture:
    data: bytes
    mime: str
    width: int
    height: int


def sniff(data: bytes) -> str:
    for magic, kind in SIGNATURES.items():
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    raise PictureError("That file is not a picture we can share (PNG, JPEG, GIF or WebP).")


def sanitize(data: bytes) -> CleanPicture:
    """Refuse or clean ``data``. An animation gives its first frame, still."""
    fresh = redraw(data)
    encoded, mime = encode(fresh)
    return CleanPicture(encoded, mime, fresh.width, fresh.height)


def redraw(data: bytes) -> Image.Image:
    """The pixels of the picture in ``data`` and nothing else: bounded, the right way up, at
    most ``MAX_SIDE`` a side; RGBA where something in it is transparent, else RGB."""
    if len(data) > MAX_BYTES:
        raise PictureError(f"Pictures are limited to {MAX_BYTES // (1024 * 1024)} MB.")
    image = _decode(data, sniff(data))
    upright = ImageOps.exif_transpose(image)  # keep it the right way up, then drop EXIF
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    pixels = upright.convert("RGBA" if has_alpha else "RGB")
    pixels.thumbnail((MAX_SIDE, MAX_SIDE))
    if has_alpha:
        pixels = _visible(pixels)
    return Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())  # pixels only, no info


def _decode(data: bytes, kind: str) -> Image.Image:
    """The picture's (first) frame, refused before decoding when it claims too many pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[kind])
            width, height = image.size
            if width * height > MAX_PIXELS or width < 1 or height < 1:
                raise PictureError("That picture is too large to share.")
            image.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise PictureError("That picture is too large to share.") from exc
    except PictureError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PictureError("That picture could not be read. It may be damaged.") from exc
    return image


def _visible(rgba: Image.Image) -> Image.Image:
    """``rgba`` with nothing left under its fully transparent pixels (a cut-out keeps no
    trace of what was cut away), and without its alpha when every pixel is opaque."""
    alpha = rgba.getchannel("A")
    if alpha.getextrema() == (255, 255):
        return rgba.convert("RGB")
    seen = alpha.point(lambda a: 255 if a else 0)
    return Image.composite(rgba, Image.new("RGBA", rgba.size), seen)


def encode(image: Image.Image) -> tuple[bytes, str]:
    """``image`` (RGB, or RGBA when it has transparency; no metadata) and its type."""
    if not WEBP:
        if image.mode == "RGBA":
            return _save(image, "PNG", optimize=True), "image/png"
        return _save(image, "JPEG", quality=JPEG_QUALITY), "image/jpeg"
    if image.getcolors(GRAPHIC_COLOURS) is None:  # stops counting past the limit: cheap
        return _save(image, "WEBP", quality=QUALITY, method=METHOD), "image/webp"
    kept = _save(image, "WEBP", lossless=True, quality=LOSSLESS_EFFORT, method=METHOD)
    if len(kept) * 8 > LOSSLESS_BITS * image.width * image.height:
        lossy = _save(image, "WEBP", quality=QUALITY, method=METHOD)
        kept = min(kept, lossy, key=len)
    return kept, "image/webp"


def _save(image: Image.Image, kind: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()
