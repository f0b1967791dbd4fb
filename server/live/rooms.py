"""Rooms and participants: the live state of sessions, kept in memory, touching no socket.

A participant's lifecycle is one enum with one transition table; every move is logged as
``old -> new`` with its cause, and an illegal move raises. The signalling edge
(``signalling.py``) turns protocol messages into calls here and sends what these return.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from server.access.ratelimit import RateLimiter
from server.exceptions import Forbidden, IllegalTransition, LinkInUse, NotLetBack, PlayroomError
from server.live.floor import Floor

if TYPE_CHECKING:
    from server.live.sharing import Sharing

log = logging.getLogger(__name__)
MAX_PARTICIPANTS = 6  # the mesh limit: every browser sends to every other
ROOM_FULL = f"The room is full: it holds at most {MAX_PARTICIPANTS} people."


class State(enum.Enum):
    JOINING = "joining"
    WAITING = "waiting"
    ADMITTED = "admitted"
    CONNECTED = "connected"
    INTERRUPTED = "interrupted"
    RECONNECTED = "reconnected"
    LOST = "lost"
    LEFT = "left"


TRANSITIONS: dict[State, set[State]] = {
    State.JOINING: {State.WAITING, State.ADMITTED, State.LEFT},
    State.WAITING: {State.ADMITTED, State.LEFT, State.INTERRUPTED},
    State.ADMITTED: {State.CONNECTED, State.WAITING, State.INTERRUPTED, State.LEFT},
    State.CONNECTED: {State.INTERRUPTED, State.WAITING, State.LEFT},
    State.INTERRUPTED: {State.RECONNECTED, State.LOST, State.LEFT},
    State.RECONNECTED: {State.CONNECTED, State.INTERRUPTED, State.WAITING, State.LEFT},
    State.LOST: {State.RECONNECTED, State.LEFT},
    State.LEFT: set(),
}
IN_ROOM = (State.ADMITTED, State.CONNECTED, State.RECONNECTED)  # a tuple: no Enum.__hash__


class Role(enum.StrEnum):
    THERAPIST = "therapist"
    YOUNG_PERSON = "young_person"
    PARENT = "parent"
    OBSERVER = "observer"
    GUEST = "guest"  # an interpreter or another professional, invited to one session


NAMES = {Role.YOUNG_PERSON: "Young person", Role.PARENT: "Parent or carer", Role.GUEST: "Guest"}


@dataclass(frozen=True)
class Out:
    """A join link put out of the session: its holder removed from the room or declined from
    the waiting room (``how``). It joins nothing and resumes nothing in this session until
    the therapist lets it back (``Room.let_back``)."""

    link: str
    role: Role
    how: str  # "removed" or "declined"
    name: str = ""  # as the room named them (in a group, which member); after a restart, none


@dataclass
class Participant:
    """One person (one device) in a room."""

    id: str
    role: Role
    name: str
    link_id: str | None = None
    state: State = State.JOINING
    since: float = field(default_factory=time.monotonic)
    resume_hash: str | None = None
    was_waiting: bool = False  # where an interrupted person goes back to
    quick_exited: bool = False  # their leaving is the quick exit's, not a plain leave
    lang: str = "en"  # the language of their page: what the server tells them is in it
    user_id: str | None = None  # the staff account, for a therapist
    # the client their join link names: in a group's session, the member (and their gate,
    # plan and escalation are that member's alone, ``Room.client_of``)
    client_id: str = ""
    # what an observer has announced sending ("audio", "video"): no other media of theirs is
    # relayed, so nobody is seen or heard without everyone being told first
    announced: set[str] = field(default_factory=set)
    # why they are interrupted now: "socket" (the signalling socket dropped), "control" (no
    # heartbeat on the control channel), "link" (their browser says the server link failed)
    interruptions: set[str] = field(default_factory=set)
    links: dict[str, str] = field(default_factory=dict)  # peer id or "server" -> ICE state
    quality: dict[str, Any] = field(default_factory=dict)  # peer id -> quality.LinkQuality
    # what their page sends now, and who decided (``edge/modes.py``)
    media_mode: tuple[str, str] = ("full", "connection")
    # a guest's role (interpreter, social worker, ...: ``care/guests.py``), and whether the
    # therapist has given them the board (a guest draws nothing otherwise)
    guest_role: str | None = None
    board: bool = False
    history: list[tuple[State, State, str]] = field(default_factory=list)

    def set_state(self, new: State, cause: str) -> None:
        """Move to ``new``; refuses a move the table does not allow."""
        if new not in TRANSITIONS[self.state]:
            raise IllegalTransition(f"cannot go from {self.state.value} to {new.value}")
        log.info(
            "participant %s -> %s",
            self.state.value,
            new.value,
            extra={"event": "participant_state", "role": self.role.value, "route": cause},
        )
        self.history.append((self.state, new, cause))
        self.state = new
        self.since = time.monotonic()

    @property
    def in_room(self) -> bool:
        return self.state in IN_ROOM

    @property
    def may_draw(self) -> bool:
        """Whether what they send to the board is taken: a guest's only once the therapist
        gave them the board (an observer has no board at all: ``Connection.on_board``)."""
        return self.role is not Role.GUEST or self.board

    def public(self) -> dict[str, str]:
        shown = {
            "id": self.id,
            "role": self.role.value,
            "name": self.name,
            "state": self.state.value,
        }
        if self.guest_role is not None:
            shown["guest_role"] = self.guest_role
        return shown


CHAT_RATE = 3  # chat messages a second, each person
CHAT_BURST = 5


@dataclass
class RoomChat:
    """A room's chat as the room holds it: on or off (kept on the session, so that a room
    rebuilt after a restart or on another node has it as the therapist left it), the next
    message's number once read from storage, and each writer's rate (``edge/chat.py``)."""

    def known(self, stored: bool) -> None:
        """The setting as the session's row has it, taken once: by the room just made."""
        if self.stored is None:
            self.on = self.stored = stored

    on: bool = True
    stored: bool | None = None  # ``on`` as the session's row holds it, once read
    next_seq: int | None = None
    numbering: asyncio.Lock = field(default_factory=asyncio.Lock)
    rates: RateLimiter = field(
        default_factory=lambda: RateLimiter(CHAT_RATE, 1, burst=CHAT_BURST, max_keys=64)
    )


@dataclass
class BreakOn:
    """A break on (``edge/breaks.py``): its length, when it ends (seconds since the epoch),
    and the clock that ends it."""

    minutes: int
    ends_at: float
    timer: asyncio.Task[None] | None = field(default=None, compare=False)


class Room:
    """One session's room: who is in it, who waits, and the therapist's rights over it."""

    def __init__(
        self, session_id: str, relay_only: bool = False, client_id: str | None = ""
    ) -> None:
        self.session_id = session_id
        # the session's client; empty for a group's session, whose people each name theirs
        self.client_id = client_id or ""
        self.group = client_id is None
        self.relay_only = relay_only
        self.participants: dict[str, Participant] = {}
        self.locked = False
        self.stored_locked: bool | None = None  # the lock as storage holds it, once known
        self.ended = False
        self.moved = False  # taken over by another node: its people are held there now
        self.opened = False
        # the section of the agreement on everyone's screen while the therapist reads it
        # with them (``edge/agreement.py``), and the furthest section read
        self.agreement: int | None = None
        self.agreement_read = -1
        # join links put out of the session, until let back; ``out_known``: what the
        # session's log says of them has been read into ``out`` (``edge/hosting.py``)
        self.out: dict[str, Out] = {}
        self.out_known = False
        self.chat = RoomChat()
        self.break_on: BreakOn | None = None  # until the break ends, by hand or its clock
        self.sharing: Sharing | None = None  # made by the first share (``edge/sharing.py``)
        self.floor = Floor()  # mute-all, hands, spotlight (``edge/floor.py``)

    def _new_id(self) -> str:
        return secrets.token_hex(8)

    def client_of(self, participant: Participant) -> str:
        """The client whose gate, plan and escalation are about ``participant``: the
        session's, or in a group's session the member their join link names (empty for
        the therapist or an observer there)."""
        return participant.client_id or self.client_id

    def add(self, role: Role, name: str, link_id: str | None = None) -> Participant:
        if self.ended:
            raise PlayroomError("This session has ended.")
        if link_id is not None and link_id in self.out:
            raise NotLetBack()
        if link_id is not None and any(
            p.link_id == link_id and p.state not in (State.LEFT, State.LOST)
            for p in self.participants.values()
        ):
            raise LinkInUse()
        participant = Participant(self._new_id(), role, name, link_id)
        self.participants[participant.id] = participant
        if role is Role.THERAPIST:
            participant.set_state(State.ADMITTED, "therapist opened the room")
            self.opened = True
        else:
            participant.set_state(State.WAITING, "joined")
        return participant

    def add_observer(self, name: str, user_id: str) -> Participant:
        """A supervisor observing: announced to everyone, straight into the room."""
        if self.therapist is None or len(self.present()) >= MAX_PARTICIPANTS:
            raise PlayroomError("The room cannot take an observer now.")
        participant = self.add(Role.OBSERVER, name)
        participant.user_id = user_id
        participant.set_state(State.ADMITTED, "joined as an announced observer")
        return participant

    def get(self, participant_id: str) -> Participant:
        participant = self.participants.get(participant_id)
        if participant is None or participant.state is State.LEFT:
            raise PlayroomError("That person is not here.")
        return participant

    @property
    def therapist(self) -> Participant | None:
        return next(
            (
                p
                for p in self.participants.values()
                if p.role is Role.THERAPIST and p.state is not State.LEFT
            ),
            None,
        )

    def present(self) -> list[Participant]:
        return [p for p in self.participants.values() if p.in_room]

    def waiting(self) -> list[Participant]:
        return [p for p in self.participants.values() if p.state is State.WAITING]

    def _require_therapist(self, actor: Participant) -> None:
        if actor.role is not Role.THERAPIST:
            raise Forbidden("Only the therapist can do that.")

    def admit(self, actor: Participant, participant_id: str) -> Participant:
        self._require_therapist(actor)
        if self.locked:
            raise PlayroomError("The room is locked. Unlock it to let someone in.")
        person = self.get(participant_id)
        if person.state is not State.WAITING:
            raise PlayroomError("That person is not waiting.")
        if len(self.present()) >= MAX_PARTICIPANTS:
            raise PlayroomError(ROOM_FULL, code="room_full")
        person.set_state(State.ADMITTED, "admitted by the therapist")
        return person

    def send_to_waiting(self, actor: Participant, participant_id: str) -> Participant:
        self._require_therapist(actor)
        person = self.get(participant_id)
        if not person.in_room or person.role is Role.THERAPIST:
            raise PlayroomError("Only someone in the room can be sent to the waiting room.")
        person.set_state(State.WAITING, "sent to the waiting room by the therapist")
        return person

    def remove(self, actor: Participant, participant_id: str, cause: str) -> Participant:
        """Out of the room, and their link out of the session until they are let back."""
        self._require_therapist(actor)
        person = self.get(participant_id)
        if person.role is Role.THERAPIST:
            raise PlayroomError("The therapist cannot remove themselves; end the session.")
        person.set_state(State.LEFT, cause)
        self._put_out(person, "removed")
        return person

    def decline(self, actor: Participant, participant_id: str) -> Participant:
        """Not let in from the waiting room: gone, and their link out of the session until
        they are let back."""
        self._require_therapist(actor)
        person = self.get(participant_id)
        if person.state is not State.WAITING:
            raise PlayroomError("That person is not waiting.")
        person.set_state(State.LEFT, "declined by the therapist")
        self._put_out(person, "declined")
        return person

    def _put_out(self, person: Participant, how: str) -> None:
        if person.link_id is not None:  # an observer has no link: staff, not let in by one
            self.out[person.link_id] = Out(person.link_id, person.role, how, person.name)

    def let_back(self, actor: Participant, link_id: str) -> Out:
        """The therapist lets a link put out of the session back: it joins the waiting room
        again, as before."""
        self._require_therapist(actor)
        out = self.out.pop(link_id, None)
        if out is None:
            raise PlayroomError("That link is not out of this session.")
        return out

    def leave(self, person: Participant, cause: str) -> None:
        if person.state is not State.LEFT:
            person.set_state(State.LEFT, cause)

    def interrupt(self, person: Participant, kind: str, cause: str) -> bool:
        """One of their connections went quiet (``kind``: socket, control or link).

        Returns True when this is news: the kind was not already known. The state moves to
        interrupted on the first kind; a socket drop also starts the grace window."""
        if person.state in (State.LEFT, State.LOST, State.JOINING) or kind in person.interruptions:
            return False
        if person.state is State.WAITING and kind != "socket":
            return False  # no data connection in the waiting room: only the socket counts
        person.interruptions.add(kind)
        if person.state is not State.INTERRUPTED:
            person.was_waiting = person.state is State.WAITING
            person.set_state(State.INTERRUPTED, cause)
        else:
            log.info(
                "participant also %s",
                kind,
                extra={"event": "participant_state", "role": person.role.value, "route": cause},
            )
            person.history.append((person.state, person.state, cause))
        return True

    def recover(self, person: Participant, kind: str, cause: str) -> bool:
        """That connection is alive again; True when they are back (nothing else is down)."""
        if kind not in person.interruptions:
            return False
        person.interruptions.discard(kind)
        if person.interruptions or person.state is not State.INTERRUPTED:
            return False
        person.set_state(State.RECONNECTED, cause)
        if "connected" in person.links.values():
            person.set_state(State.CONNECTED, "their connections are up")
        return True

    def media_connected(self, person: Participant, cause: str) -> bool:
        """Their browser reports a working media or data connection; True on a change."""
        if person.state not in (State.ADMITTED, State.RECONNECTED):
            return False
        person.set_state(State.CONNECTED, cause)
        return True

    def resume(self, person: Participant) -> None:
        """They are back within the grace window: straight back where they were. Their data
        and media connections are made again, so every reason for the interruption clears."""
        person.interruptions.clear()
        person.links.clear()
        person.set_state(State.RECONNECTED, "resumed with their token")
        if person.was_waiting:
            person.set_state(State.WAITING, "back in the waiting room")

    @property
    def empty(self) -> bool:
        """Nobody is in it, waiting for it or holding a place in it."""
        return all(p.state in (State.LEFT, State.LOST) for p in self.participants.values())

    def lose(self, person: Participant, cause: str) -> bool:
        """Not back within the grace window after their socket dropped."""
        if person.state is not State.INTERRUPTED or "socket" not in person.interruptions:
            return False
        person.set_state(State.LOST, cause)
        return True

    def restore(
        self, pid: str, role: Role, name: str, link_id: str | None, was_waiting: bool
    ) -> Participant:
        """After a restart: a place held before it, interrupted until they resume."""
        participant = Participant(pid, role, name, link_id, was_waiting=was_waiting)
        participant.set_state(State.WAITING, "held before the server restarted")
        participant.interruptions.add("socket")
        participant.set_state(State.INTERRUPTED, "the server restarted")
        self.participants[pid] = participant
        if role is Role.THERAPIST:
            self.opened = True
        return participant

    def set_locked(self, actor: Participant, locked: bool) -> None:
        self._require_therapist(actor)
        self.locked = locked

    def end(self, actor: Participant) -> list[Participant]:
        """End the room; returns everyone who was still here."""
        self._require_therapist(actor)
        self.ended = True
        still = [p for p in self.participants.values() if p.state is not State.LEFT]
        for person in still:
            person.set_state(State.LEFT, "the therapist ended the session")
        return still

    def peers_of(self, person: Participant) -> Iterable[Participant]:
        return (p for p in self.present() if p.id != person.id)


class Rooms:
    """Every live room in this process, by session id."""

    def __init__(self, on_empty: Callable[[Room], None] | None = None) -> None:
        self.by_session: dict[str, Room] = {}
        self.on_empty = on_empty

    def get_or_create(self, session_id: str, relay_only: bool, client_id: str | None = "") -> Room:
        room = self.by_session.get(session_id)
        if room is None or room.ended:
            room = Room(session_id, relay_only, client_id)
            self.by_session[session_id] = room
        return room

    def get(self, session_id: str) -> Room | None:
        return self.by_session.get(session_id)

    def discard(self, room: Room) -> None:
        if self.by_session.get(room.session_id) is room:
            del self.by_session[room.session_id]
            if self.on_empty is not None:
                self.on_empty(room)
