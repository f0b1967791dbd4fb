"""What the board sends: an element, and the changes each operation makes to the board.

They are dicts (typed), as ``Board.apply`` makes them and as JSON carries them; the board's
messages (``server/board/messages.py``) hold them, and a copy of the board (``Replica``)
applies them. No I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Tag
from typing_extensions import TypedDict  # pydantic reads these only from here on Python 3.11

from media.ops import Ground

Kind = Literal["stroke", "shape", "text", "sticker", "picture", "dice"]


class Place(TypedDict):
    """Where an item sits: its centre (``x``, ``y``), its size and its turn (``rotation``, in
    degrees, clockwise). A sticker, a text or a dice is sized by ``scale`` (1 is its natural
    size; ``w`` and ``h`` are null); a picture or a shape by ``w`` and ``h`` in board units
    (``scale`` is null)."""

    x: float
    y: float
    scale: float | None
    w: float | None
    h: float | None
    rotation: float


class ElementDoc(TypedDict):
    """An element as the board sends it. Everything but a stroke is an *item*, with a
    ``place``; a stroke has none (null) and is drawn moved by ``dx``, ``dy``."""

    id: str
    author: str
    kind: Kind
    data: dict[str, Any]  # the creating operation's fields but ``op`` and ``id``
    points: list[list[float]]
    finished: bool
    visible: bool
    dx: float
    dy: float
    place: Place | None
    locked: bool


class SetElement(TypedDict):
    """An element created (or sent whole)."""

    set: ElementDoc


class AddPoints(TypedDict):
    """Points added to the stroke ``points`` (its id)."""

    points: str
    add: list[list[float]]


class Finish(TypedDict):
    """The stroke ``finished`` (its id) is finished."""

    finished: str


class Visibility(TypedDict):
    """The element ``visible`` (its id) is now shown (``value`` true) or hidden."""

    visible: str
    value: bool


class Offset(TypedDict):
    """The element ``offset`` (its id) is now drawn moved by ``dx``, ``dy`` in all."""

    offset: str
    dx: float
    dy: float


class Placed(TypedDict):
    """The item ``place`` (its id) now sits at ``to``: its whole place, not a step."""

    place: str
    to: Place


class Locking(TypedDict):
    """The item ``locked`` (its id) is now locked (``value`` true) or free."""

    locked: str
    value: bool


class Order(TypedDict):
    """The element ``order`` (its id) now comes at ``index`` in the board's stacking order
    (0 is the back, drawn first); the others keep their order around it."""

    order: str
    index: int


class Settings(TypedDict):
    """The board's settings, which the therapist sets: the tray's ``background`` (null: none,
    a white board) and whether the library is hidden from the young person."""

    background: Ground | None
    library_hidden: bool


class BackgroundSet(TypedDict):
    """The tray's background is now ``background`` (null: none)."""

    background: Ground | None


class LibrarySet(TypedDict):
    """The library is now hidden from the young person (``library_hidden`` true), or shown."""

    library_hidden: bool


CHANGE_KEYS = (
    "set", "points", "finished", "visible", "offset", "place", "locked", "order",
    "background", "library_hidden",
)  # fmt: skip


def _change_kind(change: Any) -> str | None:
    """A change is named by the key it has of these (it has one)."""
    if isinstance(change, Mapping):
        return next((key for key in CHANGE_KEYS if key in change), None)
    return None


AnyChange = Annotated[
    Annotated[SetElement, Tag("set")]
    | Annotated[AddPoints, Tag("points")]
    | Annotated[Finish, Tag("finished")]
    | Annotated[Visibility, Tag("visible")]
    | Annotated[Offset, Tag("offset")]
    | Annotated[Placed, Tag("place")]
    | Annotated[Locking, Tag("locked")]
    | Annotated[Order, Tag("order")]
    | Annotated[BackgroundSet, Tag("background")]
    | Annotated[LibrarySet, Tag("library_hidden")],
    Discriminator(_change_kind),
]


NO_SETTINGS = Settings(background=None, library_hidden=False)  # a board's, before any is set
