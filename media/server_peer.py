"""The server's end of each participant's data connection (aiortc): channels ``board``,
``objects`` and ``control``. The browser offers; the server answers. The peer only carries
messages; what they mean is decided by the callbacks it is given.

The connection is ready once all three channels are open, and says so once: a browser
announces its channels together (one packet can hold all three), so aiortc may open them
all before any callback runs, and a check made in each callback would find all three open
three times.

aiortc (with PyAV and dnspython under it, a quarter of a second to import) is imported by
the first peer, not as the server starts: after a restart, the pages' sockets resume before
the first data connection holds up the event loop while it is imported. (Not in a thread
meanwhile: a submodule imported on the loop while a thread imports its package can fail.)"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from media.pacing import channel_drained
from server.exceptions import ProtocolError

if TYPE_CHECKING:
    from aiortc import RTCDataChannel

log = logging.getLogger(__name__)
CHANNELS = ("board", "objects", "control")
OnMessage = Callable[[str, str | bytes], Awaitable[None]]
OnReady = Callable[[], Awaitable[None]]
OnGone = Callable[["ServerPeer"], Awaitable[None]]


class ServerPeer:
    """One participant's RTCPeerConnection to the server."""

    def __init__(
        self, owner: str, on_message: OnMessage, on_ready: OnReady, on_gone: OnGone
    ) -> None:
        from aiortc import RTCConfiguration, RTCPeerConnection

        self.owner = owner
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channels: dict[str, RTCDataChannel] = {}
        self._on_message, self._on_ready, self._on_gone = on_message, on_ready, on_gone
        self.ready = False  # all three channels have been open: ``on_ready`` was called
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing: asyncio.Future[None] | None = None
        self.pc.on("datachannel", self._channel)
        self.pc.on("connectionstatechange", self._state)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _channel(self, channel: RTCDataChannel) -> None:
        if channel.label not in CHANNELS:
            channel.close()  # only the three known channels are carried
            return
        self.channels[channel.label] = channel

        @channel.on("message")
        def on_message(message: str | bytes) -> None:
            self._spawn(self._on_message(channel.label, message))

        if channel.readyState == "open":
            self._opened()
        else:
            channel.on("open", self._opened)

    def _opened(self) -> None:
        """A channel opened: once all are, the connection is ready, once. Decided here, as
        each opens, not in the task it starts, which runs after the others may have opened."""
        if self.ready or not all(self.is_open(label) for label in CHANNELS):
            return
        self.ready = True
        self._spawn(self._on_ready())

    async def _state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            await self.close()

    async def answer(self, offer: str) -> str:
        """Take the browser's offer; returns the answer (with every candidate in it). A
        connection closed meanwhile (its socket gone, or the server stopping) answers
        ``peer_closed``: the page offers again on its next socket."""
        from aiortc import RTCSessionDescription
        from aiortc.exceptions import InvalidStateError

        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except InvalidStateError as exc:
            raise ProtocolError(
                "peer_closed", "That data connection was closed meanwhile."
            ) from exc
        return str(self.pc.localDescription.sdp)

    async def add_candidate(self, candidate: str, sdp_mid: str | None, index: int | None) -> None:
        from aiortc.sdp import candidate_from_sdp

        if not candidate:
            return
        try:
            parsed = candidate_from_sdp(candidate.removeprefix("candidate:"))
        except (ValueError, IndexError, AssertionError) as exc:  # aioice asserts its fields
            raise ProtocolError("bad_candidate", "That ICE candidate could not be read.") from exc
        parsed.sdpMid, parsed.sdpMLineIndex = sdp_mid, index
        if self._closing is None:  # a candidate for a connection closed meanwhile: none
            await self.pc.addIceCandidate(parsed)

    def is_open(self, label: str) -> bool:
        channel = self.channels.get(label)
        return channel is not None and channel.readyState == "open"

    def send(self, label: str, data: str | bytes) -> bool:
        channel = self.channels.get(label)
        if channel is None or channel.readyState != "open":
            return False
        channel.send(data)
        return True

    async def drained(self, label: str, low: int) -> None:
        """Once at most ``low`` bytes wait to go on ``label`` (at once if it is not open)."""
        channel = self.channels.get(label)
        if channel is not None:
            await channel_drained(channel, low)

    async def close(self) -> None:
        """Close once; whoever else asks meanwhile waits for that same close to finish (so
        that "every peer is closed" holds when any caller returns)."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        await self.pc.close()
        await self._on_gone(self)
