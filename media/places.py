"""Where items sit on the board: the place an item is made at, its extent when turned, an
item made on another's spot nudged off it, and a free spot for a new one. Pure geometry: the
board (``board.py``) and the pages (``web/static/js/items.js``) agree on these sizes."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from media.changes import Kind, Place
from media.ops import HEIGHT, WIDTH, Dice, ItemCreation, Picture, Shape, Sticker, Text

STICKER_SIZE = 160  # a sticker's side at scale 1
DIE_SIZE, DIE_GAP = 100, 20  # a die's side at scale 1, and the gap between two
NEAR = 8  # two items whose centres are closer than this are on the same spot
NUDGE = 32  # the step an item placed on another's spot is moved by
SPOT_STEP = 60  # the grid a free spot is looked for on
SPOT_OBSTACLES = 300  # the topmost items a free spot keeps clear of


def first_place(op: ItemCreation) -> Place:
    """Where an item sits when it is made, from the operation that makes it (whose ``x``,
    ``y`` are a corner or a baseline, as those operations always said)."""
    match op:
        case Sticker():
            half = STICKER_SIZE * op.scale / 2
            return Place(x=op.x + half, y=op.y + half, scale=op.scale, w=None, h=None, rotation=0)
        case Text():  # the text's width as pages draw it, near enough
            x, y = op.x + 0.3 * op.size * len(op.text), op.y - 0.35 * op.size
            return Place(x=x, y=y, scale=1, w=None, h=None, rotation=0)
        case Shape():
            w, h = abs(op.x2 - op.x1), abs(op.y2 - op.y1)
            x, y = (op.x1 + op.x2) / 2, (op.y1 + op.y2) / 2
            return Place(x=x, y=y, scale=None, w=w, h=h, rotation=0)
        case Picture():
            return Place(
                x=op.x + op.w / 2, y=op.y + op.h / 2, scale=None, w=op.w, h=op.h, rotation=0
            )
        case Dice():
            return Place(x=op.x, y=op.y, scale=1, w=None, h=None, rotation=0)


def extent(kind: Kind, data: dict[str, Any], place: Place) -> tuple[float, float]:
    """An item's width and height on the board, turned as it is (its bounding box)."""
    if place["w"] is not None and place["h"] is not None:
        w, h = place["w"], place["h"]
    else:
        scale = place["scale"] or 1
        if kind == "dice":
            count = len(data["values"])
            w, h = (count * DIE_SIZE + (count - 1) * DIE_GAP) * scale, DIE_SIZE * scale
        elif kind == "text":
            w, h = 0.6 * data["size"] * len(data["text"]) * scale, 1.2 * data["size"] * scale
        else:
            w = h = STICKER_SIZE * scale
    turn = math.radians(place["rotation"])
    cos, sin = abs(math.cos(turn)), abs(math.sin(turn))
    return w * cos + h * sin, w * sin + h * cos


def settled(op: ItemCreation, centres: list[tuple[float, float]]) -> ItemCreation:
    """``op``, or, when it would be made on the spot of an item centred at one of
    ``centres``, ``op`` moved off it by steps of ``NUDGE`` along a diagonal, staying on the
    board."""
    taken = _Spots(centres)
    here = first_place(op)
    if not taken.near(here["x"], here["y"]):
        return op
    for step in range(1, 2 * max(WIDTH, HEIGHT) // NUDGE):
        for sx, sy in ((1, 1), (-1, -1), (1, -1), (-1, 1)):
            dx, dy = sx * step * NUDGE, sy * step * NUDGE
            moved = _shifted(op, dx, dy)
            if moved is not None and not taken.near(here["x"] + dx, here["y"] + dy):
                return moved
    return op


def free_spot(
    w: float, h: float, boxes: list[tuple[float, float, float, float]]
) -> tuple[float, float]:
    """The centre of the first spot, in reading order, where an item ``w`` by ``h`` covers
    none of ``boxes`` (centre and half-sizes); the board's centre when there is none."""
    hw, hh = min(w, WIDTH) / 2, min(h, HEIGHT) / 2
    for y in _steps(hh + 20, HEIGHT - hh - 20):
        for x in _steps(hw + 20, WIDTH - hw - 20):
            if all(abs(x - bx) >= hw + bw or abs(y - by) >= hh + bh for bx, by, bw, bh in boxes):
                return x, y
    return WIDTH / 2, HEIGHT / 2


def _steps(start: float, stop: float) -> Iterator[float]:
    value = start
    while value <= stop:
        yield value
        value += SPOT_STEP


def _shifted(op: ItemCreation, dx: float, dy: float) -> ItemCreation | None:
    """``op`` made ``dx``, ``dy`` further on, or None if that leaves the board."""
    if isinstance(op, Shape):
        xs, ys = (op.x1 + dx, op.x2 + dx), (op.y1 + dy, op.y2 + dy)
        if min(xs) < 0 or max(xs) > WIDTH or min(ys) < 0 or max(ys) > HEIGHT:
            return None
        return op.model_copy(update={"x1": xs[0], "x2": xs[1], "y1": ys[0], "y2": ys[1]})
    x, y = op.x + dx, op.y + dy
    if not (0 <= x <= WIDTH and 0 <= y <= HEIGHT):
        return None
    return op.model_copy(update={"x": x, "y": y})


class _Spots:
    """The items' centres, found by cell: is a point near one of them?"""

    def __init__(self, centres: list[tuple[float, float]]) -> None:
        self.cells: dict[tuple[int, int], list[tuple[float, float]]] = {}
        for x, y in centres:
            self.cells.setdefault((int(x // NEAR), int(y // NEAR)), []).append((x, y))

    def near(self, x: float, y: float) -> bool:
        cx, cy = int(x // NEAR), int(y // NEAR)
        return any(
            math.hypot(x - px, y - py) < NEAR
            for i in (-1, 0, 1)
            for j in (-1, 0, 1)
            for px, py in self.cells.get((cx + i, cy + j), ())
        )
