"""An escalation's alerts, kept in the database until someone acknowledges: when the next
one is due, how many have been sent, and who is next on the rota (``escalation_repeats``).

Any node sends a due alert, so a restart or a node's death loses none. A node claims one
turn by moving ``due_at`` on, in one ``UPDATE`` that matches only while ``attempt`` is still
what it read: of two nodes that read the same due row, one changes it and the other matches
nothing (the same on SQLite and PostgreSQL). The claim holds the row for one interval, and
at least ``CLAIM_SECONDS`` (long enough to send: each notifier gives up after 10 s); the
rota moves on only once the turn is sent, so a node that dies halfway leaves the same turn
to be sent again by another node when the claim runs out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.care.rota import Entry, first_wave
from server.storage.db import Database, utcnow
from server.storage.session_models import EscalationRepeat

CLAIM_SECONDS = 30.0  # a claim outlasts the slowest send, so no turn goes out twice
HOLD_SECONDS = 5.0  # the raising node's hold on the first turn: another node's after this


@dataclass(frozen=True)
class Turn:
    """One alert of an escalation, claimed by this node: whom it goes to."""

    escalation_id: str
    attempt: int
    targets: list[Entry]
    next_index: int  # where the rota goes on once this turn is sent
    first: bool  # the first alert, sent when the escalation is raised


def _turn(row: EscalationRepeat) -> Turn:
    entries = [
        Entry(str(e["id"]), bool(e["on_shift"]), bool(e["own"])) for e in json.loads(row.rota)
    ]
    if not entries:
        targets: list[Entry] = []
    elif row.next_index == 0:
        targets = first_wave(entries)  # the first alert: everyone who comes first, at once
    else:
        targets = [entries[row.next_index % len(entries)]]  # then one by one, round again
    return Turn(
        row.escalation_id,
        row.attempt,
        targets,
        row.next_index + max(len(targets), 1),
        first=row.next_index == 0,
    )


class Repeats:
    def __init__(self, db: Database, every: float) -> None:
        self.db = db
        self.every = timedelta(seconds=every)
        self.claim = timedelta(seconds=max(every, CLAIM_SECONDS))
        self.hold = timedelta(seconds=min(every, HOLD_SECONDS))

    def add(
        self, session: AsyncSession, escalation_id: str, rota: list[Entry], now: datetime
    ) -> None:
        """The escalation's first alert, in the transaction that raises it: held for the
        node that raised it (``take_first``) for a moment, then anyone's."""
        session.add(
            EscalationRepeat(
                escalation_id=escalation_id,
                due_at=now + self.hold,
                attempt=0,
                rota=json.dumps([e.as_dict() for e in rota]),
                next_index=0,
            )
        )

    async def take_first(self, escalation_id: str, node: str) -> Turn | None:
        """The raising node's claim on the first alert (None: another node has it)."""
        return await self._claim(escalation_id, 0, node, utcnow(), first=True)

    async def due(self, node: str, now: datetime | None = None) -> list[Turn]:
        """Claim every turn that is due; each is this node's alone to send."""
        now = now or utcnow()
        async with self.db.read() as session:
            seen = (
                await session.execute(
                    sa.select(EscalationRepeat.escalation_id, EscalationRepeat.attempt)
                    .where(EscalationRepeat.due_at <= now)
                    .order_by(EscalationRepeat.due_at)
                )
            ).all()
        turns = []
        for escalation_id, attempt in seen:
            turn = await self._claim(escalation_id, attempt, node, now)
            if turn is not None:
                turns.append(turn)
        return turns

    async def _claim(
        self, escalation_id: str, attempt: int, node: str, now: datetime, first: bool = False
    ) -> Turn | None:
        where = [
            EscalationRepeat.escalation_id == escalation_id,
            EscalationRepeat.attempt == attempt,
        ]
        if not first:
            where.append(EscalationRepeat.due_at <= now)
        async with self.db.session() as session:
            result = await session.execute(
                sa.update(EscalationRepeat)
                .where(*where)
                .values(attempt=attempt + 1, due_at=now + self.claim, claimed_by=node)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = await session.get(EscalationRepeat, escalation_id, populate_existing=True)
            assert row is not None
            return _turn(row)

    async def sent(self, turn: Turn) -> None:
        """The turn went out: the rota moves on, the next alert is due one interval on."""
        async with self.db.session() as session:
            await session.execute(
                sa.update(EscalationRepeat)
                .where(
                    EscalationRepeat.escalation_id == turn.escalation_id,
                    EscalationRepeat.attempt == turn.attempt,
                )
                .values(next_index=turn.next_index, due_at=utcnow() + self.every)
                .execution_options(synchronize_session=False)
            )

    async def drop(self, escalation_id: str) -> None:
        """No more alerts for an escalation no longer open."""
        async with self.db.session() as session:
            await self.stop(session, escalation_id)

    @staticmethod
    async def stop(session: AsyncSession, escalation_id: str) -> None:
        """No more alerts (acknowledged or closed), in the caller's transaction."""
        await session.execute(
            sa.delete(EscalationRepeat).where(EscalationRepeat.escalation_id == escalation_id)
        )

    async def pending(self, escalation_id: str) -> EscalationRepeat | None:
        """The row as it stands (for pages and tests)."""
        async with self.db.read() as session:
            return await session.get(EscalationRepeat, escalation_id)
