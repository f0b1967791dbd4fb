"""Signalling messages: pydantic models plus ``parse_message`` / ``dump_message``. No I/O.

Every message is a JSON object with ``v`` (protocol version) and ``type``. See
``docs/protocol.md`` for the full description.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from server.exceptions import PlayroomError

VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024


class ProtocolError(PlayroomError):
    """A message that cannot be accepted; answered with an error frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1


Id = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]


# -- from the browser


class OpenRoom(Message):
    """The therapist opens the room of a scheduled session (the gate is asked again)."""

    type: Literal["open_room"]
    session: Id


class Ping(Message):
    type: Literal["ping"]
    n: int = Field(0, ge=0)


Incoming = Annotated[OpenRoom | Ping, Field(discriminator="type")]
_incoming: TypeAdapter[Incoming] = TypeAdapter(Incoming)


# -- from the server


class RoomOpened(Message):
    type: Literal["room_opened"] = "room_opened"
    session: str


class Pong(Message):
    type: Literal["pong"] = "pong"
    n: int = 0


class Error(Message):
    type: Literal["error"] = "error"
    code: str
    message: str
    detail: dict[str, Any] | None = None


def parse_message(raw: str | bytes) -> Incoming:
    """Parse and validate one frame; raises ProtocolError with a code and a readable reason."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError("too_large", f"Messages are limited to {MAX_MESSAGE_BYTES} bytes.")
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError("bad_json", "The message is not valid JSON.") from exc
    if not isinstance(doc, dict):
        raise ProtocolError("bad_message", "A message is a JSON object.")
    if doc.get("v") != VERSION:
        raise ProtocolError("bad_version", f"This server speaks protocol version {VERSION}.")
    try:
        return _incoming.validate_python(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "union_tag_invalid" or first["loc"] == ("type",):
            raise ProtocolError(
                "unknown_type", f"Unknown message type: {str(doc.get('type'))[:40]}"
            ) from exc
        where = ".".join(str(p) for p in first["loc"][1:]) or "message"
        raise ProtocolError("bad_message", f"{where}: {first['msg']}") from exc


def dump_message(message: Message) -> str:
    return message.model_dump_json()
