"""The signalling hub: every live connection and room in this process, and fan-out.

Rooms hold state (``rooms.py``); the hub knows which connection speaks for which
participant and sends each message to the right sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from aiohttp import WSCloseCode

from server.exceptions import STORAGE_FAILURES
from server.live.places import Places, keep_settings
from server.live.protocol import (
    Message,
    dump_message,
)
from server.live.replies import (
    Lobby,
    OutLink,
    Person,
    Restarting,
)
from server.live.rooms import NAMES, Participant, Role, Room, Rooms, State
from server.nodes.bus import LocalBus
from server.nodes.envelopes import Therapist, Watchers
from server.storage.session_models import Place

log = logging.getLogger(__name__)
# the close code of a socket whose place a resume on another socket took over
TAKEN_OVER = 4001
# the close code of every socket as the server stops to restart (RFC 6455's "service
# restart"), after ``restarting`` said when to come back: a time within this window of its own
RESTARTING = WSCloseCode.SERVICE_RESTART
RESTART_WINDOW_MS = 1000


class Socket(Protocol):
    async def send_str(self, data: str) -> None: ...
    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...
    @property
    def closed(self) -> bool: ...


def person(p: Participant) -> Person:
    return Person(**p.public())


def about(p: Participant) -> dict[str, str]:
    """Whom a log entry is about: their id and role (and a guest's role), never their name."""
    whom = {"participant": p.id, "role": p.role.value}
    if p.guest_role is not None:
        whom["guest_role"] = p.guest_role
    return whom


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Hub:
    """Every live connection and room in this process; the places held for those who
    dropped (``places``, kept in the database when there is one) and the bus to other
    nodes (``bus``)."""

    def __init__(
        self,
        bus: LocalBus | None = None,
        places: Places | None = None,
        on_empty: Callable[[Room], None] | None = None,
    ) -> None:
        self.rooms = Rooms(on_empty)
        self.sockets: dict[str, Socket] = {}  # participant id -> its socket
        # participant id -> how the connection on that socket lets go of them (a take-over)
        self.releases: dict[str, Callable[[], None]] = {}
        self.letting_go: set[asyncio.Task[bool]] = set()  # sockets closing after a take-over
        self.all: set[Socket] = set()
        self.resumable: dict[str, tuple[Room, Participant]] = {}  # token hash -> place
        self.grace: dict[str, asyncio.Task[None]] = {}  # participant id -> its countdown
        # session id -> set once its room, being rebuilt after a restart, is rebuilt
        self.restoring: dict[str, asyncio.Event] = {}
        # cleared while the rooms this process held before it started are being rebuilt
        # (``edge/rebuilt.py``): a resume waits for it rather than read its room itself
        self.held = asyncio.Event()
        self.held.set()
        self.watchers: dict[str, set[Socket]] = {}  # supervisor id -> their dashboards
        self.places = places
        self.bus = bus or LocalBus()
        self.started = time.time()
        self.held_until: dict[str, float] = {}  # room taken over -> when its last home was seen
        self._seeing: asyncio.Task[None] | None = None  # places marked seen while connected

    async def tell_watchers(self, supervisor_ids: Iterable[str], message: Message) -> None:
        """Push to the dashboards of these supervisors, on whichever node they are open."""
        to = list(supervisor_ids)
        await self.bus.broadcast(Watchers(to=to, d=dump_message(message)))

    async def deliver_to_watchers(self, supervisor_ids: list[str], data: str) -> None:
        sockets = [
            s for sid in supervisor_ids for s in self.watchers.get(sid, set()) if not s.closed
        ]
        await asyncio.gather(*(s.send_str(data) for s in sockets), return_exceptions=True)

    async def tell_therapist(self, session_id: str, message: Message) -> None:
        """Send to the therapist of a live room, on whichever node it lives."""
        data = dump_message(message)
        await self.bus.broadcast(Therapist(room=session_id, d=data))

    async def deliver_to_therapist(self, session_id: str, data: str) -> None:
        room = self.rooms.get(session_id)
        socket = self.sockets.get(room.therapist.id) if room and room.therapist else None
        if socket is not None and not socket.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await socket.send_str(data)

    async def issue_resume(self, room: Room, participant: Participant) -> str:
        """A new resume token for ``participant`` (the old one stops working)."""
        self.spend(participant)
        token = secrets.token_urlsafe(32)
        participant.resume_hash = _hash(token)
        self.resumable[participant.resume_hash] = (room, participant)
        if self.places is not None:
            await self.places.hold(room, participant)
            if self._seeing is None or self._seeing.done():
                self._seeing = asyncio.create_task(self._mark_seen(self.places))
        return token

    async def _mark_seen(self, places: Places) -> None:
        """While anyone holds a place here, every ``places.seen_every`` seconds: the places of those
        connected say they were seen, so that after a crash the log can say since when each
        was cut off."""
        while self.resumable:
            await asyncio.sleep(
                places.seen_every
            )  # the interval itself, not a wait for anything else
            connected = [pid for pid, socket in self.sockets.items() if not socket.closed]
            try:
                await places.seen(connected)
            except STORAGE_FAILURES:
                log.warning("places not marked seen", extra={"event": "places_seen_failed"})

    def spend(self, participant: Participant) -> None:
        """``participant``'s resume token stops working here (a new one is on its way)."""
        if participant.resume_hash is not None:
            self.resumable.pop(participant.resume_hash, None)

    def find_resumable(self, token: str) -> tuple[Room, Participant] | None:
        return self.resumable.get(_hash(token))

    async def find_place(self, token: str) -> Place | None:
        """The place a token held before this process started, if it is kept."""
        return None if self.places is None else await self.places.find(_hash(token))

    def left_of(self, seconds: float, session_id: str) -> float:
        """What is left of a window of ``seconds`` that began when the room was last live
        elsewhere: on the node it was taken from, or before this process started."""
        since = self.held_until.get(session_id, self.started)
        return seconds - (time.time() - since)

    def put_back(self, room: Room, place: Place, name: str) -> Participant:
        """After a restart: a place kept in the database, interrupted until they resume."""
        participant = room.restore(
            place.participant_id, Role(place.role), name, place.link_id, place.was_waiting
        )
        participant.user_id = place.user_id
        participant.resume_hash = place.token_hash
        self.resumable[place.token_hash] = (room, participant)
        return participant

    async def forget(self, participant: Participant, release: bool = True) -> None:
        """Their place here ends; ``release`` ends it in the database too (not when the room
        has moved to another node, which takes it from there)."""
        if participant.resume_hash is not None:
            self.resumable.pop(participant.resume_hash, None)
        task = self.grace.pop(participant.id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if self.places is not None and release:
            await self.places.release(participant.id)

    async def moved(self, participant: Participant) -> None:
        """Admitted or sent to the waiting room: a restart takes them back there."""
        if self.places is not None:
            await self.places.moved(participant.id, participant.state is State.WAITING)

    def bind(
        self,
        participant: Participant,
        socket: Socket,
        release: Callable[[], None] | None = None,
    ) -> None:
        """``socket`` speaks for ``participant`` from now; ``release`` makes the connection on
        it let go of them, should another socket take their place over (``take_over``)."""
        self.sockets[participant.id] = socket
        if release is not None:
            self.releases[participant.id] = release
        else:
            self.releases.pop(participant.id, None)

    def unbind(self, participant: Participant) -> None:
        self.sockets.pop(participant.id, None)
        self.releases.pop(participant.id, None)

    def take_over(self, participant: Participant) -> bool:
        """A resume on a new socket takes ``participant``'s place from the socket that still
        holds it (a network that came back before the server noticed the old one go): the
        old connection lets go of them at once, so nothing it still says speaks for them
        and its end is no drop, and the old socket is closed in the background (its closing
        handshake may wait on a dead network). True when there was a socket to take from."""
        socket = self.sockets.pop(participant.id, None)
        release = self.releases.pop(participant.id, None)
        if release is not None:
            release()
        if socket is None:
            return False
        if not socket.closed:
            closing = asyncio.create_task(socket.close(code=TAKEN_OVER, message=b"taken over"))
            self.letting_go.add(closing)
            closing.add_done_callback(self.letting_go.discard)
        return True

    async def send(self, participant: Participant | str, message: Message | str) -> None:
        """Send ``message`` (or the text of one, already dumped) to one participant."""
        pid = participant if isinstance(participant, str) else participant.id
        socket = self.sockets.get(pid)
        if socket is None or socket.closed:
            return
        try:
            await socket.send_str(message if isinstance(message, str) else dump_message(message))
        except (ConnectionError, RuntimeError):
            log.info("send to a closing socket dropped", extra={"event": "send_dropped"})

    async def send_many(self, people: Iterable[Participant], message: Message) -> None:
        await asyncio.gather(*(self.send(p, message) for p in people))

    async def lobby(self, room: Room) -> None:
        """Tell the therapist who waits and who is in the room, and whose link is out of
        the session (to let them back)."""
        therapist = room.therapist
        if therapist is None:
            return
        await self.send(
            therapist,
            Lobby(
                waiting=[person(p) for p in room.waiting()],
                present=[person(p) for p in room.present()],
                locked=room.locked,
                out=[
                    OutLink(link=o.link, role=o.role.value, name=o.name or NAMES[o.role], how=o.how)
                    for o in room.out.values()
                    if o.role in NAMES
                ],
            ),
        )

    async def store_lock(self, room: Room) -> None:
        """Store the room's lock when storage does not hold it yet, so that a room rebuilt
        after a restart or on another node comes back locked (``continuity.py``). Only the
        therapist's own socket changes it, one message at a time, so writes keep their order;
        one that fails is made again at the next change or the next opening of the room."""
        if self.places is None or room.stored_locked == room.locked:
            return
        locked = room.locked
        if await keep_settings(self.places.db, room.session_id, room_locked=locked):
            room.stored_locked = locked

    async def end_room(self, session_id: str, message: Message) -> None:
        """End a live room from outside it (the session was ended or cancelled)."""
        room = self.rooms.get(session_id)
        if room is None:
            return
        room.ended = True
        everyone = [p for p in room.participants.values() if p.state is not State.LEFT]
        for participant in everyone:
            participant.set_state(State.LEFT, "the session was ended")
            await self.forget(participant)
        await self.send_many(everyone, message)
        for participant in everyone:
            await self.disconnect(participant)
        self.rooms.discard(room)

    async def disconnect(
        self, participant: Participant, code: int = WSCloseCode.OK, message: bytes = b"done"
    ) -> None:
        socket = self.sockets.pop(participant.id, None)
        if socket is not None and not socket.closed:
            await socket.close(code=code, message=message)

    async def close_all(self) -> None:
        """At shutdown: repeating alerts stop; every socket is told the server is restarting
        and when to come back, then closes with 1012."""
        for task in [*self.grace.values(), *([self._seeing] if self._seeing else [])]:
            task.cancel()
        await asyncio.gather(*(_restarting(s) for s in list(self.all)), return_exceptions=True)


async def _restarting(socket: Socket) -> None:
    """Tell ``socket`` the server is restarting, and to come back after a time of its own
    within ``RESTART_WINDOW_MS`` (the places are kept: ``places.py``), then close it. Spread
    so, a node's hundred sockets come back over a second, not in the same millisecond, and
    within a second of the new process listening."""
    after = Restarting(after_ms=secrets.randbelow(RESTART_WINDOW_MS))
    with contextlib.suppress(ConnectionError):  # gone already: it resumes as after a drop
        await socket.send_str(dump_message(after))
    await socket.close(code=RESTARTING, message=b"server restart")
