"""Whiteboard stroke latency over the server's data channels: one participant draws (a point
every 16 ms, as a hand draws), the other receives; sender to other participant, through a
real server process. aiortc peers in this process, the server in another."""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp
import aiortc

from media.client import ProtocolPeer
from tests.bench.report import summary, write
from tests.bench.server import bench_server
from tests.conftest import PASSWORD
from tests.live import LiveStaff, ready_session
from tests.test_restart import _enter

POINT_EVERY = 0.016


async def draw(
    sender: ProtocolPeer, receiver: ProtocolPeer, strokes: int, points: int
) -> list[float]:
    loop = asyncio.get_running_loop()
    sent: dict[int, float] = {}
    seq = receiver.board.seq
    for s in range(strokes):
        sid = f"bench-{s}"
        ops = [
            {
                "op": "stroke_begin",
                "id": sid,
                "colour": "#204080",
                "width": 5,
                "points": [[10, 10 + s, 0.5]],
            }
        ]
        ops += [
            {"op": "stroke_points", "id": sid, "points": [[10 + i, 10 + s, 0.5]]}
            for i in range(1, points)
        ]
        ops.append({"op": "stroke_end", "id": sid})
        for op in ops:
            seq += 1
            sent[seq] = loop.time()
            sender.draw(op)
            await asyncio.sleep(POINT_EVERY)
    await receiver.wait_for(lambda: receiver.board.seq >= seq, within=60)
    return [(receiver.change_times[n] - t) * 1000 for n, t in sent.items()]


async def main(strokes: int = 10, points: int = 60) -> dict[str, object]:
    server = bench_server()
    staff = LiveStaff(server.url, "bench", PASSWORD)
    outsider = aiohttp.ClientSession()
    try:
        await staff.sign_in()
        session, links = await ready_session(staff)
        therapist, young = await _enter(staff, session, links["young_person"], outsider)
        latencies = await draw(therapist, young, strokes, points)
        await asyncio.gather(therapist.close(), young.close())
    finally:
        await staff.close()
        await outsider.close()
        server.stop()
    figures = {"stroke_latency_1_room_ms": summary(latencies)}
    path = write("whiteboard_stroke_latency", figures, {"aiortc": aiortc.__version__})
    s = figures["stroke_latency_1_room_ms"]
    print(f"wrote {path}")
    print(
        f"stroke latency, 1 room: median {s['median']:.2f} ms, p99 {s['p99']:.2f} ms (n={s['n']})"
    )
    return figures


if __name__ == "__main__":
    started = time.monotonic()
    asyncio.run(main(*(int(a) for a in sys.argv[1:3])))
    print(f"took {time.monotonic() - started:.0f} s")
