"""Liveness and readiness probes, and an administrator's view of what a process holds."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import resource
import sys
from pathlib import Path

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from server.access.auth import staff_only
from server.appkeys import DATABASE, HUB, WHITEBOARDS
from server.storage.db import Database
from server.storage.models import Role

routes = web.RouteTableDef()
log = logging.getLogger(__name__)


@routes.get("/healthz", name="healthz")
async def healthz(request: web.Request) -> web.StreamResponse:
    """The process is up and answering."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz", name="readyz")
async def readyz(request: web.Request) -> web.StreamResponse:
    """The process can serve: the database answers."""
    try:
        await request.app[DATABASE].ping()
    except (SQLAlchemyError, OSError) as exc:
        log.warning("database not reachable", extra={"event": type(exc).__name__})
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    if not await request.app[HUB].bus.ping():  # with several nodes, Redis too
        body = {"status": "unavailable", "database": "ok", "bus": "unreachable"}
        return web.json_response(body, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


@routes.get("/ops/status", name="ops_status")
@staff_only(Role.ADMIN)
async def status(request: web.Request) -> web.StreamResponse:
    """What this process holds, for an administrator watching for leaks: live rooms and
    people, sockets, server peers, boards in memory, asyncio tasks, open files and memory.
    Counts only: nothing about who is in which room.

    With ``?collect=1`` also what Python itself holds, after a full collection (so that only
    what is still reachable counts): resident memory keeps the allocator's high-water mark,
    these come back down when nothing leaks. A collection stops the event loop for a moment
    (media, heartbeats), so it is only made when asked for."""
    hub, whiteboards = request.app[HUB], request.app[WHITEBOARDS]
    fds, rss = _process()
    python: dict[str, int] = {}
    if request.query.get("collect") == "1":
        gc.collect()
        python["python_objects"] = len(gc.get_objects())
        python["python_blocks"] = sys.getallocatedblocks()
    return web.json_response(
        {
            "node": hub.bus.node_id,
            "rooms": len(hub.rooms.by_session),
            "participants": sum(len(r.participants) for r in hub.rooms.by_session.values()),
            "sockets": len(hub.all),
            "resumable": len(hub.resumable),
            "grace_timers": len(hub.grace),
            "server_peers": len(whiteboards.peers),
            "boards": len(whiteboards.boards),
            "tasks": len(asyncio.all_tasks()),
            "database_connections": _pooled(request.app[DATABASE]),
            "open_files": fds,
            "rss_bytes": rss,
            **python,
        }
    )


def _process() -> tuple[int, int]:
    """Open files and resident memory of this process (from /proc: no waiting on a disk)."""
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else -1
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # the peak, in bytes
    with contextlib.suppress(OSError, ValueError, IndexError):
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        rss = pages * os.sysconf("SC_PAGE_SIZE")  # now, where Linux tells
    return fds, rss


def _pooled(db: Database) -> int:
    """Connections the database pool holds open, in use or idle (each holds files open)."""
    pool = db.engine.pool
    counts = [getattr(pool, name, None) for name in ("checkedin", "checkedout")]
    return sum(int(count()) for count in counts if callable(count))
