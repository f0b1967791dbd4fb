"""Rooms rebuilt after a restart, a crash, or a node's death: from the places kept in the
database (``live/places.py``), everyone interrupted and given what is left of the grace
window, and the log told what the server could not say as it went.

A single server rebuilds every room it held as it starts (``rebuild_held``), before anyone
is back (every message waits for it): the storm of resumes that follows a restart then
finds each person's place in memory, as after a drop, instead of reading their room back a
resume at a time. A room found only later (one taken over from another node, which is
rebuilt on the first resume that names it; one whose rebuild at the start failed) is
rebuilt by ``restore``, once however many of its people come back at the same moment. A
room whose people the log shows all gone is not rebuilt: ``unreturned.py`` lets its places
go, as it closes the rooms held for nodes that died and that nobody came back to."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

from server.appkeys import GUESTS, HUB, SCHEDULE, SESSION_LOG, SETTINGS
from server.audit.sessionlog import Entry, participant_actor, session_stream, staff_actor
from server.care.joinlinks import put_out_of
from server.edge.connection import Connection
from server.edge.hosting import learn_out
from server.exceptions import STORAGE_FAILURES
from server.live.rooms import NAMES, Participant, Role, Room
from server.storage.models import Appointment
from server.storage.session_models import Place

log = logging.getLogger(__name__)
# the grace window's countdown of someone put back (``continuity.lose_after``)
LoseAfter = Callable[[Connection, Room, Participant, float], Coroutine[Any, Any, None]]


class _Nobody:
    """The socket of the process itself, for what it does when no page asks (the rooms it
    rebuilds as it starts): nothing is sent on it."""

    closed = True

    async def send_str(self, data: str) -> None:
        raise ConnectionError("no page")

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        return False


async def rebuild_held(app: web.Application, lose_after: LoseAfter) -> int:
    """As a single server starts: every room whose places are kept, rebuilt side by side;
    returns how many rooms were looked at. Every message waits for it (``Hub.held``,
    ``dispatch.handle``). Servers that
    share rooms (``bus.shared``) rebuild a room when its home is claimed instead.

    Boards are not loaded here: loaded ahead of the pages asking for them, they only took
    the loop from the resumes (``docs/performance.md``, section 12)."""
    hub = app[HUB]
    try:
        if hub.places is None or hub.bus.shared:
            return 0
        conn = Connection(app, _Nobody(), None)
        try:
            held = await hub.places.rooms()
            known = await _read_all(app, held)
        except STORAGE_FAILURES:  # each room is rebuilt on its first resume instead
            log.warning("rooms not rebuilt", extra={"event": "rebuild_failed"})
            return 0
        done = await asyncio.gather(
            *(_rebuild_once(conn, room_id, lose_after, read) for room_id, read in known.items()),
            return_exceptions=True,
        )
        for outcome in done:
            if isinstance(outcome, Exception):  # that room is rebuilt on its first resume
                log.error("room not rebuilt", exc_info=outcome, extra={"event": "rebuild_failed"})
        return len(held)
    finally:
        hub.held.set()


# what a room is rebuilt from: its session (if still live), its places, what its log says of
# its people
Known = tuple[Appointment, list[Place], list[Entry]]


async def _read_all(app: web.Application, rooms: list[str]) -> dict[str, Known]:
    """What every room held is rebuilt from, in three reads side by side for all of them
    instead of three a room: each read is a turn of the event loop to the database's
    thread and back, and with fifty rooms they kept every resume waiting 0.4 s
    (``docs/performance.md``, section 12). A room whose session is over is left out."""
    hub = app[HUB]
    assert hub.places is not None
    streams = {room: session_stream(room) for room in rooms}
    live, held, said = await asyncio.gather(
        app[SCHEDULE].live_of(rooms),
        hub.places.of_rooms(rooms),
        app[SESSION_LOG].entries_of(list(streams.values()), PARTICIPANT_KINDS),
    )
    return {
        room: (appointment, held.get(room, []), said.get(streams[room], []))
        for room, appointment in live.items()
    }


async def restore(
    conn: Connection, token: str, lose_after: LoseAfter
) -> tuple[Room, Participant] | None:
    """A token from before this process held the room (a restart, a crash, or the room
    taken over from a node that died): rebuild its room from the places kept in the
    database, everyone interrupted, each with what is left of the grace window counted
    from when the room was last live.

    The log then says what the server could not say as it went: after a crash, that each
    person the room held was cut off, since when they were last known connected (their
    place's ``seen_at``); and, in ``room.restored``, whom the room expects back, each of whom
    a later entry says came back, was lost, or saw the session end (``verify`` names anyone
    it does not)."""
    hub = conn.hub
    place = await hub.find_place(token) if hub.places is not None else None
    if place is None:
        return None
    if (found := hub.find_resumable(token)) is not None:
        return found  # the room was rebuilt, with them in it, while their place was read
    # the others of the room, coming back at the same moment, wait for this one restore
    # instead of each reading the room again (they are in it once it is rebuilt)
    while (under_way := hub.restoring.get(place.appointment_id)) is not None:
        await under_way.wait()
        if (found := hub.find_resumable(token)) is not None:
            return found
    await _rebuild_once(conn, place.appointment_id, lose_after)
    return hub.find_resumable(token)


async def _rebuild_once(
    conn: Connection, appointment_id: str, lose_after: LoseAfter, known: Known | None = None
) -> None:
    """Rebuild the room unless another rebuild of it is under way (then wait for that);
    from ``known`` when that was read already (``rebuild_held``)."""
    hub = conn.hub
    if (under_way := hub.restoring.get(appointment_id)) is not None:
        await under_way.wait()
        return
    restoring = hub.restoring[appointment_id] = asyncio.Event()
    try:
        await _rebuild(conn, appointment_id, lose_after, known)
    finally:
        del hub.restoring[appointment_id]
        restoring.set()


async def _rebuild(
    conn: Connection, appointment_id: str, lose_after: LoseAfter, known: Known | None
) -> None:
    """``restore``'s work, once a room at a time."""
    hub = conn.hub
    places = hub.places
    assert places is not None
    grace = conn.app[SETTINGS].reconnect_grace_seconds
    left = hub.left_of(grace, appointment_id)
    if left <= 0:
        return
    stream = session_stream(appointment_id)
    if known is None:
        known = (await _read_all(conn.app, [appointment_id])).get(appointment_id)
        if known is None:  # its session is over
            return
    appointment, held, said = known
    rebuilt = appointment.id not in hub.rooms.by_session
    in_memory = hub.rooms.get(appointment.id)
    # those the log shows gone for good stay gone (a crash before their place was let go)
    back = [
        row
        for row in held
        if not gone(row, said)
        and (in_memory is None or row.participant_id not in in_memory.participants)
    ]
    if rebuilt and not back:
        return  # nobody to expect back: ``unreturned.py`` lets their places go
    # everything read before anyone is put back: from then to the log's lock nothing waits,
    # so that nobody resumes into the room before its entries are written
    guests = await conn.app[GUESTS].of_links(  # a guest's name and role: their invitation's
        [row.link_id for row in back if row.role == Role.GUEST.value and row.link_id]
    )
    members = (
        await conn.app[SCHEDULE].clients_of_links([r.link_id for r in back if r.link_id])
        if appointment.client_id is None  # a group's session: which member each is
        else {}
    )
    names: dict[str, str] = {}
    for row in back:
        member = members.get(row.link_id or "", "")
        role = Role(row.role)
        names[row.participant_id] = (
            await conn.member_name(role, member) if member else NAMES.get(role, "Therapist")
        )
    rebuilt = appointment.id not in hub.rooms.by_session
    room = hub.rooms.get_or_create(appointment.id, appointment.relay_only, appointment.client_id)
    if room.stored_locked is None:  # as the therapist left it (the board reloads its own)
        room.locked = room.stored_locked = appointment.room_locked
    room.chat.known(appointment.chat_on)
    # who is out of it, from the entries read for the rebuild: none of the storm of resumes
    # that follows reads the log again for it (``hosting.known_out``)
    learn_out(room, put_out_of(said))
    back = [row for row in back if row.participant_id not in room.participants]
    put: list[Participant] = []
    try:
        for row in back:
            person = hub.put_back(room, row, names[row.participant_id])
            put.append(person)
            person.client_id = members.get(row.link_id or "", "")
            if row.link_id in guests:
                person.name, person.guest_role = guests[row.link_id]
            hub.grace[person.id] = asyncio.create_task(lose_after(conn, room, person, left))
        if rebuilt:  # once, however many come back at the same moment
            after = "a server restart" if hub.bus.node_id == "local" else "a node failure"
            entries = cut_off(back, said)
            expected = [{"participant": row.participant_id, "role": row.role} for row in back]
            entries.append(("room.restored", "system", {"after": after, "expected": expected}))
            await conn.app[SESSION_LOG].append_all(stream, entries)
    except BaseException:
        # the log does not say so: nobody is back in it, and the next resume rebuilds it
        for person in put:
            await hub.forget(person, release=False)
            room.participants.pop(person.id, None)
        if rebuilt:
            hub.rooms.discard(room)
        raise
    log.info("room restored", extra={"event": "room_restored", "count": len(room.participants)})


# what a participant's entries say of them, newest last: whether they are known cut off
PARTICIPANT_KINDS = (
    "participant.joined",
    "participant.admitted",
    "participant.sent_to_waiting",
    "participant.interrupted",
    "participant.reconnected",
    "participant.lost",
    "participant.left",
    "participant.removed",
    "participant.declined",
    "participant.let_back",
)
CRASH = "the server stopped without warning"
# what the log says of someone who is gone from the room for good
GONE = frozenset(
    {"participant.lost", "participant.left", "participant.removed", "participant.declined"}
)


def cut_off(held: list[Place], said: list[Entry]) -> list[tuple[str, str, dict[str, Any]]]:
    """The ``participant.interrupted`` entries a crash left unwritten: one for each place
    whose person the log last shows in the room (a stop with warning wrote them already,
    as did a drop before the crash), as that drop would have, with since when they were
    last known connected."""
    last: dict[str, str] = {}
    for entry in said:
        last[str(entry.details.get("participant", ""))] = entry.kind
    out = []
    for row in held:
        # cut off already, or gone for good (a crash between that entry and their place
        # being let go)
        if last.get(row.participant_id) == "participant.interrupted" or gone(row, said):
            continue
        seen = row.seen_at or row.created_at
        details = {"participant": row.participant_id, "role": row.role, "cause": CRASH}
        out.append(
            ("participant.interrupted", place_actor(row), {**details, "since": seen.isoformat()})
        )
    return out


def gone(row: Place, said: list[Entry]) -> bool:
    """Whether the log's last word on this place's person is that they are gone for good."""
    last = [e.kind for e in said if e.details.get("participant") == row.participant_id]
    return bool(last) and last[-1] in GONE


def place_actor(row: Place) -> str:
    """Who the entry is about, as their own connection would have written it."""
    if row.role in (Role.YOUNG_PERSON.value, Role.PARENT.value):
        return participant_actor(row.role, row.participant_id)
    return staff_actor(row.user_id) if row.user_id else "system"
