"""Retention: what is past its period is deleted, by the app's background task and by
``playroom purge`` (both call ``Retention.purge``). See ``docs/privacy.md`` for the periods
and why.

- A client's record (everything about them: sessions, boards, pictures, scenes, answers,
  consents, links, escalations, outcomes, debriefs, the chat and the session logs) is
  deleted whole once the young person is past the record's keep-until date: their 25th
  birthday (26th if they were 17 when treatment ended), and never sooner than 20 years after
  the end of treatment (the NHS rule for mental health and psychology records). Treatment ends
  at the discharge, or, for a client never discharged, at their last activity. A record on
  hold (``retention_hold``) is never deleted.
- Pre-join answers (``join_checks``: where a young person was) go a week after their
  session, unless an escalation of that session is still open.
- A guest invited to a session (``guests``: their name, role and the agreement recorded)
  stays with the record; their link goes as links go.
- Links go a while after they expired or were withdrawn, unless a consent or a pre-join
  answer still names them (a consent keeps the link it was given through).
- A record on hold keeps all of it (pre-join answers and links too).
- Boards (their operations and the snapshot made of them), pictures and scenes stay with
  the record, unless ``retention_box_days`` is set.
- A disabled staff account loses its credentials and e-mail after ``retention_staff_days``;
  the row itself goes once no record names it (who did what stays attributable).
- Staff sessions go once expired (a sign-in also deletes its person's); failed sign-ins of a
  username from an address go a day after the last (``access/lockout.py``).

A session's log is only ever deleted whole, with its checkpoints, so every log that is kept
still verifies. A run logs counts only, never an id or a name.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from server.access.lockout import FORGET_AFTER
from server.audit.sessionlog import client_stream, session_stream, staff_actor, views_stream
from server.audit.witnessing import Witnessing
from server.care.gate import AGE_BANDS, age_on
from server.crypto.keys import KeyRing
from server.crypto.sealed import unseal
from server.settings import Settings
from server.storage.db import Database, utcnow
from server.storage.mail_models import ClientContact, OutboxMessage
from server.storage.models import (
    Appointment,
    ChecklistResponse,
    Client,
    ClientLevel,
    Consent,
    DailyCheck,
    Group,
    GroupMember,
    Link,
    SessionSeries,
    Shift,
    SignInFailure,
    SignOff,
    SignOffRequest,
    StaffSession,
    Supervision,
    User,
)
from server.storage.session_models import (
    BoardOp,
    BoardSnapshot,
    ChatMessage,
    Debrief,
    Escalation,
    EscalationEvent,
    EscalationRepeat,
    Guest,
    JoinCheck,
    LogCheckpoint,
    LogEntry,
    Outcome,
    Place,
    PlanStep,
    Reflection,
    Scene,
    SharedObject,
)

log = logging.getLogger(__name__)
# a record on hold keeps everything, whatever its periods
_HELD = sa.select(Client.id).where(Client.retention_hold.is_(True))
ERASED = "erased"  # a staff account's password hash once its credentials are erased
# the columns that name a staff account: while any row has it, the account row stays
_STAFF_REFERENCES: list[Any] = [
    Client.named_worker_id,
    ClientLevel.changed_by,
    ChecklistResponse.updated_by,
    SignOff.supervisor_id,
    SignOffRequest.by,
    Link.created_by,
    Appointment.therapist_id,
    SessionSeries.therapist_id,
    PlanStep.recorded_by,
    Escalation.therapist_id,
    EscalationEvent.by,
    Reflection.therapist_id,
    Debrief.therapist_id,
    Debrief.seen_by,
    Scene.saved_by,
    Guest.created_by,
]


@dataclass(frozen=True)
class Policy:
    until_age: int = 25
    min_years: int = 20
    box_days: int | None = None
    join_check_days: int = 7
    link_days: int = 30
    staff_days: int = 365

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            until_age=settings.retention_client_until_age,
            min_years=settings.retention_client_min_years,
            box_days=settings.retention_box_days,
            join_check_days=settings.retention_join_check_days,
            link_days=settings.retention_link_days,
            staff_days=settings.retention_staff_days,
        )


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def keep_until(
    policy: Policy,
    end_of_care: date,
    born: date | None,
    age_band: str | None,
    created_at: date,
) -> date:
    """The first day a client's record may be deleted: their 25th birthday, or 26th if
    they were 17 at the end of treatment (the NHS rule for children's records), and never
    sooner than ``min_years`` after the end. From an age band, the youngest they can have
    been when the record was made (the latest birthday: the record is kept longer)."""
    if born is None:
        born = add_years(created_at, -AGE_BANDS.get(age_band or "", 0))
    birthday = policy.until_age + (1 if age_on(end_of_care, born) == 17 else 0)
    return max(add_years(born, birthday), add_years(end_of_care, policy.min_years))


@dataclass(frozen=True)
class ClientKeeping:
    end_of_care: date
    keep_until: date | None  # None: on hold


class _DryRun(Exception):
    """Raised inside the purge's transaction so that a dry run rolls everything back."""


class Retention:
    """``witnessing``: told, once a purge is done, which logs it deleted whole, so that the
    witness does not take their going for tampering."""

    def __init__(
        self, db: Database, ring: KeyRing, policy: Policy, witnessing: Witnessing | None = None
    ) -> None:
        self.db = db
        self.ring = ring
        self.policy = policy
        self.witnessing = witnessing

    async def purge(self, dry_run: bool = False, now: datetime | None = None) -> dict[str, int]:
        """Delete what is past its period, in one transaction; returns rows per table. A dry
        run does exactly the same and then rolls back, so its counts are the real ones."""
        now = now or utcnow()
        counts: Counter[str] = Counter()
        try:
            async with self.db.session() as session:
                retired = await self._clients(session, now, counts)
                await self._box(session, now, counts)
                await self._join_checks(session, now, counts)
                await self._links(session, now, counts)
                await self._staff(session, now, counts)
                await self._sign_ins(session, now, counts)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            retired = []
        if retired and self.witnessing is not None:
            await self.witnessing.retire(retired)
        result = {k: v for k, v in sorted(counts.items()) if v}
        log.info("retention purge", extra={"dry_run": dry_run, "deleted": result})
        return result

    async def keeping(self, client_id: str) -> ClientKeeping | None:
        """When this client's record may be deleted (the caller has checked access)."""
        async with self.db.session() as session:
            client = await session.get(Client, client_id)
            if client is None:
                return None
            last = await _last_activity(session, client_id)
            return self._keeping(client, last.get(client_id))

    def _keeping(self, client: Client, last: datetime | None) -> ClientKeeping:
        times = [t for t in (client.created_at, client.discharged_at, last) if t is not None]
        end = max(times).date()
        if client.retention_hold:
            return ClientKeeping(end, None)
        born_text = unseal(self.ring, client, "date_of_birth_enc")
        born = date.fromisoformat(born_text) if born_text else None
        until = keep_until(self.policy, end, born, client.age_band, client.created_at.date())
        return ClientKeeping(end, until)

    async def _clients(
        self, session: AsyncSession, now: datetime, counts: Counter[str]
    ) -> list[str]:
        """Delete every record past its period; returns the logs that went with them."""
        last = await _last_activity(session, None)
        clients = await session.scalars(sa.select(Client).where(Client.retention_hold.is_(False)))
        due = []
        for client in clients:
            until = self._keeping(client, last.get(client.id)).keep_until
            if until is not None and now.date() >= until:
                due.append(client.id)
        retired = []
        for client_id in due:
            retired += await client_streams(session, client_id)
            await delete_client(session, client_id, counts)
        return retired + await delete_empty_groups(session, counts)

    async def _box(self, session: AsyncSession, now: datetime, counts: Counter[str]) -> None:
        if self.policy.box_days is None:
            return
        discharged = sa.select(Client.id).where(
            Client.discharged_at < now - timedelta(days=self.policy.box_days),
            Client.retention_hold.is_(False),
        )
        ended = sa.select(Appointment.id).where(
            Appointment.client_id.in_(discharged), Appointment.ends_at < now
        )  # a group's board is the group's: it goes with the group (``delete_empty_groups``)
        await _delete(session, BoardOp, BoardOp.appointment_id.in_(ended), counts)
        await _delete(session, BoardSnapshot, BoardSnapshot.appointment_id.in_(ended), counts)
        await _delete(session, Scene, Scene.appointment_id.in_(ended), counts)
        await _delete(session, SharedObject, SharedObject.appointment_id.in_(ended), counts)

    async def _join_checks(
        self, session: AsyncSession, now: datetime, counts: Counter[str]
    ) -> None:
        ended = sa.select(Appointment.id).where(
            Appointment.ends_at < now - timedelta(days=self.policy.join_check_days),
            _not_held(Appointment.client_id),
        )
        open_concern = sa.select(Escalation.appointment_id).where(Escalation.status != "closed")
        # in a group's session, each member's answers are theirs: kept while their record is
        held_links = sa.select(Link.id).where(Link.client_id.in_(_HELD))
        where = sa.and_(
            JoinCheck.appointment_id.in_(ended),
            JoinCheck.appointment_id.not_in(open_concern),
            JoinCheck.link_id.not_in(held_links),
        )
        await _delete(session, JoinCheck, where, counts)

    async def _links(self, session: AsyncSession, now: datetime, counts: Counter[str]) -> None:
        cutoff = now - timedelta(days=self.policy.link_days)
        where = sa.and_(
            sa.or_(Link.expires_at < cutoff, Link.revoked_at < cutoff),
            Link.id.not_in(sa.select(Consent.link_id)),
            Link.id.not_in(sa.select(JoinCheck.link_id)),
            Link.client_id.not_in(_HELD),
        )
        await _delete(session, Link, where, counts)
        ended = sa.select(Appointment.id).where(
            Appointment.ends_at < cutoff, _not_held(Appointment.client_id)
        )
        await _delete(session, Place, Place.appointment_id.in_(ended), counts)

    async def _staff(self, session: AsyncSession, now: datetime, counts: Counter[str]) -> None:
        # the clock of an account starts when it is first found disabled
        await session.execute(
            sa.update(User)
            .where(User.disabled.is_(True), User.disabled_at.is_(None))
            .values(disabled_at=now)
        )
        await session.execute(
            sa.update(User)
            .where(User.disabled.is_(False), User.disabled_at.is_not(None))
            .values(disabled_at=None)
        )
        cutoff = now - timedelta(days=self.policy.staff_days)
        due = await session.scalars(
            sa.select(User).where(User.disabled.is_(True), User.disabled_at < cutoff)
        )
        for user in list(due):
            if await _staff_named(session, user.id):
                if user.password_hash != ERASED:
                    user.password_hash = ERASED
                    user.totp_secret_enc = None
                    user.totp_enrolled = False
                    user.email_enc = None
                    counts["staff_erased"] += 1
                continue
            await _delete(session, Supervision, Supervision.supervisor_id == user.id, counts)
            await _delete(session, Supervision, Supervision.therapist_id == user.id, counts)
            await _delete(session, Shift, Shift.supervisor_id == user.id, counts)
            await _delete(session, DailyCheck, DailyCheck.therapist_id == user.id, counts)
            await _delete(session, User, User.id == user.id, counts)

    async def _sign_ins(self, session: AsyncSession, now: datetime, counts: Counter[str]) -> None:
        await _delete(session, StaffSession, StaffSession.expires_at <= now, counts)
        quiet = SignInFailure.last_failed_at < now - FORGET_AFTER
        await _delete(session, SignInFailure, quiet, counts)


# every table that holds rows about a client, parents first: what a subject access export
# shows, and (children first) what goes when the record is deleted
CLIENT_MODELS: list[Any] = [
    Group,  # the groups a client is in: exported, never deleted with one member
    Client,
    GroupMember,
    ClientContact,
    ClientLevel,
    ChecklistResponse,
    SignOff,
    SignOffRequest,
    SessionSeries,
    Appointment,
    Link,
    Consent,
    OutboxMessage,
    JoinCheck,
    Guest,  # who was invited to a session, on what agreement: with the record
    BoardOp,
    BoardSnapshot,  # a copy of the board its operations make (not exported: ``export.py``)
    ChatMessage,
    SharedObject,
    Scene,
    PlanStep,
    Place,
    Escalation,
    EscalationEvent,
    EscalationRepeat,
    Outcome,
    Reflection,
    Debrief,
    LogEntry,
    LogCheckpoint,
]


async def client_rows(
    session: AsyncSession, client_id: str, deleting: bool = False
) -> list[tuple[Any, Any]]:
    """Each of ``CLIENT_MODELS`` with which of its rows are about ``client_id``: its own
    rows, those of its sessions and their escalations, and every row of its logs; and, as a
    member of a group, the groups they are in, their own links and answers in the group's
    sessions, and the escalations about them there. What the group's sessions hold of
    everyone (the board, the chat, the log) is the group's: it goes with the group, once
    its last member's record has gone (``delete_empty_groups``), and a group goes
    (``deleting``) never with one member."""
    sessions = sa.select(Appointment.id).where(Appointment.client_id == client_id)
    streams = await client_streams(session, client_id)
    concerns = sa.select(Escalation.id).where(
        sa.or_(Escalation.appointment_id.in_(sessions), Escalation.client_id == client_id)
    )
    links = sa.select(Link.id).where(Link.client_id == client_id)
    groups = sa.select(GroupMember.group_id).where(GroupMember.client_id == client_id)

    def about(model: Any) -> Any:
        if model is Group:
            return sa.false() if deleting else Group.id.in_(groups)
        if model is Client:
            return Client.id == client_id
        if model in (EscalationEvent, EscalationRepeat):
            return model.escalation_id.in_(concerns)
        if model is Escalation:
            return Escalation.id.in_(concerns)
        if model is JoinCheck:  # in a group's session too: their own answers
            return sa.or_(JoinCheck.appointment_id.in_(sessions), JoinCheck.link_id.in_(links))
        if model in (LogEntry, LogCheckpoint):
            return model.stream.in_(streams)
        if hasattr(model, "client_id"):  # a picture or a link may belong to no session
            return model.client_id == client_id
        return model.appointment_id.in_(sessions)

    return [(model, about(model)) for model in CLIENT_MODELS]


async def delete_empty_groups(session: AsyncSession, counts: Counter[str]) -> list[str]:
    """Groups left with no member (each member's record deleted in its time) go, with
    everything their sessions hold; returns the logs that went with them."""
    empty = sa.select(Group.id).where(~sa.exists().where(GroupMember.group_id == Group.id))
    sessions = sa.select(Appointment.id).where(Appointment.group_id.in_(empty))
    ids = list(await session.scalars(sessions))
    streams = [f(a) for a in ids for f in (session_stream, views_stream)]
    concerns = sa.select(Escalation.id).where(Escalation.appointment_id.in_(sessions))
    for model in reversed(CLIENT_MODELS):
        if model in (Client, GroupMember, ClientContact, ClientLevel, ChecklistResponse):
            continue
        if model in (SignOff, SignOffRequest, SessionSeries, Consent):
            continue
        if model is Group:
            where: Any = Group.id.in_(empty)
        elif model is Appointment:
            where = Appointment.id.in_(sessions)
        elif model in (EscalationEvent, EscalationRepeat):
            where = model.escalation_id.in_(concerns)
        elif model in (LogEntry, LogCheckpoint):
            where = model.stream.in_(streams)
        else:
            where = model.appointment_id.in_(sessions)
        await _delete(session, model, where, counts)
    return streams


async def client_streams(session: AsyncSession, client_id: str) -> list[str]:
    """The logs about ``client_id``: its own, and the two of each of its sessions."""
    sessions = sa.select(Appointment.id).where(Appointment.client_id == client_id)
    appointment_ids = list(await session.scalars(sessions))
    return [client_stream(client_id)] + [
        f(a) for a in appointment_ids for f in (session_stream, views_stream)
    ]


async def delete_client(session: AsyncSession, client_id: str, counts: Counter[str]) -> None:
    """Everything about one client, children first; each of their logs whole."""
    for model, where in reversed(await client_rows(session, client_id, deleting=True)):
        await _delete(session, model, where, counts)


async def _delete(
    session: AsyncSession, model: Any, where: ColumnElement[bool], counts: Counter[str]
) -> None:
    result = await session.execute(
        sa.delete(model).where(where).execution_options(synchronize_session=False)
    )
    counts[model.__tablename__] += cast(sa.CursorResult[Any], result).rowcount


def _not_held(client: Any) -> ColumnElement[bool]:
    """A session's client is not on hold; a group's session (no client) is not held as a
    whole (NULL NOT IN a set is unknown in SQL: said out loud here)."""
    return sa.or_(client.is_(None), client.not_in(_HELD))


async def _last_activity(session: AsyncSession, client_id: str | None) -> dict[str, datetime]:
    """The newest time anything happened for each client (or for one)."""
    pairs: list[tuple[Any, Any]] = [
        (Appointment.client_id, Appointment.ends_at),
        (ChecklistResponse.client_id, ChecklistResponse.updated_at),
        (ChecklistResponse.client_id, ChecklistResponse.reviewed_at),
        (Consent.client_id, Consent.created_at),
        (ClientLevel.client_id, ClientLevel.changed_at),
        (SignOff.client_id, SignOff.created_at),
        (SignOffRequest.client_id, SignOffRequest.created_at),
        (Link.client_id, Appointment.ends_at),
    ]
    out: dict[str, datetime] = {}
    for owner, at in pairs:
        query = sa.select(owner, sa.func.max(at)).group_by(owner)
        if owner is Link.client_id:  # a group's sessions: each member's, through their link
            query = query.join(Appointment, Appointment.id == Link.appointment_id)
        if client_id is not None:
            query = query.where(owner == client_id)
        for cid, newest in await session.execute(query):
            if newest is not None and (cid not in out or newest > out[cid]):
                out[cid] = newest
    return out


async def _staff_named(session: AsyncSession, user_id: str) -> bool:
    """Whether any record still names this staff account (as its author or in a log)."""
    for column in _STAFF_REFERENCES:
        if await session.scalar(sa.select(sa.literal(1)).where(column == user_id).limit(1)):
            return True
    actor = await session.scalar(
        sa.select(sa.literal(1)).where(LogEntry.actor == staff_actor(user_id)).limit(1)
    )
    return bool(actor)
