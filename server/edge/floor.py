"""The group's rules for who speaks, over the socket (Zoom-or-Room, groups: "Have clear
ground rules e.g. whether cameras and mics are on or off, who can speak when"; "reactions
such as putting a hand up virtually"). The therapist mutes everyone else and says whether
they may unmute themselves; a young person or a parent raises and lowers their hand, and the
therapist sees the hands in the order they went up and can lower one; the therapist puts one
person in the spotlight, large and first on every page, and takes them out of it.

The server holds the rule (``live/floor.py``): a page that reports its microphone on while
the therapist holds it off is refused (``held_muted``) and told the rule again, and whoever
comes into the room, or back to it after a dropped connection, is told it (``tell``). Every
change goes to everyone in the room as one ``floor`` frame, made for each reader (whether
their own microphone is held off).

The session's log keeps that everyone was muted (and whether they could unmute), each change
of the rule, each hand raised and lowered (whose: a participant id and role) and each
spotlight on and off, never more."""

from __future__ import annotations

from typing import Literal

from server.edge.connection import Connection, Handlers
from server.exceptions import Forbidden, ProtocolError
from server.live.hub import about
from server.live.protocol import AllowUnmute, Hand, LowerHand, Mic, MuteAll, Spotlight
from server.live.replies import Done, Floor
from server.live.rooms import Participant, Role, Room

Cause = Literal["mute_all", "allow_unmute", "hand", "spotlight", "left"]
# whose microphone the therapist turns off, and who raises a hand (guests, later, too)
MEMBERS = (Role.YOUNG_PERSON, Role.PARENT)


def _in_room(conn: Connection) -> tuple[Room, Participant]:
    room, me = conn.in_room()
    if not me.in_room:
        raise ProtocolError("not_in_room", "You are not in the room yet.")
    return room, me


def _therapist(conn: Connection, what: str) -> tuple[Room, Participant]:
    room, me = _in_room(conn)
    if me.role is not Role.THERAPIST:
        raise Forbidden(f"Only the therapist can {what}.")
    return room, me


def told(room: Room, whom: Participant, cause: Cause | None = None) -> Floor:
    """The floor as ``whom`` is told it."""
    floor = room.floor
    return Floor(
        allow_unmute=floor.allow_unmute,
        muted=whom.id in floor.muted,
        hands=floor.raised(),
        spotlight=floor.spotlight,
        cause=cause,
    )


async def _everyone(conn: Connection, room: Room, cause: Cause) -> None:
    """Everyone in the room told the floor as it is now (the person whose frame this
    answers, in the answer)."""
    for person in room.present():
        if conn.me is not None and person.id == conn.me.id:
            await conn.reply(told(room, person, cause))
        else:
            await conn.hub.send(person, told(room, person, cause))


async def mute_all(conn: Connection, message: MuteAll) -> None:
    """Every young person's and parent's microphone off, with the rule for turning it on."""
    room, _ = _therapist(conn, "mute everyone")
    members = [p for p in room.present() if p.role in MEMBERS]
    room.floor.mute_all([p.id for p in members], message.allow_unmute)
    await conn.record(
        "floor.muted_all",
        {"people": len(members), "allow_unmute": "yes" if message.allow_unmute else "no"},
    )
    await _everyone(conn, room, "mute_all")


async def allow_unmute(conn: Connection, message: AllowUnmute) -> None:
    """Whether people may turn their microphones back on themselves."""
    room, _ = _therapist(conn, "change who may unmute")
    if room.floor.allow_unmute == message.allowed:
        await conn.reply(Done())
        return
    room.floor.allow(message.allowed)
    await conn.record("floor.allow_unmute", {"allowed": "yes" if message.allowed else "no"})
    await _everyone(conn, room, "allow_unmute")


async def mic(conn: Connection, message: Mic) -> None:
    """This page's microphone went on or off. On, against the rule: refused, and the page is
    told the floor again (its button stays off)."""
    room, me = _in_room(conn)
    try:
        room.floor.mic(me.id, message.on)
    except ProtocolError:
        await conn.hub.send(me, told(room, me))
        raise
    await conn.reply(Done())


async def hand(conn: Connection, message: Hand) -> None:
    """A young person or a parent raises or lowers their own hand: everyone is told."""
    room, me = _in_room(conn)
    if me.role not in MEMBERS:
        raise Forbidden("Only the young person or a parent raises a hand.")
    if not room.floor.hand(me.id, message.raised):
        await conn.reply(told(room, me))
        return
    await conn.record("floor.hand_raised" if message.raised else "floor.hand_lowered", about(me))
    await _everyone(conn, room, "hand")


async def lower_hand(conn: Connection, message: LowerHand) -> None:
    """The therapist lowers someone's hand."""
    room, _ = _therapist(conn, "lower someone's hand")
    person = room.get(message.participant)
    room.floor.lower(person.id)
    await conn.record("floor.hand_lowered", {**about(person), "by": "therapist"})
    await _everyone(conn, room, "hand")


async def spotlight(conn: Connection, message: Spotlight) -> None:
    """The therapist puts one person in the spotlight, or takes it away."""
    room, _ = _therapist(conn, "put someone in the spotlight")
    if message.participant is None:
        if room.floor.spotlight is None:
            raise ProtocolError("no_spotlight", "Nobody is in the spotlight.")
        room.floor.spotlight = None
        await conn.record("floor.spotlight_off", {"cause": "by therapist"})
    else:
        person = room.get(message.participant)
        if not person.in_room or person.role is Role.OBSERVER:
            raise ProtocolError("not_in_room", "Only someone in the room can be in the spotlight.")
        room.floor.spotlight = person.id
        await conn.record("floor.spotlight_on", about(person))
    await _everyone(conn, room, "spotlight")


async def gone(conn: Connection, room: Room, person: Participant) -> None:
    """``person`` left the room (or was sent back to the waiting room): their hand comes
    down, a spotlight on them goes, and everyone still there is told."""
    was_spotlit = room.floor.spotlight == person.id
    if not room.floor.gone(person.id):
        return
    if was_spotlit:
        await conn.record("floor.spotlight_off", {"cause": "left"}, room=room)
    for other in room.present():
        if other.id != person.id:
            await conn.hub.send(other, told(room, other, "left"))


async def tell(conn: Connection, room: Room, whom: Participant) -> None:
    """Someone let into the room, or back in it: the floor as it is, their microphone held
    off when the rule says so."""
    if whom.role in MEMBERS:
        room.floor.arrives(whom.id)
    floor = room.floor
    if floor.allow_unmute and not floor.hands and floor.spotlight is None and not floor.muted:
        return  # nothing to say: the page's own defaults
    await conn.hub.send(whom, told(room, whom))


HANDLERS: Handlers = {
    MuteAll: mute_all,
    AllowUnmute: allow_unmute,
    Mic: mic,
    Hand: hand,
    LowerHand: lower_hand,
    Spotlight: spotlight,
}
