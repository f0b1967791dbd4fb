"""An aiortc participant for the reconnect benchmarks (``tests.client.ProtocolPeer``, sending
synthetic audio and 320x240 video) that notes when each message arrives and when each video
frame from each other person is decoded, on the one clock every process shares
(``time.monotonic``)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiortc import MediaStreamTrack

from tests.client import ProtocolPeer

SETTLE_FRAMES = 10  # frames each way on the fresh connections before the next round


@dataclass
class Arrival:
    """One remote track: when it arrived and when each of its frames was decoded."""

    peer: str
    kind: str
    seen: float
    frames: list[float] = field(default_factory=list)


class _Stamped(MediaStreamTrack):
    """A received track, noting the time of every decoded frame."""

    def __init__(self, track: MediaStreamTrack, arrival: Arrival) -> None:
        super().__init__()
        self.kind = track.kind
        self.track, self.arrival = track, arrival

    async def recv(self) -> Any:
        frame = await self.track.recv()
        self.arrival.frames.append(time.monotonic())
        return frame


class TimedPeer(ProtocolPeer):
    """A ProtocolPeer that notes when each message and each decoded frame arrives."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.arrivals: list[Arrival] = []
        self.resume_token = ""
        super().__init__(ws, media=True)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        message["_at"] = time.monotonic()
        if message.get("resume"):
            self.resume_token = message["resume"]  # the newest token, as the page keeps it
        await super()._dispatch(message)

    async def _consume(self, peer_id: str, track: MediaStreamTrack) -> None:
        arrival = Arrival(peer_id, track.kind, time.monotonic())
        self.arrivals.append(arrival)
        await super()._consume(peer_id, _Stamped(track, arrival))

    def video_from(self, peer_id: str, since: float = 0.0) -> list[Arrival]:
        return [
            a for a in self.arrivals if a.peer == peer_id and a.kind == "video" and a.seen >= since
        ]

    async def first_frame(self, peer_id: str, since: float, within: float = 30.0) -> float:
        """When the first video frame from ``peer_id`` on a track that came after ``since``
        was decoded."""

        def fresh() -> list[Arrival]:
            return [a for a in self.video_from(peer_id, since) if a.frames]

        await self.wait_for(lambda: bool(fresh()), within)
        return min(a.frames[0] for a in fresh())

    async def frame_after(self, peer_id: str, moment: float, within: float = 30.0) -> float:
        """When the first video frame from ``peer_id`` decoded at or after ``moment`` was,
        on whichever connection it came."""

        def after() -> list[float]:
            return [t for a in self.video_from(peer_id) for t in a.frames if t >= moment]

        await self.wait_for(lambda: bool(after()), within)
        return min(after())

    async def ended(self) -> None:
        """Returns when the signalling socket has closed (from either end, or by its own
        heartbeat going unanswered)."""
        await asyncio.shield(self._reader)

    async def flowing(self, peer_id: str, since: float, frames: int = SETTLE_FRAMES) -> None:
        await self.wait_for(
            lambda: any(len(a.frames) >= frames for a in self.video_from(peer_id, since)), 30
        )
