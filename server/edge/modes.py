"""Staying together on a poor connection: each page watches its connections and steps down
by itself (lower video, then a calm suggestion of sound only; ``web/static/js/poorlink.js``),
or its person chooses less data or sound only. The page says what it now sends
(``media_mode``); the others' pages are told, so that each side shows a short, calm line
saying what changed ("Video paused to keep the sound clear"), and anyone let in or back
later is told too.

The session's log keeps when someone went to sound only and when their video came back
(who, and whether the connection or they decided), not each step in between: the quality
of each link is summed up at the end (``live/quality.py``)."""

from __future__ import annotations

from server.edge.connection import Connection, Handlers
from server.exceptions import Forbidden, ProtocolError
from server.live.hub import about
from server.live.protocol import MediaMode
from server.live.replies import MediaModeTold
from server.live.rooms import Participant, Role, Room


async def media_mode(conn: Connection, message: MediaMode) -> None:
    """What this person's page sends now: the others are told, once a change."""
    room, me = conn.in_room()
    if not me.in_room:
        raise ProtocolError("not_in_room", "You are not in the room yet.")
    if me.role is Role.OBSERVER:
        raise Forbidden("An observer sends nothing into the room.")
    now = (message.mode, message.why)
    if now == me.media_mode:
        return
    was = me.media_mode[0]
    me.media_mode = now
    if message.mode == "audio" or was == "audio":
        kind = "media.sound_only" if message.mode == "audio" else "media.video_back"
        await conn.record(kind, {**about(me), "why": message.why})
    told = MediaModeTold(participant=me.id, mode=message.mode, why=message.why)
    await conn.hub.send_many(room.peers_of(me), told)


async def tell(conn: Connection, room: Room, whom: Participant) -> None:
    """Someone let into the room, or back in it: whoever sends less than everything now."""
    for person in room.present():
        mode, why = person.media_mode
        if person.id != whom.id and mode != "full":
            await conn.hub.send(
                whom,
                MediaModeTold(participant=person.id, mode=mode, why=why),
            )


HANDLERS: Handlers = {MediaMode: media_mode}
