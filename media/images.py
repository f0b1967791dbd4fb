"""Making a shared picture safe: the real type is sniffed (never the name or the declared
type), the picture is decoded within bounds, re-drawn into fresh pixels, and re-encoded
with no metadata at all, so a photo taken at home cannot say where a child lives."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from server.exceptions import PictureError

MAX_BYTES = 8 * 1024 * 1024  # what may be sent
MAX_PIXELS = 24_000_000  # what may be decoded (a 6000 x 4000 photo)
MAX_SIDE = 1600  # what is shared

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
    """Refuse or clean ``data``; returns a PNG (with transparency) or a JPEG."""
    if len(data) > MAX_BYTES:
        raise PictureError(f"Pictures are limited to {MAX_BYTES // (1024 * 1024)} MB.")
    kind = sniff(data)
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
    upright = ImageOps.exif_transpose(image)  # keep it the right way up, then drop EXIF
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    pixels = upright.convert("RGBA" if has_alpha else "RGB")
    pixels.thumbnail((MAX_SIDE, MAX_SIDE))
    fresh = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())  # pixels only, no info
    out = io.BytesIO()
    if has_alpha:
        fresh.save(out, "PNG", optimize=True)
        mime = "image/png"
    else:
        fresh.save(out, "JPEG", quality=85)
        mime = "image/jpeg"
    return CleanPicture(out.getvalue(), mime, fresh.width, fresh.height)
