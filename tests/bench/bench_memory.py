"""Memory per session: the server process's resident memory with 0, 50 and 100 idle rooms,
each with a therapist and a young person admitted and both on the board (so each room holds
two server peers: aiortc connections with their data channels). The slope is MiB per room.
The clients (aiortc, no media) run in this process; the server in its own."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import aiohttp
import aiortc

from tests.bench.report import write
from tests.bench.server import bench_server
from tests.client import ProtocolPeer
from tests.conftest import PASSWORD
from tests.live import LiveStaff, ready_session
from tests.test_restart import _enter


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def slope(points: list[tuple[int, float]]) -> float:
    """The least-squares slope of y over x (here MiB per room; the soak: MiB per second)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


async def main(steps: list[int]) -> dict[str, object]:
    server = bench_server()
    staff = LiveStaff(server.url, "bench", PASSWORD)
    outsider = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    peers: list[ProtocolPeer] = []
    points: list[tuple[int, float]] = []
    try:
        await staff.sign_in()
        for rooms in steps:
            while len(peers) // 2 < rooms:
                session, links = await ready_session(staff, name="Bench")
                peers.extend(await _enter(staff, session, links["young_person"], outsider))
            await asyncio.sleep(2)  # idle: let the rooms settle before reading memory
            points.append((rooms, rss_mib(server.proc.pid)))
            print(f"{rooms:>3} rooms: server RSS {points[-1][1]:.1f} MiB", flush=True)
    finally:
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        await staff.close()
        await outsider.close()
        server.stop()
    figures = {
        "rss_mib": {str(r): round(m, 1) for r, m in points},
        "mib_per_room": round(slope(points), 3),
    }
    path = write("memory_per_room", figures, {"aiortc": aiortc.__version__})
    print(f"slope {figures['mib_per_room']} MiB per room; wrote {path}")
    return figures


if __name__ == "__main__":
    started = time.monotonic()
    asyncio.run(main([int(a) for a in sys.argv[1:]] or [0, 50, 100]))
    print(f"took {time.monotonic() - started:.0f} s")
