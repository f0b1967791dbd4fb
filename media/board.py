"""The shared whiteboard: one deterministic ``Board`` (a copy that follows it is ``Replica``,
in ``replica.py``; where items sit is ``places.py``).

The server is the authority. It validates each operation (``ops.py``), gives it the next
sequence number, and everyone applies operations in that order, so every copy of the board
ends the same whatever order people drew in. What it sends (elements, changes) is
``changes.py``. Everything but a stroke is an *item*: it has a place (centre, size, turn), a
place in the stacking order, and may be locked. No I/O here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from media.changes import NO_SETTINGS, AnyChange, ElementDoc, Kind, Place, Settings
from media.ops import HEIGHT as HEIGHT
from media.ops import MAX_ELEMENTS as MAX_ELEMENTS
from media.ops import MAX_POINTS as MAX_POINTS
from media.ops import MAX_POINTS_PER_OP as MAX_POINTS_PER_OP
from media.ops import WIDTH as WIDTH
from media.ops import AnyOp as AnyOp
from media.ops import (
    Background,
    Clear,
    Dice,
    Erase,
    Library,
    Lock,
    Move,
    Redo,
    Reorder,
    Roll,
    Shape,
    Stroke,
    StrokeBegin,
    StrokeEnd,
    StrokePoints,
    Text,
    Transform,
    Undo,
)
from media.ops import Picture as Picture
from media.ops import Sticker as Sticker
from media.ops import _ops as _ops
from media.ops import parse_op as parse_op
from media.places import SPOT_OBSTACLES, extent, first_place, free_spot, settled
from server.exceptions import BoardError

SCALED: frozenset[Kind] = frozenset({"sticker", "text", "dice"})  # sized by ``scale``


POINT = struct.Struct("=3d")  # x, y and pressure


def flat(points: Iterable[tuple[float, float, float]]) -> bytes:
    """Points as a stroke keeps them: their numbers one after another."""
    return b"".join(POINT.pack(*point) for point in points)


def triples(points: bytes) -> Iterator[tuple[float, float, float]]:
    """A stroke's points, each its x, y and pressure."""
    return POINT.iter_unpack(points)


@dataclass
class Element:
    """Something on the board."""

    id: str
    author: str
    kind: Kind
    data: dict[str, Any]
    # a stroke's points, x, y and pressure one after another as 8-byte floats (``flat``): one
    # object the garbage collector never tracks, 24 bytes a point, where a tuple a point was
    # walked by the young collections, and a list of them by every full one, for as long as
    # the board is held (an array, too, is tracked)
    points: bytes = b""
    finished: bool = True
    visible: bool = True
    dx: float = 0.0
    dy: float = 0.0
    place: Place | None = None  # an item's; a stroke has none
    locked: bool = False

    def point_count(self) -> int:
        return len(self.points) // POINT.size

    def as_dict(self) -> ElementDoc:
        return {
            "id": self.id,
            "author": self.author,
            "kind": self.kind,
            "data": dict(self.data),
            "points": [list(p) for p in triples(self.points)],
            "finished": self.finished,
            "visible": self.visible,
            "dx": self.dx,
            "dy": self.dy,
            "place": None if self.place is None else Place(**self.place),
            "locked": self.locked,
        }


@dataclass
class Effect:
    """What one undoable operation did, so it can be undone and redone."""

    kind: Literal["show", "hide", "move", "place", "order"]
    targets: tuple[str, ...]  # not a list: a tuple of strings is not tracked by the collector
    dx: float = 0.0
    dy: float = 0.0
    before: Place | None = None  # "place": where the item was, and where it went
    after: Place | None = None
    to: Literal["front", "back"] = "front"  # "order": where it went, and from which index
    index: int = 0


class Board:
    """The board's state. ``apply`` is deterministic: same operations, same board.

    Each applied operation yields *changes* (element created, points added, shown or
    hidden, moved, placed, locked, restacked, a setting), which are what the server sends: a
    copy of the board needs no undo history of its own to follow along (``Replica``).
    """

    def __init__(self) -> None:
        self.seq = 0
        self.elements: dict[str, Element] = {}
        self.order: list[str] = []  # the stacking order: the back first
        self.done: dict[str, list[Effect]] = {}  # per author, for undo
        self.undone: dict[str, list[Effect]] = {}  # per author, for redo
        self.settings = Settings(**NO_SETTINGS)

    # -- checking

    def check(self, author: str, op: AnyOp, may_clear: bool, *, therapist: bool = False) -> None:
        """Refuse what cannot apply, before it is numbered. Raises BoardError. ``therapist``:
        the author may lock items and move, restack or erase locked ones, set the board's
        settings, and put stickers down while the library is hidden."""
        match op:
            case Stroke() | StrokeBegin() | Shape() | Text() | Sticker() | Picture() | Dice():
                if op.id in self.elements:
                    raise BoardError("duplicate", "That element already exists.")
                if len(self.elements) >= MAX_ELEMENTS:
                    raise BoardError("full", "The board is full. Clear some of it first.")
                if isinstance(op, Sticker) and self.settings["library_hidden"] and not therapist:
                    raise BoardError("not_allowed", "The miniatures are put away for now.")
            case StrokePoints() | StrokeEnd():
                element = self.elements.get(op.id)
                if element is None or element.kind != "stroke" or element.author != author:
                    raise BoardError("not_yours", "That stroke is not yours to continue.")
                if element.finished:
                    raise BoardError("finished", "That stroke is finished.")
                if (
                    isinstance(op, StrokePoints)
                    and element.point_count() + len(op.points) > MAX_POINTS
                ):
                    raise BoardError("too_long", f"A stroke has at most {MAX_POINTS} points.")
            case Erase() | Move():
                self._free(self._target(op.target), therapist)
            case Transform():
                element = self._item(self._shown(op.target))
                self._free(element, therapist)
                if (element.kind in SCALED) != (op.scale is not None):
                    size = "scale" if element.kind in SCALED else "w and h"
                    raise BoardError("bad_op", f"A {element.kind} is sized by {size}.")
            case Reorder():
                self._free(self._shown(op.target), therapist)
            case Lock():
                self._item(self._target(op.target))
                if not therapist:
                    raise BoardError("not_allowed", "Only the therapist can lock things.")
            case Background() | Library():
                if not therapist:
                    raise BoardError("not_allowed", "Only the therapist sets up the tray.")
            case Roll():
                raise BoardError("not_allowed", "The dice are rolled by the server.")
            case Clear():
                if not may_clear:
                    raise BoardError("not_allowed", "Only the therapist can clear the board.")
            case Undo() | Redo():
                stack = (self.done if isinstance(op, Undo) else self.undone).get(author, [])
                if stack and not therapist and self._moves_locked(stack[-1], isinstance(op, Undo)):
                    raise BoardError("locked", "That is locked in place.")

    def _target(self, element_id: str) -> Element:
        element = self.elements.get(element_id)
        if element is None:
            raise BoardError("unknown", "There is no such element.")
        return element

    def _shown(self, element_id: str) -> Element:
        element = self._target(element_id)
        if not element.visible:
            raise BoardError("unknown", "That is no longer on the board.")
        return element

    @staticmethod
    def _item(element: Element) -> Element:
        if element.place is None:
            raise BoardError(
                "not_allowed", "Only pictures, stickers, text, shapes and dice move that way."
            )
        return element

    @staticmethod
    def _free(element: Element, therapist: bool) -> None:
        if element.locked and not therapist:
            raise BoardError("locked", "That is locked in place.")

    def _moves_locked(self, effect: Effect, undoing: bool) -> bool:
        """Whether undoing (or redoing) ``effect`` would hide, move or restack a locked item;
        showing one again is harmless."""
        if effect.kind in ("show", "hide") and (effect.kind == "show") != undoing:
            return False
        return any(self.elements[t].locked for t in effect.targets)

    # -- applying

    def apply(self, author: str, op: AnyOp) -> tuple[int, list[AnyChange]]:
        """Apply a checked operation; returns its sequence number and its changes."""
        self.seq += 1
        changes: list[AnyChange] = []
        match op:
            case Stroke() | StrokeBegin():
                element = self._create(
                    author, op.id, "stroke", {"colour": op.colour, "width": op.width}
                )
                element.points = flat(op.points)
                element.finished = isinstance(op, Stroke)
                changes.append({"set": element.as_dict()})
            case StrokePoints():
                self.elements[op.id].points += flat(op.points)
                changes.append({"points": op.id, "add": [list(p) for p in op.points]})
            case StrokeEnd():
                self.elements[op.id].finished = True
                changes.append({"finished": op.id})
            case Shape() | Text() | Sticker() | Picture() | Dice():
                element = self._create(author, op.id, op.op, op.model_dump(exclude={"op", "id"}))
                element.place = first_place(op)
                changes.append({"set": element.as_dict()})
            case Erase():
                changes += self._record(author, Effect("hide", (op.target,)))
            case Move():
                changes += self._record(author, Effect("move", (op.target,), op.dx, op.dy))
            case Transform():
                before = self.elements[op.target].place
                after = Place(x=op.x, y=op.y, scale=op.scale, w=op.w, h=op.h, rotation=op.rotation)
                changes += self._record(
                    author, Effect("place", (op.target,), before=before, after=after)
                )
            case Reorder():
                changes += self._record(author, Effect("order", (op.target,), to=op.to))
            case Lock():
                self.elements[op.target].locked = op.locked
                changes.append({"locked": op.target, "value": op.locked})
            case Background():  # a setting: nobody's to undo, and a clear leaves it
                self.settings["background"] = op.name
                changes.append({"background": op.name})
            case Library():
                self.settings["library_hidden"] = op.hidden
                changes.append({"library_hidden": op.hidden})
            case Clear():  # what is locked stays: a tray set out, say
                shown = [i for i in self.order if self.elements[i].visible]
                kept = [i for i in shown if not self.elements[i].locked]
                changes += self._record(author, Effect("hide", tuple(kept)))
            case Undo():
                stack = self.done.get(author, [])
                if stack:
                    effect = stack.pop()
                    changes += self._do(effect, reverse=True)
                    self.undone.setdefault(author, []).append(effect)
            case Redo():
                stack = self.undone.get(author, [])
                if stack:
                    effect = stack.pop()
                    changes += self._do(effect, reverse=False)
                    self.done.setdefault(author, []).append(effect)
            case Roll():  # the server turns a roll into dice before it is checked
                raise AssertionError("a roll is never applied")
        return self.seq, changes

    def _create(self, author: str, element_id: str, kind: Kind, data: dict[str, Any]) -> Element:
        element = Element(element_id, author, kind, data)
        self.elements[element_id] = element
        self.order.append(element_id)
        self.done.setdefault(author, []).append(Effect("show", (element_id,)))
        self.undone.pop(author, None)
        return element

    def _record(self, author: str, effect: Effect) -> list[AnyChange]:
        changes = self._do(effect, reverse=False)
        self.done.setdefault(author, []).append(effect)
        self.undone.pop(author, None)
        return changes

    def _do(self, effect: Effect, reverse: bool) -> list[AnyChange]:
        changes: list[AnyChange] = []
        for target in effect.targets:
            element = self.elements[target]
            match effect.kind:
                case "move" if element.place is not None:  # an item: its place moves
                    sign = -1 if reverse else 1
                    x = element.place["x"] + sign * effect.dx
                    y = element.place["y"] + sign * effect.dy
                    element.place = Place(**{**element.place, "x": x, "y": y})
                    changes.append({"place": target, "to": Place(**element.place)})
                case "move":
                    sign = -1 if reverse else 1
                    element.dx += sign * effect.dx
                    element.dy += sign * effect.dy
                    changes.append({"offset": target, "dx": element.dx, "dy": element.dy})
                case "place":
                    element.place = effect.before if reverse else effect.after
                    assert element.place is not None
                    changes.append({"place": target, "to": Place(**element.place)})
                case "order":
                    if reverse:
                        index = min(effect.index, len(self.order) - 1)
                    else:
                        effect.index = self.order.index(target)
                        index = len(self.order) - 1 if effect.to == "front" else 0
                    self.order.remove(target)
                    self.order.insert(index, target)
                    changes.append({"order": target, "index": index})
                case "show" | "hide":
                    show = effect.kind == "show"
                    element.visible = (not show) if reverse else show
                    changes.append({"visible": target, "value": element.visible})
        return changes

    # -- where new items go

    def settle(self, op: AnyOp) -> AnyOp:
        """``op`` as it should be stored: an item made on another's spot is nudged off it
        (``places.settled``). Deterministic."""
        if not isinstance(op, Shape | Text | Sticker | Picture | Dice):
            return op
        return settled(op, [(e.place["x"], e.place["y"]) for e in self._items() if e.place])

    def free_spot(self, w: float, h: float) -> tuple[float, float]:
        """The centre of the first spot, in reading order, where an item ``w`` by ``h`` would
        cover none of the topmost items; the board's centre when there is none."""
        boxes = []
        for element in self._items()[-SPOT_OBSTACLES:]:
            assert element.place is not None
            ew, eh = extent(element.kind, element.data, element.place)
            boxes.append((element.place["x"], element.place["y"], ew / 2, eh / 2))
        return free_spot(w, h, boxes)

    def _items(self) -> list[Element]:
        """The items on the board, in stacking order."""
        return [e for e in (self.elements[i] for i in self.order) if e.visible and e.place]

    # -- reading

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to draw the board as it is now."""
        return {"seq": self.seq, "elements": self.element_docs(), "settings": self.settings_doc()}

    def settings_doc(self) -> Settings:
        """The board's settings, as the board sends them (a copy)."""
        return Settings(**self.settings)

    def element_docs(self) -> list[ElementDoc]:
        """Every element, in stacking order, as the board sends them."""
        return [self.elements[i].as_dict() for i in self.order]

    def visible(self) -> list[Element]:
        return [self.elements[i] for i in self.order if self.elements[i].visible]
