"""The young person of ``bench_reconnect_aiortc.py``: an aiortc participant in a process of
its own, started inside a network namespace (``tests/netns.py``), so that cutting the
namespace's cable cuts all of its network: the signalling socket, the data connection to the
server and the media to the therapist.

It behaves as the young person's page does, on its own, with nobody telling it when the
network went or came back:

- it joins with the link's token given as its second argument, at the WebSocket URL given
  as its first, and waits to be admitted;
- it pings the server over the socket (aiohttp's heartbeat, every 4 s) and gives the socket
  up after 6 s without an answer, as the page does; the socket also ends when the server
  closes it (after its own heartbeat went unanswered) and that reaches it;
- then it connects again at once (a page waits for its backoff; here that wait is zero,
  and a try that fails waits 250 ms), resumes with the newest resume token, opens a fresh
  data connection to the server for the board and, as aiortc cannot restart ICE, fresh
  media connections to everyone present.

It reports what happens as JSON lines on standard output, each with ``at`` on the clock all
processes share (``time.monotonic``): ``joined`` (with its ``id``), ``ready`` (media flowing
both ways, board open), and for each reconnect ``lost``, ``resumed``, ``old_connection``
(``back``: when the therapist's video came back on the old media connection, which the
network's return revives until the fresh one replaces it, or null), ``board`` (the board's
snapshot arrived, with its ``seq``), ``media`` (the first frame of the therapist's video on
the fresh connection) and ``flowing``."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp

from tests.bench.timedpeer import TimedPeer
from tests.factories import join_message

HEARTBEAT = 4.0  # aiohttp pings every 4 s and gives up 2 s after an unanswered ping
RETRY = 0.25  # after a try to connect that failed


def report(event: str, at: float | None = None, **fields: Any) -> None:
    line = {"event": event, "at": time.monotonic() if at is None else at, **fields}
    print(json.dumps(line), flush=True)


async def connect(session: aiohttp.ClientSession, url: str) -> TimedPeer:
    """A new socket, tried until the network lets one through."""
    while True:
        try:
            async with asyncio.timeout(2):
                return TimedPeer(await session.ws_connect(url, heartbeat=HEARTBEAT))
        except (aiohttp.ClientError, TimeoutError, OSError):
            await asyncio.sleep(RETRY)


def came_back(peer: TimedPeer, therapist: str) -> float | None:
    """When the therapist's video came back on the old connection after the cut (the first
    frame after a second without one), if it did before that connection was closed."""
    frames = sorted(t for a in peer.video_from(therapist) for t in a.frames)
    after_gap = [t for before, t in zip(frames, frames[1:], strict=False) if t - before > 1.0]
    return after_gap[-1] if after_gap else None


async def back(peer: TimedPeer, therapist: str, since: float) -> None:
    """Board and media again on a socket resumed at ``since`` (when the fresh media
    connection was offered: its track may arrive while the old connections are closing),
    reported as each comes."""

    async def board() -> None:
        await peer.open_board()
        report("board", seq=peer.board.seq)

    async def media() -> None:
        report("media", at=await peer.first_frame(therapist, since))

    await asyncio.gather(board(), media())
    peer.start_heartbeat()
    await peer.flowing(therapist, since)
    report("flowing")


async def main(url: str, token: str) -> None:
    async with aiohttp.ClientSession() as session:
        peer = await connect(session, url)
        await peer.send(join_message(token))
        joined = await peer.expect("joined")
        report("joined", id=joined["you"]["id"])
        admitted = await peer.expect("admitted", within=60)
        therapist = admitted["present"][0]["id"]
        await peer.open_board()
        peer.start_heartbeat()
        await peer.flowing(therapist, 0)
        report("ready")
        while True:
            await peer.ended()
            report("lost")
            fresh = await connect(session, url)
            await fresh.send({"type": "resume", "token": peer.resume_token})
            resumed = await fresh.expect("resumed")
            report("resumed", at=resumed["_at"])
            report("old_connection", back=came_back(peer, therapist))
            await peer.close()  # what is left of the old connections
            peer = fresh
            await back(peer, therapist, resumed["_at"])


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
