"""Sign-in failures, counted per username and address, with waits that grow.

Each pair of (username, address) has its own count, kept in the database so that every node
sees it. After ``free`` failures in a row the pair waits before its next attempt, 1 s, and
each further failure doubles the wait: 2, 4, 8... up to ``longest`` seconds. A right
password (and code) clears the pair's count. An attempt made while the pair waits is refused
without the password being looked at.

What this defends against, and what not (``docs/security.md``):
- online guessing from one address: after a handful of tries, a few attempts an hour;
- finding out which usernames exist: a username with no account is counted and answered
  exactly like one with an account (same words, same status, the same Argon2 work);
- locking a therapist out: a stranger's failures count against the stranger's address only,
  so the therapist signing in from anywhere else is never made to wait.
It does not stop guessing spread over many addresses (each has its own count: the second
factor is what stands there), nor spare a therapist who shares one address (a clinic's
network, one IPv6 /64) with whoever is guessing; an administrator's ``playroom unlock``
clears every count of a username.

The address is kept only inside a keyed hash with the username (``key``); IPv6 addresses
count by their /64, the block one household or device is given."""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.crypto.keys import KeyRing
from server.exceptions import SignInDelayed
from server.storage.db import Database, utcnow
from server.storage.models import SignInFailure

# a pair with no failure for this long starts again from nothing; the retention run
# deletes its row (``records/retention.py``)
FORGET_AFTER = timedelta(days=1)


def network_of(address: str) -> str:
    """The unit an address is counted by: itself, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # "::ffff:192.0.2.1" is 192.0.2.1
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def wait_after(failures: int, free: int, longest: float) -> float:
    """Seconds to wait after ``failures`` in a row: none before ``free`` of them, 1 after
    the ``free``-th, then 2, 4... never more than ``longest``."""
    if failures < free:
        return 0.0
    return float(min(longest, 2 ** min(failures - free, 40)))


def _in_words(seconds: float) -> str:
    if seconds < 90:
        whole = max(1, int(seconds + 0.999))
        return f"{whole} second{'s' if whole != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


class Lockout:
    """Failed sign-ins per (username, address), in the database."""

    def __init__(
        self,
        db: Database,
        ring: KeyRing,
        free: int = 5,
        longest: float = 900,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.ring = ring
        self.free = free
        self.longest = longest
        self.clock = clock

    def _key(self, login_index: str, address: str) -> str:
        return self.ring.blind_index(f"{login_index}|{network_of(address)}")

    async def attempt(self, login_index: str, address: str) -> None:
        """Count an attempt as a failure before it is checked (``right`` takes it back),
        or refuse it while the pair waits. Counting first, in one transaction under the
        database's write lock, means attempts sent at once are counted one after another:
        none slips past a wait another has just begun."""
        now = self.clock()
        key = self._key(login_index, address)
        async with self.db.session() as session:
            await _write_lock(session, key)
            row = await session.get(SignInFailure, key)
            if row is not None and row.last_failed_at < now - FORGET_AFTER:
                row.failures = 0
            if row is not None and row.wait_until is not None and row.wait_until > now:
                left = (row.wait_until - now).total_seconds()
                raise SignInDelayed(
                    "Too many attempts to sign in with this username from here. "
                    f"Try again in {_in_words(left)}."
                )
            if row is None:
                row = SignInFailure(key=key, login_index=login_index, failures=0)
                session.add(row)
            row.failures += 1
            row.last_failed_at = now
            wait = wait_after(row.failures, self.free, self.longest)
            row.wait_until = now + timedelta(seconds=wait) if wait else None

    async def right(self, login_index: str, address: str, *, signed_in: bool) -> None:
        """The attempt was right. Once the person is ``signed_in`` (both factors), the pair
        starts again from nothing; a right password alone only takes its own count back, so
        that knowing the password never clears what wrong codes have counted."""
        key = self._key(login_index, address)
        async with self.db.session() as session:
            if signed_in:
                await session.execute(sa.delete(SignInFailure).where(SignInFailure.key == key))
                return
            await session.execute(
                sa.update(SignInFailure)
                .where(SignInFailure.key == key, SignInFailure.failures > 0)
                .values(failures=SignInFailure.failures - 1, wait_until=None)
            )

    async def unlock(self, login_index: str) -> int:
        """An administrator's unlock: every address's count for this username goes."""
        async with self.db.session() as session:
            done = await session.execute(
                sa.delete(SignInFailure).where(SignInFailure.login_index == login_index)
            )
        return int(cast(sa.CursorResult[Any], done).rowcount)


async def _write_lock(session: AsyncSession, key: str) -> None:
    """Hold the database's write lock for ``key`` until the transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        lock = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
    else:  # SQLite: a write statement first takes its one write lock (waiting if need be)
        await session.execute(
            sa.update(SignInFailure).where(sa.false()).values(failures=SignInFailure.failures)
        )
