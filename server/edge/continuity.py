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

from server.appkeys import GATEKEEPER, SCHEDULE, SETTINGS
from server.care.plan import Case, as_message_steps, steps_for
from server.edge import agreement, breaks, chat, floor, modes, rebuilt, sharing
from server.edge.connection import Connection, Handlers
from server.edge.hosting import known_out
from server.exceptions import Forbidden, NotLetBack, ProtocolError
from server.live.hub import about, person
from server.live.protocol import MediaState, PlanStepDone, Resume
from server.live.replies import PeerLeft, PeerState, PlanRecorded, PlanStarted, Resumed, Waiting
from server.live.rooms import Participant, Role, Room, State

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
    found = conn.hub.find_resumable(message.token)  # after the rebuild (``dispatch.handle``)
    if found is None:
        found = await rebuilt.restore(conn, message.token, lose_after)
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
    conn.hub.grace[me.id] = asyncio.create_task(lose_after(conn, room, me, grace))


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


async def lose_after(conn: Connection, room: Room, me: Participant, left: float) -> None:
    """Lost once ``left`` seconds pass without them back: the grace window, or what a
    restart left of it (the log names the window, not the remainder)."""
    await asyncio.sleep(left)  # the grace window itself, not a wait for anything else
    grace = conn.app[SETTINGS].reconnect_grace_seconds
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
