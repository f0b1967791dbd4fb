"""The server's side of the restart benchmark (``bench_restart.py``): stopping the real
server process and starting it again at once, timing when the new one listens; the CPU the
server and the client processes use, second by second; and boards that hold what an earlier
part of a session drew (``--history``), stored as the board stores its operations, so that
a restart has that much to load again."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from server.crypto.sealed import seal
from server.settings import Settings
from server.storage.db import utcnow
from server.storage.models import new_id
from server.storage.opening import open_storage
from server.storage.session_models import BoardOp
from tests.bench.profiling import cpu_seconds
from tests.bench.restart_clients import stroke
from tests.helpers import ServerProcess

WAIT = 120.0  # seconds a new process may take to listen (tens on a loaded machine)


def first_connect(server: ServerProcess, started: float) -> tuple[float, float | None]:
    """Milliseconds from ``started`` to the first TCP connection the new process accepts,
    and to its first line on stdout (``Playroom is serving``: its imports done, the app
    about to be made and its storage opened)."""
    printed = None
    while time.monotonic() - started < WAIT and server.proc.poll() is None:
        if printed is None and server.stdout_path.stat().st_size:
            printed = (time.monotonic() - started) * 1000
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.2):
                return (time.monotonic() - started) * 1000, printed
        except OSError:
            time.sleep(0.005)  # the next try at connecting, as a poller does
    raise RuntimeError("the server did not start listening")


def first_health(url: str, proc: Any, started: float) -> float:
    """Milliseconds from ``started`` to the first 200 from ``/healthz``: asked again at once
    while the port refuses, and once it listens, waited for as long as the answer takes. A
    probe given up after half a second (as this one was) left its request in the queue to
    be answered for nobody, and asked again behind the storm of pages coming back, which
    counted their wait as the server's start."""
    while time.monotonic() - started < WAIT and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=WAIT) as answer:
                if answer.status == 200:
                    return (time.monotonic() - started) * 1000
        except (OSError, urllib.error.URLError):
            time.sleep(0.01)  # the next try, as a poller does
    raise RuntimeError("the server did not answer /healthz")


async def restart(server: ServerProcess, how: signal.Signals, logs: list[Path]) -> dict[str, Any]:
    """Stop the server with ``how``, start it again at once on the same address and data."""
    signalled = time.monotonic()
    server.proc.send_signal(how)
    await asyncio.to_thread(server.proc.wait, 30)
    started = time.monotonic()
    server.proc = server._start()
    logs.append(server.stderr_path)
    (tcp, printed), health = await asyncio.gather(
        asyncio.to_thread(first_connect, server, started),
        asyncio.to_thread(first_health, server.url, server.proc, started),
    )
    return {
        "signal": how.name,
        "signalled": signalled,
        "started": started,
        "old_process_gone_ms": round((started - signalled) * 1000, 1),
        "first_stdout_line_ms": None if printed is None else round(printed, 1),
        "first_tcp_connect_ms": round(tcp, 1),
        "first_healthz_ms": round(health, 1),
    }


class Load:
    """The CPU the server and the client processes use, second by second."""

    def __init__(self, server: ServerProcess, clients: list[int]) -> None:
        self.server, self.clients = server, clients
        self.samples: list[tuple[float, float, float]] = []  # (at, server, clients) s of CPU
        self.task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        last: tuple[int, float, float] | None = None
        while True:
            now = time.monotonic()
            pid = self.server.proc.pid
            mine = cpu_seconds(pid) or 0.0
            theirs = sum(cpu_seconds(p) or 0.0 for p in self.clients)
            if last is not None:
                server = mine - last[1] if last[0] == pid else mine  # a new process
                self.samples.append((now, server, theirs - last[2]))
            last = (pid, mine, theirs)
            await asyncio.sleep(1.0)  # the sampling beat

    def around(self, at: float) -> dict[int, tuple[float, float]]:
        """Per second relative to ``at``: the server's and the clients' share of a core."""
        out: dict[int, tuple[float, float]] = {}
        for t, server, clients in self.samples:
            out[int((t - 1.0 - at) // 1)] = (round(server, 2), round(clients, 2))
        return out


async def prefill(data_dir: Path, sessions: list[str], count: int) -> None:
    """``count`` strokes on each session's board, stored as the board stores them (sealed, one
    row a ``seq``), while the server stands idle before anyone enters."""
    if count <= 0:
        return
    storage = await open_storage(Settings(data_dir=data_dir))
    rng = random.Random(1)
    try:
        for session in sessions:
            async with storage.db.session() as db:
                for seq in range(1, count + 1):
                    row = BoardOp(
                        id=new_id(), appointment_id=session, seq=seq, author="earlier",
                        created_at=utcnow(),
                    )  # fmt: skip
                    seal(storage.ring, row, "op_enc", json.dumps(stroke(f"e{seq}", rng)))
                    db.add(row)
    finally:
        await storage.db.dispose()
