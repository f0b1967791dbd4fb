"""Several nodes: what a room's move costs when its node dies, and what crossing nodes adds to
signalling. Every node is a real ``playroom serve`` process on loopback, all sharing one
PostgreSQL database (``bench_nodes``, its schema dropped and migrated at the start of each
run), one Redis (``PLAYROOM_REDIS_URL``) and one key file; ``PLAYROOM_NODE_LEASE_SECONDS``
stays at its default (3 s). The default does not bound the figures below: the first node
that tries to reach the dead one finds that nobody receives its message, and removes the dead
node's liveness key at once. The clients run in this process.

1. Recovery after a node's death (``recovery_after_node_death``), 5 rounds, median with p90,
   min and max. Three nodes A, B and C. A room whose therapist is on node A (so A is the
   room's home) and whose young person is on node B (their signalling relayed by B to A over
   Redis); both have the board open (``tests.client.ProtocolPeer`` with ``media=False``: the
   board's data connection to the server, no audio or video) and have drawn a stroke each
   (42 operations). Node A is killed with SIGKILL. The therapist's client resumes through
   node C, and the young person's through node B, as soon as each socket closes, as a
   browser page's first try does (``signal.js``, ``retryDelay``). Each client then opens a
   fresh data connection to the board.
   Times from the kill to:

   - ``therapist_socket_closed_ms`` and ``young_socket_closed_ms``: each client sees its
     socket close (the therapist's at once, by the kernel; the young person's, with close
     code 1012, when node B's once-a-second watch finds node A's liveness key gone: removed
     by node C as soon as its message to A reached nobody, or else lapsed with the lease);
   - ``therapist_resumed_ms`` and ``young_resumed_ms``: each client holds ``resumed``;
   - ``boards_restored_ms``: both clients hold the board's snapshot again, and both equal the
     snapshot from before the kill (a round where they differ stops the benchmark);
   - ``room_working_ms``: a new stroke (21 operations) that the young person draws once both
     boards are back has fully reached the therapist's board.

   Which node rebuilt the room (``room_restored`` in its log) is listed per round. Between
   rounds a fresh node is started in place of the killed one (it is the next round's A), so
   each round has three nodes. Before the first round one unmeasured room is opened with its
   home on C and its young person on B, with the board, so that the nodes that take over and
   relay are warm, as long-running nodes are.

2. The signalling latency penalty of crossing nodes (``signalling_across_nodes``): the
   message pattern of ``bench_signalling.py``, by its own helpers: in each of N rooms (1 and
   50) the young person sends 20 ICE candidates to the therapist, one every 50 ms, rooms
   starting at random within the first 50 ms; latency from just before the send to the
   therapist's read, on one clock. Three placements, each with its own rooms:

   - ``one_node``: both people on one node, the room's home;
   - ``two_nodes``: the therapist on node A, the room's home, and the young person on node
     B: each message crosses Redis once (B publishes it to A's channel);
   - ``home_elsewhere``: the therapist on node A and the young person on node B, the room's
     home on node C (the therapist opened it there, then resumed through A): each message
     crosses Redis twice (B to C, then C to A).

   For each, p50 and p99 (with the rest of ``summary``) and, when a phase relays at least 500
   messages (CPU time is counted in 10 ms ticks), the CPU time (user and system, from
   ``/proc``) per message, summed over the three node processes (with their own background
   work in that second: lease renewals, the watch on other nodes, heartbeats), besides the
   Redis server's (the pid its INFO gives; any other client of the same Redis adds to it).
   The penalty of each placement against ``one_node`` is given as the difference and the
   ratio of p50 and of p99 (``penalty``), and the ratios again as ``compare`` entries in
   ``report.py``'s form, with ``one_node`` in the place of the peer.

Usage: ``python -m tests.bench.bench_nodes [ROUNDS [ROOMS...]]`` (default 5 rounds; 1 and
50 rooms). PostgreSQL is ``PLAYROOM_BENCH_NODES_POSTGRES_URL`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/bench_nodes``), Redis
``PLAYROOM_BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import redis
import redis.asyncio as redis_async
import sqlalchemy as sa
from redis.exceptions import RedisError

from server.nodes.ends import MOVED
from tests.bench.bench_pages import fresh_postgres
from tests.bench.bench_signalling import READERS, Pair, _enter, _read_until, _run, _session
from tests.bench.cpu import cpu_seconds_or_none
from tests.bench.report import summary, write
from tests.client import ProtocolPeer
from tests.conftest import PASSWORD
from tests.factories import join_message
from tests.helpers import ServerProcess, cli_env, run_cli, supervise_by_cli
from tests.live import LiveStaff, ready_session
from tests.scenes import stroke

ROUNDS = 5
ROOMS = [1, 50]
LEASE_SECONDS = 3.0  # the setting's default, stated here so that the figures carry it
POSTGRES_URL = os.environ.get(
    "PLAYROOM_BENCH_NODES_POSTGRES_URL",
    "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_nodes",
)
REDIS_URL = os.environ.get("PLAYROOM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
WAIT = 60.0  # how long any one step may take before the run is given up (not a bound)
Marks = dict[str, Any]
CPU_MESSAGES = 500  # CPU time is counted in clock ticks (10 ms): fewer messages say nothing


def _ws(node: ServerProcess) -> str:
    return f"{node.url.replace('http', 'ws', 1)}/ws"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _rounded(figures: dict[str, float]) -> dict[str, float]:
    return {k: v if k == "n" else round(v, 2) for k, v in figures.items()}


# -- the nodes


async def _prepare() -> tuple[dict[str, str], dict[str, str], int | None]:
    """One database, one key file, one Redis for every node; returns their settings, the
    versions to record and the Redis server's pid (when this machine runs it)."""
    try:
        postgres = await fresh_postgres(POSTGRES_URL)
    except (OSError, sa.exc.SQLAlchemyError) as exc:
        raise SystemExit(f"PostgreSQL is needed at {POSTGRES_URL}: {exc}") from exc
    client = redis_async.from_url(REDIS_URL)
    try:
        info = await client.info("server")
    except (RedisError, OSError) as exc:
        raise SystemExit(f"Redis is needed at {REDIS_URL}: {exc}") from exc
    finally:
        await client.aclose()
    env = cli_env(
        Path(tempfile.mkdtemp(prefix="playroom-bench-nodes-")) / "data",
        POSTGRES_URL,
        PLAYROOM_LOG_LEVEL="INFO",  # "room_restored" says which node rebuilt the room
        PLAYROOM_REDIS_URL=REDIS_URL,
        PLAYROOM_NODE_LEASE_SECONDS=str(LEASE_SECONDS),
        PLAYROOM_TEST_HOOKS="true",  # as every benchmark server
    )
    migrated = run_cli("migrate", env=env)
    if migrated.returncode != 0:
        raise SystemExit(f"migrate failed: {migrated.stderr}")
    made = run_cli(
        "create-user", "--username", "bench", "--role", "therapist", "--password-stdin",
        env=env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    if made.returncode != 0:
        raise SystemExit(f"create-user failed: {made.stderr}")
    supervise_by_cli(env, "bench", PASSWORD)  # no room opens without a supervisor
    versions = {
        "aiohttp": aiohttp.__version__,
        "redis-py": redis.__version__,
        "redis_server": str(info.get("redis_version")),
        "postgresql": postgres,
        "sqlalchemy": sa.__version__,
    }
    pid = int(info.get("process_id") or 0)
    return env, versions, pid if pid and cpu_seconds_or_none(pid) is not None else None


async def _node(env: dict[str, str]) -> ServerProcess:
    server = ServerProcess(env)
    await asyncio.to_thread(server.wait_ready)
    return server


def _restored(node: ServerProcess) -> int:
    return node.stderr().count('"event": "room_restored"')


# -- a room on the board, across nodes


class Room:
    """A therapist on one node, a young person on another, both on the board."""

    def __init__(self, session: str) -> None:
        self.session = session
        self.therapist: ProtocolPeer
        self.young: ProtocolPeer
        self.t_token = ""
        self.y_token = ""
        self.yid = ""


async def _room(
    staff: LiveStaff, outsider: aiohttp.ClientSession, home: ServerProcess, edge: ServerProcess
) -> Room:
    assert staff.http is not None
    staff.base = home.url
    session, links = await ready_session(staff, name="Bench")
    room = Room(session)
    room.therapist = ProtocolPeer(await staff.http.ws_connect(_ws(home)), media=False)
    await room.therapist.send({"type": "open_room", "session": session})
    room.t_token = (await room.therapist.expect("room_opened", within=WAIT))["resume"]
    room.young = ProtocolPeer(await outsider.ws_connect(_ws(edge)), media=False)
    await room.young.send(join_message(links["young_person"]))
    joined = await room.young.expect("joined", within=WAIT)
    room.yid, room.y_token = joined["you"]["id"], joined["resume"]
    await room.therapist.expect("lobby", within=WAIT)
    await room.therapist.send({"type": "admit", "participant": room.yid})
    await room.young.expect("admitted", within=WAIT)
    await asyncio.gather(room.therapist.open_board(), room.young.open_board())
    return room


async def _draw(peer: ProtocolPeer, sid: str, start: float) -> None:
    for op in stroke(sid, start):
        peer.draw(op)


async def _end(staff: LiveStaff, node: ServerProcess, room: Room) -> None:
    staff.base = node.url
    await staff.api("POST", f"/api/sessions/{room.session}/end")
    for peer in (room.therapist, room.young):
        await peer.close()


async def _comes_back(
    old: ProtocolPeer,
    http: aiohttp.ClientSession,
    node: ServerProcess,
    token: str,
    who: str,
    marks: Marks,
    killed: float,
) -> ProtocolPeer:
    """One side: its socket closes, it resumes through ``node`` and opens the board again."""
    await old.wait_for(lambda: old.ws.closed, within=WAIT)
    marks[f"{who}_socket_closed_ms"] = _ms(time.monotonic() - killed)
    marks[f"{who}_close_code"] = old.ws.close_code
    peer = ProtocolPeer(await http.ws_connect(_ws(node)), media=False)
    await peer.send({"type": "resume", "token": token})
    await peer.expect("resumed", within=WAIT)
    marks[f"{who}_resumed_ms"] = _ms(time.monotonic() - killed)
    await peer.open_board()
    marks[f"{who}_board_ms"] = _ms(time.monotonic() - killed)
    return peer


async def _recovery_round(
    staff: LiveStaff, outsider: aiohttp.ClientSession, nodes: list[ServerProcess]
) -> tuple[dict[str, Any], Room]:
    a, b, c = nodes
    room = await _room(staff, outsider, a, b)
    await asyncio.gather(_draw(room.therapist, "t-1", 100), _draw(room.young, "y-1", 400))
    await room.therapist.wait_for(lambda: room.therapist.board.seq == 42, within=WAIT)
    await room.young.wait_for(lambda: room.young.board.seq == 42, within=WAIT)
    before = room.therapist.board.snapshot()
    restored = {"B": _restored(b), "C": _restored(c)}
    assert staff.http is not None

    marks: Marks = {}
    killed = time.monotonic()
    a.proc.send_signal(signal.SIGKILL)
    old_t, old_y = room.therapist, room.young
    room.therapist, room.young = await asyncio.gather(
        _comes_back(old_t, staff.http, c, room.t_token, "therapist", marks, killed),
        _comes_back(old_y, outsider, b, room.y_token, "young", marks, killed),
    )
    marks["boards_restored_ms"] = _ms(time.monotonic() - killed)
    after_t, after_y = room.therapist.board.snapshot(), room.young.board.snapshot()
    if not after_t == before == after_y:
        raise SystemExit("the board after the takeover differs from the board before it")
    await _draw(room.young, "y-2", 600)
    await room.therapist.wait_for(lambda: room.therapist.board.seq == 42 + 21, within=WAIT)
    marks["room_working_ms"] = _ms(time.monotonic() - killed)

    await asyncio.to_thread(a.proc.wait, 10)
    await asyncio.gather(old_t.close(), old_y.close())
    home = [name for name, node in (("B", b), ("C", c)) if _restored(node) > restored[name]]
    return {**marks, "rebuilt_on": ",".join(home) or "?"}, room


async def _recovery(
    env: dict[str, str], staff: LiveStaff, outsider: aiohttp.ClientSession,
    nodes: list[ServerProcess], rounds: int,
) -> dict[str, Any]:  # fmt: skip
    warm = await _room(staff, outsider, nodes[2], nodes[1])  # unmeasured: C and B warm
    await _end(staff, nodes[2], warm)
    per_round: list[dict[str, Any]] = []
    for i in range(rounds):
        marks, room = await _recovery_round(staff, outsider, nodes)
        per_round.append(marks)
        print(
            f"round {i + 1}: therapist resumed {marks['therapist_resumed_ms']:.0f} ms, young"
            f" {marks['young_resumed_ms']:.0f} ms, boards {marks['boards_restored_ms']:.0f} ms,"
            f" working {marks['room_working_ms']:.0f} ms (rebuilt on {marks['rebuilt_on']})",
            flush=True,
        )
        await _end(staff, nodes[2], room)
        nodes[0] = await _node(env)  # a fresh node where the killed one was
    keys = [
        "therapist_socket_closed_ms", "therapist_resumed_ms", "young_socket_closed_ms",
        "young_resumed_ms", "boards_restored_ms", "room_working_ms",
    ]  # fmt: skip
    figures: dict[str, Any] = {k: _rounded(summary([r[k] for r in per_round])) for k in keys}
    figures["young_close_codes"] = sorted({int(r["young_close_code"]) for r in per_round})
    figures["moved_close_code"] = MOVED
    figures["rounds"] = per_round
    figures["lease_seconds"] = LEASE_SECONDS
    figures["client"] = (
        "tests.client.ProtocolPeer, media=False (board over its data connection to the"
        " server); resumes as soon as its socket closes, as a browser page first tries"
    )
    return figures


# -- signalling across nodes


async def _until(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        message = json.loads((await asyncio.wait_for(ws.receive(), WAIT)).data)
        if message["type"] == kind:
            return dict(message)
        if message["type"] == "error":
            raise RuntimeError(message["message"])


async def _enter_elsewhere(
    staff: LiveStaff, outsider: aiohttp.ClientSession,
    home: ServerProcess, near: ServerProcess, far: ServerProcess,
) -> Pair:  # fmt: skip
    """A room at home on ``home``: its therapist opens it there and resumes through ``near``;
    its young person joins through ``far``. The young person sends."""
    assert staff.http is not None
    staff.base = home.url
    session, links = await ready_session(staff, name="Bench")
    opening = await staff.http.ws_connect(_ws(home))
    await opening.send_str(json.dumps({"v": 1, "type": "open_room", "session": session}))
    opened = await _until(opening, "room_opened")
    await opening.close()
    therapist = await staff.http.ws_connect(_ws(near))
    await therapist.send_str(json.dumps({"v": 1, "type": "resume", "token": opened["resume"]}))
    await _until(therapist, "resumed")
    young = await outsider.ws_connect(_ws(far))
    await young.send_str(json.dumps({"v": 1, **join_message(links["young_person"])}))
    yid = await _read_until(young, "joined")
    await therapist.send_str(json.dumps({"v": 1, "type": "admit", "participant": yid}))
    await _read_until(young, "admitted")
    READERS.watch(young)
    READERS.watch(therapist)
    return young, therapist, str(opened["you"]["id"])


def _wrap(dst: str, candidate: dict[str, object]) -> str:
    return json.dumps({"v": 1, "type": "signal", "to": dst, "candidate": candidate})


def _cpu(pids: list[int]) -> float:
    return sum(cpu_seconds_or_none(pid) or 0.0 for pid in pids)


async def _placement(
    enter: Callable[[], Awaitable[Pair]], rooms: list[int], pids: list[int], redis_pid: int | None
) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    pairs: list[Pair] = []
    try:
        for n in rooms:
            while len(pairs) < n:
                pairs.append(await enter())
            nodes_before = _cpu(pids)
            redis_before = cpu_seconds_or_none(redis_pid) if redis_pid else None
            phase = summary(await _run(pairs[:n], _wrap))
            redis_after = cpu_seconds_or_none(redis_pid) if redis_pid else None
            if phase["n"] >= CPU_MESSAGES:
                phase["node_cpu_us_per_message"] = (_cpu(pids) - nodes_before) / phase["n"] * 1e6
                if redis_before is not None and redis_after is not None:
                    redis_cpu = (redis_after - redis_before) / phase["n"] * 1e6
                    phase["redis_cpu_us_per_message"] = redis_cpu
            figures[f"{n}_rooms"] = _rounded(phase)
    finally:
        await _end_rooms(pairs)
    return figures


async def _end_rooms(pairs: list[Pair]) -> None:
    """Each therapist ends their room, and every socket is closed by its server: no room is
    left to end by itself (its grace window over) while the next placement is measured."""
    reading = [task for task in READERS.tasks if not task.done()]
    for _, therapist, _ in pairs:
        await therapist.send_str(json.dumps({"v": 1, "type": "end_room"}))
    if reading:
        await asyncio.wait(reading, timeout=WAIT)
    READERS.stop()
    for young, therapist, _ in pairs:
        await young.close()
        await therapist.close()


def _penalty(base: dict[str, float], other: dict[str, float]) -> dict[str, float]:
    return {
        "p50_ms": round(other["median"] - base["median"], 2),
        "p50_ratio": round(other["median"] / base["median"], 2),
        "p99_ms": round(other["p99"] - base["p99"], 2),
        "p99_ratio": round(other["p99"] / base["p99"], 2),
    }


async def _signalling(
    staff: LiveStaff, nodes: list[ServerProcess], rooms: list[int], redis_pid: int | None
) -> dict[str, Any]:
    a, b, c = nodes
    outsider = _session()
    pids = [node.proc.pid for node in nodes]

    async def one_node() -> Pair:
        staff.base = a.url
        return await _enter(staff, outsider, _ws(a))

    async def two_nodes() -> Pair:
        staff.base = a.url
        return await _enter(staff, outsider, _ws(b))

    async def home_elsewhere() -> Pair:
        return await _enter_elsewhere(staff, outsider, c, a, b)

    placements: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for name, enter in (
            ("one_node", one_node), ("two_nodes", two_nodes), ("home_elsewhere", home_elsewhere),
        ):  # fmt: skip
            placements[name] = await _placement(enter, rooms, pids, redis_pid)
    finally:
        await outsider.close()
    figures: dict[str, Any] = {}
    for n in rooms:
        key = f"{n}_rooms"
        base = placements["one_node"][key]
        figures[key] = {name: placements[name][key] for name in placements}
        figures[key]["penalty"] = {
            name: _penalty(base, placements[name][key]) for name in placements if name != "one_node"
        }
        line = f"{n:>3} rooms:"
        for name in placements:
            got = placements[name][key]
            line += f" {name} p50 {got['median']:.2f} p99 {got['p99']:.2f} ms |"
        print(line.rstrip(" |"), flush=True)
    figures["message"] = "an ICE candidate, young person to therapist, 20 a room, one every 50 ms"
    return figures


def _comparisons(rooms: list[int]) -> list[dict[str, Any]]:
    """In report.py's form: each placement that crosses nodes over ``one_node``, the "peer"
    here being Playroom itself on one node."""
    at = "signalling_across_nodes"
    return [
        {
            "label": f"{n} rooms, {name.replace('_', ' ')}",
            "playroom": f"{at}/{n}_rooms/{name}",
            "peer": f"{at}/{n}_rooms/one_node",
            "peer_name": "one node",
            "keys": ["median", "p99"],
        }
        for n in rooms
        for name in ("two_nodes", "home_elsewhere")
    ]


async def main(rounds: int = ROUNDS, rooms: list[int] | None = None) -> dict[str, Any]:
    rooms = rooms or ROOMS
    env, versions, redis_pid = await _prepare()
    nodes: list[ServerProcess] = []
    staff = LiveStaff("", "bench", PASSWORD)
    outsider = _session()
    try:
        nodes = list(await asyncio.gather(*(_node(env) for _ in range(3))))
        await staff.sign_in(nodes[0].url)  # the staff cookie works on every node
        recovery = await _recovery(env, staff, outsider, nodes, rounds)
        crossing = await _signalling(staff, nodes, rooms, redis_pid)
    finally:
        await outsider.close()
        await staff.close()
        for node in nodes:
            await asyncio.to_thread(node.stop)
    figures: dict[str, Any] = {
        "recovery_after_node_death": recovery,
        "signalling_across_nodes": crossing,
        "compare": _comparisons(rooms),  # report.py's comparisons
    }
    path = write("several_nodes", figures, versions)
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    started = time.monotonic()
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(args[0] if args else ROUNDS, args[1:] or None))
    print(f"took {time.monotonic() - started:.0f} s")
