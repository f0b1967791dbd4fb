"""The therapist's hand on the room: admitting, declining, sending back to the waiting room,
removing, letting back, locking, ending; who may clear the board; connection quality; and
asking the young person how the session was.

Removed or declined means out: the link of whoever the therapist removed from the room or
declined from the waiting room joins nothing in this session, and its resume token is
spent, until the therapist lets it back (``let_back``). The session's log keeps both (the
link is named in ``participant.removed`` and ``participant.declined``, and in
``participant.let_back``), so that a restart or another node keeps them out too
(``Schedule.put_out``)."""

from __future__ import annotations

from server.appkeys import OUTCOMES, SCHEDULE, SESSION_LOG, WHITEBOARDS
from server.edge import agreement, chat, floor, modes, sharing
from server.edge.connection import Connection, Handlers
from server.exceptions import (
    STORAGE_FAILURES,
    Forbidden,
    NotLetBack,
    PlayroomError,
    ProtocolError,
)
from server.i18n import N_
from server.live.hub import about, person
from server.live.protocol import (
    Admit,
    AllowClear,
    AskRating,
    Decline,
    EndRoom,
    LetBack,
    Lock,
    Quality,
    Rating,
    Remove,
    ToWaiting,
)
from server.live.quality import record_sample, write_summaries
from server.live.replies import (
    Admitted,
    Declined,
    Done,
    GuestBoardChanged,
    Notice,
    PeerJoined,
    PeerLeft,
    RatingRequest,
    Removed,
    RoomEnded,
    Waiting,
)
from server.live.rooms import NAMES, Out, Participant, Role, Room

# a young person or a parent comes into the room only through the gate, asked again as they
# are admitted (consent may have been withdrawn since they came to the waiting room)
GATED = (Role.YOUNG_PERSON, Role.PARENT)


async def admit(conn: Connection, message: Admit) -> None:
    room, me = conn.in_room()
    target = room.get(message.participant)
    if me.role is Role.THERAPIST and target.role in GATED:
        try:
            await _gate_allows_admitting(conn, room.client_of(target))
        except ProtocolError:
            # the supervisor reading the log sees that someone waited and could not come in
            await conn.record("participant.not_admitted", {**about(target), "cause": "gate"})
            raise
    newcomer = room.admit(me, message.participant)
    await conn.hub.moved(newcomer)
    await conn.record("participant.admitted", about(newcomer))
    others = list(room.peers_of(newcomer))
    await conn.hub.send(newcomer, Admitted(present=[person(p) for p in others]))
    if newcomer.role is Role.GUEST:  # whether their page offers the board's tools
        await conn.hub.send(newcomer, GuestBoardChanged(participant=newcomer.id, on=newcomer.board))
    await sharing.tell(conn, room, newcomer)  # a share on: known before its media comes
    await modes.tell(conn, room, newcomer)  # whose video is lower or paused, and why
    await floor.tell(conn, room, newcomer)  # hands, spotlight, and a microphone held off
    await conn.hub.send_many(others, PeerJoined(participant=person(newcomer)))
    await agreement.tell(conn, room, newcomer)  # the agreement on the screen: theirs too
    await chat.tell(conn, room, newcomer)  # what was written that they may see
    await conn.hub.lobby(room)
    await conn.reply(Done())


async def _gate_allows_admitting(conn: Connection, client_id: str) -> None:
    """Refuse (``cannot_admit``) while the way in is closed (``schedule.for_joining``): the
    person keeps their place in the waiting room, told by their page's pings that today's
    session cannot start. A gate that cannot be asked refuses too."""
    if not client_id:
        raise PlayroomError("This room's client is not known: nobody can be let in.")
    try:
        gate = await conn.app[SCHEDULE].joining_gate(client_id)
    except STORAGE_FAILURES:
        raise PlayroomError("The gate could not be asked just now. Try again.") from None
    if not gate.is_open:
        reasons = " ".join(r.message for r in gate.reasons)
        raise ProtocolError(
            "cannot_admit", f"They cannot be let in: the session cannot start now. {reasons}"
        )


async def decline(conn: Connection, message: Decline) -> None:
    room, me = conn.in_room()
    await known_out(conn, room)
    target = room.decline(me, message.participant)
    await conn.record("participant.declined", _out(target))  # before the place goes
    await conn.hub.forget(target)  # their resume token is spent, here and in the database
    await conn.hub.send(target, Declined(message=message.message))
    await conn.hub.disconnect(target)
    await conn.hub.lobby(room)
    await conn.reply(Done())


async def to_waiting(conn: Connection, message: ToWaiting) -> None:
    room, me = conn.in_room()
    target = room.send_to_waiting(me, message.participant)
    await conn.hub.moved(target)
    await conn.record("participant.sent_to_waiting", about(target))
    await sharing.gone(conn, room, target)
    await floor.gone(conn, room, target)
    await conn.drop_from_board(room, target.id)
    await conn.hub.send(target, Waiting())
    await conn.hub.send_many(
        room.peers_of(target), PeerLeft(participant=target.id, reason="waiting room")
    )
    await conn.hub.lobby(room)
    await conn.reply(Done())


async def remove(conn: Connection, message: Remove) -> None:
    room, me = conn.in_room()
    await known_out(conn, room)
    target = room.remove(me, message.participant, "removed by the therapist")
    await conn.record("participant.removed", _out(target))  # before the place goes
    await sharing.gone(conn, room, target)
    await floor.gone(conn, room, target)
    await conn.hub.forget(target)  # their resume token is spent, here and in the database
    await conn.drop_from_board(room, target.id)
    await conn.hub.send(target, Removed(message=str(NotLetBack())))
    await conn.hub.disconnect(target)
    await conn.hub.send_many(room.present(), PeerLeft(participant=target.id, reason="removed"))
    await conn.hub.lobby(room)
    await conn.reply(Done())


async def let_back(conn: Connection, message: LetBack) -> None:
    """The therapist lets a link put out of the session back: the same link joins the
    waiting room again (and is admitted, or not, as anyone is)."""
    room, me = conn.in_room()
    await known_out(conn, room)
    out = room.let_back(me, message.link)
    await conn.record("participant.let_back", {"link": out.link, "role": out.role.value})
    name = NAMES.get(out.role, "Person").lower()
    told = f"The {name} can come back with the same link, to the waiting room."
    await conn.hub.send(me, Notice(code="let_back", message=told))
    await conn.hub.lobby(room)
    await conn.reply(Done())


def _out(target: Participant) -> dict[str, str]:
    """A removal or a refusal as the log keeps it: whom, and the link now out (none for an
    observer)."""
    details = about(target)
    if target.link_id is not None:
        details["link"] = target.link_id
    return details


async def known_out(conn: Connection, room: Room) -> dict[str, Out]:
    """The links put out of ``room``'s session: read once from the session's log into the
    room (a room rebuilt after a restart, or on another node, reads it again), and kept
    there as the therapist puts out and lets back."""
    if not room.out_known:
        learn_out(room, await conn.app[SCHEDULE].put_out(room.session_id))
    return room.out


def learn_out(room: Room, found: dict[str, tuple[str, str]]) -> None:
    """What the log says of who is out of ``room`` (``Schedule.put_out``), unless the room
    knows already; any put out meanwhile stays out."""
    if not room.out_known:
        loaded = {link: Out(link, Role(role), how) for link, (role, how) in found.items()}
        room.out = {**loaded, **room.out}
        room.out_known = True


async def lock(conn: Connection, message: Lock) -> None:
    room, me = conn.in_room()
    room.set_locked(me, message.locked)
    await conn.hub.store_lock(room)  # before the therapist is answered
    await conn.hub.lobby(room)
    await conn.reply(Done())


async def end_room(conn: Connection, message: EndRoom) -> None:
    room, me = conn.in_room()
    everyone = room.end(me)
    assert conn.user is not None
    await write_summaries(conn.app[SESSION_LOG], room)  # before the log is sealed
    await conn.app[SCHEDULE].end(conn.user, room.session_id)  # links stop working
    await conn.hub.send_many([p for p in everyone if p is not me], RoomEnded())
    await conn.reply(RoomEnded())  # the therapist's, as the answer to their frame
    for participant in room.participants.values():  # no place is held in an ended room
        await conn.hub.forget(participant)
    conn.hub.rooms.discard(room)
    # this connection's own socket last: closing it may end this very handler
    for participant in sorted(everyone, key=lambda p: p is me):
        await conn.hub.disconnect(participant)


async def allow_clear(conn: Connection, message: AllowClear) -> None:
    room, me = conn.in_room()
    if me.role is not Role.THERAPIST:
        raise Forbidden("Only the therapist decides who may clear the board.")
    board = await conn.app[WHITEBOARDS].get(room.session_id, room.client_id)
    await board.allow_clear(message.allowed)
    await conn.reply(Done())


async def quality(conn: Connection, message: Quality) -> None:
    room, me = conn.in_room()
    if message.peer not in room.participants or message.peer == me.id:
        raise ProtocolError("unknown_peer", "That person is not in this room.")
    record_sample(me, message.peer, message.rtt_ms, message.loss)


async def ask_rating(conn: Connection, message: AskRating) -> None:
    """Near the end: the young person is asked, with four faces, how today was."""
    room, me = conn.in_room()
    if me.role is not Role.THERAPIST:
        raise Forbidden("Only the therapist asks for a rating.")
    young = [p for p in room.present() if p.role is Role.YOUNG_PERSON]
    if not young:
        raise PlayroomError("The young person is not in the room.")
    await conn.hub.send_many(young, RatingRequest())
    await conn.reply(Done())


async def rating(conn: Connection, message: Rating) -> None:
    room, me = conn.in_room()
    if me.role is not Role.YOUNG_PERSON or not me.in_room:
        raise Forbidden("Only the young person rates the session.")
    await conn.app[OUTCOMES].rating(room.session_id, me.id, message.score)
    await conn.reply(Notice(code="rating_saved", message=N_("Thank you for telling us.")))
    if room.therapist is not None:
        await conn.hub.send(
            room.therapist,
            Notice(
                code="rating",
                message=f"The young person rated today {message.score} of 4.",
                participant=me.id,
            ),
        )


HANDLERS: Handlers = {
    Admit: admit,
    Decline: decline,
    ToWaiting: to_waiting,
    Remove: remove,
    LetBack: let_back,
    Lock: lock,
    EndRoom: end_room,
    AllowClear: allow_clear,
    Quality: quality,
    AskRating: ask_rating,
    Rating: rating,
}
