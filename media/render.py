"""Drawing a board as a PNG for the clinical record (Pillow; the sand tray's miniatures, and
the old drawings, through resvg)."""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import resvg_py
from PIL import Image, ImageDraw, ImageFont

from media import miniatures
from media.board import HEIGHT, WIDTH

STICKER_SIDE = 160  # a sticker's side at scale 1, as pages draw it
DIE_SIDE, DIE_GAP = 100, 20  # a die's side and the gap between two, at scale 1
# where a die's pips are, in thirds of its half-side from its centre (as items.js draws them)
PIPS = {
    1: ((0, 0),),
    2: ((-1, -1), (1, 1)),
    3: ((-1, -1), (0, 0), (1, 1)),
    4: ((-1, -1), (1, -1), (-1, 1), (1, 1)),
    5: ((-1, -1), (1, -1), (0, 0), (-1, 1), (1, 1)),
    6: ((-1, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (1, 1)),
}


# each tray's ground, as ``web/static/js/ground.js`` paints it: its base colour, and a light
# seeded pattern over it (sand's grain, water's waves, grass's blades)
GROUNDS = {"sand": "#e6cf9c", "water": "#7fb6d9", "grass": "#8cc46c", "plain": "#f3eee4"}


@lru_cache(maxsize=8)
def _ground(name: str | None) -> Image.Image:
    """The board's ground, ``name`` one of ``GROUNDS`` or None (a white board)."""
    if name not in GROUNDS:
        return Image.new("RGBA", (WIDTH, HEIGHT), (255, 255, 255, 255))
    ground = Image.new("RGBA", (WIDTH, HEIGHT), (*_rgb(GROUNDS[name]), 255))
    layer = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    rng = random.Random(len(name) * 7919)  # noqa: S311 - a pattern, not a secret
    if name == "sand":
        for _ in range(WIDTH * HEIGHT // 120):
            x, y, w, h = rng.random() * WIDTH, rng.random() * HEIGHT, rng.random(), rng.random()
            dark = rng.random() < 0.5
            colour = (120, 90, 40, 31) if dark else (255, 250, 235, 46)
            draw.rectangle((x, y, x + 1 + w * 2, y + 1 + h * 2), fill=colour)
    elif name == "water":
        for y in range(20, HEIGHT, 48):
            shift = rng.random() * 80
            wave = [(x, y + 6 * math.sin((x + shift) / 28)) for x in range(0, WIDTH + 1, 8)]
            draw.line(wave, fill=(235, 248, 255, 89), width=3)
    elif name == "grass":
        for _ in range(WIDTH * HEIGHT // 400):
            x, y = rng.random() * WIDTH, rng.random() * HEIGHT
            light = rng.random() < 0.5
            colour = (210, 240, 170, 51) if light else (40, 100, 30, 51)
            tip = (x + (rng.random() - 0.5) * 6, y - 6 - rng.random() * 8)
            draw.line([(x, y), tip], fill=colour, width=2)
    return Image.alpha_composite(ground, layer)


@lru_cache(maxsize=64)
def _sticker(name: str, size: int) -> Image.Image | None:
    """Miniature ``name`` drawn ``size`` pixels square, as pages draw it; None if unknown."""
    try:
        document = miniatures.svg(name)
    except KeyError:
        return None
    png = resvg_py.svg_to_bytes(svg_string=document, width=size, height=size)
    return Image.open(io.BytesIO(bytes(png))).convert("RGBA")


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def render_png(
    elements: list[dict[str, Any]],
    picture: Callable[[str], bytes | None],
    background: str | None = None,
) -> bytes:
    """The visible elements, in order, on the board's ground (``background``: a tray's, or
    None for a white board) at the board's own size: each stroke where it was drawn, each
    item at its place (centre, size, turn) as the pages draw it."""
    canvas = _ground(background).copy()
    draw = ImageDraw.Draw(canvas)
    for element in elements:
        if not element["visible"]:
            continue
        if element["kind"] == "stroke":
            _stroke(draw, element)
            continue
        layer = _item(element, picture)
        if layer is None:
            continue
        place = element["place"]
        if place["rotation"]:  # the pages turn clockwise; Pillow turns the other way
            layer = layer.rotate(-place["rotation"], Image.Resampling.BICUBIC, expand=True)
        corner = (round(place["x"] - layer.width / 2), round(place["y"] - layer.height / 2))
        # pasted through its own alpha: the canvas is opaque, and a corner may be off the board
        canvas.paste(layer, corner, layer)
    out = io.BytesIO()
    canvas.convert("RGB").save(out, "PNG", optimize=True)
    return out.getvalue()


def _stroke(draw: ImageDraw.ImageDraw, element: dict[str, Any]) -> None:
    dx, dy, data = element["dx"], element["dy"], element["data"]
    points = [(x + dx, y + dy) for x, y, _ in element["points"]]
    width = max(1, round(data["width"]))
    if len(points) > 1:
        draw.line(points, fill=_rgb(data["colour"]), width=width, joint="curve")
    for x, y in (points[0], points[-1]):
        r = width / 2
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_rgb(data["colour"]))


def _item(element: dict[str, Any], picture: Callable[[str], bytes | None]) -> Image.Image | None:
    """An item drawn upright at its size, centred in its own layer; None if it cannot be."""
    kind, data, place = element["kind"], element["data"], element["place"]
    scale = place.get("scale") or 1
    if kind == "sticker":
        return _sticker(data["name"], max(1, round(STICKER_SIDE * scale)))
    if kind == "picture":
        raw = picture(data["object"])
        if not raw:
            return None
        size = (max(1, round(place["w"])), max(1, round(place["h"])))
        return Image.open(io.BytesIO(raw)).convert("RGBA").resize(size)
    if kind == "text":
        font = ImageFont.load_default(size=data["size"] * scale)
        width = max(1, round(font.getlength(data["text"])))
        layer = Image.new("RGBA", (width, max(1, round(data["size"] * scale * 1.2))))
        ImageDraw.Draw(layer).text(
            (width / 2, layer.height / 2), data["text"], fill=_rgb(data["colour"]), font=font,
            anchor="mm",
        )  # fmt: skip
        return layer
    if kind == "shape":
        return _shape(data, place["w"], place["h"])
    if kind == "dice":
        return _dice(data["values"], scale)
    return None


def _shape(data: dict[str, Any], w: float, h: float) -> Image.Image:
    """A shape of ``w`` by ``h``, with room around it for its line (and an arrow's head)."""
    line = max(1, round(data["width"]))
    margin = line + max(16, line * 3)
    layer = Image.new("RGBA", (round(w) + 2 * margin, round(h) + 2 * margin))
    draw = ImageDraw.Draw(layer)
    box = (margin, margin, margin + round(w), margin + round(h))
    colour, fill = _rgb(data["colour"]), _rgb(data["fill"]) if data.get("fill") else None
    if data["kind"] == "rect":
        draw.rectangle(box, outline=colour, fill=fill, width=line)
    elif data["kind"] == "ellipse":
        draw.ellipse(box, outline=colour, fill=fill, width=line)
    else:  # a line or an arrow keeps the way it was drawn
        right, down = data["x2"] >= data["x1"], data["y2"] >= data["y1"]
        x1, x2 = (box[0], box[2]) if right else (box[2], box[0])
        y1, y2 = (box[1], box[3]) if down else (box[3], box[1])
        draw.line((x1, y1, x2, y2), fill=colour, width=line)
        if data["kind"] == "arrow":
            angle, head = math.atan2(y2 - y1, x2 - x1), max(16, line * 3)
            for side in (-1, 1):
                tip = (
                    x2 - head * math.cos(angle + side * math.pi / 7),
                    y2 - head * math.sin(angle + side * math.pi / 7),
                )
                draw.line((x2, y2, *tip), fill=colour, width=line)
    return layer


def _dice(values: list[int], scale: float) -> Image.Image:
    """Dice side by side, as the pages draw them: white faces, dark pips."""
    side, gap = round(DIE_SIDE * scale), round(DIE_GAP * scale)
    layer = Image.new("RGBA", (len(values) * side + (len(values) - 1) * gap, side))
    draw = ImageDraw.Draw(layer)
    dark, r = (17, 24, 39), side * 0.09
    for i, value in enumerate(values):
        left = i * (side + gap)
        draw.rounded_rectangle(
            (left, 0, left + side - 1, side - 1), radius=side * 0.15, fill=(255, 255, 255),
            outline=dark, width=max(2, round(side * 0.04)),
        )  # fmt: skip
        for px, py in PIPS.get(value, ()):
            cx, cy = left + side / 2 + px * side * 0.27, side / 2 + py * side * 0.27
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=dark)
    return layer
