"""Signalling across nodes: a browser's socket on one node (its edge) speaking for a room whose
home is another node. The edge forwards each frame to the home over the bus; the home runs
the connection's handlers as if the socket were its own (``RemoteSocket``) and its replies go
back the same way. Media and the data connection to the server go to the home directly.

Envelopes (``envelopes.py``), to a room's home: ``open`` (a socket arrives, with the staff
account it signed in as), ``frame`` (one message from the browser), ``closed`` (the browser's
socket closed), ``call`` (run ``summaries`` or ``end_room`` for a room here); to an edge:
``send``, ``close``, ``result``; to every node: ``watchers`` (an escalation for supervisors'
dashboards), ``therapist`` (a message for a room's therapist) and ``node_gone``. Each has one
handler here, chosen by the envelope's type in one table (``Relay.handlers``).

A dead node is found two ways: a message to it reaches nobody (and every node is told at
once), or its liveness key lapses (checked every second). An edge whose home is gone closes
the browser's socket with 1012 (service restart): the page resumes, and its room is taken
over by a live node, which rebuilds it from the database. A home whose edge is gone treats
its sockets as dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSCloseCode, web

from server.appkeys import HUB, SCHEDULE, SESSION_LOG, WHITEBOARDS
from server.exceptions import TokenError
from server.live.protocol import (
    TOO_SLOW,
    Incoming,
    Join,
    Observe,
    OpenRoom,
    Resume,
)
from server.live.quality import write_summaries
from server.live.replies import RoomEnded
from server.nodes.bus import LocalBus
from server.nodes.ends import MOVED, EdgeLink, RemoteSocket
from server.nodes.envelopes import (
    AnyEnvelope,
    Call,
    CallName,
    Close,
    Closed,
    Envelope,
    Frame,
    NodeGone,
    Open,
    Result,
    Send,
    Therapist,
    Watchers,
)

log = logging.getLogger(__name__)
CALL_TIMEOUT = 5.0
# runs a socket held by another node with this node's handlers (``edge/websocket.py``)
Serve = Callable[[web.Application, RemoteSocket, str | None], Awaitable[None]]


class Relay:
    """This node's half of every socket relayed between nodes, and cross-node calls."""

    def __init__(self, app: web.Application, bus: LocalBus, serve: Serve) -> None:
        self.app, self.bus, self.serve = app, bus, serve
        self.edges: dict[str, EdgeLink] = {}  # conn -> a socket here, its room elsewhere
        self.remotes: dict[str, RemoteSocket] = {}  # conn -> a socket elsewhere, its room here
        self.calls: dict[str, asyncio.Future[None]] = {}
        self._watch: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        # what each envelope does here: one plain method each, none waits on a connection
        self.handlers: dict[type[Envelope], Callable[[Any], None]] = {
            Open: self._on_open,
            Frame: self._on_frame,
            Closed: self._on_closed,
            Call: self._on_call,
            Send: self._on_send,
            Close: self._on_close,
            Result: self._on_result,
            Watchers: self._on_watchers,
            Therapist: self._on_therapist,
            NodeGone: self._on_node_gone,
        }
        bus.handler = self.on_envelope
        bus.on_lost = self.evict

    async def start(self) -> None:
        if self.bus.shared:
            self._watch = asyncio.create_task(self._watch_nodes())

    async def close(self) -> None:
        self._closing = True  # the watch ends at its next turn even if its cancel is lost
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        for task in list(self._tasks):
            task.cancel()

    # -- the edge: where the browser's socket is

    async def route(self, user_id: str | None, message: Incoming, ws: Any) -> EdgeLink | None:
        """Where a message that enters a room goes: None when the room's home is this node."""
        if not self.bus.shared or not isinstance(ws, web.WebSocketResponse):
            return None
        if isinstance(message, OpenRoom | Observe) and user_id is None:
            return None  # refused here: nobody claims a room for a stranger
        room_id = await self._room_of(message)
        if room_id is None:
            return None  # not a room (or a bad link): answered here
        for _ in range(2):
            claim = await self.bus.claim(room_id)
            if claim.home == self.bus.node_id:
                seen = claim.seen
                if seen is None and (
                    claim.taken_from is not None or (claim.fresh and isinstance(message, Resume))
                ):
                    # its node died before it ever renewed, or Redis has lost its keys (it
                    # runs without persistence) while the room may have been live a moment
                    # ago: count from now, not from when this node started
                    seen = time.time()
                await self._adopted(room_id, seen)
                return None
            link = EdgeLink(secrets.token_hex(12), claim.home, ws, room_id)
            self.edges[link.conn] = link  # before the open: what the home sends may be quick
            opening = Open(conn=link.conn, edge=self.bus.node_id, user=user_id)
            try:
                delivered = await self.bus.send(link.home, opening)
            except asyncio.CancelledError:
                self._spawn(self.edge_closed(link))  # the handler went: the home lets it go too
                raise
            if delivered:
                self._spawn(link.write())
                return link
            # its home is gone (and "node_gone" may have taken the link out already): the
            # next claim takes the room
            self.edges.pop(link.conn, None)
        return None

    async def _adopted(self, room_id: str, seen: float | None) -> None:
        hub = self.app[HUB]
        if room_id in hub.rooms.by_session:
            return
        self.app[WHITEBOARDS].forget(room_id)  # another node may have drawn on it since
        if seen is not None:
            hub.held_until[room_id] = seen

    async def _room_of(self, message: Incoming) -> str | None:
        match message:
            case OpenRoom() | Observe():
                return message.session
            case Join():
                try:
                    _, appointment = await self.app[SCHEDULE].by_join_token(message.token)
                except TokenError:
                    return None
                return appointment.id
            case Resume():
                hub = self.app[HUB]
                found = hub.find_resumable(message.token)
                if found is not None:
                    return found[0].session_id
                place = await hub.find_place(message.token)
                return place.appointment_id if place is not None else None
        return None

    async def forward(self, link: EdgeLink, data: str) -> bool:
        return await self.bus.send(
            link.home, Frame(conn=link.conn, d=data, sender=self.bus.node_id)
        )

    async def edge_closed(self, link: EdgeLink) -> None:
        """The browser's socket closed here: its home runs what a drop runs."""
        link.outbox.put_nowait((WSCloseCode.OK, ""))  # ends its writer
        if self.edges.pop(link.conn, None) is not None:
            await self.bus.send(link.home, Closed(conn=link.conn))

    def _moved(self, link: EdgeLink) -> None:
        """Close the browser's socket with 1012 (it resumes at the room's new home), and tell
        the old home, in case it is alive after all, that its socket is gone."""
        self.edges.pop(link.conn, None)
        log.info("room's home gone", extra={"event": "home_gone", "node": link.home})
        link.outbox.put_nowait((MOVED, "the room moved"))
        self._spawn(self.bus.send(link.home, Closed(conn=link.conn)))

    def _too_slow(self, link: EdgeLink) -> None:
        """The browser has not read what its room sent for so long that the backlog bound is
        reached: its socket is closed (it resumes, and gets the room afresh) and its home
        runs what a drop runs."""
        self.edges.pop(link.conn, None)
        log.info("socket too slow: closed", extra={"event": "edge_too_slow"})
        link.shut(TOO_SLOW, "too slow to keep up")
        self._spawn(self.bus.send(link.home, Closed(conn=link.conn)))

    # -- the home: where the room is

    def _on_open(self, envelope: Open) -> None:
        socket = RemoteSocket(self.bus, envelope.conn, envelope.edge)
        self.remotes[socket.conn] = socket  # now, before the frames that follow
        self._spawn(self._serve_remote(socket, envelope.user or None))

    def _on_frame(self, envelope: Frame) -> None:
        socket = self.remotes.get(envelope.conn)
        if socket is not None:
            socket.queue.put_nowait(envelope.d)
        else:  # a socket this home no longer serves: its page resumes, and finds the room
            close = Close(conn=envelope.conn, code=MOVED, reason="the room moved")
            self._spawn(self.bus.send(envelope.sender, close))

    def _on_closed(self, envelope: Closed) -> None:
        socket = self.remotes.get(envelope.conn)
        if socket is not None:
            socket.gone()

    async def _serve_remote(self, socket: RemoteSocket, user_id: str | None) -> None:
        try:
            await self.serve(self.app, socket, user_id)
        finally:
            self.remotes.pop(socket.conn, None)

    async def evict(self, room_id: str) -> None:
        """Another node holds this room now: everyone here goes to it (their pages resume)."""
        hub = self.app[HUB]
        room = hub.rooms.get(room_id)
        self.app[WHITEBOARDS].forget(room_id)
        if room is None:
            return
        room.moved = True
        hub.rooms.discard(room)
        for participant in list(room.participants.values()):
            await hub.forget(participant, release=False)
            await hub.disconnect(participant, code=MOVED, message=b"the room moved")

    # -- calls to a room's home

    async def at_home(self, room_id: str, name: CallName) -> None:
        """Run ``name`` (``summaries`` or ``end_room``) where the room lives."""
        home = await self.bus.home_of(room_id)
        if home is None or home == self.bus.node_id:
            await self._call(name, room_id)
            return
        call_id = secrets.token_hex(12)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.calls[call_id] = future
        envelope = Call(id=call_id, sender=self.bus.node_id, name=name, room=room_id)
        try:
            if await self.bus.send(home, envelope):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(future, CALL_TIMEOUT)
            else:
                await self._call(name, room_id)
        finally:
            self.calls.pop(call_id, None)

    async def _call(self, name: CallName, room_id: str) -> None:
        hub = self.app[HUB]
        if name == "summaries":
            room = hub.rooms.get(room_id)
            if room is not None:  # the quality of a live room's links, before the log is sealed
                await write_summaries(self.app[SESSION_LOG], room)
        elif name == "end_room":
            await hub.end_room(room_id, RoomEnded())

    def _on_call(self, envelope: Call) -> None:
        self._spawn(self._answer_call(envelope))

    async def _answer_call(self, envelope: Call) -> None:
        try:
            await self._call(envelope.name, envelope.room)
        finally:
            await self.bus.send(envelope.sender, Result(id=envelope.id))

    def _on_result(self, envelope: Result) -> None:
        future = self.calls.get(envelope.id)
        if future is not None and not future.done():
            future.set_result(None)

    # -- what edges and every node are told

    def _on_send(self, envelope: Send) -> None:
        link = self.edges.get(envelope.conn)
        if link is None:  # a socket this edge no longer holds: its home lets it go
            self._spawn(self.bus.send(envelope.sender, Closed(conn=envelope.conn)))
        elif not link.push(envelope.d):
            self._too_slow(link)

    def _on_close(self, envelope: Close) -> None:
        link = self.edges.pop(envelope.conn, None)
        if link is None:
            return
        if envelope.code == TOO_SLOW:  # what waits is what it could not keep up with
            link.shut(envelope.code, envelope.reason)
        else:  # after what waits (the room's last words)
            link.outbox.put_nowait((envelope.code, envelope.reason))

    def _on_watchers(self, envelope: Watchers) -> None:
        self._spawn(self.app[HUB].deliver_to_watchers(envelope.to, envelope.d))

    def _on_therapist(self, envelope: Therapist) -> None:
        self._spawn(self.app[HUB].deliver_to_therapist(envelope.room, envelope.d))

    def _on_node_gone(self, envelope: NodeGone) -> None:
        self._gone({envelope.node})

    async def on_envelope(self, envelope: AnyEnvelope) -> None:
        """From the bus. Never waits on a connection's work: that is queued, in order."""
        self.handlers[type(envelope)](envelope)

    def _spawn(self, work: Awaitable[object]) -> None:
        async def run() -> None:
            await work

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch_nodes(self) -> None:
        """Every second: edges whose home is gone, and homes whose edge is gone. Ends at the
        turn after closing: a cancel that reaches the Redis client as it times out a read can
        come out as a timeout error, which ``alive`` answers like any Redis failure."""
        while not self._closing:
            await asyncio.sleep(1.0)  # the watch interval itself
            nodes = {link.home for link in self.edges.values()}
            nodes |= {socket.edge for socket in self.remotes.values()}
            try:
                self._gone(nodes - await self.bus.alive(nodes))
            except Exception:  # the watch goes on
                log.exception("watch failed", extra={"event": "watch_failed"})

    def _gone(self, nodes: set[str]) -> None:
        """These nodes are dead: sockets relayed to them move, and theirs here drop."""
        for link in [link for link in self.edges.values() if link.home in nodes]:
            self._moved(link)
        for socket in [s for s in self.remotes.values() if s.edge in nodes]:
            socket.gone()


RELAY = web.AppKey("relay", Relay)  # here, not in appkeys.py, which this module imports
