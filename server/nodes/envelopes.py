"""What nodes say to each other over the bus: one pydantic model per envelope, told apart by
``op``, plus ``parse_envelope`` / ``dump_envelope``. No I/O.

Every node of a deployment runs the same version, so the shape may change between versions.
A browser's frame travels as its text (``d``), untouched: the node it reaches parses it.

To a room's home, from the node holding the browser's socket (its edge): ``open``, ``frame``,
``closed``; from any node, ``call``. To an edge: ``send``, ``close``, ``result``. To every
node: ``watchers``, ``therapist``, ``node_gone``. ``relay.py`` says what each one does.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

NodeId = Annotated[str, Field(min_length=1, max_length=64)]
ConnId = Annotated[str, Field(min_length=1, max_length=64)]
CallName = Literal["summaries", "end_room"]


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# -- to a room's home


class Open(Envelope):
    """A socket on ``edge`` speaks for a room here now, signed in as staff ``user`` (or not)."""

    op: Literal["open"] = "open"
    conn: ConnId
    edge: NodeId
    user: str | None = None


class Frame(Envelope):
    """One frame from the browser, as it came; ``sender`` is its edge."""

    op: Literal["frame"] = "frame"
    conn: ConnId
    d: str
    sender: NodeId


class Closed(Envelope):
    """The browser's socket is gone (closed, too slow, or its edge lost the room)."""

    op: Literal["closed"] = "closed"
    conn: ConnId


class Call(Envelope):
    """Run ``name`` for ``room`` here, then answer ``result`` to ``sender``."""

    op: Literal["call"] = "call"
    id: str
    sender: NodeId
    name: CallName
    room: str


# -- to an edge


class Send(Envelope):
    """A frame for the browser, from its room's home (``sender``)."""

    op: Literal["send"] = "send"
    conn: ConnId
    d: str
    sender: NodeId


class Close(Envelope):
    """Close the browser's socket with ``code``."""

    op: Literal["close"] = "close"
    conn: ConnId
    code: int
    reason: str = ""


class Result(Envelope):
    """The call ``id`` is done."""

    op: Literal["result"] = "result"
    id: str


# -- to every node


class Watchers(Envelope):
    """A frame for the dashboards of these supervisors, wherever they are open."""

    op: Literal["watchers"] = "watchers"
    to: list[str]
    d: str


class Therapist(Envelope):
    """A frame for the therapist of ``room``, on whichever node it lives."""

    op: Literal["therapist"] = "therapist"
    room: str
    d: str


class NodeGone(Envelope):
    """``node`` received nothing sent to it: it is dead, and its rooms are free."""

    op: Literal["node_gone"] = "node_gone"
    node: NodeId


AnyEnvelope = Annotated[
    Open | Frame | Closed | Call | Send | Close | Result | Watchers | Therapist | NodeGone,
    Field(discriminator="op"),
]
_envelopes: TypeAdapter[AnyEnvelope] = TypeAdapter(AnyEnvelope)


def parse_envelope(data: str | bytes) -> AnyEnvelope:
    """One envelope, parsed and validated in one pass; raises pydantic's ValidationError."""
    return _envelopes.validate_json(data)


def dump_envelope(envelope: Envelope) -> str:
    # the model's serializer itself, as for the browser's messages (``live/protocol.py``)
    return envelope.__pydantic_serializer__.to_json(envelope).decode()
