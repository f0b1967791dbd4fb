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

Kind = Literal["stroke", "shape", "text", "sticker", "picture"]


class ElementDoc(TypedDict):
    """An element as the board sends it."""

    id: str
    author: str
    kind: Kind
    data: dict[str, Any]  # the creating operation's fields but ``op`` and ``id``
    points: list[list[float]]
    finished: bool
    visible: bool
    dx: float
    dy: float


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


CHANGE_KEYS = ("set", "points", "finished", "visible", "offset")


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
    | Annotated[Offset, Tag("offset")],
    Discriminator(_change_kind),
]
