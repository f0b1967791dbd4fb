"""Soak: 50 rooms live at once for 10 minutes against one server process (SQLite, the
embedded default), each a therapist and a young person as aiortc peers on the board (data
connections to the server; no audio or video), drawing strokes point by point, the young
person's connection dropping and resuming every minute or so, the therapist's now and then.
The rooms run in two client processes, so the clients are not the bottleneck.

Afterwards, with every room ended, the server must hold nothing more than before the rooms
began (rooms, sockets, server peers, boards in memory, grace timers: none; asyncio tasks and
open files: as before, give or take a handful and three for each connection the database pool
kept open since (the pool's, not a leak); the objects and memory blocks Python holds: within
``PYTHON_SLACK`` of before; resident memory: at most ``RSS_BOUND_MIB`` above, as the
allocator keeps its high-water mark), every board operation a client saw acknowledged must
be stored, every resume must be in the session's log, and every log must verify. A breach
of a bound fails the run (exit 1); the figures go to ``tests/bench/results/latest.json``
under ``soak``.

    python -m tests.bench.soak [seconds] [rooms]     # make soak: 600 s, 50 rooms
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiortc
import sqlalchemy as sa

from server.audit.sessionlog import SessionLog, session_stream
from server.settings import Settings
from server.storage.opening import open_storage
from server.storage.session_models import BoardOp, LogEntry
from tests.bench.bench_memory import slope
from tests.bench.report import summary, write
from tests.bench.server import bench_server
from tests.client import ProtocolPeer
from tests.conftest import PASSWORD
from tests.factories import join_message
from tests.helpers import run_cli
from tests.live import LiveStaff, ready_session

PROCESSES = 2
POINT_EVERY = 0.016
TASKS_SLACK = 10  # a few tasks come and go on their own (the checkpoint loop, pings)
FILES_SLACK = 8
FILES_PER_CONNECTION = 3
RSS_BOUND_MIB = 64.0
# what Python holds (objects the collector tracks, blocks its allocator has out) must come
# back to within this share of where it was: resident memory keeps the allocator's
# high-water mark, so it alone cannot tell a leak from a busy hour
PYTHON_SLACK = 0.05


@dataclass
class RoomResult:
    session: str
    resumes: int = 0  # the young person's, and the therapist's
    acknowledged: int = 0  # the highest board seq either side saw
    strokes: int = 0
    errors: list[str] = field(default_factory=list)


def _ws_url(base: str) -> str:
    return f"{base.replace('http', 'ws', 1)}/ws"


async def _draw(peer: ProtocolPeer, tag: str, points: int = 10) -> None:
    peer.draw({"op": "stroke_begin", "id": tag, "colour": "#204080", "width": 5,
               "points": [[10.0, 10.0, 0.5]]})  # fmt: skip
    for i in range(1, points):
        await asyncio.sleep(POINT_EVERY)  # as a hand draws
        peer.draw({"op": "stroke_points", "id": tag, "points": [[10.0 + i, 10.0 + i, 0.5]]})
    peer.draw({"op": "stroke_end", "id": tag})


async def _resume(http: aiohttp.ClientSession, base: str, token: str) -> tuple[ProtocolPeer, str]:
    peer = ProtocolPeer(await http.ws_connect(_ws_url(base)), media=False)
    await peer.send({"type": "resume", "token": token})
    resumed = await peer.expect("resumed", within=30)
    await peer.open_board()
    return peer, str(resumed["resume"])


async def _room(
    base: str, cookies: dict[str, str], session: str, link: str, until: float, seed: int
) -> RoomResult:
    rng = random.Random(seed)
    result = RoomResult(session)
    jar = aiohttp.CookieJar(unsafe=True)  # the server is at an IP address
    jar.update_cookies(cookies)
    staff = aiohttp.ClientSession(cookie_jar=jar, connector=aiohttp.TCPConnector(limit=0))
    outsider = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    try:
        therapist = ProtocolPeer(await staff.ws_connect(_ws_url(base)), media=False)
        await therapist.send({"type": "open_room", "session": session})
        t_token = str((await therapist.expect("room_opened", within=30))["resume"])
        young = ProtocolPeer(await outsider.ws_connect(_ws_url(base)), media=False)
        await young.send(join_message(link))
        joined = await young.expect("joined", within=30)
        y_id, y_token = joined["you"]["id"], str(joined["resume"])
        await therapist.send({"type": "admit", "participant": y_id})
        await young.expect("admitted", within=30)
        await asyncio.gather(therapist.open_board(), young.open_board())
        next_drop = time.monotonic() + rng.uniform(20, 90)
        while time.monotonic() < until:
            drawer = young if rng.random() < 0.6 else therapist
            await _draw(drawer, f"s{result.strokes}")
            result.strokes += 1
            await asyncio.sleep(rng.uniform(2, 6))
            if time.monotonic() < next_drop:
                continue
            next_drop = time.monotonic() + rng.uniform(40, 90)
            if rng.random() < 0.8:  # the young person's connection goes
                await young.close()
                await asyncio.sleep(rng.uniform(0.5, 4))
                young, y_token = await _resume(outsider, base, y_token)
            else:  # the therapist's
                await therapist.close()
                await asyncio.sleep(rng.uniform(0.5, 4))
                therapist, t_token = await _resume(staff, base, t_token)
            result.resumes += 1
        # the last strokes arrive, then the session ends
        seq = max(therapist.board.seq, young.board.seq)
        await therapist.wait_for(lambda: therapist.board.seq >= seq, within=30)
        await young.wait_for(lambda: young.board.seq == therapist.board.seq, within=30)
        result.acknowledged = therapist.board.seq
        result.errors += [str(e.get("code")) for e in therapist.board_errors + young.board_errors]
        await therapist.send({"type": "end_room"})
        await young.expect("room_ended", within=30)
        await asyncio.gather(therapist.close(), young.close())
    except (TimeoutError, aiohttp.ClientError, KeyError) as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}"[:200])
    finally:
        await staff.close()
        await outsider.close()
    return result


def _client_process(base: str, cookies: dict[str, str], rooms: list[tuple[str, str]],
                    until_wall: float, seed: int, out: Any) -> None:  # fmt: skip
    async def run() -> list[RoomResult]:
        until = time.monotonic() + (until_wall - time.time())
        jobs = []
        for i, (session, link) in enumerate(rooms):
            await asyncio.sleep(0.2)  # rooms open one after another, as a service's do
            jobs.append(asyncio.create_task(_room(base, cookies, session, link, until, seed + i)))
        return list(await asyncio.gather(*jobs))

    out.send([asdict(r) for r in asyncio.run(run())])
    out.close()


async def _status(staff: LiveStaff, collect: bool = False) -> dict[str, int]:
    """The server's counts; with ``collect``, also what Python holds after a collection (a
    pause of the server's event loop: only before and after the rooms, not while they run)."""
    return dict(await staff.api("GET", "/ops/status?collect=1" if collect else "/ops/status"))


async def _stored(settings: Settings, sessions: list[str]) -> dict[str, tuple[int, int, bool]]:
    """Per session: board operations stored, reconnections logged, and the log verifies."""
    storage = await open_storage(settings, writable=False)
    log = SessionLog(storage.db, storage.ring)
    found: dict[str, tuple[int, int, bool]] = {}
    try:
        async with storage.db.session() as db:
            for session in sessions:
                ops = await db.scalar(
                    sa.select(sa.func.count()).where(BoardOp.appointment_id == session)
                )
                back = await db.scalar(
                    sa.select(sa.func.count()).where(
                        LogEntry.stream == session_stream(session),
                        LogEntry.kind == "participant.reconnected",
                    )
                )
                found[session] = (int(ops or 0), int(back or 0), False)
        for session in sessions:
            report = await log.verify(session_stream(session))
            ops, back, _ = found[session]
            found[session] = (ops, back, report.intact)
    finally:
        await storage.db.dispose()
    return found


async def main(seconds: float = 600, rooms: int = 50) -> int:
    server = bench_server()
    admin_made = run_cli(
        "create-user", "--username", "soak.admin", "--role", "admin", "--password-stdin",
        env=server.env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert admin_made.returncode == 0, admin_made.stderr
    staff = LiveStaff(server.url, "bench", PASSWORD)
    admin = LiveStaff(server.url, "soak.admin", PASSWORD)
    started = time.monotonic()
    try:
        await staff.sign_in()
        await admin.sign_in()
        sessions = [await ready_session(staff, name=f"Soak {n}") for n in range(rooms)]
        before = await _status(admin, collect=True)
        assert staff.http is not None
        cookies = {c.key: c.value for c in staff.http.cookie_jar}
        until = time.time() + seconds
        pipes, procs = [], []
        for p in range(PROCESSES):
            mine = [(s, links["young_person"]) for s, links in sessions[p::PROCESSES]]
            recv, send = multiprocessing.Pipe(duplex=False)
            proc = multiprocessing.get_context("spawn").Process(
                target=_client_process, args=(server.url, cookies, mine, until, 1000 * p, send)
            )
            proc.start()
            pipes.append(recv)
            procs.append(proc)
        peak: dict[str, int] = {}
        samples: list[float] = []
        series: list[tuple[int, float]] = []  # (seconds into the run, MiB)
        load_began = time.monotonic()
        while any(proc.is_alive() for proc in procs) and not all(p.poll() for p in pipes):
            await asyncio.sleep(10)  # a sample of the server every 10 s
            now = await _status(admin)
            samples.append(now["rss_bytes"] / 2**20)
            series.append((round(time.monotonic() - load_began), round(samples[-1], 1)))
            peak = {k: max(v, peak.get(k, 0)) for k, v in now.items() if isinstance(v, int)}
        results = [RoomResult(**r) for pipe in pipes for r in pipe.recv()]
        for proc in procs:
            proc.join(30)
        # every room ended: the server lets go of everything it held for them
        deadline = time.monotonic() + 60
        after = await _status(admin, collect=True)
        while time.monotonic() < deadline and (after["rooms"] or after["server_peers"]):
            await asyncio.sleep(1)
            after = await _status(admin, collect=True)
        stored = await _stored(Settings(**_settings_of(server.env)), [r.session for r in results])
    finally:
        await staff.close()
        await admin.close()
        server.stop()

    failures = _check(before, after, results, stored)
    figures = {
        "seconds": seconds,
        "rooms": rooms,
        "strokes": sum(r.strokes for r in results),
        "board_operations_acknowledged": sum(r.acknowledged for r in results),
        "board_operations_stored": sum(s[0] for s in stored.values()),
        "resumes": sum(r.resumes for r in results),
        "reconnections_logged": sum(s[1] for s in stored.values()),
        "logs_intact": sum(1 for s in stored.values() if s[2]),
        "before": before,
        "peak": peak,
        "after": after,
        "rss_mib_samples": summary(samples) if samples else None,
        "rss_mib_series": series,
        # a leak keeps climbing; an allocator's high-water mark levels off: the trend of the
        # second half of the run, in MiB a minute
        "rss_mib_per_minute_second_half": (
            round(60 * slope(series[len(series) // 2 :]), 2) if len(series) >= 4 else None
        ),
        "rss_growth_mib": (after["rss_bytes"] - before["rss_bytes"]) / 2**20,
        "bounds": {
            "tasks": TASKS_SLACK,
            "open_files": FILES_SLACK,
            "open_files_per_pooled_connection": FILES_PER_CONNECTION,
            "rss_mib": RSS_BOUND_MIB,
            "python_objects_and_blocks_share": PYTHON_SLACK,
        },
        "failures": failures,
        "took_seconds": round(time.monotonic() - started),
    }
    path = write("soak", figures, {"aiortc": aiortc.__version__})
    shown = {k: v for k, v in figures.items() if k not in ("rss_mib_samples", "rss_mib_series")}
    print(json.dumps(shown, indent=1))
    print(f"wrote {path}")
    return 1 if failures else 0


def _settings_of(env: dict[str, str]) -> dict[str, Any]:
    return {"data_dir": Path(env["PLAYROOM_DATA_DIR"])}


def _check(before: dict[str, int], after: dict[str, int], results: list[RoomResult],
           stored: dict[str, tuple[int, int, bool]]) -> list[str]:  # fmt: skip
    failures = []
    for key in ("rooms", "participants", "sockets", "resumable", "grace_timers",
                "server_peers", "boards"):  # fmt: skip
        if after[key] > before[key]:
            failures.append(f"{key}: {before[key]} before, {after[key]} after")
    if after["tasks"] > before["tasks"] + TASKS_SLACK:
        failures.append(f"tasks: {before['tasks']} before, {after['tasks']} after")
    # each connection the database pool keeps once warmed holds files (SQLite: the database,
    # its WAL and its shared memory): those are the pool's, not a leak
    pooled = max(0, after["database_connections"] - before["database_connections"])
    if after["open_files"] > before["open_files"] + FILES_SLACK + FILES_PER_CONNECTION * pooled:
        failures.append(
            f"open files: {before['open_files']} before, {after['open_files']} after "
            f"({pooled} more pooled database connections)"
        )
    growth = (after["rss_bytes"] - before["rss_bytes"]) / 2**20
    if growth > RSS_BOUND_MIB:
        failures.append(f"memory grew {growth:.1f} MiB")
    for key in ("python_objects", "python_blocks"):
        if after[key] > before[key] * (1 + PYTHON_SLACK):
            failures.append(f"{key}: {before[key]} before, {after[key]} after")
    for r in results:
        ops, back, intact = stored[r.session]
        if r.errors:
            failures.append(f"{r.session[:8]}: {r.errors[:3]}")
        if ops < r.acknowledged:
            failures.append(f"{r.session[:8]}: {r.acknowledged} acknowledged, {ops} stored")
        if back < r.resumes:
            failures.append(f"{r.session[:8]}: {r.resumes} resumes, {back} logged")
        if not intact:
            failures.append(f"{r.session[:8]}: the log does not verify")
    return failures


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:3]]
    sys.exit(asyncio.run(main(args[0] if args else 600, int(args[1]) if len(args) > 1 else 50)))
