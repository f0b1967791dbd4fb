"""Coming into a room and speaking in it: a young person or parent joins with their link, the
therapist opens the room, anyone leaves; signals between browsers are relayed; those who
wait may raise a flag, and the therapist may message them.

Nobody comes in while the gate is closed to them (``schedule.for_joining``), nor with a link
the therapist put out of the session (``hosting.py``): a ``join`` is refused before any
pre-join answer is read or kept. Someone already waiting when it closes
(consent withdrawn, a checklist revised) keeps their place, so that the therapist sees them
waiting, and is told kindly that the session cannot start."""

from __future__ import annotations

import logging

from server.appkeys import CATALOGUE, SCHEDULE
from server.care.checklists import Kind
from server.care.gate import GateResult, check_answer
from server.care.plan import Case
from server.edge import chat, floor, sharing
from server.edge.connection import Connection, Handlers
from server.edge.continuity import start_plan
from server.edge.hosting import known_out
from server.exceptions import (
    STORAGE_FAILURES,
    Forbidden,
    LinkInUse,
    NotLetBack,
    PlayroomError,
    ProtocolError,
)
from server.i18n import N_
from server.live.hub import about, person
from server.live.protocol import (
    AskKeyFrame,
    Flag,
    Join,
    Leave,
    OpenRoom,
    Ping,
    Signal,
    WaitingMessage,
)
from server.live.replies import (
    Done,
    FlagRaised,
    KeyFrameAsked,
    Notice,
    PeerLeft,
    Pong,
    RoomOpened,
    Waiting,
    relayed,
)
from server.live.rooms import NAMES, Role, Room, State
from server.live.sdp import check_sdp, sending
from server.storage.db import utcnow
from server.storage.models import Role as StaffRole

log = logging.getLogger(__name__)

# what a young person or parent is told when the session cannot start (the join page says
# the same, ``join_closed.html``)
CANNOT_START = N_(
    "Today's session cannot start. You have not done anything wrong. "
    "Your therapist will be in touch with you."
)
JOINERS = (Role.YOUNG_PERSON, Role.PARENT)


async def join(conn: Connection, message: Join) -> None:
    """A young person or a parent comes in with their join link, to the waiting room."""
    if conn.me is not None:
        raise ProtocolError("already_joined", "This connection has already joined.")
    schedule = conn.app[SCHEDULE]
    link, appointment = await schedule.by_join_token(message.token)
    if utcnow() < link.not_before:
        raise ProtocolError(
            "too_early", "It is too early to join. Please come back nearer the time."
        )
    if link.id in await schedule.put_out(appointment.id):
        # removed or declined: out until the therapist lets them back (not logged either)
        await _tell_out_came_back(conn, appointment.id, Role(link.role))
        raise NotLetBack()
    if not (await schedule.joining_gate(link.client_id)).is_open:
        # before any pre-join answer is read or kept: no contact without consent and the gate
        # (not logged: a link's holder could fill the session's log with refusals)
        raise ProtocolError("cannot_start", CANNOT_START)
    _check_checks(conn, message.checks)
    # back in the same session (a quick exit, a closed tab): only what can have changed in
    # minutes is asked again, the rest of their answers stand
    earlier = await schedule.join_checks(appointment.id, link.id)
    checks = _with_earlier(conn, message.checks, earlier)
    role = Role(link.role)
    if role is Role.YOUNG_PERSON:
        _require_checks(conn, checks, message.checks if earlier is not None else None)
    room = conn.hub.rooms.get_or_create(
        appointment.id, appointment.relay_only, appointment.client_id
    )
    name = await conn.name_for(room, role, link.client_id)  # in a group, which member
    try:
        me = room.add(role, name, link.id)
        me.lang = message.lang
        me.client_id = link.client_id
    except LinkInUse:
        if room.therapist is not None:
            await conn.hub.send(
                room.therapist,
                Notice(
                    code="second_device",
                    message=f"Someone tried to join with {_whose(room, role, name)} "
                    "link on a second device. They were refused.",
                ),
            )
        raise
    conn.room, conn.me = room, me
    conn.hub.bind(me, conn.ws, conn.let_go)
    await schedule.save_join_checks(appointment.id, link.id, checks)
    await conn.record(
        "participant.joined",
        {
            "participant": me.id,
            "role": me.role.value,
            "checks_answered": len(message.checks),
            "link": link.id,  # whose link (in a group, which member's): the record can tell
            "back": earlier is not None,
        },
    )
    await conn.welcome(room, me, appointment)
    await conn.reply(Waiting())
    await conn.hub.lobby(room)
    if room.therapist is not None and checks:
        says = "is back and says" if earlier is not None else "says"
        await conn.hub.send(
            room.therapist,
            Notice(
                code="checks",
                message=f"{me.name} {says}: {_checks_text(conn, checks)}",
                participant=me.id,
            ),
        )


def _whose(room: Room, role: Role, name: str) -> str:
    """Whose link, as the therapist reads it: the young person's; in a group, Ash's."""
    return f"{name}'s" if room.group else f"the {NAMES[role].lower()}'s"


async def _tell_out_came_back(conn: Connection, session_id: str, role: Role) -> None:
    """The therapist in the room hears that someone they put out tried their link again."""
    room = conn.hub.rooms.get(session_id)
    if room is None or room.therapist is None:
        return
    name = NAMES.get(role, "Person").lower()
    told = (
        f"The {name} tried to come back with their link and was told you asked them to "
        "leave. To let them in again, choose “Let them back in” under the waiting room."
    )
    await conn.hub.send(room.therapist, Notice(code="not_let_back", message=told))


def _check_checks(conn: Connection, checks: dict[str, str]) -> None:
    checklist = conn.app[CATALOGUE][Kind.PRE_JOIN]
    for item_id, answer in checks.items():
        item = checklist.item(item_id)
        problem = "no such question" if item is None else check_answer(item, answer)
        if problem:
            raise ProtocolError("bad_checks", f"{item_id[:60]}: {problem}.")


def _with_earlier(
    conn: Connection, checks: dict[str, str], earlier: dict[str, str] | None
) -> dict[str, str]:
    """The answers that stand: those given now, over those given earlier in the same session
    for the questions not asked again."""
    if earlier is None:
        return checks
    again = {i.id for i in conn.app[CATALOGUE][Kind.PRE_JOIN].items() if i.asked_again}
    return {**{k: v for k, v in earlier.items() if k not in again}, **checks}


def _require_checks(
    conn: Connection, checks: dict[str, str], fresh: dict[str, str] | None = None
) -> None:
    """A young person answers every question their checks require (where they are today
    above all: an escalation shows it), whatever their page let through. Coming back
    (``fresh``: what they answered just now), the questions asked again are answered anew."""
    checklist = conn.app[CATALOGUE][Kind.PRE_JOIN]
    missing = checklist.unanswered(lambda i: checks.get(i, ""))
    if fresh is not None:
        missing += [
            item
            for item in checklist.unanswered(lambda i: fresh.get(i, ""))
            if item.asked_again and item not in missing
        ]
    if missing:
        prompts = " ".join(item.prompt for item in missing)
        raise ProtocolError("missing_checks", f"Please answer these first: {prompts}")


def _checks_text(conn: Connection, checks: dict[str, str]) -> str:
    """The pre-join answers in the checklist's own words."""
    checklist = conn.app[CATALOGUE][Kind.PRE_JOIN]
    parts = []
    for item in checklist.items():
        if item.id in checks:
            parts.append(f"{item.prompt} {checks[item.id].replace('_', ' ')}")
    return "; ".join(parts)


async def open_room(conn: Connection, message: OpenRoom) -> None:
    """The session's therapist opens its room, through the gate."""
    user = conn.user
    if user is None or user.role is not StaffRole.THERAPIST:
        raise Forbidden("Only the session's therapist opens the room.")
    if conn.me is not None:
        raise ProtocolError("already_joined", "This connection is already in a room.")
    appointment = await conn.app[SCHEDULE].open_room(user, message.session)
    room = conn.hub.rooms.get_or_create(
        appointment.id, appointment.relay_only, appointment.client_id
    )
    if room.stored_locked is None:  # as the session's row has it (read just now)
        room.stored_locked = appointment.room_locked
    room.chat.known(appointment.chat_on)
    await known_out(conn, room)  # whose link is out, for the therapist to let back
    previous = room.therapist
    if previous is not None and previous.state in (State.INTERRUPTED, State.LOST):
        # the therapist's own page came back without its token (reloaded, slept too long)
        room.leave(previous, "the therapist opened the room again")
        await conn.hub.forget(previous)
    elif previous is not None:
        raise PlayroomError("This room is already open in another window.")
    me = room.add(Role.THERAPIST, user.display_name)
    me.user_id = user.id
    conn.room, conn.me = room, me
    conn.hub.bind(me, conn.ws, conn.let_go)
    await conn.record("room.opened", {"participant": me.id})
    await conn.reply(
        RoomOpened(
            session=appointment.id,
            you=person(me),
            ice=conn.ice(me, False),
            resume=await conn.hub.issue_resume(room, me),
        )
    )
    await conn.hub.store_lock(room)  # a room opened afresh is unlocked, and stored so
    await conn.hub.lobby(room)
    await chat.tell(conn, room, me, answer=True)  # a page opening the room again: its chat
    await floor.tell(conn, room, me)  # and the hands up, the spotlight, the rule


async def leave(conn: Connection, cause: str) -> None:
    """This connection's person leaves the room (a goodbye, not a dropped socket)."""
    await conn.close_board_links()
    if conn.room is None or conn.me is None or conn.me.state is State.LEFT:
        return
    room, me = conn.room, conn.me
    was_in_room = me.in_room
    room.leave(me, cause)
    await conn.record("participant.left", {**about(me), "cause": cause})
    await sharing.gone(conn, room, me)  # a share of theirs ends with them
    await floor.gone(conn, room, me)  # their hand down, a spotlight on them off
    conn.hub.unbind(me)
    await conn.hub.forget(me)
    if me.role is Role.YOUNG_PERSON and was_in_room and not room.ended and not me.quick_exited:
        await start_plan(conn, room, me, Case.LEFT)  # a client may leave unexpectedly
    if was_in_room:
        await conn.hub.send_many(room.present(), PeerLeft(participant=me.id, reason=cause))
    await conn.hub.lobby(room)
    if room.empty:
        conn.hub.rooms.discard(room)


async def on_leave(conn: Connection, message: Leave) -> None:
    conn.in_room()  # a goodbye from someone who never came in is refused, not ignored
    await leave(conn, "left the session")
    await conn.reply(Done())


async def signal(conn: Connection, message: Signal) -> None:
    """A description or candidate for another person in the room, relayed as it is."""
    room, me = conn.in_room()
    if not me.in_room:
        raise ProtocolError("not_in_room", "You are not in the room yet.")
    target = room.participants.get(message.to)
    if target is not None and target.state is State.INTERRUPTED:
        return  # they restart their connections when they are back
    if target is None or not target.in_room or target.id == me.id:
        raise ProtocolError("unknown_peer", "That person is not in this room.")
    if message.description is None and message.candidate is None:
        raise ProtocolError("bad_message", "A signal carries a description or a candidate.")
    if message.description is not None:
        parsed = check_sdp(message.description.sdp)
        if me.role is Role.OBSERVER and sending(parsed) - me.announced:
            raise ProtocolError(
                "unannounced_media",
                "Turn your microphone or camera on with its button, so that everyone is "
                "told before you are seen or heard.",
            )
        await sharing.check_description(conn, room, me, parsed)  # no share unannounced
    await conn.hub.send(target, relayed(me.id, message.description, message.candidate))


async def key_frame(conn: Connection, message: AskKeyFrame) -> None:
    """Ask another person in the room for a key frame of their video (after a reconnect)."""
    room, me = conn.in_room()
    if not me.in_room:
        raise ProtocolError("not_in_room", "You are not in the room yet.")
    target = room.participants.get(message.to)
    if target is None or not target.in_room or target.id == me.id:
        raise ProtocolError("unknown_peer", "That person is not in this room.")
    await conn.hub.send(target, KeyFrameAsked(sender=me.id))


async def waiting_message(conn: Connection, message: WaitingMessage) -> None:
    """The therapist writes to someone in the waiting room."""
    room, me = conn.in_room()
    target = room.get(message.participant)
    if me.role is not Role.THERAPIST or target.state is not State.WAITING:
        raise Forbidden("Only the therapist can message someone who is waiting.")
    await conn.hub.send(target, Waiting(message=message.text))
    await conn.reply(Done())


async def flag(conn: Connection, message: Flag) -> None:
    """The young person or a parent tells the therapist: a break, not private, quick exit."""
    room, me = conn.in_room() if conn.me and conn.me.in_room else conn.waiting()
    if me.role not in (Role.YOUNG_PERSON, Role.PARENT):
        raise Forbidden("Only the young person or a parent sends these signals.")
    if room.therapist is not None:
        await conn.hub.send(room.therapist, FlagRaised(sender=me.id, kind=message.kind))
    me.quick_exited = message.kind == "quick_exit"
    await conn.record("flag.raised", {**about(me), "kind": message.kind})
    if me.role is Role.YOUNG_PERSON and message.kind in ("not_private", "quick_exit"):
        await start_plan(conn, room, me, Case(message.kind))
    await conn.reply(Done())


async def ping(conn: Connection, message: Ping) -> None:
    await _cannot_start_yet(conn)
    await conn.reply(Pong(n=message.n))


async def _cannot_start_yet(conn: Connection) -> None:
    """Someone waiting, whose page pings every 2 s: if the session can no longer start,
    they are told kindly with each ping while it stays so (a page that came back is told
    again), and keep their place, so that the therapist sees them waiting; a therapist in
    the room is told once, when it closes. The gate is asked again at most every few
    seconds for a session (``Schedule.way_in``)."""
    room, me = conn.room, conn.me
    if room is None or me is None or me.state is not State.WAITING or me.role not in JOINERS:
        return
    if room.ended or not room.client_of(me):
        return
    try:
        way_in = await conn.app[SCHEDULE].way_in(room.session_id, room.client_of(me))
    except STORAGE_FAILURES:  # asked again at the next ping: the page is not cut off for it
        log.warning("gate not asked", extra={"event": "gate_recheck_failed"})
        return
    if way_in.gate.is_open:
        return
    if way_in.closed_now:
        await conn.record("gate.evaluated", _gate_details(way_in.gate), actor="system")
        if room.therapist is not None:
            waiting = [  # in a group's session, this member and their parent only
                p.name if room.group else p.name.lower()
                for p in room.waiting()
                if p.role in JOINERS and room.client_of(p) == room.client_of(me)
            ]
            reasons = " ".join(r.message for r in way_in.gate.reasons)
            told = (
                f"The session cannot start now. {reasons} Waiting: {' and '.join(waiting)}, "
                "told that today's session cannot start and that you will be in touch."
            )
            await conn.hub.send(room.therapist, Notice(code="cannot_start", message=told))
    await conn.hub.send(me, Notice(code="cannot_start", message=CANNOT_START))


def _gate_details(gate: GateResult) -> dict[str, object]:
    """The gate's answer as the session's log keeps it (as ``Schedule.open_room`` does)."""
    return {"open": gate.is_open, "reasons": [[r.code, r.item] for r in gate.reasons]}


HANDLERS: Handlers = {
    Signal: signal,  # nearly every message is one (each ICE candidate)
    AskKeyFrame: key_frame,
    Join: join,
    OpenRoom: open_room,
    Leave: on_leave,
    WaitingMessage: waiting_message,
    Flag: flag,
    Ping: ping,
}
