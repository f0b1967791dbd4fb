"""Screen sharing (a story, a video, a game): the therapist shares a tab, a window or a
screen; a young person or a parent shares only while the therapist allows it; an observer
never. A share is announced (``share_start``) before its media is added, and everyone in the
room is told (``share_started``); a page shows no other stream as a share. The therapist can
stop anyone's share, and a share ends when its sharer leaves, drops or goes back to the
waiting room: everyone is told (``share_stopped``), and the sharer's page stops it.

"Refused" means, concretely: the sharer is answered an error frame, the others are told no
share of theirs is on (``share_stopped``, reason ``refused``), and a description carrying a
stream nobody announced is not relayed (``lobby.signal`` asks ``check_description``).

The session's log keeps that a share started and ended (whose, and why it ended) and whom
the therapist let share, never what was shown. Sharing lives with its room in this process."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.edge.connection import Connection, Handlers
from server.exceptions import ProtocolError
from server.live.hub import about
from server.live.protocol import ShareAllow, ShareStart, ShareStop
from server.live.replies import ShareAllowed, ShareEnd, ShareStarted, ShareStopped
from server.live.rooms import Participant, Role, Room
from server.live.sdp import sending_streams
from server.live.sharing import Share, Sharing

if TYPE_CHECKING:
    from aiortc.sdp import SessionDescription  # aiortc: imported once the server answers


def sharing(room: Room) -> Sharing:
    """The room's sharing, made on first use."""
    if room.sharing is None:
        room.sharing = Sharing()
    return room.sharing


def _in_room(conn: Connection) -> tuple[Room, Participant]:
    room, me = conn.in_room()
    if not me.in_room:
        raise ProtocolError("not_in_room", "You are not in the room yet.")
    return room, me


async def start(conn: Connection, message: ShareStart) -> None:
    """Someone announces a share: everyone is told before its media comes."""
    room, me = _in_room(conn)
    try:
        replaced = sharing(room).start(me, message.stream)
    except ProtocolError:
        await _refused(conn, room, me)
        raise
    if replaced is not None and replaced.participant != me.id:
        await _ended(conn, room, replaced, "replaced")
    await conn.record("share.started", about(me))
    started = ShareStarted(participant=me.id, stream=message.stream)
    await conn.hub.send_many(room.peers_of(me), started)
    await conn.reply(started)  # the sharer's page adds the stream now


async def stop(conn: Connection, message: ShareStop) -> None:
    """The sharer stops their share (their button, or the browser's own "Stop sharing"), or
    the therapist stops anyone's."""
    room, me = _in_room(conn)
    share = sharing(room).stop(me, message.participant)
    reason: ShareEnd = "stopped" if share.participant == me.id else "by_therapist"
    await _ended(conn, room, share, reason)


async def allow(conn: Connection, message: ShareAllow) -> None:
    """The therapist lets someone share, or stops letting them."""
    room, me = _in_room(conn)
    person = room.get(message.participant)
    ended = sharing(room).allow(me, person, message.allowed)
    await conn.record(
        "share.allowed", {**about(person), "allowed": "yes" if message.allowed else "no"}
    )
    told = ShareAllowed(participant=person.id, allowed=message.allowed)
    await conn.hub.send(person, told)
    await conn.reply(told)
    if ended is not None:
        await _ended(conn, room, ended, "not_allowed")


async def gone(conn: Connection, room: Room, person: Participant) -> None:
    """``person`` is no longer in the room (left, dropped, removed, or back in the waiting
    room): a share of theirs ends, and everyone is told."""
    share = sharing(room).gone(person)
    if share is not None:
        await _ended(conn, room, share, "left")


async def tell(conn: Connection, room: Room, whom: Participant) -> None:
    """Someone let into the room, or back in it: the share on, if any, and who may share
    (to the therapist, everyone let; to anyone else, whether they are)."""
    now = sharing(room)
    if now.on is not None and now.on.participant != whom.id:
        await conn.hub.send(
            whom, ShareStarted(participant=now.on.participant, stream=now.on.stream)
        )
    let = now.allowed if whom.role is Role.THERAPIST else now.allowed & {whom.id}
    for pid in sorted(let):
        await conn.hub.send(whom, ShareAllowed(participant=pid, allowed=True))


async def check_description(
    conn: Connection, room: Room, me: Participant, parsed: SessionDescription
) -> None:
    """Refuse a description of ``me``'s that carries a stream besides their camera and
    microphone and the share they announced: an unannounced share is never relayed."""
    if not sharing(room).unannounced(me, sending_streams(parsed)):
        return
    await _refused(conn, room, me)
    raise ProtocolError(
        "unannounced_share",
        "A shared screen is announced first (the Share screen button), so that everyone "
        "is told before it is shown.",
    )


async def _refused(conn: Connection, room: Room, me: Participant) -> None:
    """A share of ``me``'s refused: the others are told none of theirs is on."""
    on = sharing(room).on
    if on is not None and on.participant == me.id:
        return  # their share that is on goes on; only this attempt was refused
    refused = ShareStopped(participant=me.id, reason="refused")
    await conn.hub.send_many(room.peers_of(me), refused)


async def _ended(conn: Connection, room: Room, share: Share, reason: ShareEnd) -> None:
    """A share is over: everyone in the room is told, the sharer too (their page stops it)."""
    sharer = room.participants.get(share.participant)
    details = about(sharer) if sharer is not None else {"participant": share.participant}
    await conn.record("share.stopped", {**details, "cause": reason.replace("_", " ")}, room=room)
    ended = ShareStopped(participant=share.participant, reason=reason)
    told = [p for p in room.present() if p.id != share.participant]
    if sharer is not None:
        told.append(sharer)
    await conn.hub.send_many(told, ended)


HANDLERS: Handlers = {ShareStart: start, ShareStop: stop, ShareAllow: allow}
