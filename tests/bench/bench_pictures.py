"""Shared pictures: bytes and CPU time of ``media/images.py`` on three generated pictures (a
12-megapixel phone photo, a flat-colour drawing, a transparent cut-out), as shared now (WebP
at most 2048 px), without WebP (JPEG, or PNG for transparency, at 2048 px), and as before
(JPEG or PNG at most 1600 px). Times are the CPU time of the thread (what the server pays,
whatever else the machine runs), the median of several runs: the whole ``sanitize`` (decode,
turn, resize, encode) and the encoding alone."""

from __future__ import annotations

import io
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import PIL
from PIL import Image, ImageChops, ImageDraw, ImageFilter, features

from media import images
from tests.bench.report import write

RUNS = 7


def photo(width: int = 4032, height: int = 3024) -> bytes:
    """Gradients, soft shapes, fine detail and grain, as a phone's JPEG."""
    rnd = random.Random(7)
    red = Image.linear_gradient("L").resize((width, height)).rotate(30)
    green = Image.radial_gradient("L").resize((width, height))
    blue = Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90).resize((width, height))
    base = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(base)
    for _ in range(60):
        x, y, s = rnd.randrange(width), rnd.randrange(height), rnd.randrange(40, 600)
        draw.ellipse((x, y, x + s, y + s), fill=tuple(rnd.randbytes(3)))
    base = base.filter(ImageFilter.GaussianBlur(6))
    draw = ImageDraw.Draw(base)
    for _ in range(3000):  # fine detail: grass, hair, the weave of a jumper
        x, y = rnd.randrange(width), rnd.randrange(height)
        end = (x + rnd.randrange(-40, 40), y + rnd.randrange(-80, 0))
        draw.line([(x, y), end], fill=tuple(rnd.randbytes(3)), width=rnd.randrange(1, 4))
    grain = [
        Image.frombytes("L", (width, height), rnd.randbytes(width * height))
        .filter(ImageFilter.GaussianBlur(1))
        .point(lambda v: 128 + (v - 128) // 3)
        for _ in range(3)
    ]
    picture = ImageChops.add(base, Image.merge("RGB", grain), offset=-128)
    return _save(picture, "JPEG", quality=90)


def drawing(width: int = 1800, height: int = 1200) -> bytes:
    """Flat colours, outlines and a line of text, as drawn on a tablet."""
    rnd = random.Random(3)
    picture = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(picture)
    colours = ["#e63946", "#2a9d8f", "#f4a261", "#264653", "#ffb703", "#8ecae6"]
    for _ in range(40):
        x, y, s = rnd.randrange(width), rnd.randrange(height), rnd.randrange(60, 400)
        colour, kind = rnd.choice(colours), rnd.randrange(3)
        if kind == 0:
            draw.rectangle((x, y, x + s, y + s // 2), fill=colour, outline="black", width=6)
        elif kind == 1:
            draw.ellipse((x, y, x + s, y + s), fill=colour, outline="black", width=6)
        else:
            points = [(x, y), (x + s, y + rnd.randrange(-200, 200)), (x + 2 * s, y)]
            draw.line(points, fill=colour, width=14, joint="curve")
    draw.text((60, 60), "My house and my dog", fill="black", font_size=90)
    return _save(picture, "PNG")


def cutout(side: int = 1200) -> bytes:
    """A sticker-like face with smooth edges on a transparent ground, a band half see-through."""
    big = Image.new("RGBA", (2 * side, 2 * side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    edge = 2 * side - 200
    draw.ellipse((200, 200, edge, edge), fill=(250, 200, 40, 255), outline=(120, 60, 0), width=30)
    draw.ellipse((700, 800, 900, 1000), fill=(40, 40, 40, 255))
    draw.ellipse((1500, 800, 1700, 1000), fill=(40, 40, 40, 255))
    draw.arc((700, 1000, 1700, 1800), 20, 160, fill=(150, 30, 30, 255), width=40)
    draw.rectangle((0, 2 * side - 300, 2 * side, 2 * side), fill=(60, 120, 220, 128))
    return _save(big.resize((side, side), Image.Resampling.LANCZOS), "PNG")


def _save(picture: Image.Image, kind: str, **options: Any) -> bytes:
    out = io.BytesIO()
    picture.save(out, kind, **options)
    return out.getvalue()


@contextmanager
def shared_as(webp: bool, side: int) -> Iterator[None]:
    """``media/images.py`` with or without WebP, at most ``side`` px."""
    saved = images.WEBP, images.MAX_SIDE
    images.WEBP, images.MAX_SIDE = webp, side
    try:
        yield
    finally:
        images.WEBP, images.MAX_SIDE = saved


def cpu_ms(work: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        began = time.thread_time()
        work()
        times.append((time.thread_time() - began) * 1000)
    return round(statistics.median(times), 1)


def measure() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for make in (photo, drawing, cutout):
        raw = make()
        row: dict[str, Any] = {"input_bytes": len(raw)}
        for name, webp, side in (("before", False, 1600), ("fallback", False, 2048)) + (
            (("now", True, 2048),) if images.WEBP else ()
        ):
            with shared_as(webp, side):
                clean = images.sanitize(raw)
                fresh = images.redraw(raw)
                row[name] = {
                    "mime": clean.mime,
                    "size": f"{clean.width}x{clean.height}",
                    "bytes": len(clean.data),
                    "sanitize_cpu_ms": cpu_ms(partial(images.sanitize, raw)),
                    "encode_cpu_ms": cpu_ms(partial(images.encode, fresh)),
                }
        figures[make.__name__] = row
    return figures


def main() -> None:
    figures = measure()
    for name, row in figures.items():
        print(name, row)
    versions = {"pillow": PIL.__version__, "libwebp": str(features.version("webp"))}
    write("shared_pictures", {"runs": RUNS, **figures}, versions)


if __name__ == "__main__":
    main()
