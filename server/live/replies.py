"""Messages the server sends: pydantic models, dumped with ``protocol.dump_message``.
See ``docs/protocol.md``.

A message sent as the answer to a frame carries that frame's ``id`` (``Connection.reply``
sets it); one pushed to someone, or sent later, carries none."""

from __future__ import annotations

from typing import Any, Literal

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field

from server.live.protocol import (
    Candidate,
    Description,
    LiveEnd,
    LiveMove,
    LivePoints,
    Message,
)


class Person(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    role: str
    name: str
    state: str
    guest_role: str | None = None  # a guest's: interpreter, social_worker, ...


class RoomOpened(Message):
    type: Literal["room_opened"] = "room_opened"
    session: str
    you: Person | None = None
    ice: dict[str, Any] | None = None
    resume: str | None = None


class Joined(Message):
    """To a joiner: who they are in the room, and how to reach the others."""

    type: Literal["joined"] = "joined"
    you: Person
    ice: dict[str, Any]
    starts_at: str
    ends_at: str
    resume: str


class OutLink(BaseModel):
    """A join link put out of the session (its holder removed or declined), until the
    therapist lets it back."""

    model_config = ConfigDict(frozen=True)

    link: str
    role: str
    name: str
    how: str  # removed, declined


class Lobby(Message):
    """To the therapist: everyone waiting and everyone in the room, and the links put out of
    the session."""

    type: Literal["lobby"] = "lobby"
    waiting: list[Person]
    present: list[Person]
    locked: bool
    out: list[OutLink] = []


class Waiting(Message):
    """To a joiner: you are in the waiting room (again)."""

    type: Literal["waiting"] = "waiting"
    message: str = ""


class Admitted(Message):
    """To someone admitted: who is in the room. The newcomer offers to each of them."""

    type: Literal["admitted"] = "admitted"
    present: list[Person]


class PeerJoined(Message):
    type: Literal["peer_joined"] = "peer_joined"
    participant: Person


class GuestBoardChanged(Message):
    """To everyone in the room: the therapist gave a guest the board, or took it back."""

    type: Literal["guest_board"] = "guest_board"
    participant: str
    on: bool


class PeerState(Message):
    """Someone's connection changed: interrupted (reconnecting...), reconnected, lost."""

    type: Literal["peer_state"] = "peer_state"
    participant: str
    state: str
    role: str


class EscalationInfo(Message):
    """To the therapist: the escalation, and everything needed to act on it now."""

    type: Literal["escalation"] = "escalation"
    escalation: dict[str, Any]


class EscalationAlert(Message):
    """To a supervisor's dashboard: a new (or still open) escalation in their team."""

    type: Literal["escalation_alert"] = "escalation_alert"
    escalation: dict[str, Any]
    therapist: str


class EscalationUpdate(Message):
    type: Literal["escalation_update"] = "escalation_update"
    escalation: dict[str, Any]


class PlanStarted(Message):
    """To the therapist: walk through the plan agreed in advance, step by step."""

    type: Literal["plan"] = "plan"
    participant: str
    case: str
    steps: list[dict[str, Any]]


class PlanRecorded(Message):
    type: Literal["plan_recorded"] = "plan_recorded"
    case: str
    step: str
    outcome: str


class Resumed(Message):
    """To someone back within the grace window: a new resume token, and where they are.

    Their media connections are kept and restarted (ICE restart), not replaced."""

    type: Literal["resumed"] = "resumed"
    you: Person
    ice: dict[str, Any]
    resume: str
    present: list[Person] = []  # everyone in the room: restart ICE with them, offer to new


class PeerLeft(Message):
    type: Literal["peer_left"] = "peer_left"
    participant: str
    reason: str


class KeyFrameAsked(Message):
    """To someone in the room: ``from`` cannot decode their video yet; send a key frame."""

    type: Literal["key_frame"] = "key_frame"
    sender: str = Field(serialization_alias="from")


class Relayed(Message):
    """A signal as its receiver gets it; relayed with ``relayed``, which writes the same."""

    type: Literal["signal"] = "signal"
    sender: str = Field(serialization_alias="from")
    description: Description | None = None
    candidate: Candidate | None = None


def relayed(sender: str, description: Description | None, candidate: Candidate | None) -> str:
    """The text of ``Relayed(sender=..., description=..., candidate=...)``, written from a
    plain dict: what it carries was validated as it came in (``Signal``), and building the
    model would validate it all again, for every ICE candidate of every call."""
    doc: dict[str, Any] = {"v": 1, "type": "signal", "from": sender}
    if description is not None:
        doc["description"] = description
    if candidate is not None:
        doc["candidate"] = candidate
    return pydantic_core.to_json(doc, by_alias=True, exclude_none=True).decode()


class ServerAnswer(Message):
    """The server's answer for the browser's data connection."""

    type: Literal["server_signal"] = "server_signal"
    description: Description


class BoardFrame(Message):
    """One message of the board (``snapshot_part``, ``snapshot``, ``change``, ``settings``,
    ``error``), as the ``board`` data channel carries it, to someone whose board is on the
    socket."""

    type: Literal["board"] = "board"
    message: dict[str, Any]


class ObjectsReply(Message):
    """One message of the ``objects`` data channel, to someone whose board is on the socket:
    a JSON message (``ready``, ``shared``, ``error``, ``object``, ``object_end``) in
    ``message``, or a chunk of a picture's bytes in base64 in ``chunk``."""

    type: Literal["objects"] = "objects"
    message: dict[str, Any] | None = None
    chunk: str | None = None


class LiveRelayed(Message):
    """Someone's hand on the board, through the server, to those their page has no open peer
    channel with: the newest of each of their moving things, at most 20 frames a second
    (``edge/live.py``). Never stored."""

    type: Literal["live"] = "live"
    sender: str = Field(serialization_alias="from")
    messages: list[LiveMove | LivePoints | LiveEnd]


class Notice(Message):
    """Something the person should know, e.g. a second device tried their link."""

    type: Literal["notice"] = "notice"
    code: str
    message: str
    participant: str | None = None


class FlagRaised(Message):
    type: Literal["flag"] = "flag"
    sender: str = Field(serialization_alias="from")
    kind: str


class Declined(Message):
    type: Literal["declined"] = "declined"
    message: str = ""


class RatingRequest(Message):
    """To the young person: how was today? (four faces)"""

    type: Literal["rating_request"] = "rating_request"


class Removed(Message):
    type: Literal["removed"] = "removed"
    message: str = ""


class RoomEnded(Message):
    type: Literal["room_ended"] = "room_ended"
    reason: str = "The session has ended."


class Restarting(Message):
    """To every socket as the server stops to restart: come back (``resume``) after
    ``after_ms``, a time of this socket's own within ``RESTART_WINDOW_MS``, so that the
    sockets of a node come back spread over that window instead of in the same moment."""

    type: Literal["restarting"] = "restarting"
    after_ms: int


class Pong(Message):
    type: Literal["pong"] = "pong"
    n: int = 0


class Working(Message):
    """To a socket whose frame has been in hand a while: it is alive, only busy
    (``edge/working.py``). Answers nothing; the ``pong`` still follows in order."""

    type: Literal["working"] = "working"


class Break(Message):
    """To everyone in the room: the break, as the server holds it. ``on``: its ``minutes``,
    when it ends (``ends_at``, UTC) and the whole seconds left by the server's clock (a page
    counts down from them, whatever its own clock says); off: why it ended (``cause``
    ``ended`` by the therapist or ``time_up``), or nothing when there was none."""

    type: Literal["break"] = "break"
    on: bool
    minutes: int | None = None
    ends_at: str | None = None
    seconds_left: int | None = None
    cause: Literal["ended", "time_up"] | None = None


class BreakBack(Message):
    """To the therapist: someone said "I'm back" during a break."""

    type: Literal["break_back"] = "break_back"
    participant: str


class Agreement(Message):
    """To everyone in the room: the section of the agreement the therapist is reading with
    them (counted from 0, ``of`` in all), or none (no ``section``) when the reading is over."""

    type: Literal["agreement"] = "agreement"
    section: int | None
    of: int


# why a share ended: its sharer stopped it, the therapist did, the therapist's share took its
# place, the therapist stopped letting them share, it was refused, or its sharer left the room
ShareEnd = Literal["stopped", "by_therapist", "replaced", "not_allowed", "refused", "left"]


class ShareStarted(Message):
    """To everyone in the room, the sharer's page too: ``participant`` shares their screen,
    carried by the media stream ``stream``. A page shows no other stream as a share."""

    type: Literal["share_started"] = "share_started"
    participant: str
    stream: str


class ShareStopped(Message):
    """To everyone in the room: no share of ``participant``'s is on. Their page stops it;
    the others take it off their screen (or show nothing of one refused)."""

    type: Literal["share_stopped"] = "share_stopped"
    participant: str
    reason: ShareEnd


class ShareAllowed(Message):
    """To the person concerned and the therapist: whether ``participant`` may share."""

    type: Literal["share_allowed"] = "share_allowed"
    participant: str
    allowed: bool


class ChatLine(BaseModel):
    """One message of the room's chat as a page shows it: its number in the session, who
    wrote it (``from_role``; ``mine`` when it was the reader), whom it was for (``to_role``
    and, while they are in the room, ``to``; neither when it was to everyone), when, and
    what. Its text is shown as text, never as markup."""

    model_config = ConfigDict(frozen=True)

    seq: int
    from_role: str
    sender: str | None = Field(None, serialization_alias="from")
    mine: bool = False
    to_role: str | None = None
    to: str | None = None
    private: bool = False
    at: str
    text: str


class ChatSaid(ChatLine, Message):
    """To those who may see it: a message written in the room's chat (the writer's copy is
    the answer to their frame)."""

    type: Literal["chat"] = "chat"


class ChatHistory(Message):
    """To someone coming into the room, or back to it: every message of the session's chat
    they may see, in order, and whether the chat is on for everyone."""

    type: Literal["chat_history"] = "chat_history"
    on: bool
    messages: list[ChatLine]


class ChatSettingTold(Message):
    """To everyone in the room: the therapist turned the chat on or off for the others."""

    type: Literal["chat_setting"] = "chat_setting"
    on: bool


class Done(Message):
    """The answer to a frame that has no answer of its own: it was carried out."""

    type: Literal["done"] = "done"


class Error(Message):
    type: Literal["error"] = "error"
    code: str
    message: str
    detail: dict[str, Any] | None = None


class MediaModeTold(Message):
    """To the others in the room: what ``participant``'s page now sends (``mode``), and
    whether their connection (``connection``) or they (``chosen``) decided it."""

    type: Literal["media_mode"] = "media_mode"
    participant: str
    mode: Literal["full", "lower", "audio"]
    why: Literal["connection", "chosen"]


class Floor(Message):
    """To each person in the room, on coming in or back and whenever it changes: whether
    people may turn their microphones back on themselves (``allow_unmute``), whether this
    person's is held off by the therapist (``muted``), the raised hands (participant ids,
    first raised first) and who is in the spotlight. ``cause`` names what just changed:
    ``mute_all`` (the page turns its microphone off and says so kindly), ``allow_unmute``,
    ``hand``, ``spotlight``, ``left``; none on coming in or back."""

    type: Literal["floor"] = "floor"
    allow_unmute: bool
    muted: bool
    hands: list[str]
    spotlight: str | None
    cause: Literal["mute_all", "allow_unmute", "hand", "spotlight", "left"] | None = None
