"""Signalling messages: pydantic models plus ``parse_message`` / ``dump_message``. No I/O.

Every message is a JSON object with ``v`` (protocol version) and ``type``, and may carry an
``id`` of the client's choosing, which every answer to it echoes. What comes from the browser
is taken strictly as it is: a number must be a JSON number and a string a string, so ``"1"``,
``1.0`` or ``true`` is never taken for ``1``. See ``docs/protocol.md`` for the full
description.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from media.ops import (
    MAX_POINTS_PER_OP,
    Colour,
    ElementId,
    ItemHeight,
    ItemWidth,
    Point,
    Rotation,
    Scale,
    Width,
    X,
    Y,
)
from server.exceptions import ProtocolError
from server.live.rooms import MAX_PARTICIPANTS

VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024
MAX_SDP_BYTES = 48 * 1024
# what may wait for one browser that does not read (a board's pictures, sent when it opens
# over the socket, are several megabytes at once), on the room's node and on the node holding
# the socket; past it the socket is closed with TOO_SLOW ("try again later"), and the page
# resumes and gets the room afresh
MAX_BACKLOG_BYTES = 64 * 1024 * 1024
TOO_SLOW = 1013
MAX_SAFE_INTEGER = 2**53 - 1  # the largest integer a browser's number holds exactly


# a frame's ``id``: the client's own name for it, echoed by the answers to it
FrameId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
# an int between bounds, not ``Literal[1]``: pydantic takes ``true`` and ``1.0`` for the
# literal ``1``, even in strict mode
Version = Annotated[int, Field(ge=VERSION, le=VERSION)]


class Message(BaseModel):
    """What every frame carries, either way: the protocol version, and the ``id`` a client
    gave a frame (on the server's side, only in the answers to that frame)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Version = VERSION
    id: FrameId | None = None


class ClientMessage(Message):
    """A message from the browser: strict, so that no value is converted on the way in
    (``"yes"`` locks nothing, ``"3"`` rates nothing)."""

    model_config = ConfigDict(strict=True)


Id = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]


# -- from the browser

Text = Annotated[str, Field(max_length=280)]


class Join(ClientMessage):
    """A young person or parent joins with their link; the answers of their pre-join checks
    (where they are today, who is at home) go to the therapist."""

    type: Literal["join"]
    token: Annotated[str, Field(min_length=10, max_length=1024)]
    checks: Annotated[dict[Annotated[str, Field(max_length=60)], Text], Field(max_length=20)] = {}
    # the language of their page (``server/i18n.py``): what the server tells them is in it
    lang: Literal["en", "cy", "ar"] = "en"


class OpenRoom(ClientMessage):
    """The therapist opens the room of a scheduled session (the gate is asked again)."""

    type: Literal["open_room"]
    session: Id


class Admit(ClientMessage):
    type: Literal["admit"]
    participant: Id


class Decline(ClientMessage):
    type: Literal["decline"]
    participant: Id
    message: Text = ""


class ToWaiting(ClientMessage):
    """Send someone back to the waiting room (a parent stepping out)."""

    type: Literal["to_waiting"]
    participant: Id


class WaitingMessage(ClientMessage):
    """A short note to someone waiting ("I'll be with you in two minutes")."""

    type: Literal["waiting_message"]
    participant: Id
    text: Annotated[str, Field(min_length=1, max_length=280)]


class Remove(ClientMessage):
    type: Literal["remove"]
    participant: Id


class LetBack(ClientMessage):
    """The therapist lets a join link put out of the session (its holder removed or
    declined) back: it joins the waiting room again."""

    type: Literal["let_back"]
    link: Id


class Lock(ClientMessage):
    type: Literal["lock"]
    locked: bool


class EndRoom(ClientMessage):
    type: Literal["end_room"]


class Resume(ClientMessage):
    """Back after a dropped connection: the resume token from ``joined`` or ``room_opened``."""

    type: Literal["resume"]
    token: Annotated[str, Field(min_length=20, max_length=100)]


class PlanStepDone(ClientMessage):
    """The therapist records how a step of the disconnection plan went."""

    type: Literal["plan_step"]
    case: Literal["lost", "left", "not_private", "quick_exit"]
    step: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]
    outcome: Literal["tried", "reached", "no_answer", "done"]


class Escalate(ClientMessage):
    """The therapist raises a concern during the session."""

    type: Literal["escalate"]
    concern: Literal["risk_to_self", "risk_from_others", "medical_emergency", "unreachable"]
    # whom it is about: in a group's session, the member (their contacts, location and plan
    # go to the supervisor, nobody else's); in one client's session, that client
    about: Id | None = None


class Watch(ClientMessage):
    """A supervisor's dashboard: send me my team's escalations as they happen."""

    type: Literal["watch"]


class Acknowledge(ClientMessage):
    type: Literal["acknowledge"]
    escalation: Id


class CloseEscalation(ClientMessage):
    """The therapist or a supervisor of theirs closes an escalation, saying what was done."""

    type: Literal["close_escalation"]
    escalation: Id
    note: Annotated[str, Field(min_length=1, max_length=500)]


class AllowClear(ClientMessage):
    """The therapist lets the others clear the board too (or stops them)."""

    type: Literal["allow_clear"]
    allowed: bool


class Leave(ClientMessage):
    type: Literal["leave"]


class Flag(ClientMessage):
    """A signal to the therapist only: a break, or "it's not private now"."""

    type: Literal["flag"]
    kind: Literal["break", "not_private", "quick_exit"]


# a break's length in minutes, as the therapist chooses it (Zoom-or-Room: screen breaks)
MIN_BREAK_MINUTES = 1
MAX_BREAK_MINUTES = 15


class StartBreak(ClientMessage):
    """The therapist starts a break (asked for with a ``flag``, or of their own accord):
    everyone in the room pauses their camera and microphone until it ends."""

    type: Literal["start_break"]
    minutes: int = Field(ge=MIN_BREAK_MINUTES, le=MAX_BREAK_MINUTES)


class EndBreak(ClientMessage):
    """The therapist ends the break before its time."""

    type: Literal["end_break"]


class BackFromBreak(ClientMessage):
    """The young person or a parent says "I'm back": the therapist is told, and ends it."""

    type: Literal["back_from_break"]


class BreakStatus(ClientMessage):
    """The page asks whether a break is on (on coming into the room, or opening it again)."""

    type: Literal["break_status"]


class ShowAgreement(ClientMessage):
    """The therapist reads the agreement with everyone in the room, one section at a time:
    ``section`` (counted from 0) on everyone's screen, or, with ``done``, the reading over."""

    type: Literal["agreement"]
    section: int = Field(0, ge=0, le=50)
    done: bool = False


# a chat message's text, in characters (``records/chat.py`` keeps it)
MAX_CHAT_CHARACTERS = 1000


class Chat(ClientMessage):
    """A message in the room's chat: to everyone in the room, or (``to``) privately to one
    person. Anyone but the therapist writes privately only to the therapist, and may always
    do so; the therapist writes to everyone, or privately to one person (a reply)."""

    type: Literal["chat"]
    text: Annotated[str, Field(min_length=1, max_length=MAX_CHAT_CHARACTERS)]
    to: Id | None = None


class ChatSetting(ClientMessage):
    """The therapist turns the chat on or off for the others (who may still write privately
    to the therapist)."""

    type: Literal["chat_setting"]
    on: bool


class MuteAll(ClientMessage):
    """The therapist turns off every other microphone in the room (the young person's and
    the parents'), and says whether they may turn it back on themselves."""

    type: Literal["mute_all"]
    allow_unmute: bool


class AllowUnmute(ClientMessage):
    """The therapist lets people turn their microphones back on themselves, or not."""

    type: Literal["allow_unmute"]
    allowed: bool


class Mic(ClientMessage):
    """This page's microphone is now on or off (its Mute button). Turning it on while the
    therapist holds it off is refused."""

    type: Literal["mic"]
    on: bool


class Hand(ClientMessage):
    """A young person or parent raises or lowers their hand."""

    type: Literal["hand"]
    raised: bool


class LowerHand(ClientMessage):
    """The therapist lowers someone's hand."""

    type: Literal["lower_hand"]
    participant: Id


class Spotlight(ClientMessage):
    """The therapist shows one person's video large and first on every page, or (no
    ``participant``) takes the spotlight away."""

    type: Literal["spotlight"]
    participant: Id | None = None


class Description(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    type: Literal["offer", "answer"]
    sdp: Annotated[str, Field(min_length=10, max_length=MAX_SDP_BYTES)]


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    candidate: Annotated[str, Field(max_length=1024)]
    sdpMid: Annotated[str, Field(max_length=64)] | None = None  # noqa: N815 - the W3C name
    sdpMLineIndex: Annotated[int, Field(ge=0, le=64)] | None = None  # noqa: N815
    usernameFragment: Annotated[str, Field(max_length=256)] | None = None  # noqa: N815


class Signal(ClientMessage):
    """SDP or an ICE candidate for one other participant in the room (relayed as is)."""

    type: Literal["signal"]
    to: Id
    description: Description | None = None
    candidate: Candidate | None = None


class AskKeyFrame(ClientMessage):
    """Video from ``to`` is not being decoded again after a reconnect: ask them for a key
    frame over this socket, which loses nothing (the browser's own request travels over the
    media path, and one lost there is asked again only after about 3 s)."""

    type: Literal["key_frame"]
    to: Id


# the ``seq`` of the board as a page holds it, when it holds it (after a reconnect): the
# board then brings it up to date with only what it missed, when it still has all of it
Since = Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER)]
MAX_MISSING = 100  # a page missing more pictures than this asks for the whole board
# the pictures on the page's board whose bytes it has not got (a drop cut them off)
Missing = Annotated[
    list[Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]], Field(max_length=MAX_MISSING)
]


class ServerSignal(ClientMessage):
    """The browser's offer (or an ICE candidate) for its data connection to the server. With
    the offer, ``since`` and ``missing`` say what board the page holds, for a connection that
    finds no board on the socket to take over from."""

    type: Literal["server_signal"]
    description: Description | None = None
    candidate: Candidate | None = None
    since: Since | None = None
    missing: Missing = []


class BoardOpen(ClientMessage):
    """The board over this socket instead of the data connection to the server (for a
    network where that connection cannot be made) and until that connection takes it over:
    the snapshot follows in ``board`` frames, or, for a page that holds the board at
    ``since``, only the changes after it and ``caught_up``."""

    type: Literal["board_open"]
    since: Since | None = None
    missing: Missing = []


class BoardOperation(ClientMessage):
    """One board operation over the socket, as the ``board`` data channel carries it."""

    type: Literal["board"]
    op: dict[str, Any]


class ObjectsFrame(ClientMessage):
    """One message of the ``objects`` data channel over the socket, for a board opened here:
    a small JSON message (``begin``, ``end``), or a chunk of a picture's bytes in base64
    (a text socket carries no bytes; 16 KiB of picture is at most 21,848 characters)."""

    type: Literal["objects"]
    message: Annotated[dict[str, Any], Field(max_length=8)] | None = None
    chunk: Annotated[str, Field(max_length=21848, pattern=r"^[A-Za-z0-9+/]*={0,2}$")] | None = None


class LiveMove(BaseModel):
    """An item in someone's hand: where it is now (dragged, resized or turned), in the
    bounds of the ``transform`` it stands for. Which size the item takes (``scale``, or
    ``w`` and ``h``), and whether it exists and may be moved, the receiving page checks
    against its board."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    kind: Literal["move"]
    id: ElementId
    x: X
    y: Y
    rotation: Rotation = 0
    scale: Scale | None = None
    w: ItemWidth | None = None
    h: ItemHeight | None = None


class LivePoints(BaseModel):
    """A stroke being drawn: its points since the last update."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    kind: Literal["points"]
    id: ElementId
    points: Annotated[list[Point], Field(min_length=1, max_length=MAX_POINTS_PER_OP)]
    colour: Colour
    width: Width


class LiveEnd(BaseModel):
    """The hand let go without a drop (the gesture was cancelled): the item goes back."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    kind: Literal["end"]
    id: ElementId


LiveUpdate = Annotated[LiveMove | LivePoints | LiveEnd, Field(discriminator="kind")]
MAX_LIVE_UPDATES = 8  # in one ``live`` frame, and waiting for one sender at once


class Live(ClientMessage):
    """A hand moving on the board, for the people named in ``to``: those the sender's page
    has no open peer channel with. Relayed, coalesced, never stored (``edge/live.py``)."""

    type: Literal["live"]
    to: Annotated[list[Id], Field(min_length=1, max_length=MAX_PARTICIPANTS - 1)]
    messages: Annotated[list[LiveUpdate], Field(min_length=1, max_length=MAX_LIVE_UPDATES)]


class Observe(ClientMessage):
    """A supervisor joins a running session as an announced observer."""

    type: Literal["observe"]
    session: Id


class ObserverMedia(ClientMessage):
    """An observer turned their microphone or camera on or off: everyone is told."""

    type: Literal["observer_media"]
    audio: bool
    video: bool


class GuestJoin(ClientMessage):
    """An invited guest (an interpreter, a social worker...) joins with their own link, to
    the waiting room. No pre-join questions: those are the young person's and parent's."""

    type: Literal["guest_join"]
    token: Annotated[str, Field(min_length=10, max_length=1024)]
    lang: Literal["en", "cy", "ar"] = "en"


class GuestBoard(ClientMessage):
    """The therapist gives a guest the board (they may draw, move and add), or takes it
    back."""

    type: Literal["guest_board"]
    participant: Id
    on: bool


# a media stream's id as a description's ``a=msid`` names it (a browser's are 36 characters)
StreamId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9{}_.+-]+$")]


class ShareStart(ClientMessage):
    """This person is about to share a tab, a window or a screen, carried by the media stream
    ``stream``: announced before the stream is added, which is refused otherwise."""

    type: Literal["share_start"]
    stream: StreamId


class ShareStop(ClientMessage):
    """End a share: one's own (no ``participant``), or, the therapist, anyone's."""

    type: Literal["share_stop"]
    participant: Id | None = None


class ShareAllow(ClientMessage):
    """The therapist lets a young person or a parent share their screen, or stops letting
    them (a share of theirs that is on ends)."""

    type: Literal["share_allow"]
    participant: Id
    allowed: bool


class AskRating(ClientMessage):
    """The therapist asks the young person to rate today's session."""

    type: Literal["ask_rating"]


class Rating(ClientMessage):
    """The young person's rating of today's session: one of four faces."""

    type: Literal["rating"]
    score: int = Field(ge=1, le=4)


class Quality(ClientMessage):
    """The page's measure of one link (getStats), every few seconds."""

    type: Literal["quality"]
    peer: Id
    rtt_ms: float | None = Field(None, ge=0, le=60000)
    loss: float = Field(0, ge=0, le=1)


class MediaState(ClientMessage):
    """The browser's report of one of its connections: to another person, or "server"."""

    type: Literal["media_state"]
    peer: Id | Literal["server"]
    state: Literal["new", "connecting", "connected", "disconnected", "failed", "closed"]


# what a page sends now: everything, less video (a slow connection, or by choice), or sound
# only; and whether the page stepped down by itself or the person chose it
MediaModeName = Literal["full", "lower", "audio"]


class MediaMode(ClientMessage):
    """What this page now sends, so that the others' pages can say why its video changed."""

    type: Literal["media_mode"]
    mode: MediaModeName
    why: Literal["connection", "chosen"]


class Ping(ClientMessage):
    type: Literal["ping"]
    n: int = Field(0, ge=0, le=MAX_SAFE_INTEGER)


Incoming = Annotated[
    Join
    | OpenRoom
    | Admit
    | Decline
    | ToWaiting
    | WaitingMessage
    | Remove
    | LetBack
    | Lock
    | EndRoom
    | AllowClear
    | Escalate
    | Watch
    | Acknowledge
    | CloseEscalation
    | PlanStepDone
    | Resume
    | Leave
    | Flag
    | StartBreak
    | EndBreak
    | BackFromBreak
    | BreakStatus
    | ShowAgreement
    | Chat
    | ChatSetting
    | MuteAll
    | AllowUnmute
    | Mic
    | Hand
    | LowerHand
    | Spotlight
    | Signal
    | AskKeyFrame
    | ServerSignal
    | BoardOpen
    | BoardOperation
    | ObjectsFrame
    | Live
    | MediaState
    | MediaMode
    | Quality
    | AskRating
    | Rating
    | Observe
    | ObserverMedia
    | GuestJoin
    | GuestBoard
    | ShareStart
    | ShareStop
    | ShareAllow
    | Ping,
    Field(discriminator="type"),
]
_incoming: TypeAdapter[Incoming] = TypeAdapter(Incoming)


def parse_message(raw: str | bytes) -> Incoming:
    """Parse and validate one frame; raises ProtocolError with a code and a readable reason
    (and the frame's ``id``, when the frame is an object with a valid one).

    A well-formed frame is parsed and validated in one pass (``validate_json``); any other is
    taken again step by step, which finds the same fault and names it."""
    if frame_size(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError("too_large", f"Messages are limited to {MAX_MESSAGE_BYTES} bytes.")
    try:
        message = _incoming.validate_json(raw)
    except ValidationError:
        pass
    else:
        if "v" in message.model_fields_set:  # ``v`` has a default; a frame must still say it
            return message
    return _parse_stepwise(raw)


def _parse_stepwise(raw: str | bytes) -> Incoming:
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # not only bad JSON and bad UTF-8: a number of more than 4,300 digits, or nesting
        # deeper than the decoder's recursion limit, raise ValueError and RecursionError
        raise ProtocolError("bad_json", "The message is not valid JSON.") from exc
    if not isinstance(doc, dict):
        raise ProtocolError("bad_message", "A message is a JSON object.")
    frame = _frame_id(doc.get("id"))
    version = doc.get("v")
    if type(version) is not int or version != VERSION:  # neither ``true`` nor ``1.0``
        raise ProtocolError(
            "bad_version", f"This server speaks protocol version {VERSION}.", frame_id=frame
        )
    try:
        return _incoming.validate_python(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        outermost = not first["loc"]  # a tag of the frame's own, not of a message inside it
        if first["type"] == "union_tag_not_found" and outermost:
            raise ProtocolError("bad_message", "type: Field required", frame_id=frame) from exc
        if (first["type"] == "union_tag_invalid" and outermost) or first["loc"] == ("type",):
            raise ProtocolError(
                "unknown_type", f"Unknown message type: {str(doc.get('type'))[:40]}", frame_id=frame
            ) from exc
        where = ".".join(str(p) for p in first["loc"][1:]) or "message"
        raise ProtocolError("bad_message", f"{where}: {first['msg']}", frame_id=frame) from exc


_frame_ids: TypeAdapter[str] = TypeAdapter(FrameId, config=ConfigDict(strict=True))


def _frame_id(value: object) -> str | None:
    """The ``id`` of a frame refused, when it is a valid one (its refusal echoes it)."""
    if value is None:
        return None
    try:
        return _frame_ids.validate_python(value)
    except ValidationError:
        return None


def frame_size(frame: str | bytes) -> int:
    """A frame's length in bytes as it was sent: a text frame's in UTF-8 (for text that is
    all ASCII, as nearly every frame is, its length, known without encoding it)."""
    if isinstance(frame, bytes):
        return len(frame)
    return len(frame) if frame.isascii() else len(frame.encode("utf-8", "surrogatepass"))


def dump_message(message: Message) -> str:
    # the model's serializer itself: ``model_dump_json`` costs as much again in its checks
    data = message.__pydantic_serializer__.to_json(message, by_alias=True, exclude_none=True)
    return data.decode()
