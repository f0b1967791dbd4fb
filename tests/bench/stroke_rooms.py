"""The Playroom side of the stroke benchmark (``bench_strokes.py``), in client processes.

Each process runs some rooms on its own event loop: in each room the therapist draws and the
young person receives, both aiortc peers (``tests.client.ProtocolPeer``, no audio or video),
with the board on their data connections to the server or on their signalling sockets. Both
people of a room are in the same process; every process times on ``time.monotonic`` (the
event loop's clock), which is system-wide on Linux, so all share one clock with the
benchmark, which says when a phase starts. Commands come over a pipe."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Literal

import aiohttp
from yarl import URL

from tests.client import ProtocolPeer
from tests.factories import join_message

POINT_EVERY = 0.016  # as a hand draws: a point every 16 ms
SETUP_AT_ONCE = 2  # rooms entering at the same time in one process
DRAIN_SECONDS = 6.0  # how long the changes may take to arrive after the drawing stops
Transport = Literal["channel", "socket"]


@dataclass(frozen=True)
class Phase:
    """Rooms ``0..rooms-1`` (of the whole benchmark) draw for ``seconds`` from ``start_at``."""

    rooms: int
    start_at: float  # time.monotonic()
    seconds: float
    points: int  # per stroke
    tag: str  # stroke ids are unique on each board


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)  # ms, sender to the other person
    sent: int = 0
    received: int = 0
    errors: list[str] = field(default_factory=list)  # board error codes
    cpu_seconds: float = 0.0  # this process, over the drawing
    max_send_lag_ms: float = 0.0  # how late a point left against its 16 ms beat

    def add(self, other: Outcome) -> None:
        self.latencies += other.latencies
        self.sent += other.sent
        self.received += other.received
        self.errors += other.errors
        self.cpu_seconds = max(self.cpu_seconds, other.cpu_seconds)
        self.max_send_lag_ms = max(self.max_send_lag_ms, other.max_send_lag_ms)


Key = tuple[str, int]  # an operation of a drawing: (stroke id, point; -1 for the end)


def _op(tag: str, k: int, points: int) -> tuple[Key, dict[str, Any]]:
    """The ``k``-th operation of a drawing: strokes of ``points`` points, one after another."""
    i, s = k % (points + 1), k // (points + 1)
    sid = f"{tag}-{s}"
    if i == 0:
        return (sid, 0), {"op": "stroke_begin", "id": sid, "colour": "#204080", "width": 5,
                          "points": [[10, 10 + s % 1000, 0.5]]}  # fmt: skip
    if i < points:
        return (sid, i), {"op": "stroke_points", "id": sid,
                          "points": [[10 + i, 10 + s % 1000, 0.5]]}  # fmt: skip
    return (sid, -1), {"op": "stroke_end", "id": sid}


def _key(change: dict[str, Any]) -> Key | None:
    """Which operation a change of the board comes from (see ``_op``)."""
    if "set" in change:
        return str(change["set"]["id"]), 0
    if "points" in change:
        return str(change["points"]), int(change["add"][0][0]) - 10
    if "finished" in change:
        return str(change["finished"]), -1
    return None


async def draw(drawer: ProtocolPeer, receiver: ProtocolPeer, phase: Phase) -> Outcome:
    """One room's drawing: one operation on every beat, each timed to the other person by
    what it drew (not by its number: after an overload, changes of an earlier phase may
    still be arriving, and an operation the server lost would shift every number)."""
    loop = asyncio.get_running_loop()
    sent: dict[Key, float] = {}
    arrived: dict[Key, float] = {}

    def on_change(doc: dict[str, Any]) -> None:
        for change in doc["changes"]:
            key = _key(change)
            if key in sent and key not in arrived:
                arrived[key] = loop.time()

    receiver.on_change = on_change
    errors = len(drawer.board_errors)
    await asyncio.sleep(phase.start_at - loop.time() + random.random() * POINT_EVERY)
    first, stop = loop.time(), phase.start_at + phase.seconds
    lag = 0.0
    k = 0
    while loop.time() < stop or k % (phase.points + 1) != 0:  # the last stroke is finished
        key, op = _op(phase.tag, k, phase.points)
        now = loop.time()
        lag = max(lag, now - (first + k * POINT_EVERY))
        sent[key] = now
        drawer.draw(op)
        k += 1
        await asyncio.sleep(first + k * POINT_EVERY - loop.time())  # on the beat
    try:
        await receiver.wait_for(lambda: len(arrived) >= len(sent), within=DRAIN_SECONDS)
    except TimeoutError:
        pass  # counted: received < sent
    receiver.on_change = None
    refused = [m for m in drawer.inbox if m["type"] == "error"]  # the socket's own limit
    for message in refused:
        drawer.inbox.remove(message)
    return Outcome(
        latencies=[(arrived[key] - t) * 1000 for key, t in sent.items() if key in arrived],
        sent=len(sent),
        received=len(arrived),
        errors=[e["code"] for e in drawer.board_errors[errors:]] + [m["code"] for m in refused],
        max_send_lag_ms=lag * 1000,
    )


class Rooms:
    """This process's rooms: (index in the benchmark, session id, young person's token)."""

    def __init__(self, url: str, cookies: dict[str, str], rooms: list[tuple[int, str, str]]):
        self.url, self.rooms = url, rooms
        self.staff = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), connector=aiohttp.TCPConnector(limit=0)
        )
        self.staff.cookie_jar.update_cookies(cookies, URL(url))
        self.outsider = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self.people: dict[int, tuple[ProtocolPeer, ProtocolPeer]] = {}
        self.transport: Transport = "channel"

    async def enter(self) -> None:
        """Every room: the therapist opens it, the young person joins and is admitted, both
        open the board on their data connections."""
        gate = asyncio.Semaphore(SETUP_AT_ONCE)
        ws_url = f"{self.url.replace('http', 'ws', 1)}/ws"

        async def one(index: int, session: str, token: str) -> None:
            async with gate:
                therapist = ProtocolPeer(await self.staff.ws_connect(ws_url), media=False)
                await therapist.send({"type": "open_room", "session": session})
                await therapist.expect("room_opened", within=60)
                young = ProtocolPeer(await self.outsider.ws_connect(ws_url), media=False)
                await young.send(join_message(token))
                yid = (await young.expect("joined", within=60))["you"]["id"]
                await therapist.send({"type": "admit", "participant": yid})
                await young.expect("admitted", within=60)
                await asyncio.gather(therapist.open_board(), young.open_board())
                self.people[index] = (therapist, young)

        await asyncio.gather(*(one(*room) for room in self.rooms))

    async def switch(self, transport: Transport) -> None:
        """Move every board to the data connections or to the sockets."""
        if transport == self.transport:
            return
        gate = asyncio.Semaphore(SETUP_AT_ONCE)

        async def one(peer: ProtocolPeer) -> None:
            async with gate:
                peer.board_over = transport
                await peer.open_board()

        await asyncio.gather(*(one(p) for pair in self.people.values() for p in pair))
        self.transport = transport

    async def run(self, phase: Phase) -> Outcome:
        drawing = [pair for index, pair in self.people.items() if index < phase.rooms]
        outcome = Outcome()
        if not drawing:
            return outcome
        loop = asyncio.get_running_loop()
        await asyncio.sleep(phase.start_at - loop.time())
        cpu = time.process_time()
        rooms = asyncio.gather(*(draw(t, y, phase) for t, y in drawing))
        await asyncio.sleep(phase.start_at + phase.seconds - loop.time())
        outcome.cpu_seconds = time.process_time() - cpu
        for one in await rooms:
            one.cpu_seconds = 0.0
            outcome.add(one)
        return outcome

    async def close(self) -> None:
        peers = [p for pair in self.people.values() for p in pair]
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        await self.staff.close()
        await self.outsider.close()


def serve(conn: Connection, url: str, cookies: dict[str, str], rooms: list[Any]) -> None:
    """A client process: enter the rooms, say "ready", then run each command sent."""
    asyncio.run(_serve(conn, url, cookies, rooms))


async def _serve(conn: Connection, url: str, cookies: dict[str, str], rooms: list[Any]) -> None:
    loop = asyncio.get_running_loop()
    mine = Rooms(url, cookies, rooms)
    try:
        await mine.enter()
        conn.send("ready")
        while (command := await loop.run_in_executor(None, conn.recv)) is not None:
            if isinstance(command, Phase):
                conn.send(await mine.run(command))
            else:
                await mine.switch(command)
                conn.send("switched")
    finally:
        await mine.close()
