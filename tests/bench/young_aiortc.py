"""The young person of ``bench_reconnect_aiortc.py``: an aiortc participant in a process of
its own, started inside a network namespace (``tests/netns.py``), so that cutting the
namespace's cable cuts all of its network: the signalling socket, the data connection to the
server and the media to the therapist.

It behaves as the young person's page does, on its own, with nobody telling it when the
network went or came back:

- it joins with the link's token given as its second argument, at the WebSocket URL given
  as its first, and waits to be admitted;
- it pings the server over the socket every second (``ping``, as the page does); once a
  ping has gone 1.5 s unanswered it asks the server's ``/healthz`` every 100 ms (each ask
  given up after 400 ms), each time on a fresh connection (``signal.js``: the old socket's
  packets wait on TCP's growing retransmission gaps, a new connection does not), and the
  first answer shows the network is back; the socket may also end first, when the server's
  close reaches it;
- then it connects again at once, resumes with the newest resume token (which takes its
  place over from the old socket, if the server still holds it), opens a fresh data
  connection to the server for the board and, as aiortc cannot restart ICE, fresh media
  connections to everyone present.

It reports what happens as JSON lines on standard output, each with ``at`` on the clock all
processes share (``time.monotonic``): ``joined`` (with its ``id``), ``ready`` (media flowing
both ways, board open), and for each reconnect ``lost``, ``resumed``, ``old_connection``
(``back``: when the therapist's video came back on the old media connection, which the
network's return revives until the fresh one replaces it, or null), ``board`` (the board's
snapshot arrived, with its ``seq``), ``media`` (the first frame of the therapist's video on
the fresh connection) and ``flowing``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any

import aiohttp

from tests.bench.timedpeer import TimedPeer
from tests.factories import join_message

HEARTBEAT = 4.0  # aiohttp pings every 4 s and gives up 2 s after an unanswered ping
RETRY = 0.1  # after a try to connect that failed
PING = 1.0  # as the page (``signal.js``): a ping a second,
QUIET = 1.5  # a ping unanswered this long starts the probing,
PROBE = 0.1  # a probe of the network this often,
PROBE_WAIT = 0.4  # each given up after this long


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


async def network_back(peer: TimedPeer, url: str) -> None:
    """Returns once the socket has ended, or has gone quiet while the network is back."""
    health = url.replace("ws://", "http://", 1).replace("/ws", "/healthz", 1)
    n = 0
    while not peer.ws.closed:
        n += 1
        sent = time.monotonic()
        await peer.send({"type": "ping", "n": n})
        try:
            await peer.expect("pong", within=QUIET, n=n)
        except TimeoutError:
            break  # quiet: a cut, or the server gone
        await asyncio.sleep(max(0.0, sent + PING - time.monotonic()))
    # a fresh connection each time, never one kept from before the cut; each dropped after
    # PROBE_WAIT (one begun while the network was down waits on its own retransmission), a
    # new one begun every PROBE, so one begun just after the network returned gets through
    answered = asyncio.Event()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as probe:

        async def ask() -> None:
            try:
                async with asyncio.timeout(PROBE_WAIT), probe.get(health) as answer:
                    if answer.status == 200:
                        answered.set()
            except (aiohttp.ClientError, TimeoutError, OSError):
                pass

        asking: set[asyncio.Task[None]] = set()
        while not peer.ws.closed and not answered.is_set():
            task = asyncio.create_task(ask())
            asking.add(task)
            task.add_done_callback(asking.discard)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PROBE):
                    await answered.wait()
        for task in list(asking):
            task.cancel()


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
            await network_back(peer, url)
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
