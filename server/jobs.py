"""What runs beside the requests once the application has started, each as one of its
``cleanup_ctx`` (in ``JOBS``' order, after storage; closed in the reverse order): periodic
rounds (checkpoints, retention, escalation alerts, the outbox, rooms nobody came back to),
the other nodes, the rooms rebuilt after a restart, staff sockets' sign-ins, and sockets
told they are busy. ``app.py`` builds what they use."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from server.appkeys import (
    BUSY,
    HUB,
    INVITATIONS,
    RETENTION,
    SESSION_LOG,
    SETTINGS,
    STAFF_SESSIONS,
    STAFF_SOCKETS,
)
from server.edge import continuity, escalation, rebuilt, unreturned, working
from server.exceptions import StorageUnavailable
from server.nodes.relay import RELAY

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def _every(seconds: float, job: Callable[[], Awaitable[object]]) -> AsyncIterator[None]:
    """Run ``job`` every ``seconds`` while inside; a round that finds the database read-only
    is skipped, and one that fails otherwise is logged: the next one tries again."""

    async def run() -> None:
        while True:
            await asyncio.sleep(seconds)  # the interval itself
            try:
                await job()
            except StorageUnavailable:
                pass
            except Exception:  # a round's fault must not end every later round
                log.exception("a periodic job failed", extra={"event": "job_failed"})

    task = asyncio.create_task(run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _working_ctx(app: web.Application) -> AsyncIterator[None]:
    """Sockets busy with a slow frame are told so, often enough for their pages
    (``edge/working.py``)."""
    async with _every(working.CHECK_SECONDS, app[BUSY].tell):
        yield


async def _staff_sockets_ctx(app: web.Application) -> AsyncIterator[None]:
    """Staff sockets check their sign-in is still live (``edge/staffsockets.py``)."""
    task = asyncio.create_task(app[STAFF_SOCKETS].run(app[STAFF_SESSIONS]))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _witness_ctx(app: web.Application) -> AsyncIterator[None]:
    """Send the witness what it has not seen yet, at regular intervals (``witnessing.py``)."""
    witnessing = app[SESSION_LOG].witnessing
    task = asyncio.create_task(witnessing.run()) if witnessing is not None else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _checkpoints_ctx(app: web.Application) -> AsyncIterator[None]:
    """Sign the head of every log that changed, at regular intervals."""
    log = app[SESSION_LOG]

    async def checkpoint() -> None:
        for stream in await log.unsealed_streams():
            await log.checkpoint(stream)

    async with _every(app[SETTINGS].log_checkpoint_seconds, checkpoint):
        yield


async def _retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """Delete what is past its retention period, at regular intervals (``playroom purge``
    runs the same)."""
    async with _every(app[SETTINGS].purge_interval_seconds, app[RETENTION].purge):
        yield


async def _bus_ctx(app: web.Application) -> AsyncIterator[None]:
    """The other nodes (Redis), or none: opened once the database is."""
    hub, relay = app[HUB], app[RELAY]
    hub.bus.live_rooms = lambda: set(hub.rooms.by_session)
    await hub.bus.start()
    await relay.start()
    yield
    await relay.close()
    await hub.bus.close()


async def _rebuilt_ctx(app: web.Application) -> AsyncIterator[None]:
    """The rooms this process held before it started, rebuilt beside the first requests
    (``edge/rebuilt.py``); resumes wait for them."""
    app[HUB].held.clear()
    task = asyncio.create_task(rebuilt.rebuild_held(app, continuity.lose_after))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _escalations_ctx(app: web.Application) -> AsyncIterator[None]:
    """Send the escalation alerts that are due, whichever node raised them (a quarter of the
    repeat interval late at most, and never more than 5 s)."""
    every = min(app[SETTINGS].escalation_repeat_seconds / 4, 5.0)
    async with _every(every, lambda: escalation.send_due(app)):
        yield


async def _outbox_ctx(app: web.Application) -> AsyncIterator[None]:
    """Send the invitations, change notices and reminders that are due, from whichever node
    claims each first (``care/outbox.py``)."""
    async with _every(app[SETTINGS].outbox_poll_seconds, app[INVITATIONS].tick):
        yield


async def _unreturned_ctx(app: web.Application) -> AsyncIterator[None]:
    """Close the log of each room nobody came back to after a crash (``unreturned.py``),
    looked for every quarter of the grace window (at least every 30 s)."""
    every = min(app[SETTINGS].reconnect_grace_seconds / 4, 30.0)
    async with _every(every, lambda: unreturned.settle(app)):
        yield


JOBS = (
    _staff_sockets_ctx,
    _checkpoints_ctx,
    _witness_ctx,
    _retention_ctx,
    _bus_ctx,
    _rebuilt_ctx,
    _escalations_ctx,
    _unreturned_ctx,
    _outbox_ctx,
    _working_ctx,
)
