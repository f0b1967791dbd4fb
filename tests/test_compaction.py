"""A board written down whole (``media/compaction.py``) comes back exactly: every element, the
stacking order, each author's undo and redo, the settings and the seq, so that a board
loaded from its stored snapshot takes the next operations, undo and redo too, exactly as
the board it was written from."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from media.board import Board, parse_op
from media.compaction import dump_board, load_board, packed, taken
from server.exceptions import BoardError

AUTHORS = ("staff:t", "yp-1", "yp-2")
STICKERS = ("sun", "cat", "dog")


def _op(rnd: random.Random, board: Board, n: int) -> dict[str, Any]:
    """An operation of the kinds people make, on what is on the board now."""
    ids = list(board.elements)
    strokes = [e.id for e in board.elements.values() if e.kind == "stroke" and not e.finished]
    items = [e.id for e in board.elements.values() if e.place is not None]
    x, y = rnd.uniform(0, 1500), rnd.uniform(0, 1000)
    pick = rnd.random()
    if strokes and pick < 0.25:
        target = rnd.choice(strokes)
        if rnd.random() < 0.2:
            return {"op": "stroke_end", "id": target}
        return {"op": "stroke_points", "id": target, "points": [[x, y, 0.5], [x + 1, y, 0.4]]}
    if pick < 0.35:
        return {"op": "stroke_begin", "id": f"s{n}", "colour": "#204080", "width": 4,
                "points": [[x, y, 0.5]]}  # fmt: skip
    if pick < 0.45:
        return {"op": "sticker", "id": f"k{n}", "name": rnd.choice(STICKERS), "x": x, "y": y}
    if pick < 0.5:
        corner = {"x2": min(x + 50, 1500), "y2": min(y + 40, 1000)}
        return {"op": "shape", "id": f"h{n}", "kind": "rect", "x1": x, "y1": y, **corner,
                "colour": "#aa0000", "width": 3}  # fmt: skip
    if pick < 0.53:
        return {"op": "dice", "id": f"d{n}", "values": [rnd.randint(1, 6)], "x": x, "y": y}
    if ids and pick < 0.6:
        return {"op": "move", "target": rnd.choice(ids), "dx": 5.5, "dy": -3.25}
    if items and pick < 0.66:
        return {"op": "transform", "target": rnd.choice(items), "x": x, "y": y, "rotation": 30,
                "w": 80, "h": 60}  # fmt: skip
    if ids and pick < 0.72:
        return {"op": "order", "target": rnd.choice(ids), "to": rnd.choice(("front", "back"))}
    if ids and pick < 0.76:
        return {"op": "erase", "target": rnd.choice(ids)}
    if items and pick < 0.79:
        return {"op": "lock", "target": rnd.choice(items), "locked": rnd.random() < 0.7}
    if pick < 0.8:
        return {"op": "background", "name": rnd.choice(("sand", "water", None))}
    if pick < 0.81:
        return {"op": "clear"}
    if pick < 0.91:
        return {"op": "undo"}
    return {"op": "redo"}


def _step(board: Board, author: str, op: dict[str, Any]) -> tuple[int, list[Any]] | str:
    """Check and apply as the server does: the changes, or the refusal's code."""
    parsed = parse_op(op)
    try:
        board.check(author, parsed, may_clear=True, therapist=author.startswith("staff:"))
    except BoardError as exc:
        return exc.code
    return board.apply(author, board.settle(parsed))


def _state(board: Board) -> tuple[Any, ...]:
    return (
        board.seq,
        list(board.elements.items()),  # the order they were made in too
        board.order,
        board.done,
        board.undone,
        board.settings,
    )


def _drawn(seed: int, count: int) -> tuple[Board, random.Random]:
    rnd = random.Random(seed)
    board = Board()
    for n in range(count):
        _step(board, rnd.choice(AUTHORS), _op(rnd, board, n))
    return board, rnd


@pytest.mark.parametrize("seed", range(6))
def test_a_board_rebuilt_from_its_document_is_the_same_and_goes_on_the_same(seed: int) -> None:
    board, rnd = _drawn(seed, 400)
    doc = json.loads(json.dumps(dump_board(board)))  # as storage holds it
    rebuilt = load_board(doc)
    assert _state(rebuilt) == _state(board)
    assert rebuilt.snapshot() == board.snapshot()
    undos = 0
    for n in range(400, 700):
        author = rnd.choice(AUTHORS)
        op = _op(rnd, board, n)
        undos += op["op"] in ("undo", "redo")
        assert _step(rebuilt, author, op) == _step(board, author, op)
    assert undos > 20  # the undo stacks were used after the rebuild, not just kept
    assert _state(rebuilt) == _state(board)


def test_the_state_taken_is_a_copy_the_board_does_not_change_afterwards() -> None:
    """The server takes the state at once and makes the document of it on another thread
    while the board goes on: the document is of the board as it was taken."""
    board, rnd = _drawn(7, 200)
    state = taken(board)
    text = json.dumps(dump_board(board))
    for n in range(200, 400):
        _step(board, rnd.choice(AUTHORS), _op(rnd, board, n))
    assert json.dumps(packed(state)) == text


def test_a_document_it_cannot_read_is_refused_not_half_read() -> None:
    board, _ = _drawn(8, 50)
    doc = json.loads(json.dumps(dump_board(board)))
    for broken in (
        {**doc, "v": 99},
        {k: v for k, v in doc.items() if k != "done"},
        {**doc, "order": doc["order"][1:]},
        {**doc, "elements": [{"id": "x"}]},
    ):
        with pytest.raises(ValueError):
            load_board(broken)
