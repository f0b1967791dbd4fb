"""Reconnect time with aiortc peers (``media.client.ProtocolPeer``, sending synthetic audio and
320x240 video, paced by aiortc at 30 frames a second) through a test-controlled TCP proxy
(``tests/netcut.py``) in front of a real server process. The therapist connects straight to
the server; the young person's signalling WebSocket goes through the proxy, which is cut for
3 s (silent: bytes are dropped, nothing is closed by the proxy itself), then forwards again.
The proxy carries only that TCP socket: the media between the two aiortc peers, and the
young person's data connection to the server (board, control), are UDP over loopback and
are not cut. So the server learns of the cut only through the WebSocket heartbeat (here
``PLAYROOM_HEARTBEAT_SECONDS=1``, a drop noticed within 1.5 s, as in ``bench_reconnect.py``:
with the default 3 s a 3 s cut is often not noticed at all); it then closes the young
person's data connection (``Continuity.dropped``) while their media to the therapist keeps
flowing. When the network is back the young person reconnects at once (a page waits for its
backoff first; here that wait is zero) and resumes with the resume token; on ``resumed``
the client, which cannot restart ICE (aiortc has no ICE restart), closes its media
connection to the therapist and offers a fresh one, and opens a fresh data connection to the
server, as the page's ``whiteboard.open()`` does. While the line is cut the therapist draws a
stroke, so the board the young person gets back holds what they missed. Measured, median of
5 rounds (with p90, min and max):

- detection: from the cut to the therapist being told the young person is ``interrupted``;
- media back: from the network coming back to the therapist's first decoded video frame of
  the young person on the fresh connection (and the same on the young person's side); since
  the media was never cut, this is the time the client's own recovery takes, and the media
  gap is the hole it leaves: from the last frame on the old connection to the first on the
  fresh one, as the therapist sees it;
- resumed: from the network coming back to the therapist being told the young person is
  ``reconnected`` (back in the room);
- board restored: from the network coming back to the young person holding the board's
  snapshot with its seq equal to the server's (the therapist's replica, which saw every
  change)."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import aiortc
from aiortc import MediaStreamTrack

from media.client import ProtocolPeer
from tests.bench.report import summary, write
from tests.bench.server import bench_server
from tests.conftest import PASSWORD
from tests.factories import join_message
from tests.live import LiveStaff, ready_session
from tests.netcut import CuttableProxy
from tests.scenes import stroke

ROUNDS = 5
CUT = 3.0
HEARTBEAT = "1"
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

    async def flowing(self, peer_id: str, since: float, frames: int = SETTLE_FRAMES) -> None:
        await self.wait_for(
            lambda: any(len(a.frames) >= frames for a in self.video_from(peer_id, since)), 30
        )


async def _round(
    n: int,
    therapist: TimedPeer,
    young: TimedPeer,
    yid: str,
    proxy: CuttableProxy,
    outsider: aiohttp.ClientSession,
    url: str,
) -> tuple[TimedPeer, dict[str, float]]:
    tid = therapist.me["id"]  # type: ignore[index]
    cut_at = time.monotonic()
    proxy.cut = True
    ops = stroke(f"cut-{n}", 100 + 40 * n)  # drawn while the young person is cut off
    target = therapist.board.seq + len(ops)
    for op in ops:
        therapist.draw(op)
    told = await therapist.expect("peer_state", participant=yid, state="interrupted", within=15)
    await therapist.wait_for(lambda: therapist.board.seq >= target)
    await asyncio.sleep(max(0.0, cut_at + CUT - time.monotonic()))
    back_at = time.monotonic()
    proxy.cut = False
    old_video = therapist.video_from(yid)[-1]
    during_cut = sum(cut_at <= t <= back_at for t in old_video.frames)

    # the network is back: a new socket through the proxy, and the resume token
    fresh = TimedPeer(await outsider.ws_connect(url))
    await fresh.send({"type": "resume", "token": young.resume_token})
    await fresh.expect("resumed")
    await young.close()  # what was left of the old connection (its socket is already gone)

    async def restored() -> float:
        """When the young person's board holds everything (timed on its own, beside media)."""
        await fresh.open_board()
        await fresh.wait_for(lambda: fresh.board.seq >= target, within=10)
        return time.monotonic()

    board = asyncio.create_task(restored())
    back = await therapist.expect("peer_state", participant=yid, state="reconnected")
    media = await therapist.first_frame(yid, back_at)
    media_young = await fresh.first_frame(tid, back_at)
    board_at = await board
    assert fresh.board.seq == therapist.board.seq
    fresh.start_heartbeat()
    last_old = max((t for t in old_video.frames), default=back_at)
    await asyncio.gather(therapist.flowing(yid, back_at), fresh.flowing(tid, back_at))
    figures = {
        "detect": (told["_at"] - cut_at) * 1000,
        "media": (media - back_at) * 1000,
        "media_young": (media_young - back_at) * 1000,
        "gap": (media - last_old) * 1000,
        "resumed": (back["_at"] - back_at) * 1000,
        "board": (board_at - back_at) * 1000,
        "frames_during_cut": float(during_cut),
    }
    return fresh, figures


async def main(rounds: int = ROUNDS) -> dict[str, Any]:
    server = bench_server(PLAYROOM_HEARTBEAT_SECONDS=HEARTBEAT)
    staff = LiveStaff(server.url, "bench", PASSWORD)
    outsider = aiohttp.ClientSession()
    proxy = CuttableProxy(server.port)
    await proxy.start()
    url = f"ws://127.0.0.1:{proxy.port}/ws"
    results: dict[str, list[float]] = {}
    peers: list[TimedPeer] = []
    try:
        await staff.sign_in()
        session, links = await ready_session(staff, name="Bench")
        therapist = TimedPeer(await staff.ws())
        peers.append(therapist)
        await therapist.send({"type": "open_room", "session": session})
        await therapist.expect("room_opened")
        young = TimedPeer(await outsider.ws_connect(url))
        peers.append(young)
        await young.send(join_message(links["young_person"]))
        yid = (await young.expect("joined"))["you"]["id"]
        await therapist.send({"type": "admit", "participant": yid})
        await young.expect("admitted")
        await asyncio.gather(therapist.open_board(), young.open_board())
        therapist.start_heartbeat()
        young.start_heartbeat()
        tid = therapist.me["id"]  # type: ignore[index]
        await asyncio.gather(therapist.flowing(yid, 0), young.flowing(tid, 0))
        for n in range(rounds):
            young, figures = await _round(n, therapist, young, yid, proxy, outsider, url)
            peers.append(young)
            for key, value in figures.items():
                results.setdefault(key, []).append(value)
            print(
                f"round {n + 1}: detected {figures['detect']:.0f} ms; after the network came "
                f"back: resumed {figures['resumed']:.0f} ms, media {figures['media']:.0f} ms "
                f"(gap {figures['gap']:.0f} ms), board {figures['board']:.0f} ms",
                flush=True,
            )
        spurious = [m for m in therapist.inbox if m["type"] == "peer_state"]
    finally:
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        await proxy.close()
        await staff.close()
        await outsider.close()
        server.stop()
    figures_out: dict[str, Any] = {
        "cut_to_detected_ms": summary(results["detect"]),
        "back_to_media_ms": summary(results["media"]),
        "back_to_media_young_side_ms": summary(results["media_young"]),
        "media_gap_ms": summary(results["gap"]),
        "back_to_resumed_ms": summary(results["resumed"]),
        "back_to_board_restored_ms": summary(results["board"]),
        "therapist_frames_during_cut": summary(results["frames_during_cut"]),
        "other_peer_states": [{k: m.get(k) for k in ("participant", "state")} for m in spurious],
    }
    path = write(
        "reconnect_time_aiortc",
        figures_out,
        {"aiortc": aiortc.__version__, "cut_s": f"{CUT:g}", "heartbeat_s": HEARTBEAT},
    )
    print(f"wrote {path}")
    for name, s in figures_out.items():
        if isinstance(s, dict):
            print(
                f"{name}: median {s['median']:.0f}, p90 {s['p90']:.0f}, "
                f"min {s['min']:.0f}, max {s['max']:.0f} (n={s['n']})"
            )
    if spurious:
        print(f"the therapist was also told: {figures_out['other_peer_states']}")
    return figures_out


if __name__ == "__main__":
    started = time.monotonic()
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS))
    print(f"took {time.monotonic() - started:.0f} s")
