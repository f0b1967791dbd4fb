"""The messages of the board's three data channels, both ways: pydantic models plus pure
``parse_*`` / ``dump_reply`` functions. No I/O.

- ``board``: in, one operation a frame (``media/ops.py``: ``AnyOp``, ``parse_op``); out,
  the snapshot (``snapshot_part``, ``snapshot`` with the settings), or for a page that holds
  the board already only the changes it missed and ``caught_up``; every ``change``,
  ``settings`` when who may clear changes, and ``error``.
- ``objects``: in, ``begin`` and ``end`` around a picture's bytes (binary frames); out,
  ``ready``, ``shared``, every picture as ``object``, bytes, ``object_end``, and ``error``.
- ``control``: in, ``ping``; out, ``pong`` and ``error``.

The same messages travel over the data connection to the server and, one to a frame, over the
signalling socket (``server/edge/board.py``). Strict, as the signalling is: "5" or 5.0 for an
integer, or true for a number, is refused rather than converted. See ``docs/protocol.md``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from media.changes import AnyChange, ElementDoc, Settings
from media.ops import AnyOp, parse_op
from server.exceptions import BoardError, ProtocolError, TransferError

Label = Literal["board", "objects", "control"]
# an operation: a stroke of about 1,500 points sent whole at pen-up (a longer one goes in
# segments), and well inside a socket's frame when the board goes over the socket
MAX_OP_CHARS = 32 * 1024
MAX_OBJECT_MESSAGE_CHARS = 1024  # ``begin`` and ``end`` are a few dozen characters
MAX_CONTROL_CHARS = 256

# every code each channel's ``error`` may carry (``docs/protocol.md`` lists the same)
BOARD_ERRORS = frozenset(
    {
        "bad_json", "bad_op", "unknown_op",  # parse_op
        "duplicate", "full", "not_yours", "finished", "too_long", "unknown", "locked",  # check
        "not_allowed", "unknown_sticker", "rate_limited", "not_saved",  # the room's board
    }
)  # fmt: skip
OBJECT_ERRORS = frozenset(
    {
        "bad_json", "bad_message",  # parse_object_message
        "too_large", "rate_limited",  # begin
        "no_transfer", "chunk_too_large", "too_much", "stalled",  # a chunk
        "incomplete", "refused", "full", "not_saved",  # end
    }
)  # fmt: skip
CONTROL_ERRORS = frozenset({"bad_json", "bad_message"})


class ChannelMessage(BaseModel):
    """A message of a data channel: a JSON object with a ``type``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


TransferId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
ObjectId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]


# -- objects: from the page


class Begin(ChannelMessage):
    """A picture of ``size`` bytes is coming as ``id``; the same id again resumes it."""

    type: Literal["begin"]
    id: TransferId
    size: Annotated[int, Field(gt=0)]


class End(ChannelMessage):
    """All of picture ``id`` has been sent: check it and share it."""

    type: Literal["end"]
    id: TransferId


ObjectsIncoming = Annotated[Begin | End, Field(discriminator="type")]
_objects_incoming: TypeAdapter[ObjectsIncoming] = TypeAdapter(ObjectsIncoming)


# -- control: from the page


class Ping(ChannelMessage):
    """The page's heartbeat; ``t`` is any number it likes (its clock), sent back."""

    type: Literal["ping"]
    t: Annotated[float, Field(allow_inf_nan=False)]


_control_incoming: TypeAdapter[Ping] = TypeAdapter(Ping)


# -- every channel: to the page


class ChannelError(ChannelMessage):
    """A frame refused on this channel; ``message`` is safe to show to the person."""

    type: Literal["error"] = "error"
    code: str
    message: str


# -- board: to the page


class SnapshotPart(ChannelMessage):
    """Some of the board's elements, in order: at most 48 KiB, or one element alone."""

    type: Literal["snapshot_part"] = "snapshot_part"
    elements: list[ElementDoc]


class RoomSettings(Settings):
    """The board's settings (``media/changes.py``) and whether the therapist lets the others
    clear the board (the room's, not an operation's: ``allow_clear`` on the socket)."""

    clear_allowed: bool


def _no_settings() -> RoomSettings:
    return RoomSettings(background=None, library_hidden=False, clear_allowed=False)


class Snapshot(ChannelMessage):
    """The snapshot is whole: the board is the parts' elements, at ``seq``, with these
    settings."""

    type: Literal["snapshot"] = "snapshot"
    seq: Annotated[int, Field(ge=0)]
    settings: RoomSettings = Field(default_factory=_no_settings)


class CaughtUp(ChannelMessage):
    """The link is live from ``seq`` on: every change up to it has been sent to this page,
    on this link or the one it took over from (the page holds the board already, so it
    gets only what it missed, not a snapshot). The settings are the board's now."""

    type: Literal["caught_up"] = "caught_up"
    seq: Annotated[int, Field(ge=0)]
    settings: RoomSettings


class SettingsChanged(ChannelMessage):
    """The settings, all of them, when one changed outside the board's operations: whether the
    others may clear the board. A setting an operation changes comes in its ``change``."""

    type: Literal["settings"] = "settings"
    settings: RoomSettings


class Change(ChannelMessage):
    """Operation ``seq`` by ``author`` was applied, with these changes, to everyone."""

    type: Literal["change"] = "change"
    seq: Annotated[int, Field(ge=1)]
    author: str
    changes: list[AnyChange]


BoardOutgoing = Annotated[
    SnapshotPart | Snapshot | CaughtUp | Change | SettingsChanged | ChannelError,
    Field(discriminator="type"),
]


# -- objects: to the page


class Ready(ChannelMessage):
    """The answer to ``begin``: send the bytes from ``received`` on."""

    type: Literal["ready"] = "ready"
    id: TransferId
    received: Annotated[int, Field(ge=0)]


class Shared(ChannelMessage):
    """The sender's picture ``id`` is shared, as ``object``."""

    type: Literal["shared"] = "shared"
    id: TransferId
    object: ObjectId


class ObjectStart(ChannelMessage):
    """A picture on the board follows: ``size`` bytes of ``mime``, then ``object_end``."""

    type: Literal["object"] = "object"
    object: ObjectId
    mime: Annotated[str, Field(pattern=r"^image/(webp|png|jpeg)$")]  # what ``sanitize`` makes
    size: Annotated[int, Field(ge=0)]


class ObjectEnd(ChannelMessage):
    """All of picture ``object`` has been sent."""

    type: Literal["object_end"] = "object_end"
    object: ObjectId


ObjectsOutgoing = Annotated[
    Ready | Shared | ObjectStart | ObjectEnd | ChannelError, Field(discriminator="type")
]


# -- control: to the page


class Pong(ChannelMessage):
    """The answer to a ``ping``, with its ``t``."""

    type: Literal["pong"] = "pong"
    t: Annotated[float, Field(allow_inf_nan=False)]


ControlOutgoing = Annotated[Pong | ChannelError, Field(discriminator="type")]

_outgoing: dict[Label, TypeAdapter[BoardOutgoing | ObjectsOutgoing | ControlOutgoing]] = {
    "board": TypeAdapter(BoardOutgoing),
    "objects": TypeAdapter(ObjectsOutgoing),
    "control": TypeAdapter(ControlOutgoing),
}


# -- parsing and dumping


def parse_board_message(data: str | bytes | dict[str, Any]) -> AnyOp:
    """One frame of the ``board`` channel: an operation, as JSON text, or as the socket's
    frame parsed it (one no longer than the text may be). Raises BoardError."""
    if isinstance(data, dict):
        return parse_op(data)
    if isinstance(data, bytes) or len(data) > MAX_OP_CHARS:
        raise BoardError("bad_op", "Board operations are JSON text up to 32 KiB.")
    return parse_op(data)


def parse_object_message(data: str) -> ObjectsIncoming:
    """One text frame of the ``objects`` channel (its binary frames are a picture's bytes).
    Raises TransferError ``bad_json`` or ``bad_message``, naming the fault."""
    if len(data) > MAX_OBJECT_MESSAGE_CHARS:
        raise TransferError("bad_message", "Object messages are small JSON objects.")
    try:
        return _objects_incoming.validate_json(data)
    except ValidationError as exc:
        code, message = _fault(exc, "object message", tagged=True)
        raise TransferError(code, message) from exc


def parse_control(data: str | bytes) -> Ping:
    """One frame of the ``control`` channel. Raises ProtocolError, naming the fault."""
    if isinstance(data, bytes) or len(data) > MAX_CONTROL_CHARS:
        raise ProtocolError("bad_message", "Control messages are short JSON text.")
    try:
        return _control_incoming.validate_json(data)
    except ValidationError as exc:
        raise ProtocolError(*_fault(exc, "control message", tagged=False)) from exc


def _fault(exc: ValidationError, what: str, *, tagged: bool) -> tuple[str, str]:
    """The code and the words for the first thing wrong with a message. In a union told
    apart by ``type`` (``tagged``), an error's place starts with the type itself."""
    first = exc.errors()[0]
    kind, loc = first["type"], first["loc"]
    if kind == "json_invalid":
        return "bad_json", f"The {what} is not valid JSON."
    if kind == "union_tag_not_found":
        return "bad_message", f"type: every {what} has one."
    if kind == "union_tag_invalid" or (kind == "literal_error" and loc == ("type",)):
        return "bad_message", f"type: unknown {what} type."
    where = ".".join(str(p) for p in (loc[1:] if tagged else loc))
    return "bad_message", f"{where or what}: {first['msg']}"


_element: TypeAdapter[ElementDoc] = TypeAdapter(ElementDoc)


def encoded_size(element: ElementDoc) -> int:
    """How many bytes ``element`` takes in a message (to cut a snapshot into parts)."""
    return len(_element.dump_json(element))


def dump_reply(message: ChannelMessage) -> str:
    """A message as the channel carries it: encoded once, then sent to whoever it is for."""
    # the model's serializer itself: ``model_dump_json`` costs as much again in its checks
    return message.__pydantic_serializer__.to_json(message).decode()


def parse_reply(label: Label, data: str) -> BoardOutgoing | ObjectsOutgoing | ControlOutgoing:
    """A message the server sends on ``label``, read back (what a client does). Raises
    ValidationError."""
    return _outgoing[label].validate_json(data)
