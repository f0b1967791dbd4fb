"""Drawing a board as a PNG for the clinical record (Pillow; the sand tray's miniatures, and
the old drawings, through resvg)."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import resvg_py
from PIL import Image, ImageDraw, ImageFont

from media import miniatures
from media.board import HEIGHT, WIDTH

STICKER_SIDE = 160  # a sticker's side at scale 1, as pages draw it


@lru_cache(maxsize=64)
def _sticker(name: str, size: int) -> Image.Image | None:
    """Miniature ``name`` drawn ``size`` pixels square, as pages draw it; None if unknown."""
    try:
        document = miniatures.svg(name)
    except KeyError:
        return None
    png = resvg_py.svg_to_bytes(svg_string=document, width=size, height=size)
    return Image.open(io.BytesIO(bytes(png))).convert("RGBA")


def _draw_sticker(canvas: Image.Image, element: dict[str, Any]) -> None:
    """At its place (centre, scale, turn clockwise) when it has one, else where it was made
    (its top-left corner) moved by its offset."""
    data, place = element["data"], element.get("place")
    scale = (place or {}).get("scale") or data["scale"]
    image = _sticker(data["name"], max(1, round(STICKER_SIDE * scale)))
    if image is None:
        return
    if place is None:
        corner = (data["x"] + element["dx"], data["y"] + element["dy"])
    else:
        if place["rotation"]:
            image = image.rotate(-place["rotation"], Image.Resampling.BICUBIC, expand=True)
        corner = (place["x"] - image.width / 2, place["y"] - image.height / 2)
    # pasted through its own alpha: the canvas is opaque, and a corner may be off the board
    canvas.paste(image, (round(corner[0]), round(corner[1])), image)


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def render_png(elements: list[dict[str, Any]], picture: Callable[[str], bytes | None]) -> bytes:
    """The visible elements, in order, on a white board of the board's own size."""
    canvas = Image.new("RGBA", (WIDTH, HEIGHT), (255, 255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for element in elements:
        if not element["visible"]:
            continue
        dx, dy, data = element["dx"], element["dy"], element["data"]
        kind = element["kind"]
        if kind == "stroke":
            points = [(x + dx, y + dy) for x, y, _ in element["points"]]
            width = max(1, round(data["width"]))
            if len(points) > 1:
                draw.line(points, fill=_rgb(data["colour"]), width=width, joint="curve")
            for x, y in (points[0], points[-1]):
                r = width / 2
                draw.ellipse((x - r, y - r, x + r, y + r), fill=_rgb(data["colour"]))
        elif kind == "shape":
            box = (
                sorted((data["x1"] + dx, data["x2"] + dx)),
                sorted((data["y1"] + dy, data["y2"] + dy)),
            )
            rect = (box[0][0], box[1][0], box[0][1], box[1][1])
            fill = _rgb(data["fill"]) if data.get("fill") else None
            width = max(1, round(data["width"]))
            if data["kind"] == "rect":
                draw.rectangle(rect, outline=_rgb(data["colour"]), fill=fill, width=width)
            elif data["kind"] == "ellipse":
                draw.ellipse(rect, outline=_rgb(data["colour"]), fill=fill, width=width)
            else:
                draw.line(
                    (data["x1"] + dx, data["y1"] + dy, data["x2"] + dx, data["y2"] + dy),
                    fill=_rgb(data["colour"]),
                    width=width,
                )
        elif kind == "text":
            font = ImageFont.load_default(size=data["size"])
            draw.text(
                (data["x"] + dx, data["y"] + dy - data["size"]),
                data["text"],
                fill=_rgb(data["colour"]),
                font=font,
            )
        elif kind == "sticker":
            _draw_sticker(canvas, element)
        elif kind == "picture":
            raw = picture(data["object"])
            if raw:
                image = (
                    Image.open(io.BytesIO(raw))
                    .convert("RGBA")
                    .resize((round(data["w"]), round(data["h"])))
                )
                canvas.alpha_composite(image, (round(data["x"] + dx), round(data["y"] + dy)))
    out = io.BytesIO()
    canvas.convert("RGB").save(out, "PNG", optimize=True)
    return out.getvalue()
