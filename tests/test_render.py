"""A board drawn as a PNG for the record shows each item where it was left: at its place, its
size and its turn, as the pages draw it, not where it was first put."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from media.board import Board
from media.ops import parse_op
from media.render import GROUNDS, render_png

RED, BLUE = (200, 30, 30), (29, 78, 216)


def _board(*ops: dict[str, Any]) -> Board:
    board = Board()
    for raw in ops:
        op = parse_op(raw)
        board.check("therapist", op, may_clear=True, therapist=True)
        board.apply("therapist", op)
    return board


def _png(board: Board) -> Image.Image:
    raw = render_png(board.snapshot()["elements"], lambda _: None)
    return Image.open(io.BytesIO(raw)).convert("RGB")


def _near(pixel: tuple[int, int, int], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(pixel, colour, strict=True))


def _count(image: Image.Image, box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> int:
    return sum(1 for pixel in image.crop(box).get_flattened_data() if _near(pixel, colour))


def test_moved_and_turned_items_are_drawn_where_they_were_left() -> None:
    board = _board(
        {"op": "shape", "id": "r", "kind": "rect", "x1": 100, "y1": 100, "x2": 300, "y2": 200,
         "colour": "#c81e1e", "width": 4, "fill": "#c81e1e"},
        {"op": "text", "id": "t", "x": 100, "y": 900, "text": "HELLO", "colour": "#1d4ed8",
         "size": 60},
        {"op": "transform", "target": "r", "x": 1200, "y": 800, "rotation": 90, "w": 200,
         "h": 100},
        {"op": "transform", "target": "t", "x": 1200, "y": 300, "rotation": 0, "scale": 2},
    )  # fmt: skip
    image = _png(board)
    assert _count(image, (90, 90, 310, 210), RED) == 0  # not where it was made
    # turned a quarter: 100 wide and 200 tall around its new centre
    assert _count(image, (1160, 710, 1240, 890), RED) > 0.9 * 80 * 180
    assert _count(image, (1050, 740, 1140, 860), RED) == 0
    assert _count(image, (80, 850, 400, 950), BLUE) == 0
    assert _count(image, (1000, 250, 1400, 350), BLUE) > 500  # twice as big, at its new place


def test_dice_are_drawn_with_their_pips() -> None:
    board = _board({"op": "dice", "id": "d", "values": [6, 1], "x": 700, "y": 500})
    place = board.snapshot()["elements"][0]["place"]
    image = _png(board)
    dark = (17, 24, 39)
    x, y = round(place["x"]), round(place["y"])
    assert _count(image, (x - 120, y - 50, x - 10, y + 50), dark) > 6 * 50  # six pips and edge
    assert _near(image.getpixel((x - 500, y - 300)), (255, 255, 255))


def test_the_board_is_drawn_on_its_tray() -> None:
    """Each tray's ground under everything (as the pages paint it), and white without one;
    what is on the board is drawn over it."""
    board = _board(
        {"op": "shape", "id": "r", "kind": "rect", "x1": 700, "y1": 500, "x2": 900, "y2": 700,
         "colour": "#c81e1e", "width": 4, "fill": "#c81e1e"},
    )  # fmt: skip
    elements = board.snapshot()["elements"]
    for name, colour in GROUNDS.items():
        raw = render_png(elements, lambda _: None, name)
        image = Image.open(io.BytesIO(raw)).convert("RGB")
        ground = [image.getpixel((x, 100)) for x in range(0, 1600, 16)]
        base = (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))
        assert sum(1 for p in ground if _near(p, base)) > len(ground) * 0.6, name
        assert _near(image.getpixel((800, 600)), RED)  # over the ground
    white = Image.open(io.BytesIO(render_png(elements, lambda _: None))).convert("RGB")
    assert white.getpixel((10, 10)) == (255, 255, 255)
