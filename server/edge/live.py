"""A hand moving on the board, through the server, for pages with no peer channel between them.

While a hand moves (a stroke being drawn, an item dragged, resized or turned), pages tell each
other over a ``live`` data channel on the peer connection that carries their media, and send
the board only the finished thing: a stroke at pen-up, an item's place at the drop. Where that
channel is not open, a page sends its updates here instead, in ``live`` frames naming the
people they are for. The server relays them to those of them who are in the room (never to an
observer, never to someone waiting), and never stores or logs them. Nor does it check them
against the board: the receiving pages do, as they do with what comes over a peer channel. It
checks their shape and bounds (``protocol.Live``) and who sends (``Connection.on_board``).

Each sender's updates are coalesced: at most ``FRAMES_PER_SECOND`` frames go out for them,
each carrying the newest of every moving thing (a move replaces the one waiting for the same
item; a stroke's points join those waiting, the newest ``MAX_POINTS_PER_OP`` kept), and at most
``MAX_LIVE_UPDATES`` things wait at once. So what a sender costs the room is bounded however
much they send, and ``live`` frames do not count against the socket's 50 messages a second
(``dispatch.py``), only against its 200 frames a second (``websocket.py``)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable

from media.ops import MAX_POINTS_PER_OP
from server.edge.connection import Connection, Handlers
from server.exceptions import ProtocolError
from server.live.protocol import MAX_LIVE_UPDATES, Live, LivePoints, LiveUpdate, dump_message
from server.live.replies import LiveRelayed
from server.live.rooms import Role

FRAMES_PER_SECOND = 20  # for one sender, to each person they go to
INTERVAL = 1 / FRAMES_PER_SECOND


class Outbox:
    """One sender's updates waiting to go through the server: the newest of each moving thing
    and the people they are for. No I/O and no clock of its own."""

    def __init__(self) -> None:
        self.waiting: dict[str, LiveUpdate] = {}  # item or stroke id -> its newest update
        self.to: set[str] = set()
        self.sent_at = -math.inf  # when the last frame went (the loop's clock)
        self.timer: asyncio.TimerHandle | None = None  # the next frame, when one is due

    def put(self, updates: Iterable[LiveUpdate], to: Iterable[str]) -> None:
        for update in updates:
            self._put(update)
        self.to.update(to)

    def _put(self, update: LiveUpdate) -> None:
        before = self.waiting.get(update.id)
        if isinstance(update, LivePoints) and isinstance(before, LivePoints):
            # a stroke grows: its points so far go too (a gap is drawn straight, and the
            # finished stroke from the board replaces it anyway)
            points = [*before.points, *update.points][-MAX_POINTS_PER_OP:]
            update = update.model_copy(update={"points": points})
        elif before is None and len(self.waiting) >= MAX_LIVE_UPDATES:
            return  # more things moving at once than hands move: this one is dropped
        self.waiting[update.id] = update

    def take(self) -> tuple[list[LiveUpdate], set[str]]:
        """What waits, and for whom; the outbox is empty after."""
        updates, to = list(self.waiting.values()), self.to
        self.waiting, self.to = {}, set()
        return updates, to


async def live(conn: Connection, message: Live) -> None:
    """Updates from a hand on the board: sent on at once if no frame went for this sender in
    the last ``INTERVAL``, else with the next frame, which is then due. Answered only when
    refused."""
    _room, me = conn.on_board()  # admitted into the room, and not an observer
    if not me.may_draw:  # a guest the therapist has not given the board
        raise ProtocolError("no_board", "The therapist has not given you the board.")
    if conn.live is None:
        conn.live = Outbox()
    outbox = conn.live
    outbox.put(message.messages, message.to)
    if outbox.timer is not None:
        return  # a frame is due: these go with it
    loop = asyncio.get_running_loop()
    wait = outbox.sent_at + INTERVAL - loop.time()
    if wait <= 0:
        await _send(conn, outbox)
    else:
        outbox.timer = loop.call_later(wait, lambda: conn.spawn(_send(conn, outbox)))


async def _send(conn: Connection, outbox: Outbox) -> None:
    """One frame with everything waiting, to those it is for who are in the room now."""
    outbox.timer = None
    outbox.sent_at = asyncio.get_running_loop().time()
    updates, to = outbox.take()
    room, me = conn.room, conn.me
    if room is None or me is None or not me.in_room or not updates:
        return  # sent to the waiting room, or gone, meanwhile
    people = [
        p
        for pid in to
        if (p := room.participants.get(pid)) is not None
        and p.id != me.id
        and p.in_room
        and p.role is not Role.OBSERVER
    ]
    if people:
        text = dump_message(LiveRelayed(sender=me.id, messages=updates))
        await asyncio.gather(*(conn.hub.send(p, text) for p in people))


HANDLERS: Handlers = {Live: live}
