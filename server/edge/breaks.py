"""Breaks (Zoom-or-Room: screen breaks, movement breaks): the therapist starts one of a length
they choose, in answer to a young person's "Break please" ``flag`` or of their own accord;
everyone in the room is told when it ends, and each page pauses its camera and microphone
until then. The server holds the break's end, so a page that comes back shows the same time
left; the therapist may end it early, and the young person may say "I'm back".

The session's log keeps that a break started (who, how many minutes) and that it ended (who
or the clock, and its length), never more. A break lives with its room in this process."""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from server.edge.connection import Connection, Handlers
from server.exceptions import Forbidden, ProtocolError
from server.live.protocol import BackFromBreak, BreakStatus, EndBreak, StartBreak
from server.live.replies import Break, BreakBack, Done
from server.live.rooms import Participant, Role, Room

Cause = Literal["ended", "time_up"]
MINUTE = 60.0  # seconds (a test makes its breaks shorter)


@dataclass
class Running:
    """A break on: its length, and when it ends (seconds since the epoch)."""

    minutes: int
    ends_at: float
    timer: asyncio.Task[None] | None = field(default=None, compare=False)

    def message(self) -> Break:
        left = max(0, math.ceil(self.ends_at - time.time()))
        ends = datetime.fromtimestamp(self.ends_at, UTC).isoformat(timespec="seconds")
        return Break(on=True, minutes=self.minutes, ends_at=ends, seconds_left=left)


# the break of each room that has one; a room's entry goes when its break ends (the clock's
# end at the latest, which also lets a room ended meanwhile go)
RUNNING: weakref.WeakKeyDictionary[Room, Running] = weakref.WeakKeyDictionary()


def running(room: Room) -> Running | None:
    return RUNNING.get(room)


def _in_room(conn: Connection) -> tuple[Room, Participant]:
    room, me = conn.in_room()
    if not me.in_room:
        raise ProtocolError("not_in_room", "You are not in the room yet.")
    return room, me


async def start_break(conn: Connection, message: StartBreak) -> None:
    """The therapist starts a break: everyone in the room is told when it ends."""
    room, me = _in_room(conn)
    if me.role is not Role.THERAPIST:
        raise Forbidden("Only the therapist can start a break. Press Break to ask for one.")
    if room in RUNNING:
        raise ProtocolError("break_running", "A break is already on. End it first.")
    now = Running(message.minutes, time.time() + message.minutes * MINUTE)
    RUNNING[room] = now
    now.timer = asyncio.create_task(_time_up(conn, room, now))
    await conn.record("break.started", {"minutes": message.minutes})
    told = now.message()
    await conn.hub.send_many(room.peers_of(me), told)
    await conn.reply(told)


async def end_break(conn: Connection, message: EndBreak) -> None:
    """The therapist ends the break before its time."""
    room, me = _in_room(conn)
    if me.role is not Role.THERAPIST:
        raise Forbidden("Only the therapist can end a break. Press I'm back to tell them.")
    now = RUNNING.get(room)
    if now is None:
        raise ProtocolError("no_break", "There is no break on.")
    if now.timer is not None:
        now.timer.cancel()
    await _ended(conn, room, now, "ended", list(room.peers_of(me)))
    await conn.reply(Break(on=False, cause="ended"))


async def back_from_break(conn: Connection, message: BackFromBreak) -> None:
    """The young person or a parent is back: the therapist is told (and ends the break)."""
    room, me = _in_room(conn)
    if me.role not in (Role.YOUNG_PERSON, Role.PARENT):
        raise Forbidden("Only the young person or a parent says they are back.")
    if room not in RUNNING:
        raise ProtocolError("no_break", "There is no break on.")
    if room.therapist is not None:
        await conn.hub.send(room.therapist, BreakBack(participant=me.id))
    await conn.reply(Done())


async def break_status(conn: Connection, message: BreakStatus) -> None:
    """The break as it is now: on (with the time left), or off."""
    room, _ = _in_room(conn)
    now = RUNNING.get(room)
    await conn.reply(now.message() if now is not None else Break(on=False))


async def tell(conn: Connection, room: Room) -> None:
    """Someone back in the room (resumed): the break that is on, if there is one."""
    now = RUNNING.get(room)
    if now is not None:
        await conn.reply(now.message())


async def _time_up(conn: Connection, room: Room, now: Running) -> None:
    """The break's clock ran out: everyone in the room is told (the therapist too)."""
    await asyncio.sleep(max(0.0, now.ends_at - time.time()))
    if RUNNING.get(room) is now:
        await _ended(conn, room, now, "time_up", room.present())


async def _ended(
    conn: Connection, room: Room, now: Running, cause: Cause, told: list[Participant]
) -> None:
    """The break is over: the log keeps by whom (or the clock) and how long it was."""
    RUNNING.pop(room, None)
    if room.ended:
        return
    minutes = now.minutes if cause == "time_up" else _taken(now)
    by = "system" if cause == "time_up" else None
    await conn.record("break.ended", {"minutes": minutes, "cause": cause}, actor=by, room=room)
    await conn.hub.send_many(told, Break(on=False, cause=cause))


def _taken(now: Running) -> float:
    """How long a break ended early lasted, in minutes (to a tenth)."""
    started = now.ends_at - now.minutes * MINUTE
    return round(max(0.0, time.time() - started) / MINUTE, 1)


HANDLERS: Handlers = {
    StartBreak: start_break,
    EndBreak: end_break,
    BackFromBreak: back_from_break,
    BreakStatus: break_status,
}
