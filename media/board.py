"""The shared whiteboard: one deterministic ``Board``, and a copy that follows it (``Replica``).

The server is the authority. It validates each operation (``ops.py``), gives it the next
sequence number, and everyone applies operations in that order, so every copy of the board
ends the same whatever order people drew in. What it sends (elements, changes) is
``changes.py``. Everything but a stroke is an *item*: it has a place (centre, size, turn), a
place in the stacking order, and may be locked. No I/O here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from media.changes import AnyChange, ElementDoc, Kind, Place, Settings
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
    ItemCreation,
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
from server.exceptions import BoardError

STICKER_SIZE = 160  # a sticker's side at scale 1
DIE_SIZE, DIE_GAP = 100, 20  # a die's side at scale 1, and the gap between two
NEAR = 8  # two items whose centres are closer than this are on the same spot
NUDGE = 32  # the step an item placed on another's spot is moved by
SPOT_STEP = 60  # the grid a free spot is looked for on
SPOT_OBSTACLES = 300  # the topmost items a free spot keeps clear of
SCALED: frozenset[Kind] = frozenset({"sticker", "text", "dice"})  # sized by ``scale``
NO_SETTINGS = Settings(background=None, library_hidden=False)  # a board's, before any is set


@dataclass
class Element:
    """Something on the board."""

    id: str
    author: str
    kind: Kind
    data: dict[str, Any]
    points: list[list[float]] = field(default_factory=list)
    finished: bool = True
    visible: bool = True
    dx: float = 0.0
    dy: float = 0.0
    place: Place | None = None  # an item's; a stroke has none
    locked: bool = False

    def as_dict(self) -> ElementDoc:
        return {
            "id": self.id,
            "author": self.author,
            "kind": self.kind,
            "data": dict(self.data),
            "points": [list(p) for p in self.points],  # a copy: later points must not leak in
            "finished": self.finished,
            "visible": self.visible,
            "dx": self.dx,
            "dy": self.dy,
            "place": None if self.place is None else Place(**self.place),
            "locked": self.locked,
        }


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


def extent(element: Element) -> tuple[float, float]:
    """An item's width and height on the board, turned as it is (its bounding box)."""
    place, data = element.place, element.data
    assert place is not None
    if place["w"] is not None and place["h"] is not None:
        w, h = place["w"], place["h"]
    else:
        scale = place["scale"] or 1
        if element.kind == "dice":
            count = len(data["values"])
            w, h = (count * DIE_SIZE + (count - 1) * DIE_GAP) * scale, DIE_SIZE * scale
        elif element.kind == "text":
            w, h = 0.6 * data["size"] * len(data["text"]) * scale, 1.2 * data["size"] * scale
        else:
            w = h = STICKER_SIZE * scale
    turn = math.radians(place["rotation"])
    cos, sin = abs(math.cos(turn)), abs(math.sin(turn))
    return w * cos + h * sin, w * sin + h * cos


@dataclass
class Effect:
    """What one undoable operation did, so it can be undone and redone."""

    kind: Literal["show", "hide", "move", "place", "order"]
    targets: list[str]
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
                    and len(element.points) + len(op.points) > MAX_POINTS
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
                element.points = [list(p) for p in op.points]
                element.finished = isinstance(op, Stroke)
                changes.append({"set": element.as_dict()})
            case StrokePoints():
                added = [list(p) for p in op.points]
                self.elements[op.id].points.extend(added)
                changes.append({"points": op.id, "add": added})
            case StrokeEnd():
                self.elements[op.id].finished = True
                changes.append({"finished": op.id})
            case Shape() | Text() | Sticker() | Picture() | Dice():
                element = self._create(author, op.id, op.op, op.model_dump(exclude={"op", "id"}))
                element.place = first_place(op)
                changes.append({"set": element.as_dict()})
            case Erase():
                changes += self._record(author, Effect("hide", [op.target]))
            case Move():
                changes += self._record(author, Effect("move", [op.target], op.dx, op.dy))
            case Transform():
                before = self.elements[op.target].place
                after = Place(x=op.x, y=op.y, scale=op.scale, w=op.w, h=op.h, rotation=op.rotation)
                changes += self._record(
                    author, Effect("place", [op.target], before=before, after=after)
                )
            case Reorder():
                changes += self._record(author, Effect("order", [op.target], to=op.to))
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
                changes += self._record(author, Effect("hide", kept))
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
        self.done.setdefault(author, []).append(Effect("show", [element_id]))
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
        """``op`` as it should be stored: an item made on another's spot is nudged off it, by
        steps of ``NUDGE`` along a diagonal, staying on the board. Deterministic."""
        if not isinstance(op, Shape | Text | Sticker | Picture | Dice):
            return op
        taken = _Spots(self._items())
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

    def free_spot(self, w: float, h: float) -> tuple[float, float]:
        """The centre of the first spot, in reading order, where an item ``w`` by ``h`` would
        cover none of the topmost items; the board's centre when there is none."""
        boxes = []
        for element in self._items()[-SPOT_OBSTACLES:]:
            assert element.place is not None
            ew, eh = extent(element)
            boxes.append((element.place["x"], element.place["y"], ew / 2, eh / 2))
        hw, hh = min(w, WIDTH) / 2, min(h, HEIGHT) / 2
        for y in _steps(hh + 20, HEIGHT - hh - 20):
            for x in _steps(hw + 20, WIDTH - hw - 20):
                if all(
                    abs(x - bx) >= hw + bw or abs(y - by) >= hh + bh for bx, by, bw, bh in boxes
                ):
                    return x, y
        return WIDTH / 2, HEIGHT / 2

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

    def __init__(self, items: list[Element]) -> None:
        self.cells: dict[tuple[int, int], list[tuple[float, float]]] = {}
        for element in items:
            assert element.place is not None
            x, y = element.place["x"], element.place["y"]
            self.cells.setdefault((int(x // NEAR), int(y // NEAR)), []).append((x, y))

    def near(self, x: float, y: float) -> bool:
        cx, cy = int(x // NEAR), int(y // NEAR)
        return any(
            math.hypot(x - px, y - py) < NEAR
            for i in (-1, 0, 1)
            for j in (-1, 0, 1)
            for px, py in self.cells.get((cx + i, cy + j), ())
        )


class Replica:
    """A copy of the board that follows the server's changes (what a page does)."""

    def __init__(self, snapshot: dict[str, Any] | None = None) -> None:
        self.seq = 0
        self.elements: dict[str, dict[str, Any]] = {}
        self.settings: dict[str, Any] = dict(NO_SETTINGS)
        if snapshot is not None:
            self.load(snapshot)

    def load(self, snapshot: dict[str, Any]) -> None:
        self.seq = int(snapshot["seq"])
        self.elements = {e["id"]: json.loads(json.dumps(e)) for e in snapshot["elements"]}
        self.settings = {**NO_SETTINGS, **snapshot.get("settings", {})}

    def receive(self, seq: int, changes: Sequence[Mapping[str, Any]]) -> None:
        """Apply the changes of operation ``seq``; old or repeated ones are ignored."""
        if seq <= self.seq:
            return
        if seq != self.seq + 1:
            raise BoardError("gap", f"missed operations {self.seq + 1} to {seq - 1}")
        for change in changes:
            if "set" in change:
                element = json.loads(json.dumps(change["set"]))
                self.elements[element["id"]] = element
            elif "points" in change:
                self.elements[change["points"]]["points"].extend(change["add"])
            elif "finished" in change:
                self.elements[change["finished"]]["finished"] = True
            elif "visible" in change:
                self.elements[change["visible"]]["visible"] = change["value"]
            elif "offset" in change:
                element = self.elements[change["offset"]]
                element["dx"], element["dy"] = change["dx"], change["dy"]
            elif "place" in change:
                self.elements[change["place"]]["place"] = dict(change["to"])
            elif "locked" in change:
                self.elements[change["locked"]]["locked"] = change["value"]
            elif "order" in change:
                ids = [i for i in self.elements if i != change["order"]]
                ids.insert(change["index"], change["order"])
                self.elements = {i: self.elements[i] for i in ids}
            elif "background" in change:
                self.settings["background"] = change["background"]
            elif "library_hidden" in change:
                self.settings["library_hidden"] = change["library_hidden"]
        self.seq = seq

    def snapshot(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "elements": list(self.elements.values()),
            "settings": dict(self.settings),
        }
