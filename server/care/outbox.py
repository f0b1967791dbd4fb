"""The outbox: invitations, change notices and reminders kept in the database until sent
(``outbox``), so that a restart loses none and several nodes send each once.

One row per session, kind and channel (unique). A node claims a due row in one ``UPDATE``
that matches only while nobody holds it (no lease, or a lease run out), setting a lease and
a claim token of its own: of two nodes that read the same row, one changes it and the other
matches nothing (the same on SQLite and PostgreSQL). The lease outlasts a send (each gives
up after ``smtp_timeout_seconds``), so a slow send is not sent twice; a node that dies
halfway leaves the row to be claimed again when its lease runs out. A failure is kept as a
code for the therapist's page, and the row is tried again after a wait that doubles each
time, until ``max_attempts``, when it stays failed."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.care.delivery import DeliveryFailed
from server.storage.db import Database, utcnow
from server.storage.mail_models import OutboxMessage
from server.storage.models import new_id

log = logging.getLogger(__name__)
PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
LONGEST_WAIT = timedelta(hours=6)  # between two tries, however many failed
BATCH = 50  # rows claimed in one round by one node


@dataclass(frozen=True)
class Claimed:
    """A row this node holds until its lease runs out: send it, then say how it went."""

    id: str
    claim: str
    client_id: str
    appointment_id: str | None
    kind: str
    channel: str
    link_id: str | None
    base: str | None
    lang: str
    attempts: int


class Skip(Exception):  # noqa: N818 - an outcome, not a fault
    """Nothing to send after all (no address now, the session gone): kept as ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Wait(Exception):  # noqa: N818 - an outcome, not a fault
    """Not to be sent yet, through no fault of the sending (the gate does not allow the
    session yet: no consent so far): tried again later, the try not counted, so that an
    invitation queued before the parent consents goes once they have."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Outbox:
    def __init__(self, db: Database, lease: float, retry: float, max_attempts: int) -> None:
        self.db = db
        self.lease = timedelta(seconds=lease)
        self.retry = timedelta(seconds=retry)
        self.max_attempts = max_attempts

    async def queue(
        self,
        client_id: str,
        appointment_id: str | None,
        kind: str,
        channel: str,
        *,
        base: str | None = None,
        link_id: str | None = None,
        lang: str = "en",
        again: bool = True,
        due_at: datetime | None = None,
    ) -> bool:
        """Put a message in the outbox, due now (or at ``due_at``). One already there for
        the same session, kind and channel is sent again when ``again`` (a new invitation,
        a second move), and left as it is otherwise (a reminder goes once). Whether a row
        was made or set going again."""
        now = utcnow()
        values = {
            "status": PENDING,
            "due_at": due_at or now,
            "lease_until": None,
            "claim": None,
            "attempts": 0,
            "last_error": None,
            "sent_at": None,
            "base": base,
            "link_id": link_id,
            "lang": lang,
        }
        for _ in range(2):  # a second node inserting the same row at once: update it
            try:
                async with self.db.session() as session:
                    row = None
                    if appointment_id is not None:
                        row = await session.scalar(
                            sa.select(OutboxMessage).where(
                                OutboxMessage.appointment_id == appointment_id,
                                OutboxMessage.kind == kind,
                                OutboxMessage.channel == channel,
                            )
                        )
                    if row is None:
                        session.add(
                            OutboxMessage(
                                id=new_id(),
                                client_id=client_id,
                                appointment_id=appointment_id,
                                kind=kind,
                                channel=channel,
                                created_at=now,
                                **values,
                            )
                        )
                        return True
                    if not again:
                        return False
                    for key, value in values.items():
                        setattr(row, key, value)
                    return True
            except IntegrityError:
                continue
        return False

    async def drop(
        self, appointment_id: str, kinds: tuple[str, ...], *, unsent: bool = False
    ) -> None:
        """Forget a session's rows of ``kinds`` (a kind ending in ``_``: every kind it
        begins, e.g. ``reminder_``); ``unsent``: only those not sent."""
        where = [
            OutboxMessage.appointment_id == appointment_id,
            sa.or_(
                *(
                    OutboxMessage.kind.startswith(k) if k.endswith("_") else OutboxMessage.kind == k
                    for k in kinds
                )
            ),
        ]
        if unsent:
            where.append(OutboxMessage.status != SENT)
        async with self.db.session() as session:
            await session.execute(
                sa.delete(OutboxMessage).where(*where).execution_options(synchronize_session=False)
            )

    def _ready(self, now: datetime) -> list[sa.ColumnElement[bool]]:
        """What a row must be to be claimed now: pending, due, and held by nobody."""
        free = sa.or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now)
        return [OutboxMessage.status == PENDING, OutboxMessage.due_at <= now, free]

    async def due_ids(self, now: datetime | None = None) -> list[str]:
        """The rows due now that nobody holds, oldest first (at most ``BATCH``)."""
        async with self.db.read() as session:
            return list(
                await session.scalars(
                    sa.select(OutboxMessage.id)
                    .where(*self._ready(now or utcnow()))
                    .order_by(OutboxMessage.due_at)
                    .limit(BATCH)
                )
            )

    async def claim(self, row_id: str, now: datetime | None = None) -> Claimed | None:
        """Claim one row, if it is still due and nobody holds it: this node's alone to send
        until its lease runs out (None: another node has it, or it is no longer due). A row
        is claimed only just before it is sent, so its lease runs from then: rows claimed a
        round at a time would see the later ones' leases run out while the earlier ones were
        sent to a slow mail server, and another node send them too."""
        now = now or utcnow()
        token = secrets.token_hex(16)
        async with self.db.session() as session:
            result = await session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id == row_id, *self._ready(now))
                .values(
                    lease_until=now + self.lease,
                    claim=token,
                    attempts=OutboxMessage.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = await session.get(OutboxMessage, row_id, populate_existing=True)
            assert row is not None
            return _claimed(row)

    async def sent(self, claimed: Claimed) -> None:
        await self._settle(claimed, status=SENT, sent_at=utcnow(), last_error=None)

    async def skipped(self, claimed: Claimed, reason: str) -> None:
        await self._settle(claimed, status=SKIPPED, last_error=reason[:40])

    async def later(self, claimed: Claimed, reason: str) -> None:
        """Not yet (``Wait``): due again after the shortest wait, the try given back."""
        await self._settle(
            claimed,
            due_at=utcnow() + min(self.retry * 4, LONGEST_WAIT),
            attempts=claimed.attempts - 1,
            last_error=reason[:40],
        )

    async def failed(self, claimed: Claimed, code: str) -> None:
        """Tried again after a wait that doubles with each failure, or given up."""
        if claimed.attempts >= self.max_attempts:
            await self._settle(claimed, status=FAILED, last_error=code[:40])
            return
        wait = min(self.retry * 2 ** (claimed.attempts - 1), LONGEST_WAIT)
        await self._settle(claimed, due_at=utcnow() + wait, last_error=code[:40])

    async def _settle(self, claimed: Claimed, **values: object) -> None:
        """The outcome of a send, only while this node's claim is still the row's (a row
        set going again meanwhile, or claimed by another node, is left as it is)."""
        async with self.db.session() as session:
            await session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id == claimed.id, OutboxMessage.claim == claimed.claim)
                .values(lease_until=None, **values)
                .execution_options(synchronize_session=False)
            )

    async def for_appointment(
        self, appointment_id: str, session: AsyncSession | None = None
    ) -> list[OutboxMessage]:
        """A session's messages, as its page shows them: oldest first."""
        async with self.db.read(session) as session:
            rows = await session.scalars(
                sa.select(OutboxMessage)
                .where(OutboxMessage.appointment_id == appointment_id)
                .order_by(OutboxMessage.created_at, OutboxMessage.kind)
            )
            return list(rows)

    async def run(self, deliver: Callable[[Claimed], Awaitable[None]]) -> int:
        """One round of the periodic job: claim what is due, send each, record how it
        went. A ``Skip`` is kept as skipped, a ``Wait`` tried again later without counting;
        any other exception as a failure to retry.
        Returns how many were sent."""
        count = 0
        for row_id in await self.due_ids():
            claimed = await self.claim(row_id)
            if claimed is None:
                continue  # another node has it, or it changed meanwhile
            try:
                await deliver(claimed)
            except Skip as exc:
                await self.skipped(claimed, exc.reason)
            except Wait as exc:
                await self.later(claimed, exc.reason)
            except DeliveryFailed as exc:
                log.warning("a message was not sent", extra={"event": exc.code})
                await self.failed(claimed, exc.code)
            except Exception as exc:  # noqa: BLE001 - one message's fault never stops the rest
                log.exception("a message could not be made", extra={"event": "outbox_error"})
                await self.failed(claimed, type(exc).__name__)
            else:
                await self.sent(claimed)
                count += 1
        return count


def _claimed(row: OutboxMessage) -> Claimed:
    assert row.claim is not None
    return Claimed(
        row.id,
        row.claim,
        row.client_id,
        row.appointment_id,
        row.kind,
        row.channel,
        row.link_id,
        row.base,
        row.lang,
        row.attempts,
    )
