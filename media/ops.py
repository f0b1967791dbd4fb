"""The board's operations: what a page (or the server itself) asks of the board, as a strict
tagged union of bounded pydantic models, and ``parse_op``. The board (``board.py``) checks
and applies them. No I/O here.

Boards are rebuilt from their stored operations, so an operation type once stored stays valid
with the meaning it had: a new capability is a new operation.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from media import miniatures
from server.exceptions import BoardError

WIDTH, HEIGHT = 1600, 1200  # the board's own coordinates; pages scale to fit
MAX_POINTS = 5000  # per stroke
MAX_POINTS_PER_OP = 200  # per segment of a stroke sent as it is drawn
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
Scale = Annotated[float, Field(ge=0.25, le=4, allow_inf_nan=False)]
Rotation = Annotated[float, Field(ge=-360, le=360, allow_inf_nan=False)]
ItemWidth = Annotated[float, Field(ge=0, le=WIDTH, allow_inf_nan=False)]
ItemHeight = Annotated[float, Field(ge=0, le=HEIGHT, allow_inf_nan=False)]
Die = Annotated[int, Field(ge=1, le=6)]


class Op(BaseModel):
    """One operation from a page. Strict: "5", 5.0 for an integer or true for a number are
    refused, never converted (an integer is a number, as in JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# -- strokes


class Stroke(Op):
    """A whole stroke, sent once at pen-up: finished as it is made."""

    op: Literal["stroke"]
    id: ElementId
    colour: Colour
    width: Width
    points: Annotated[list[Point], Field(min_length=1, max_length=MAX_POINTS)]


class StrokeBegin(Op):
    """The first segment of a stroke sent as it is drawn (a long one, every 250 ms)."""

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


# -- items: made where they first sit, as these operations always said


class Shape(Op):
    """A shape between two corners (a line or an arrow from the first to the second)."""

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
    """Typed text; ``x``, ``y`` is the start of its baseline."""

    op: Literal["text"]
    id: ElementId
    x: X
    y: Y
    text: Annotated[str, Field(min_length=1, max_length=200)]
    colour: Colour
    size: Annotated[float, Field(ge=8, le=120, allow_inf_nan=False)] = 28


class Sticker(Op):
    """A picture of the library; ``x``, ``y`` is its top-left corner, 160 × ``scale`` a side."""

    op: Literal["sticker"]
    id: ElementId
    name: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,64}$")]
    x: X
    y: Y
    scale: Scale = 1

    @field_validator("name")
    @classmethod
    def _in_library(cls, name: str) -> str:
        """A miniature of the library (``media/miniatures.py``), or an old drawing."""
        if not miniatures.exists(name):
            raise PydanticCustomError("unknown_sticker", "There is no such sticker.")
        return name


class Picture(Op):
    """A shared picture placed on the board (only the server makes these); ``x``, ``y`` is its
    top-left corner."""

    op: Literal["picture"]
    id: ElementId
    object: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    x: X
    y: Y
    w: Annotated[float, Field(gt=0, le=WIDTH, allow_inf_nan=False)]
    h: Annotated[float, Field(gt=0, le=HEIGHT, allow_inf_nan=False)]


class Roll(Op):
    """Roll one or two dice: the server rolls them (a ``dice`` operation), so that everyone
    sees the same numbers. ``x``, ``y``: where the page would like them (their centre); the
    server finds a spot when they are left out."""

    op: Literal["roll"]
    id: ElementId
    count: Annotated[int, Field(ge=1, le=2)]
    x: X | None = None
    y: Y | None = None


class Dice(Op):
    """Dice the server rolled, centred on ``x``, ``y`` (only the server makes these)."""

    op: Literal["dice"]
    id: ElementId
    values: Annotated[list[Die], Field(min_length=1, max_length=2)]
    x: X
    y: Y


# -- what is done to elements


class Erase(Op):
    """Hide an element (undoable: it is not gone)."""

    op: Literal["erase"]
    target: ElementId


class Move(Op):
    """Move an element by a step (kept for the boards that stored it; pages send
    ``transform``)."""

    op: Literal["move"]
    target: ElementId
    dx: Offset
    dy: Offset


class Transform(Op):
    """An item's place once it is dropped: its centre, its size and its turn, all absolute. A
    sticker, text or dice is sized by ``scale``; a picture or shape by ``w`` and ``h``."""

    op: Literal["transform"]
    target: ElementId
    x: X
    y: Y
    rotation: Rotation = 0
    scale: Scale | None = None
    w: ItemWidth | None = None
    h: ItemHeight | None = None

    @model_validator(mode="after")
    def _one_size(self) -> Self:
        sized = self.w is not None and self.h is not None
        if (self.scale is None) == (not sized) or (self.w is None) != (self.h is None):
            raise ValueError("give scale, or w and h")
        return self


class Reorder(Op):
    """Bring an element to the front or send it to the back."""

    op: Literal["order"]
    target: ElementId
    to: Literal["front", "back"]


class Lock(Op):
    """Lock an item where it is (only the therapist moves it then), or free it."""

    op: Literal["lock"]
    target: ElementId
    locked: bool


# -- the board's settings: the therapist's, not undone


Ground = Literal["sand", "water", "grass", "plain"]


class Background(Op):
    """The tray's background (null: none, a white board): the therapist's to choose."""

    op: Literal["background"]
    name: Ground | None


class Library(Op):
    """Hide the library of miniatures from the young person, or show it again: the
    therapist's to choose. While it is hidden only the therapist puts stickers down."""

    op: Literal["library"]
    hidden: bool


class Undo(Op):
    op: Literal["undo"]


class Redo(Op):
    op: Literal["redo"]


class Clear(Op):
    op: Literal["clear"]


AnyOp = Annotated[
    Stroke
    | StrokeBegin
    | StrokePoints
    | StrokeEnd
    | Shape
    | Text
    | Sticker
    | Picture
    | Roll
    | Dice
    | Erase
    | Move
    | Transform
    | Reorder
    | Lock
    | Background
    | Library
    | Undo
    | Redo
    | Clear,
    Field(discriminator="op"),
]
_ops: TypeAdapter[AnyOp] = TypeAdapter(AnyOp)
Creation = Stroke | StrokeBegin | Shape | Text | Sticker | Picture | Dice
ItemCreation = Shape | Text | Sticker | Picture | Dice
SERVER_ONLY = (Picture, Dice)  # placed by the server, never asked for by a page


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
    if first["type"] == "unknown_sticker":  # a name outside the library (media/miniatures.py)
        return BoardError("unknown_sticker", "There is no such sticker.")
    where = ".".join(str(p) for p in first["loc"][1:]) or "operation"
    return BoardError("bad_op", f"{where}: {first['msg']}")
