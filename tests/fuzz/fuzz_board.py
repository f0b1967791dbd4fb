"""Fuzz target: board operations, one per line, parsed and applied to a fresh board.

Each line is ``parse_op``'d, checked, settled (nudged off another item's spot) and applied,
by the therapist and the young person in turn, as the server does; after every operation the
board's bounds must hold (element count, points per stroke) and the changes sent out must
hold no NaN or infinity; at the end the board holds none either, and a copy that followed
the changes equals it. Any exception other than BoardError
with a documented code is a crash. Run by ``make fuzz``."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from tests.fuzz.engine import fuzz, instrumented

with instrumented("media"):
    from media.board import MAX_ELEMENTS, MAX_POINTS, Board, parse_op
    from media.replica import Replica
    from server.exceptions import BoardError

REFUSALS = {
    "bad_json", "bad_op", "unknown_op",  # parse_op
    "duplicate", "full", "not_yours", "finished", "too_long", "unknown", "not_allowed",  # check
    "locked",
}  # fmt: skip
AUTHORS = ("therapist", "young")

SEEDS = [
    b'{"op": "stroke_begin", "id": "s1", "colour": "#112233", "width": 4,'
    b' "points": [[10, 10, 0.5]]}\n'
    b'{"op": "stroke_points", "id": "s1", "points": [[20, 20, 0.5], [30, 25, 1]]}\n'
    b'{"op": "stroke_end", "id": "s1"}\n{"op": "move", "target": "s1", "dx": 5, "dy": -5}\n'
    b'{"op": "undo"}\n{"op": "redo"}\n{"op": "erase", "target": "s1"}\n{"op": "clear"}',
    b'{"op": "shape", "id": "r", "kind": "rect", "x1": 0, "y1": 0, "x2": 1600, "y2": 1200,'
    b' "colour": "#000000", "width": 1, "fill": "#ffffff"}',
    b'{"op": "text", "id": "t", "x": 5, "y": 5, "text": "hello", "colour": "#abcdef"}',
    b'{"op": "sticker", "id": "k", "name": "happy-face", "x": 800, "y": 600, "scale": 2}',
    b'{"op": "picture", "id": "p", "object": "0123456789abcdef0123456789abcdef",'
    b' "x": 0, "y": 0, "w": 10, "h": 10}',
    b'{"op": "sticker", "id": "k", "name": "dog", "x": 800, "y": 600}\n'
    b'{"op": "lock", "target": "k", "locked": true}\n'
    b'{"op": "transform", "target": "k", "x": 5, "y": 5, "scale": 2, "rotation": 45}\n'
    b'{"op": "sticker", "id": "k2", "name": "dog", "x": 800, "y": 600}\n'
    b'{"op": "order", "target": "k", "to": "front"}\n{"op": "undo"}\n{"op": "redo"}',
    b'{"op": "dice", "id": "d", "values": [2, 6], "x": 800, "y": 600}\n'
    b'{"op": "transform", "target": "d", "x": 1600, "y": 1200, "w": 5, "h": 5}\n'
    b'{"op": "roll", "id": "r", "count": 1}',
    b'{"op": "stroke", "id": "s", "colour": "#000000", "width": 64,'
    b' "points": [[0, 0, 0], [1600, 1200, 1]]}\n{"op": "clear"}',
]


def finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list):
        return all(finite(v) for v in value)
    return True


def one_input(data: bytes) -> None:
    board, copy = Board(), Replica()
    for number, line in enumerate(data.split(b"\n")[:64]):
        author = AUTHORS[number % 2]
        try:
            op = parse_op(line)
            board.check(author, op, author == "therapist", therapist=author == "therapist")
            op = board.settle(op)
        except BoardError as exc:
            if exc.code not in REFUSALS:
                raise AssertionError(f"undocumented refusal code {exc.code!r}") from exc
            continue
        seq, changes = board.apply(author, op)
        if not finite(changes):
            raise AssertionError("a NaN or an infinity sent out")
        copy.receive(seq, json.loads(json.dumps(changes, allow_nan=False)))
        if len(board.elements) > MAX_ELEMENTS:
            raise AssertionError("more elements than the board holds")
        if any(e.point_count() > MAX_POINTS for e in board.elements.values()):
            raise AssertionError("a stroke longer than allowed")
    snapshot = board.snapshot()
    if not finite(snapshot):
        raise AssertionError("a NaN or an infinity on the board")
    if copy.snapshot() != snapshot:
        raise AssertionError("the copy differs from the board")


def main() -> None:
    fuzz(sys.argv, one_input)


if __name__ == "__main__":
    main()
