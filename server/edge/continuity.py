"""Continuity: a dropped connection holds its place for a grace window, comes back with a
resume token straight into the room, or is lost; and the disconnection plan is walked when
a young person is lost, leaves, says "not private" or quick-exits.

Three signals feed each participant's state (``live/rooms.py``): the signalling socket (its
WebSocket heartbeat), the control channel's heartbeat on the data connection to the server,
and the browser's own reports of its connections' ICE states (``media_state``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from server.appkeys import GATEKEEPER, GUESTS, SCHEDULE, SESSION_LOG, SETTINGS
from server.audit.sessionlog import Entry, participant_actor, session_stream, staff_actor
from server.care.plan import Case, as_message_steps, steps_for
from server.edge import agreement, breaks, chat, floor, modes, sharing
from server.edge.connection import Connection, Handlers
from server.edge.hosting import known_out
from server.exceptions import Forbidden, NotLetBack, ProtocolError
from server.live.hub import about, person
from server.live.protocol import MediaState, PlanStepDone, Resume
from server.live.replies import PeerLeft, PeerState, PlanRecorded, PlanStarted, Resumed, Waiting
from server.live.rooms import NAMES, Participant, Role, Room, State
from server.storage.session_models import Place

log = logging.getLogger(__name__)


async def resume(conn: Connection, message: Resume) -> None:
    """Back within the grace window: straight to where they were, no waiting room.

    Their media connections are kept: the page restarts ICE with everyone present.

    A resume takes the place over from a socket that still holds it (the network came back
    before the server noticed the old socket go, or the page gave up on a socket that was
    only slow): the old connection lets go of the person at once (``Hub.take_over``), so
    they are never shown as gone, and whatever it still sends is refused as from nobody. The
    token is single-use: the old page, or anyone replaying it, is refused ``bad_resume``.
    Someone the therapist removed or declined has no place to come back to (``hosting.py``
    spends their token); were one kept through a crash, their link is still out."""
    if conn.me is not None:
        raise ProtocolError("already_joined", "This connection is already in a room.")
    found = conn.hub.find_resumable(message.token) or await _restore(conn, message.token)
    if found is None:
        raise ProtocolError("bad_resume", "That session can no longer be resumed. Join again.")
    room, me = found
    if me.role is Role.THERAPIST and (conn.user is None or conn.user.id != me.user_id):
        raise ProtocolError("bad_resume", "Sign in again to come back to the room.")
    # read side by side (a storm of resumes waits on storage, not on the processor): who is
    # out of the room, read once a room as the therapist's lobby shows it; and their link
    out, works = await asyncio.gather(
        known_out(conn, room),
        _link_works(conn, me.link_id, room.session_id),
    )
    if me.link_id is not None and me.link_id in out:
        raise NotLetBack()  # removed or declined (a place kept through a crash): still out
    if not works:
        raise ProtocolError("bad_resume", "This link no longer works. Ask for a new one.")
    # from here on nothing waits, so the place is as this sees it (the old socket cannot
    # drop, nor the grace window end, in between)
    if (
        me.state in (State.LEFT, State.LOST)
        or room.ended
        or conn.hub.find_resumable(message.token) != (room, me)
    ):
        raise ProtocolError("bad_resume", "That session can no longer be resumed. Join again.")
    conn.hub.spend(me)  # the token works once, even before its successor is issued below
    dropped_socket = me.state is State.INTERRUPTED and "socket" in me.interruptions
    took_over = False if dropped_socket else conn.hub.take_over(me)
    task = conn.hub.grace.pop(me.id, None)
    if task is not None:
        task.cancel()
    if me.role is Role.THERAPIST and conn.user is not None:
        me.name = conn.user.display_name
    if me.state is State.INTERRUPTED:
        room.resume(me)
    conn.room, conn.me = room, me
    conn.hub.bind(me, conn.ws, conn.let_go)
    cause = "resumed on a new connection before the old one closed" if took_over else "resumed"
    # the entry and the new token's place are written side by side: in one batch of the
    # group commit on SQLite, and both before they are answered
    _, token = await asyncio.gather(
        conn.record("participant.reconnected", {**about(me), "cause": cause}),
        conn.hub.issue_resume(room, me),
    )
    waiting = me.state is State.WAITING
    others = [p for p in room.present() if p.id != me.id]
    await conn.reply(
        Resumed(
            you=person(me),
            ice=conn.ice(me, room.relay_only),
            resume=token,
            present=[] if waiting else [person(p) for p in others],
        )
    )
    # "reconnected" also after a take-over: the others' pages send a key frame at once
    watching = [p for p in room.participants.values() if p.id != me.id and p.in_room]
    await conn.hub.send_many(
        watching, PeerState(participant=me.id, state="reconnected", role=me.role.value)
    )
    if waiting:
        await conn.reply(Waiting())
    else:
        await breaks.tell(conn, room)  # a break on: the same time left as everyone else's
        await agreement.tell(conn, room, me)
        # their page stopped its own share as it lost the socket: when the old socket was
        # taken over rather than dropped, no drop ended it here
        await sharing.gone(conn, room, me)
        await sharing.tell(conn, room, me)
        await modes.tell(conn, room, me)
        await floor.tell(conn, room, me)  # the rule on microphones, hands, spotlight
        await chat.tell(conn, room, me, answer=True)
    await conn.hub.lobby(room)


async def _link_works(conn: Connection, link_id: str | None, session_id: str) -> bool:
    """Whether their link still works (staff have none)."""
    return link_id is None or await conn.app[SCHEDULE].link_still_works(link_id, session_id)


async def _restore(conn: Connection, token: str) -> tuple[Room, Participant] | None:
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
    restoring = hub.restoring[place.appointment_id] = asyncio.Event()
    try:
        return await _rebuild(conn, token, place)
    finally:
        del hub.restoring[place.appointment_id]
        restoring.set()


async def _rebuild(conn: Connection, token: str, place: Place) -> tuple[Room, Participant] | None:
    """``_restore``'s work, once a room at a time."""
    hub = conn.hub
    places = hub.places
    assert places is not None
    grace = conn.app[SETTINGS].reconnect_grace_seconds
    left = hub.left_of(grace, place.appointment_id)
    if left <= 0:
        return None
    stream = session_stream(place.appointment_id)
    appointment, held, said = await asyncio.gather(  # side by side, as in ``resume``
        conn.app[SCHEDULE].live(place.appointment_id),
        places.of_room(place.appointment_id),
        conn.app[SESSION_LOG].entries(stream, PARTICIPANT_KINDS),
    )
    if appointment is None:
        return None
    # a guest's name and role are not kept with their place: their invitation has them
    guests = await conn.app[GUESTS].of_links(
        [row.link_id for row in held if row.role == Role.GUEST.value and row.link_id]
    )
    # from here to the log's lock nothing waits: whoever else resumes into this room now
    # finds it rebuilt, and their own entries come after these
    rebuilt = appointment.id not in hub.rooms.by_session
    room = hub.rooms.get_or_create(appointment.id, appointment.relay_only, appointment.client_id)
    if room.stored_locked is None:  # as the therapist left it (the board reloads its own)
        room.locked = room.stored_locked = appointment.room_locked
    room.chat.known(appointment.chat_on)
    # those the log shows gone for good stay gone (a crash before their place was let go)
    back = [
        row for row in held if row.participant_id not in room.participants and not gone(row, said)
    ]
    members = (
        await conn.app[SCHEDULE].clients_of_links([r.link_id for r in back if r.link_id])
        if room.group
        else {}
    )
    for row in back:
        role = Role(row.role)
        member = members.get(row.link_id or "", "")
        name = await conn.name_for(room, role, member) if member else NAMES.get(role, "Therapist")
        person = hub.put_back(room, row, name)
        person.client_id = member
        if row.link_id in guests:
            person.name, person.guest_role = guests[row.link_id]
        hub.grace[person.id] = asyncio.create_task(_lose_after(conn, room, person, left))
    if rebuilt:  # once, however many come back at the same moment
        after = "a server restart" if hub.bus.node_id == "local" else "a node failure"
        entries = cut_off(back, said)
        expected = [{"participant": row.participant_id, "role": row.role} for row in back]
        entries.append(("room.restored", "system", {"after": after, "expected": expected}))
        await conn.app[SESSION_LOG].append_all(stream, entries)
    log.info("room restored", extra={"event": "room_restored", "count": len(room.participants)})
    return hub.find_resumable(token)


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


async def dropped(conn: Connection) -> None:
    """The socket closed without a goodbye: hold their place for the grace window."""
    await conn.close_board_links()
    if conn.room is None or conn.me is None or conn.room.moved:
        return  # a room that moved to another node is held there
    room, me = conn.room, conn.me
    conn.hub.unbind(me)
    if not await interrupted(conn, "socket", "connection dropped"):
        return
    grace = conn.app[SETTINGS].reconnect_grace_seconds
    conn.hub.grace[me.id] = asyncio.create_task(_lose_after(conn, room, me, grace))


async def media_state(conn: Connection, message: MediaState) -> None:
    """The browser's report of one of its connections (to a person, or to the server)."""
    room, me = conn.in_room()
    if message.peer != "server" and message.peer not in room.participants:
        raise ProtocolError("unknown_peer", "That person is not in this room.")
    if me.links.get(message.peer) == message.state:
        return
    if message.peer not in me.links and len(me.links) > len(room.participants):
        raise ProtocolError("bad_message", "Too many connections reported.")
    me.links[message.peer] = message.state
    log.info(
        "media link %s",
        message.state,
        extra={
            "event": "media_state",
            "role": me.role.value,
            "route": "server" if message.peer == "server" else "peer",
        },
    )
    if message.state == "connected":
        name = "the server link" if message.peer == "server" else "media"
        if room.media_connected(me, f"{name} connected"):
            await conn.hub.lobby(room)
        if message.peer == "server":
            await recovered(conn, "link", "the server link connected again")
    elif message.peer == "server" and message.state in ("disconnected", "failed"):
        await interrupted(conn, "link", f"the browser says the server link {message.state}")


def control_heard(conn: Connection) -> None:
    """A heartbeat on the control channel: restart the silence timer."""
    if conn.control_timer is not None:
        conn.control_timer.cancel()
    timeout = conn.app[SETTINGS].control_timeout_seconds
    conn.control_timer = asyncio.get_running_loop().call_later(
        timeout, _control_silent, conn, timeout
    )
    if conn.me is not None and "control" in conn.me.interruptions:
        conn.spawn(recovered(conn, "control", "the control channel is heard again"))


def _control_silent(conn: Connection, timeout: float) -> None:
    conn.control_timer = None
    if conn.me is not None and conn.server_peer is not None:
        cause = f"no heartbeat on the control channel for {timeout:g} s"
        conn.spawn(interrupted(conn, "control", cause))


async def interrupted(conn: Connection, kind: str, cause: str) -> bool:
    """One of their connections went quiet; the others see "reconnecting..."."""
    if conn.room is None or conn.me is None:
        return False
    room, me = conn.room, conn.me
    before = me.state
    if not room.interrupt(me, kind, cause):
        return False
    await conn.record("participant.interrupted", {**about(me), "cause": cause})
    await sharing.gone(conn, room, me)  # a share ends when its sharer drops
    if before is not State.INTERRUPTED:
        state = PeerState(participant=me.id, state="interrupted", role=me.role.value)
        await conn.hub.send_many(
            [p for p in room.participants.values() if p.in_room and p.id != me.id], state
        )
        await conn.hub.lobby(room)
    return True


async def recovered(conn: Connection, kind: str, cause: str) -> None:
    if conn.room is None or conn.me is None:
        return
    room, me = conn.room, conn.me
    if room.recover(me, kind, cause):
        await conn.record("participant.reconnected", {**about(me), "cause": cause})
        state = PeerState(participant=me.id, state="reconnected", role=me.role.value)
        await conn.hub.send_many([p for p in room.present() if p.id != me.id], state)
        await conn.hub.lobby(room)


async def start_plan(conn: Connection, room: Room, person: Participant, case: Case) -> None:
    """Send the therapist the disconnection plan's steps for ``case``."""
    therapist = room.therapist
    if therapist is None or room.ended:
        return
    client_id = room.client_of(person)  # in a group's session, that member's own plan
    answers = await conn.app[GATEKEEPER].plan_answers(client_id) if client_id else {}
    await conn.record(
        "plan.started", {**about(person), "case": case.value}, actor="system", room=room
    )
    await conn.hub.send(
        therapist,
        PlanStarted(
            participant=person.id,
            case=case.value,
            steps=as_message_steps(steps_for(case, answers)),
        ),
    )


async def plan_step(conn: Connection, message: PlanStepDone) -> None:
    """The therapist records what came of one step of the plan."""
    room, me = conn.in_room()
    if me.role is not Role.THERAPIST or conn.user is None:
        raise Forbidden("Only the therapist records the plan's steps.")
    await conn.app[SCHEDULE].record_plan_step(
        room.session_id, conn.user.id, message.case, message.step, message.outcome
    )
    await conn.record(
        "plan.step", {"case": message.case, "step": message.step, "outcome": message.outcome}
    )
    await conn.reply(PlanRecorded(case=message.case, step=message.step, outcome=message.outcome))


async def _lose_after(conn: Connection, room: Room, me: Participant, grace: float) -> None:
    await asyncio.sleep(grace)  # the grace window itself, not a wait for anything else
    cause = f"not back within the {grace:g} s grace window"
    if not room.lose(me, cause):
        return
    await conn.record("participant.lost", {**about(me), "cause": cause}, actor="system", room=room)
    await conn.hub.forget(me)
    lost = PeerState(participant=me.id, state="lost", role=me.role.value)
    await conn.hub.send_many(
        [p for p in room.participants.values() if p.in_room or p.state is State.WAITING], lost
    )
    if not me.was_waiting:
        await conn.hub.send_many(room.present(), PeerLeft(participant=me.id, reason="lost"))
        await floor.gone(conn, room, me)
    await conn.hub.lobby(room)
    if me.role is Role.YOUNG_PERSON:
        await start_plan(conn, room, me, Case.LOST)
    if room.empty:  # the last one gone: the room and its board leave memory
        conn.hub.rooms.discard(room)


HANDLERS: Handlers = {
    Resume: resume,
    MediaState: media_state,
    PlanStepDone: plan_step,
}
