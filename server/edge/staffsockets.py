"""The open sockets of signed-in staff (rooms, dashboards), by the session each was opened
with. A socket outlives the request that opened it, so it checks its session again: every
``session_check_seconds`` this node asks the shared database which of its sockets' sessions
are still live, in one query, and closes the others with ``SIGNED_OUT``. That reaches every
node within that interval whoever ended the session: a sign-out on any node, "sign out
everywhere", ending a session from another device, or ``playroom disable-user`` (a process
with no bus at all). A sign-out on this node checks at once.

The same round keeps "last seen" of a session in use by a socket alone (a room open for an
hour), at most once a minute (``access/sessions.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from server.access.sessions import SEEN_EVERY, StaffSessions
from server.exceptions import STORAGE_FAILURES
from server.live.hub import Socket
from server.storage.db import utcnow

log = logging.getLogger(__name__)
# the close code of a socket whose sign-in ended: the page goes to the sign-in page and does
# not come back by itself (``docs/protocol.md``, Closing)
SIGNED_OUT = 4401


class StaffSockets:
    """This node's staff sockets by session id; closes those whose session has ended."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.by_session: dict[str, set[Socket]] = {}
        self._wake = asyncio.Event()

    def add(self, socket: Socket, session_id: str) -> None:
        self.by_session.setdefault(session_id, set()).add(socket)

    def discard(self, socket: Socket, session_id: str) -> None:
        sockets = self.by_session.get(session_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self.by_session[session_id]

    def check_now(self) -> None:
        """A session ended here: check without waiting for the next round."""
        self._wake.set()

    async def check(self, sessions: StaffSessions) -> int:
        """One round: close the sockets of sessions no longer live; returns how many."""
        ids = set(self.by_session)
        if not ids:
            return 0
        live = await sessions.live(ids)
        now = utcnow()
        stale = [sid for sid, seen in live.items() if now - seen >= SEEN_EVERY]
        if stale:
            await sessions.seen(stale, now)
        closing = [s for sid in ids - live.keys() for s in self.by_session.pop(sid, set())]
        if closing:
            log.info(
                "signed-out sockets closed", extra={"event": "signed_out", "count": len(closing)}
            )
        await asyncio.gather(
            *(s.close(code=SIGNED_OUT, message=b"signed out") for s in closing),
            return_exceptions=True,
        )
        return len(closing)

    async def run(self, sessions: StaffSessions) -> None:
        """Check every ``every`` seconds, and at once when woken, until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.every)  # the interval itself
            self._wake.clear()
            try:
                await self.check(sessions)
            except STORAGE_FAILURES:  # the database is away: the next round tries again
                log.warning("session check failed", extra={"event": "session_check_failed"})
            except Exception:  # sockets must go on being checked whatever happens
                log.exception("session check failed", extra={"event": "session_check_failed"})
