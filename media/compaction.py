"""A board's whole state written down as one JSON document, and the board rebuilt from it
exactly: what the server stores as a board's compacted snapshot (``server/board/saving.py``),
so that a board comes back from its latest snapshot and the few operations stored after it
instead of from every operation of the session.

The document holds more than what a page is sent (``Board.snapshot``): every element with
its hidden ones, the stacking order, each author's undo and redo stacks and the settings, so
that a board rebuilt from it takes the next operations, an undo too, exactly as the board it
was written from would. A stroke's points, most of any board, are its numbers packed as
8-byte floats in base64: exact, and read back several times faster than JSON's lists of
numbers. No I/O here.
"""

from __future__ import annotations

import base64
import sys
from array import array
from typing import Any

from media.board import POINT, Board, Effect, Element
from media.changes import Place, Settings

VERSION = 1  # a document of another version is not read: the board is replayed instead


def dump_board(board: Board) -> dict[str, Any]:
    """The board's whole state, as JSON can carry it."""
    return packed(taken(board))


def taken(board: Board) -> dict[str, Any]:
    """The board's whole state as a copy, quickly, a stroke's points still numbers: the board
    may go on changing while ``packed`` makes the document of it elsewhere (a worker
    thread), which takes several times longer."""
    return {
        "v": VERSION,
        "seq": board.seq,
        "elements": [_element(e) for e in board.elements.values()],  # in the order made
        "order": list(board.order),
        "done": {a: [_effect(e) for e in stack] for a, stack in board.done.items()},
        "undone": {a: [_effect(e) for e in stack] for a, stack in board.undone.items()},
        "settings": dict(board.settings),
    }


def load_board(doc: dict[str, Any]) -> Board:
    """The board ``doc`` was written from. Raises ValueError for a document it cannot read
    (another version, a field missing or of the wrong shape)."""
    if doc.get("v") != VERSION:
        raise ValueError("a board document of another version")
    try:
        board = Board()
        board.seq = int(doc["seq"])
        for e in doc["elements"]:
            element = Element(
                id=e["id"],
                author=e["author"],
                kind=e["kind"],
                data=dict(e["data"]),
                points=_unpacked(e["points"]),
                finished=bool(e["finished"]),
                visible=bool(e["visible"]),
                dx=e["dx"],
                dy=e["dy"],
                place=_place(e["place"]),
                locked=bool(e["locked"]),
            )
            board.elements[element.id] = element
        board.order = [str(i) for i in doc["order"]]
        board.done = {a: [_read_effect(e) for e in s] for a, s in doc["done"].items()}
        board.undone = {a: [_read_effect(e) for e in s] for a, s in doc["undone"].items()}
        board.settings = Settings(
            background=doc["settings"]["background"],
            library_hidden=bool(doc["settings"]["library_hidden"]),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError("a board document missing a field") from exc
    if set(board.order) != set(board.elements) or len(board.order) != len(board.elements):
        raise ValueError("a board document whose order is not its elements")
    return board


def packed(state: dict[str, Any]) -> dict[str, Any]:
    """The document of a board's state ``taken``: each stroke's points packed."""
    elements = [{**e, "points": _packed(e["points"])} for e in state["elements"]]
    return {**state, "elements": elements}


def _element(element: Element) -> dict[str, Any]:
    return {
        "id": element.id,
        "author": element.author,
        "kind": element.kind,
        "data": dict(element.data),
        "points": element.points,  # bytes, never changed: more points make new ones
        "finished": element.finished,
        "visible": element.visible,
        "dx": element.dx,
        "dy": element.dy,
        "place": None if element.place is None else dict(element.place),
        "locked": element.locked,
    }


def _effect(effect: Effect) -> dict[str, Any]:
    return {
        "kind": effect.kind,
        "targets": list(effect.targets),
        "dx": effect.dx,
        "dy": effect.dy,
        "before": None if effect.before is None else dict(effect.before),
        "after": None if effect.after is None else dict(effect.after),
        "to": effect.to,
        "index": effect.index,  # a restacking's, changed when it is redone
    }


def _read_effect(doc: dict[str, Any]) -> Effect:
    return Effect(
        kind=doc["kind"],
        targets=tuple(str(t) for t in doc["targets"]),
        dx=doc["dx"],
        dy=doc["dy"],
        before=_place(doc["before"]),
        after=_place(doc["after"]),
        to=doc["to"],
        index=int(doc["index"]),
    )


def _place(doc: dict[str, Any] | None) -> Place | None:
    if doc is None:
        return None
    return Place(
        x=doc["x"],
        y=doc["y"],
        scale=doc["scale"],
        w=doc["w"],
        h=doc["h"],
        rotation=doc["rotation"],
    )


def _packed(points: bytes) -> str:
    return base64.b64encode(_swapped(points)).decode()  # little-endian, whatever machine wrote it


def _unpacked(text: str) -> bytes:
    points = base64.b64decode(text, validate=True)
    if len(points) % POINT.size:
        raise ValueError("a stroke's points come in threes of 8-byte numbers")
    return _swapped(points)  # a stroke holds them in the machine's order


def _swapped(points: bytes) -> bytes:
    """Between the machine's order and little-endian, as each needs."""
    if sys.byteorder == "little":
        return points
    numbers = array("d", points)
    numbers.byteswap()
    return numbers.tobytes()
