"""Staff sessions, kept in the database that every node shares: one row per device signed in.

The cookie carries a random token; the row keeps only its hash, with the account, the times
(signed in, last seen, expiry) and the device as a person recognises it (``devices.py``).
Ending the row ends every copy of the cookie, on every node: a sign-out ends that session,
"sign out everywhere" and a disabled account end all of the account's, and a person ends any
of theirs from "Where you are signed in". Open sockets follow within a second
(``edge/staffsockets.py``)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa

from server.access.accounts import Accounts, StaffView
from server.access.devices import describe
from server.storage.db import Database, utcnow
from server.storage.models import StaffSession, User

# "last seen" moves on at most this often: a write a minute at most per session
SEEN_EVERY = timedelta(seconds=60)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignIn:
    """One session as its owner sees it."""

    id: str
    device: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Found:
    """The person a cookie's token signs in, and the session it names."""

    user: StaffView
    sign_in: SignIn


def _sign_in(row: StaffSession) -> SignIn:
    return SignIn(row.id, row.device, row.created_at, row.last_seen_at, row.expires_at)


def _live(now: datetime) -> sa.ColumnElement[bool]:
    """A session that has not expired, of an account still enabled."""
    enabled = sa.select(User.id).where(User.disabled.is_(False))
    return sa.and_(StaffSession.expires_at > now, StaffSession.user_id.in_(enabled))


class StaffSessions:
    """Staff sessions on the server. Every method opens its own unit of work."""

    def __init__(self, db: Database, accounts: Accounts, max_age: int) -> None:
        self.db = db
        self.accounts = accounts
        self.max_age = timedelta(seconds=max_age)

    async def start(self, user_id: str, user_agent: str | None) -> str:
        """A new session for a person fully signed in; returns the cookie's token. Their
        sessions that have expired go now."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.db.session() as session:
            await session.execute(
                sa.delete(StaffSession).where(
                    StaffSession.user_id == user_id, StaffSession.expires_at <= now
                )
            )
            session.add(
                StaffSession(
                    token_hash=token_hash(token),
                    user_id=user_id,
                    device=describe(user_agent),
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + self.max_age,
                )
            )
        return token

    async def find(self, token: str) -> Found | None:
        """Who this token signs in, if its session is live; "last seen" moves on when it is
        more than a minute old."""
        now = utcnow()
        async with self.db.read() as session:
            found = (
                await session.execute(
                    sa.select(StaffSession, User)
                    .join(User, User.id == StaffSession.user_id)
                    .where(StaffSession.token_hash == token_hash(token), _live(now))
                )
            ).first()
            if found is None:
                return None
            row, user = found
            view, sign_in = self.accounts.view(user), _sign_in(row)
        if now - sign_in.last_seen_at >= SEEN_EVERY:
            await self.seen([sign_in.id], now)
        return Found(view, sign_in)

    async def seen(self, ids: Iterable[str], now: datetime | None = None) -> None:
        """These sessions were in use just now."""
        now = now or utcnow()
        async with self.db.session() as session:
            await session.execute(
                sa.update(StaffSession)
                .where(StaffSession.id.in_(list(ids)), StaffSession.last_seen_at < now)
                .values(last_seen_at=now)
            )

    async def of(self, user_id: str) -> list[SignIn]:
        """This person's live sessions, the most recently seen first."""
        async with self.db.read() as session:
            rows = await session.scalars(
                sa.select(StaffSession)
                .where(StaffSession.user_id == user_id, _live(utcnow()))
                .order_by(StaffSession.last_seen_at.desc(), StaffSession.created_at.desc())
            )
            return [_sign_in(row) for row in rows]

    async def live(self, ids: Iterable[str]) -> dict[str, datetime]:
        """Which of these sessions are still live, with when each was last seen."""
        wanted = list(ids)
        if not wanted:
            return {}
        async with self.db.read() as session:
            rows = await session.execute(
                sa.select(StaffSession.id, StaffSession.last_seen_at).where(
                    StaffSession.id.in_(wanted), _live(utcnow())
                )
            )
            return {sid: seen for sid, seen in rows}

    async def end(self, token: str) -> None:
        """Sign out: the session this token names ends, for every copy of the cookie."""
        await self._delete(StaffSession.token_hash == token_hash(token))

    async def end_one(self, user_id: str, session_id: str) -> bool:
        """End one of this person's sessions (from "Where you are signed in")."""
        where = sa.and_(StaffSession.id == session_id, StaffSession.user_id == user_id)
        return await self._delete(where) > 0

    async def end_all(self, user_id: str) -> int:
        """Sign out everywhere: every session of this account ends."""
        return await self._delete(StaffSession.user_id == user_id)

    async def _delete(self, where: sa.ColumnElement[bool]) -> int:
        async with self.db.session() as session:
            done = await session.execute(sa.delete(StaffSession).where(where))
        return int(cast(sa.CursorResult[Any], done).rowcount)
