"""The rooms benchmark's Yjs side (``bench_rooms.py``): the Yjs WebSocket sync server (npm
``@y/websocket-server``, installed into ``tests/bench/.peers`` by ``peers.py``) on the
server's core, and Node client processes (``yjs_rooms.mjs``) on the clients' core, drawing
at the rate and with the strokes of the Playroom side, at the same room counts, each phase
measured as Playroom's is (``room_phase.py``)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from pathlib import Path
from typing import IO, Any

from tests.bench.peers import PEERS, npm_install, wait_port
from tests.bench.room_clients import POINTS
from tests.bench.room_phase import (
    CLIENT_CPU,
    SERVER_CPU,
    Meter,
    Observed,
    figures,
    idle_cpu,
    line,
    on_cpu,
)
from tests.helpers import free_port

YJS = ("@y/websocket-server@0.1.1", "y-websocket@3.1.0", "yjs@13.6.33", "ws@8.18.3")
HERE = Path(__file__).resolve().parent
ROOMS_PER_PROCESS = 250  # a Node client costs far less than a Python one


def _read(stream: IO[str] | None, within: float) -> dict[str, Any]:
    """The next line of JSON a client process writes (it writes nothing else)."""
    assert stream is not None
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        text = stream.readline()
        if not text:
            raise RuntimeError("a Yjs client process ended without its results")
        if text.startswith("{"):
            doc: dict[str, Any] = json.loads(text)
            return doc
    raise TimeoutError("a Yjs client process did not answer")


def _phase(server: int, port: int, rooms: int, warmup: float, seconds: float) -> dict[str, Any]:
    """``rooms`` rooms over as few Node processes as keep them cheap: each says when its
    rooms are synced; then they start together (their clock is the epoch's)."""
    count = math.ceil(rooms / ROOMS_PER_PROCESS)
    procs = []
    for w in range(count):
        first, mine = w * ROOMS_PER_PROCESS, min(ROOMS_PER_PROCESS, rooms - w * ROOMS_PER_PROCESS)
        command = ["node", str(HERE / "yjs_rooms.mjs"), str(PEERS), f"ws://127.0.0.1:{port}",
                   str(first), str(mine), str(warmup), str(seconds), str(POINTS)]  # fmt: skip
        procs.append(
            subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                preexec_fn=lambda: on_cpu(CLIENT_CPU),
            )
        )
    try:
        for proc in procs:
            assert _read(proc.stdout, 60 + rooms * 0.1)["event"] == "ready"
        idle = idle_cpu(server)
        start = time.time() + 0.5
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{start * 1000:.0f}\n")
            proc.stdin.flush()
        meter = Meter(server, [p.pid for p in procs])
        time.sleep(max(0.0, start + warmup - time.time()))
        meter.start()
        time.sleep(max(0.0, start + warmup + seconds - time.time()))
        window = meter.stop()
        docs = [_read(proc.stdout, seconds + 60) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
    seen = Observed(
        commit_ms=[v for d in docs for v in d["commit_ms"]],
        fanout_ms=[v for d in docs for v in d["fanout_ms"]],
        sent=sum(d["sent"] for d in docs),
        committed=sum(d["committed"] for d in docs),
        received=sum(d["received"] for d in docs),
        op_bytes=sum(d["op_bytes"] for d in docs) / max(1, sum(d["sent"] for d in docs)),
        errors=[],
        send_lag_ms=max(d["send_lag_ms"] for d in docs),
        loop_lag_ms=[v for d in docs for v in d["loop_lag_ms"]],
    )
    f = figures(rooms, seen, window, idle)
    f["detail"]["client_processes"] = count
    return f


def run(counts: list[int], warmup: float, seconds: float) -> dict[str, Any] | str:
    """A phase at each of ``counts`` rooms; or why Yjs could not be run."""
    why = npm_install(*YJS)
    if why is not None:
        return f"not run: {why}"
    port = free_port()
    script = PEERS / "node_modules" / "@y" / "websocket-server" / "src" / "server.js"
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port)}
    server = subprocess.Popen(["node", str(script)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              preexec_fn=lambda: on_cpu(SERVER_CPU))  # fmt: skip
    phases: dict[str, Any] = {}
    try:
        wait_port(port)
        for n in counts:
            phases[f"{n}_rooms"] = f = _phase(server.pid, port, n, warmup, seconds)
            print(line("yjs", f), flush=True)
    finally:
        server.terminate()
        server.wait(10)
    return phases
