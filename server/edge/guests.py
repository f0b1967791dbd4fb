"""An invited guest in the room (``care/guests.py``): they join with their own link to the
waiting room and are admitted by the therapist like anyone else; everyone is told a guest
came in, with their role (the pages announce it from ``peer_joined``, each in its own
language). A guest has no board until the therapist gives it to them (``guest_board``):
until then whatever they send to the board, over either link or as a hand in motion, is
refused by the server. Joining (``participant.joined``), the board given or taken back
(``guest.board``), and leaving are logged with the guest's role, never their name.

A guest is never told the young person's pre-join answers: those go to the therapist alone
(``lobby.py``), and nothing a guest is sent carries them."""

from __future__ import annotations

from server.appkeys import GUESTS, SCHEDULE, WHITEBOARDS
from server.edge.connection import Connection, Handlers
from server.exceptions import Forbidden, LinkInUse, NotLetBack, PlayroomError, ProtocolError
from server.live.hub import about
from server.live.protocol import GuestBoard, GuestJoin
from server.live.replies import Done, GuestBoardChanged, Notice, Waiting
from server.live.rooms import MAX_PARTICIPANTS, ROOM_FULL, Role
from server.storage.db import utcnow


async def guest_join(conn: Connection, message: GuestJoin) -> None:
    """A guest comes in with their link, to the waiting room."""
    if conn.me is not None:
        raise ProtocolError("already_joined", "This connection has already joined.")
    guest, link, appointment = await conn.app[GUESTS].by_token(message.token)
    if utcnow() < link.not_before:
        raise ProtocolError(
            "too_early", "It is too early to join. Please come back nearer the time."
        )
    schedule = conn.app[SCHEDULE]
    if link.id in await schedule.put_out(appointment.id):
        raise NotLetBack()
    if not (await schedule.joining_gate(link.client_id)).is_open:
        raise ProtocolError(
            "cannot_start", "This session cannot start now. The therapist will be in touch."
        )
    room = conn.hub.rooms.get_or_create(
        appointment.id, appointment.relay_only, appointment.client_id
    )
    if len(room.present()) >= MAX_PARTICIPANTS:
        raise ProtocolError("room_full", ROOM_FULL)
    try:
        me = room.add(Role.GUEST, conn.app[GUESTS].name_of(guest), link.id)
    except LinkInUse:
        if room.therapist is not None:
            await conn.hub.send(
                room.therapist,
                Notice(
                    code="second_device",
                    message="Someone tried to join with a guest's link on a second device. "
                    "They were refused.",
                ),
            )
        raise
    me.guest_role = guest.role
    me.lang = message.lang
    conn.room, conn.me = room, me
    conn.hub.bind(me, conn.ws, conn.let_go)
    await conn.record("participant.joined", about(me))
    await conn.welcome(room, me, appointment)
    await conn.reply(Waiting())
    await conn.hub.lobby(room)


async def guest_board(conn: Connection, message: GuestBoard) -> None:
    """The therapist gives a guest the board, or takes it back: logged, told to everyone in
    the room, and enforced at once on the guest's open link to the board."""
    room, me = conn.in_room()
    if me.role is not Role.THERAPIST:
        raise Forbidden("Only the therapist gives a guest the board.")
    target = room.get(message.participant)
    if target.role is not Role.GUEST:
        raise PlayroomError("Only a guest's board is given or taken back.")
    target.board = message.on
    board = conn.app[WHITEBOARDS].boards.get(room.session_id)
    member = board.members.get(target.id) if board is not None else None
    if member is not None:
        member.writes = message.on
    await conn.record("guest.board", {**about(target), "on": message.on})
    changed = GuestBoardChanged(participant=target.id, on=message.on)
    await conn.hub.send_many([p for p in room.present() if p is not me], changed)
    await conn.reply(changed)
    await conn.reply(Done())


HANDLERS: Handlers = {GuestJoin: guest_join, GuestBoard: guest_board}
