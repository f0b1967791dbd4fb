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
from datetime import UTC, datetime
from typing import Literal

from server.edge.connection import Connection, Handlers
from server.exceptions import Forbidden, ProtocolError
from server.live.protocol import BackFromBreak, BreakStatus, EndBreak, StartBreak
from server.live.replies import Break, BreakBack, Done
from server.live.rooms import BreakOn, Participant, Role, Room

Cause = Literal["ended", "time_up"]
MINUTE = 60.0  # seconds (a test makes its breaks shorter)


def told(now: BreakOn) -> Break:
    """A break on as the pages are told it: its length, its end, and the time left."""
    left = max(0, math.ceil(now.ends_at - time.time()))
    ends = datetime.fromtimestamp(now.ends_at, UTC).isoformat(timespec="seconds")
    return Break(on=True, minutes=now.minutes, ends_at=ends, seconds_left=left)


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
    if room.break_on is not None:
        raise ProtocolError("break_running", "A break is already on. End it first.")
    now = room.break_on = BreakOn(message.minutes, time.time() + message.minutes * MINUTE)
    now.timer = asyncio.create_task(_time_up(conn, room, now))
    await conn.record("break.started", {"minutes": message.minutes})
    on = told(now)
    await conn.hub.send_many(room.peers_of(me), on)
    await conn.reply(on)


async def end_break(conn: Connection, message: EndBreak) -> None:
    """The therapist ends the break before its time."""
    room, me = _in_room(conn)
    if me.role is not Role.THERAPIST:
        raise Forbidden("Only the therapist can end a break. Press I'm back to tell them.")
    now = room.break_on
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
    if room.break_on is None:
        raise ProtocolError("no_break", "There is no break on.")
    if room.therapist is not None:
        await conn.hub.send(room.therapist, BreakBack(participant=me.id))
    await conn.reply(Done())


async def break_status(conn: Connection, message: BreakStatus) -> None:
    """The break as it is now: on (with the time left), or off."""
    room, _ = _in_room(conn)
    now = room.break_on
    await conn.reply(told(now) if now is not None else Break(on=False))


async def tell(conn: Connection, room: Room) -> None:
    """Someone back in the room (resumed): the break that is on, if there is one."""
    now = room.break_on
    if now is not None:
        await conn.reply(told(now))


async def _time_up(conn: Connection, room: Room, now: BreakOn) -> None:
    """The break's clock ran out: everyone in the room is told (the therapist too)."""
    await asyncio.sleep(max(0.0, now.ends_at - time.time()))
    if room.break_on is now:
        await _ended(conn, room, now, "time_up", room.present())


async def _ended(
    conn: Connection, room: Room, now: BreakOn, cause: Cause, told: list[Participant]
) -> None:
    """The break is over: the log keeps by whom (or the clock) and how long it was."""
    room.break_on = None
    if room.ended:
        return
    minutes = now.minutes if cause == "time_up" else _taken(now)
    by = "system" if cause == "time_up" else None
    await conn.record("break.ended", {"minutes": minutes, "cause": cause}, actor=by, room=room)
    await conn.hub.send_many(told, Break(on=False, cause=cause))


def _taken(now: BreakOn) -> float:
    """How long a break ended early lasted, in minutes (to a tenth)."""
    started = now.ends_at - now.minutes * MINUTE
    return round(max(0.0, time.time() - started) / MINUTE, 1)


HANDLERS: Handlers = {
    StartBreak: start_break,
    EndBreak: end_break,
    BackFromBreak: back_from_break,
    BreakStatus: break_status,
}
