"""Signalling relay latency: one participant's message (an ICE candidate, as browsers trickle
them) reaching the other through the server, with 1, 50 and 200 rooms sending at once.
Side by side in the same run with the floor (a bare aiohttp relay, ``floor_relay.py``) and a
peer, the PeerJS signalling server (npm ``peer``, installed by this benchmark into
``tests/bench/.peers``). Every server runs in its own process; the clients share this one.

Each room sends 20 messages, one every 50 ms, rooms starting at random within the first
50 ms. Latency is from just before the send to the receiver's read, on one clock."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from tests.bench.peers import PEERS, npm_install
from tests.bench.report import summary, write
from tests.bench.server import bench_server
from tests.conftest import PASSWORD
from tests.helpers import ROOT, free_port
from tests.live import LiveStaff, ready_session

MESSAGES = 20
EVERY = 0.05
Pair = tuple[aiohttp.ClientWebSocketResponse, aiohttp.ClientWebSocketResponse, str]


def _candidate(seq: int) -> dict[str, object]:
    return {
        "candidate": f"candidate:{seq} 1 udp 2122260223 127.0.0.1 {40000 + seq % 20000} typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }


class Readers:
    """Every socket is read all the time, from the moment it is made: a socket nobody reads
    never answers the server's pings and is closed as dead. Frames go to ``handler``."""

    def __init__(self) -> None:
        self.handler: Callable[[str], None] | None = None
        self.tasks: list[asyncio.Task[None]] = []

    def watch(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async def read() -> None:
            async for frame in ws:
                if frame.type is aiohttp.WSMsgType.TEXT and self.handler is not None:
                    self.handler(frame.data)

        self.tasks.append(asyncio.create_task(read()))

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()


READERS = Readers()


async def _run(pairs: list[Pair], wrap: Callable[[str, dict[str, object]], str]) -> list[float]:
    """Send from the first of each pair to the second; return latencies in ms."""
    loop = asyncio.get_running_loop()
    sent: dict[int, float] = {}
    got: list[float] = []
    counter = iter(range(10**9))
    expected = len(pairs) * MESSAGES
    done = asyncio.Event()

    def receive(data: str) -> None:
        if "candidate:" not in data:
            return
        seq = int(data.split("candidate:", 1)[1].split(" ", 1)[0])
        if seq in sent:
            got.append((loop.time() - sent[seq]) * 1000)
        if len(got) >= expected:
            done.set()

    async def send(ws: aiohttp.ClientWebSocketResponse, dst: str) -> None:
        await asyncio.sleep(random.random() * EVERY)  # the rooms' own rhythm, not a wait
        for _ in range(MESSAGES):
            seq = next(counter)
            sent[seq] = loop.time()
            await ws.send_str(wrap(dst, _candidate(seq)))
            await asyncio.sleep(EVERY)

    READERS.handler = receive
    await asyncio.gather(*(send(a, dst) for a, _, dst in pairs))
    await asyncio.wait_for(done.wait(), 30)
    READERS.handler = None
    return got


async def _playroom(rooms: list[int]) -> dict[str, dict[str, float]]:
    server = bench_server()
    staff = LiveStaff(server.url, "bench", PASSWORD)
    outsider = _session()
    url = f"{server.url.replace('http', 'ws', 1)}/ws"
    figures = {}
    pairs: list[Pair] = []
    try:
        await staff.sign_in()
        for n in rooms:
            while len(pairs) < n:
                pairs.append(await _enter(staff, outsider, url))
            figures[f"{n}_rooms"] = summary(
                await _run(
                    pairs[:n],
                    lambda dst, c: json.dumps(
                        {"v": 1, "type": "signal", "to": dst, "candidate": c}
                    ),
                )  # fmt: skip
            )
    finally:
        READERS.stop()
        for a, b, _ in pairs:
            await a.close()
            await b.close()
        await staff.close()
        await outsider.close()
        server.stop()
    return figures


async def _enter(staff: LiveStaff, outsider: aiohttp.ClientSession, url: str) -> Pair:
    """A room with its therapist and young person in it; the young person sends."""
    session, links = await ready_session(staff, name="Bench")
    therapist = await staff.ws()
    await therapist.send_str(json.dumps({"v": 1, "type": "open_room", "session": session}))
    tid = await _read_until(therapist, "room_opened")
    young = await outsider.ws_connect(url)
    await young.send_str(json.dumps({"v": 1, "type": "join", "token": links["young_person"]}))
    yid = await _read_until(young, "joined")
    await therapist.send_str(json.dumps({"v": 1, "type": "admit", "participant": yid}))
    await _read_until(young, "admitted")
    READERS.watch(young)
    READERS.watch(therapist)
    return young, therapist, tid


async def _read_until(ws: aiohttp.ClientWebSocketResponse, kind: str) -> str:
    while True:
        message = json.loads((await ws.receive()).data)
        if message["type"] == kind:
            return str(message.get("you", {}).get("id", ""))
        if message["type"] == "error":
            raise RuntimeError(message["message"])


async def _pairs_on(
    connect: Callable[[int, int], Awaitable[Pair]], rooms: list[int], wire: str
) -> dict[str, dict[str, float]]:
    figures = {}
    pairs: list[Pair] = []
    try:
        for n in rooms:
            while len(pairs) < n:
                pairs.append(await connect(len(pairs), n))
            figures[f"{n}_rooms"] = summary(await _run(pairs[:n], WRAPS[wire]))
    finally:
        READERS.stop()
        for a, b, _ in pairs:
            await a.close()
            await b.close()
    return figures


WRAPS: dict[str, Callable[[str, dict[str, object]], str]] = {}


async def _floor(rooms: list[int]) -> dict[str, dict[str, float]]:
    port = free_port()
    proc = _spawn([sys.executable, "-m", "tests.bench.floor_relay", str(port)])
    http = _session()
    WRAPS["floor"] = lambda dst, c: json.dumps({"candidate": c})
    try:
        await _wait_port(port)

        async def connect(i: int, _: int) -> Pair:
            a = await http.ws_connect(f"ws://127.0.0.1:{port}/relay/{i}")
            b = await http.ws_connect(f"ws://127.0.0.1:{port}/relay/{i}")
            READERS.watch(a)
            READERS.watch(b)
            return a, b, ""

        return await _pairs_on(connect, rooms, "floor")
    finally:
        await http.close()
        proc.terminate()
        proc.wait(10)


def _session() -> aiohttp.ClientSession:
    """A client session without aiohttp's default cap of 100 connections: every open
    WebSocket holds one."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    """A server of the comparison in its own process, its output discarded."""
    out = subprocess.DEVNULL
    return subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=out)


def _install_peerjs() -> Path | None:
    """The PeerJS server from npm, into the benchmarks' cache folder (``peers.py``)."""
    script = PEERS / "node_modules" / "peer" / "dist" / "bin" / "peerjs.js"
    return script if npm_install("peer@1.0.2") is None and script.exists() else None


async def _peerjs(rooms: list[int]) -> dict[str, dict[str, float]] | str:
    script = _install_peerjs()
    if script is None:
        return "not run: the npm package 'peer' could not be installed"
    port = free_port()
    proc = _spawn(["node", str(script), "--port", str(port), "--host", "127.0.0.1"])
    http = _session()
    WRAPS["peerjs"] = lambda dst, c: json.dumps(
        {"type": "CANDIDATE", "dst": dst, "payload": {"candidate": c}}
    )
    try:
        await _wait_port(port)

        async def connect(i: int, _: int) -> Pair:
            socks = []
            for side in ("a", "b"):
                ws = await http.ws_connect(
                    f"ws://127.0.0.1:{port}/peerjs?key=peerjs&id=r{i}{side}&token=t{i}{side}"
                )
                assert json.loads((await ws.receive()).data)["type"] == "OPEN"
                READERS.watch(ws)
                socks.append(ws)
            return socks[0], socks[1], f"r{i}b"

        figures = await _pairs_on(connect, rooms, "peerjs")
        return figures
    finally:
        await http.close()
        proc.terminate()
        proc.wait(10)


async def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)  # polling for a process to listen
    raise TimeoutError(f"nothing listens on {port}")


async def main(rooms: list[int]) -> dict[str, object]:
    floor = await _floor(rooms)
    peer = await _peerjs(rooms)
    ours = await _playroom(rooms)
    figures: dict[str, object] = {"playroom": ours, "floor_aiohttp_relay": floor, "peerjs": peer}
    for n in rooms:
        key = f"{n}_rooms"
        line = f"{n:>3} rooms: playroom p50 {ours[key]['median']:.2f} p99 {ours[key]['p99']:.2f} ms"
        line += f" | floor p50 {floor[key]['median']:.2f} p99 {floor[key]['p99']:.2f}"
        if isinstance(peer, dict):
            line += f" | PeerJS p50 {peer[key]['median']:.2f} p99 {peer[key]['p99']:.2f}"
        print(line)
    path = write("signalling_relay_latency", figures, {"aiohttp": aiohttp.__version__,
                                                       "peer": "1.0.2"})  # fmt: skip
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    started = time.monotonic()
    asyncio.run(main([int(a) for a in sys.argv[1:]] or [1, 50, 200]))
    print(f"took {time.monotonic() - started:.0f} s")
