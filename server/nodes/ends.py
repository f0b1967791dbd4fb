"""A socket relayed between nodes has two ends: ``RemoteSocket`` on the room's home, which the
hub sends to as to any socket, and ``EdgeLink`` on the node holding the browser's socket,
which writes what the home sends to the browser in order (``relay.py`` joins them)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, web

from server.live.protocol import MAX_BACKLOG_BYTES
from server.nodes.bus import LocalBus
from server.nodes.envelopes import Close, Send

log = logging.getLogger(__name__)
MOVED = 1012  # "service restart": the page resumes at once, and finds the room's new home


class RemoteSocket:
    """The home's end of a socket held by another node (the ``Socket`` the hub sends to)."""

    def __init__(self, bus: LocalBus, conn: str, edge: str) -> None:
        self.bus, self.conn, self.edge = bus, conn, edge
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def send_str(self, data: str) -> None:
        if self._closed:
            raise ConnectionResetError("socket closed")
        bus = self.bus
        if not await bus.send(self.edge, Send(conn=self.conn, d=data, sender=bus.node_id)):
            self.gone()  # the page resumes: its edge is asked to close it, if it is there
            await bus.send(self.edge, Close(conn=self.conn, code=MOVED, reason="the room moved"))

    async def close(self, *, code: int = WSCloseCode.OK, message: bytes = b"") -> bool:
        if self._closed:
            return False
        self.gone()
        await self.bus.send(self.edge, Close(conn=self.conn, code=code, reason=message.decode()))
        return True

    def gone(self) -> None:
        """No more frames: the connection's loop ends, and runs what a drop runs."""
        if not self._closed:
            self._closed = True
            self.queue.put_nowait(None)


@dataclass
class EdgeLink:
    """A browser's socket on this node, whose room is at home on ``home``. What the home
    sends waits in ``outbox`` for this socket alone: a slow browser holds up nobody else."""

    conn: str
    home: str
    ws: web.WebSocketResponse
    room_id: str
    outbox: asyncio.Queue[str | tuple[int, str]] = field(default_factory=asyncio.Queue)
    queued: int = 0  # characters waiting in outbox

    def push(self, data: str) -> bool:
        """Queue a frame for the browser; False, queuing nothing, past the backlog bound."""
        if self.queued + len(data) > MAX_BACKLOG_BYTES:
            return False
        self.queued += len(data)
        self.outbox.put_nowait(data)
        return True

    def shut(self, code: int, reason: str) -> None:
        """Close the browser's socket now: what still waits for it is dropped."""
        while not self.outbox.empty():
            self.outbox.get_nowait()
        self.queued = 0
        self.outbox.put_nowait((code, reason))

    async def write(self) -> None:
        """Until the home closes it: frames to the browser, in order."""
        while True:
            item = await self.outbox.get()
            if isinstance(item, tuple):
                await self.ws.close(code=item[0], message=item[1].encode())
                return
            self.queued -= len(item)
            if self.ws.closed:
                continue
            try:
                await self.ws.send_str(item)
            except (ConnectionError, RuntimeError):
                log.info("send to a closing socket dropped", extra={"event": "send_dropped"})
