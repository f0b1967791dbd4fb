"""The signalling hub: every live connection and room in this process, and fan-out.

Rooms hold state (``rooms.py``); the hub knows which connection speaks for which
participant and sends each message to the right sockets.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Iterable
from typing import Protocol

from aiohttp import WSCloseCode

from server.protocol import Lobby, Message, Person, dump_message
from server.rooms import Participant, Room, Rooms, State

log = logging.getLogger(__name__)


class Socket(Protocol):
    async def send_str(self, data: str) -> None: ...
    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...
    @property
    def closed(self) -> bool: ...


def person(p: Participant) -> Person:
    return Person(**p.public())


class Hub:
    def __init__(self) -> None:
        self.rooms = Rooms()
        self.sockets: dict[str, Socket] = {}  # participant id -> its socket
        self.all: set[Socket] = set()
        self.resumable: dict[str, tuple[Room, Participant]] = {}  # token hash -> place
        self.grace: dict[str, asyncio.Task[None]] = {}  # participant id -> its countdown
        self.watchers: dict[str, set[Socket]] = {}  # supervisor id -> their dashboards
        self.escalation_tasks: dict[str, asyncio.Task[None]] = {}  # repeating alerts

    async def tell_watchers(self, supervisor_ids: Iterable[str], message: Message) -> int:
        """Push to the dashboards of these supervisors; returns how many were reached."""
        sockets = [
            s for sid in supervisor_ids for s in self.watchers.get(sid, set()) if not s.closed
        ]
        await asyncio.gather(
            *(s.send_str(dump_message(message)) for s in sockets), return_exceptions=True
        )
        return len(sockets)

    def issue_resume(self, room: Room, participant: Participant) -> str:
        """A new resume token for ``participant`` (the old one stops working)."""
        if participant.resume_hash is not None:
            self.resumable.pop(participant.resume_hash, None)
        token = secrets.token_urlsafe(32)
        participant.resume_hash = hashlib.sha256(token.encode()).hexdigest()
        self.resumable[participant.resume_hash] = (room, participant)
        return token

    def find_resumable(self, token: str) -> tuple[Room, Participant] | None:
        return self.resumable.get(hashlib.sha256(token.encode()).hexdigest())

    def forget(self, participant: Participant) -> None:
        if participant.resume_hash is not None:
            self.resumable.pop(participant.resume_hash, None)
        task = self.grace.pop(participant.id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def bind(self, participant: Participant, socket: Socket) -> None:
        self.sockets[participant.id] = socket

    def unbind(self, participant: Participant) -> None:
        self.sockets.pop(participant.id, None)

    async def send(self, participant: Participant | str, message: Message) -> None:
        pid = participant if isinstance(participant, str) else participant.id
        socket = self.sockets.get(pid)
        if socket is None or socket.closed:
            return
        try:
            await socket.send_str(dump_message(message))
        except (ConnectionError, RuntimeError):
            log.info("send to a closing socket dropped", extra={"event": "send_dropped"})

    async def send_many(self, people: Iterable[Participant], message: Message) -> None:
        await asyncio.gather(*(self.send(p, message) for p in people))

    async def lobby(self, room: Room) -> None:
        """Tell the therapist who waits and who is in the room."""
        therapist = room.therapist
        if therapist is None:
            return
        await self.send(
            therapist,
            Lobby(
                waiting=[person(p) for p in room.waiting()],
                present=[person(p) for p in room.present()],
                locked=room.locked,
            ),
        )

    async def end_room(self, session_id: str, message: Message) -> None:
        """End a live room from outside it (the session was ended or cancelled)."""
        room = self.rooms.get(session_id)
        if room is None:
            return
        room.ended = True
        everyone = [p for p in room.participants.values() if p.state is not State.LEFT]
        for participant in everyone:
            participant.set_state(State.LEFT, "the session was ended")
            self.forget(participant)
        await self.send_many(everyone, message)
        for participant in everyone:
            await self.disconnect(participant)
        self.rooms.discard(room)

    async def disconnect(self, participant: Participant) -> None:
        socket = self.sockets.pop(participant.id, None)
        if socket is not None and not socket.closed:
            await socket.close(code=WSCloseCode.OK, message=b"done")

    async def close_all(self) -> None:
        """At shutdown: repeating alerts stop, every socket closes with GOING_AWAY."""
        for task in list(self.escalation_tasks.values()) + list(self.grace.values()):
            task.cancel()
        await asyncio.gather(
            *(
                s.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
                for s in list(self.all)
            ),
            return_exceptions=True,
        )
