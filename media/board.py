"""The shared whiteboard: operations as pydantic models, and one deterministic ``Board``.

The server is the authority. It validates each operation, gives it the next sequence
number, and everyone applies operations in that order, so every copy of the board ends the
same whatever order people drew in. What it sends (elements, changes) is ``changes.py``.
No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from media.changes import AnyChange, ElementDoc, Kind
from server.exceptions import BoardError

WIDTH, HEIGHT = 1600, 1200  # the board's own coordinates; pages scale to fit
MAX_POINTS = 5000  # per stroke
MAX_POINTS_PER_OP = 200
MAX_ELEMENTS = 5000


X = Annotated[float, Field(ge=0, le=WIDTH, allow_inf_nan=False)]
Y = Annotated[float, Field(ge=0, le=HEIGHT, allow_inf_nan=False)]
Pressure = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
# a JSON array is a point; strict about its three numbers, not about the container, so that an
# operation given as a Python dict (a list of lists, from storage or the box) is read alike
Point = Annotated[tuple[X, Y, Pressure], Field(strict=False)]
Colour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]
Width = Annotated[float, Field(ge=1, le=64, allow_inf_nan=False)]
ElementId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
Offset = Annotated[float, Field(ge=-WIDTH, le=WIDTH, allow_inf_nan=False)]


class Op(BaseModel):
    """One operation from a page. Strict: "5", 5.0 for an integer or true for a number are
    refused, never converted (an integer is a number, as in JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class StrokeBegin(Op):
    op: Literal["stroke_begin"]
    id: ElementId
    colour: Colour
    width: Width
    points: Annotated[list[Point], Field(min_length=1, max_length=MAX_POINTS_PER_OP)]


class StrokePoints(Op):
    """More points of a stroke being drawn: the others see the line grow."""

    op: Literal["stroke_points"]
    id: ElementId
    points: Annotated[list[Point], Field(min_length=1, max_length=MAX_POINTS_PER_OP)]


class StrokeEnd(Op):
    op: Literal["stroke_end"]
    id: ElementId


class Shape(Op):
    op: Literal["shape"]
    id: ElementId
    kind: Literal["rect", "ellipse", "line", "arrow"]
    x1: X
    y1: Y
    x2: X
    y2: Y
    colour: Colour
    width: Width
    fill: Colour | None = None


class Text(Op):
    op: Literal["text"]
    id: ElementId
    x: X
    y: Y
    text: Annotated[str, Field(min_length=1, max_length=200)]
    colour: Colour
    size: Annotated[float, Field(ge=8, le=120, allow_inf_nan=False)] = 28


class Sticker(Op):
    op: Literal["sticker"]
    id: ElementId
    name: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,40}$")]
    x: X
    y: Y
    scale: Annotated[float, Field(ge=0.25, le=4, allow_inf_nan=False)] = 1


class Picture(Op):
    """A shared picture placed on the board (only the server makes these)."""

    op: Literal["picture"]
    id: ElementId
    object: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    x: X
    y: Y
    w: Annotated[float, Field(gt=0, le=WIDTH, allow_inf_nan=False)]
    h: Annotated[float, Field(gt=0, le=HEIGHT, allow_inf_nan=False)]


class Erase(Op):
    op: Literal["erase"]
    target: ElementId


class Move(Op):
    op: Literal["move"]
    target: ElementId
    dx: Offset
    dy: Offset


class Undo(Op):
    op: Literal["undo"]


class Redo(Op):
    op: Literal["redo"]


class Clear(Op):
    op: Literal["clear"]


AnyOp = Annotated[
    StrokeBegin
    | StrokePoints
    | StrokeEnd
    | Shape
    | Text
    | Sticker
    | Picture
    | Erase
    | Move
    | Undo
    | Redo
    | Clear,
    Field(discriminator="op"),
]
_ops: TypeAdapter[AnyOp] = TypeAdapter(AnyOp)
CREATES = (StrokeBegin, Shape, Text, Sticker, Picture)


def parse_op(data: str | bytes | dict[str, Any]) -> AnyOp:
    """Validate one operation; raises BoardError naming what is wrong.

    Text is parsed and validated in one pass (``validate_json``); its parser refuses what is
    not JSON, NaN, a number of thousands of digits and nesting past its depth alike."""
    try:
        if isinstance(data, dict):
            return _ops.validate_python(data)
        return _ops.validate_json(data)
    except ValidationError as exc:
        raise _refusal(exc) from exc


def _refusal(exc: ValidationError) -> BoardError:
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return BoardError("bad_json", "The operation is not valid JSON.")
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return BoardError("unknown_op", "Unknown board operation.")
    where = ".".join(str(p) for p in first["loc"][1:]) or "operation"
    return BoardError("bad_op", f"{where}: {first['msg']}")


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
        }


@dataclass
class Effect:
    """What one undoable operation did, so it can be undone and redone."""

    kind: Literal["show", "hide", "move"]
    targets: list[str]
    dx: float = 0.0
    dy: float = 0.0


class Board:
    """The board's state. ``apply`` is deterministic: same operations, same board.

    Each applied operation yields *changes* (element created, points added, shown or
    hidden, moved), which are what the server sends: a copy of the board needs no undo
    history of its own to follow along (``Replica``).
    """

    def __init__(self) -> None:
        self.seq = 0
        self.elements: dict[str, Element] = {}
        self.order: list[str] = []
        self.done: dict[str, list[Effect]] = {}  # per author, for undo
        self.undone: dict[str, list[Effect]] = {}  # per author, for redo

    def check(self, author: str, op: AnyOp, may_clear: bool) -> None:
        """Refuse what cannot apply, before it is numbered. Raises BoardError."""
        match op:
            case StrokeBegin() | Shape() | Text() | Sticker() | Picture():
                if op.id in self.elements:
                    raise BoardError("duplicate", "That element already exists.")
                if len(self.elements) >= MAX_ELEMENTS:
                    raise BoardError("full", "The board is full. Clear some of it first.")
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
                if op.target not in self.elements:
                    raise BoardError("unknown", "There is no such element.")
            case Clear():
                if not may_clear:
                    raise BoardError("not_allowed", "Only the therapist can clear the board.")
            case Undo() | Redo():
                pass

    def apply(self, author: str, op: AnyOp) -> tuple[int, list[AnyChange]]:
        """Apply a checked operation; returns its sequence number and its changes."""
        self.seq += 1
        changes: list[AnyChange] = []
        match op:
            case StrokeBegin():
                element = self._create(
                    author, op.id, "stroke", {"colour": op.colour, "width": op.width}
                )
                element.points = [list(p) for p in op.points]
                element.finished = False
                changes.append({"set": element.as_dict()})
            case StrokePoints():
                added = [list(p) for p in op.points]
                self.elements[op.id].points.extend(added)
                changes.append({"points": op.id, "add": added})
            case StrokeEnd():
                self.elements[op.id].finished = True
                changes.append({"finished": op.id})
            case Shape() | Text() | Sticker() | Picture():
                element = self._create(author, op.id, op.op, op.model_dump(exclude={"op", "id"}))
                changes.append({"set": element.as_dict()})
            case Erase():
                changes += self._record(author, Effect("hide", [op.target]))
            case Move():
                changes += self._record(author, Effect("move", [op.target], op.dx, op.dy))
            case Clear():
                visible = [i for i in self.order if self.elements[i].visible]
                changes += self._record(author, Effect("hide", visible))
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
            if effect.kind == "move":
                sign = -1 if reverse else 1
                element.dx += sign * effect.dx
                element.dy += sign * effect.dy
                changes.append({"offset": target, "dx": element.dx, "dy": element.dy})
            else:
                show = effect.kind == "show"
                element.visible = (not show) if reverse else show
                changes.append({"visible": target, "value": element.visible})
        return changes

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to draw the board as it is now."""
        return {"seq": self.seq, "elements": self.element_docs()}

    def element_docs(self) -> list[ElementDoc]:
        """Every element, in the order they were made, as the board sends them."""
        return [self.elements[i].as_dict() for i in self.order]

    def visible(self) -> list[Element]:
        return [self.elements[i] for i in self.order if self.elements[i].visible]


class Replica:
    """A copy of the board that follows the server's changes (what a page does)."""

    def __init__(self, snapshot: dict[str, Any] | None = None) -> None:
        self.seq = 0
        self.elements: dict[str, dict[str, Any]] = {}
        if snapshot is not None:
            self.load(snapshot)

    def load(self, snapshot: dict[str, Any]) -> None:
        self.seq = int(snapshot["seq"])
        self.elements = {e["id"]: json.loads(json.dumps(e)) for e in snapshot["elements"]}

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
        self.seq = seq

    def snapshot(self) -> dict[str, Any]:
        return {"seq": self.seq, "elements": list(self.elements.values())}
