"""Signalling relay latency: one participant's message (an ICE candidate, as browsers trickle
them) reaching the other through the server, with 1, 50 and 200 rooms sending at once.
Side by side in the same run with the floor (a bare aiohttp relay, ``floor_relay.py``) and a
peer, the PeerJS signalling server (npm ``peer``, installed by this benchmark into
``tests/bench/.peers``). Every server runs in its own process; the clients share this one.

Each room sends 20 messages, one every 50 ms, rooms starting at random within the first
50 ms. Latency is from just before the send to the receiver's read, on one clock. Beside
the latencies, a phase long enough to tell gives the CPU time (user and system) the server
process spent a message relayed, from ``/proc``: a figure that the other work on a shared
machine disturbs much less than the latencies.

With ``PLAYROOM_BENCH_PROFILE=1``, after the measured phases, the largest number of rooms
sends ten rounds more through Playroom and through the floor while py-spy samples each
server process (``profiling.py``); the summary goes to ``results/profile-signalling.txt``.
The measured figures are taken before the profiler is attached."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from tests.bench.peers import PEERS, npm_install
from tests.bench.profiling import RATE, Recorder, Stacks, cpu_seconds, py_spy, report
from tests.bench.report import RESULTS, comparisons, summary, write
from tests.bench.server import bench_server
from tests.conftest import PASSWORD
from tests.factories import join_message
from tests.helpers import ROOT, free_port
from tests.live import LiveStaff, ready_session

MESSAGES = 20
EVERY = 0.05
PEERJS = "peer@1.0.2"  # the PeerJS signalling server, from npm
Pair = tuple[aiohttp.ClientWebSocketResponse, aiohttp.ClientWebSocketResponse, str]
Wrap = Callable[[str, dict[str, object]], str]  # (receiver, candidate) -> the frame to send
CPU_AT_LEAST = 0.1  # s: /proc counts in ticks of 10 ms, so a shorter phase gives no figure
PROFILE = os.environ.get("PLAYROOM_BENCH_PROFILE") == "1"
PROFILE_ROUNDS = 10
PROFILES: dict[str, tuple[Stacks, int]] = {}  # server -> its samples, messages relayed


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


async def _run(pairs: list[Pair], wrap: Wrap) -> list[float]:
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


async def _measure(pid: int, pairs: list[Pair], wrap: Wrap) -> dict[str, float]:
    """One phase: the latencies' summary, and the server's CPU time a message."""
    before = cpu_seconds(pid)
    figures = summary(await _run(pairs, wrap))
    after = cpu_seconds(pid)
    if before is not None and after is not None and after - before >= CPU_AT_LEAST:
        figures["cpu_us_per_message"] = round((after - before) / figures["n"] * 1e6, 1)
    return figures


async def _profiled(name: str, pid: int, pairs: list[Pair], wrap: Wrap) -> None:
    """More rounds through one server while py-spy samples it."""
    recorder = Recorder(pid)
    await recorder.start()
    messages = 0
    try:
        for _ in range(PROFILE_ROUNDS):
            messages += len(await _run(pairs, wrap))
    finally:
        PROFILES[name] = (await recorder.stop(), messages)


def _playroom_wrap(dst: str, candidate: dict[str, object]) -> str:
    return json.dumps({"v": 1, "type": "signal", "to": dst, "candidate": candidate})


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
            figures[f"{n}_rooms"] = await _measure(server.proc.pid, pairs[:n], _playroom_wrap)
        if PROFILE:
            await _profiled("playroom", server.proc.pid, pairs, _playroom_wrap)
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
    await young.send_str(json.dumps({"v": 1, **join_message(links["young_person"])}))
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
    connect: Callable[[int, int], Awaitable[Pair]],
    rooms: list[int],
    wire: str,
    pid: int,
) -> dict[str, dict[str, float]]:
    figures = {}
    pairs: list[Pair] = []
    try:
        for n in rooms:
            while len(pairs) < n:
                pairs.append(await connect(len(pairs), n))
            figures[f"{n}_rooms"] = await _measure(pid, pairs[:n], WRAPS[wire])
        if PROFILE and wire == "floor":
            await _profiled(wire, pid, pairs, WRAPS[wire])
    finally:
        READERS.stop()
        for a, b, _ in pairs:
            await a.close()
            await b.close()
    return figures


WRAPS: dict[str, Wrap] = {}


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

        return await _pairs_on(connect, rooms, "floor", proc.pid)
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
    return script if npm_install(PEERJS) is None and script.exists() else None


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

        figures = await _pairs_on(connect, rooms, "peerjs", proc.pid)
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
    figures["compare"] = [
        {
            "label": f"{n} room{'s' if n != 1 else ''}",
            "playroom": f"playroom/{n}_rooms",
            "floor": f"floor_aiohttp_relay/{n}_rooms",
            "peer": f"peerjs/{n}_rooms",
            "peer_name": "PeerJS",
            "keys": ["median", "p99", "cpu_us_per_message"],
        }
        for n in rooms
    ]
    for n in rooms:
        key = f"{n}_rooms"
        line = f"{n:>3} rooms: playroom p50 {ours[key]['median']:.2f} p99 {ours[key]['p99']:.2f} ms"
        line += f" | floor p50 {floor[key]['median']:.2f} p99 {floor[key]['p99']:.2f}"
        if isinstance(peer, dict):
            line += f" | PeerJS p50 {peer[key]['median']:.2f} p99 {peer[key]['p99']:.2f}"
        print(line)
    for line in comparisons(figures):
        print(f"  {line}")
    versions = {"aiohttp": aiohttp.__version__}
    if isinstance(peer, dict):  # the version the benchmark installed, only when it ran
        versions["peer"] = PEERJS.split("@", 1)[1]
    path = write("signalling_relay_latency", figures, versions)
    print(f"wrote {path}")
    if PROFILES:
        print(f"wrote {_write_profile(max(rooms))}")
    return figures


def _write_profile(rooms: int) -> Path:
    out = RESULTS / "profile-signalling.txt"
    version = subprocess.run([str(py_spy()), "--version"], capture_output=True, text=True)
    head = (
        f"Signalling relay, {rooms} rooms, {PROFILE_ROUNDS} rounds of {MESSAGES} messages a"
        f" room, after the measured phases; {version.stdout.strip()}, {RATE} Hz, nonblocking.\n"
        "Reproduce: PLAYROOM_BENCH_PROFILE=1 python -m tests.bench.bench_signalling\n\n"
    )
    names = {"playroom": "Playroom", "floor": "the floor (floor_relay.py)"}
    out.write_text(head + "\n".join(report(names[k], *PROFILES[k]) for k in names if k in PROFILES))
    return out


if __name__ == "__main__":
    started = time.monotonic()
    asyncio.run(main([int(a) for a in sys.argv[1:]] or [1, 50, 200]))
    print(f"took {time.monotonic() - started:.0f} s")
