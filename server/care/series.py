"""Sessions in a week's rhythm: a weekly or fortnightly series, one session on its own,
moving a session (or it and the rest of its series), and cancelling with a reason.

Each session of a series is an ordinary appointment with its own join links; the series
row keeps the rhythm, and ``rhythm.py`` the times (to the service's wall clock). A moved or
cancelled session's links are revoked in the same transaction that moves or cancels it, so
an old link stops at once; a moved session is given new links for its new time, for the
roles it had. Scheduling or moving a session outside the service's safeguarding hours
(``hours.py``) needs the therapist's reason, sealed on the session; the session's log says
that a reason was given, never what it is, and likewise of a cancellation. After each change
is committed, ``on_change`` is awaited with the session and what happened (the family's
notices)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.access.accounts import StaffView
from server.audit.sessionlog import session_stream, staff_actor
from server.care.hours import SafeguardingHours
from server.care.joinlinks import JOIN_ROLES
from server.care.rhythm import Cancel, Move, NewSeries, NewSession, series_times, shifted
from server.care.schedule import MOST_AHEAD, Schedule
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.exceptions import PlayroomError
from server.storage.db import Database, utcnow
from server.storage.models import Appointment, Link, SessionSeries, new_id

log = logging.getLogger(__name__)
Change = Literal["scheduled", "moved", "cancelled"]


class OnChange(Protocol):
    """Told of a session scheduled, moved or cancelled, after it is stored; ``base``: what
    the family's links start with, where the request that made the change says."""

    def __call__(
        self, appointment_id: str, kind: Change, *, base: str | None = None
    ) -> Awaitable[None]: ...


# why a session that is not simply scheduled cannot be moved or cancelled
NOT_NOW = {
    "open": "This session is under way: end it from its page instead.",
    "ended": "This session has ended.",
    "cancelled": "This session is cancelled.",
}
SLACK = timedelta(minutes=5)  # a start a moment ago is the form taking its time, not the past


async def _no_change(appointment_id: str, kind: Change, *, base: str | None = None) -> None:
    """No one is told (until the application wires the family's notices)."""


@dataclass(frozen=True)
class SessionLine:
    """A session as the client's page lists it."""

    appointment: Appointment
    series: str | None  # "weekly, 3 of 12"
    cancel_reason: str | None
    hours_rationale: str | None
    outside_hours: bool


class Series:
    """Series, moves and cancellations; ``on_change`` is told of each session after it is
    committed."""

    def __init__(
        self,
        db: Database,
        ring: KeyRing,
        schedule: Schedule,
        hours: SafeguardingHours,
        on_change: OnChange = _no_change,
    ) -> None:
        self.db = db
        self.ring = ring
        self.schedule = schedule
        self.hours = hours
        self.on_change = on_change

    async def _tell(self, appointment_id: str, kind: Change, base: str | None) -> None:
        """The family's notice of one change, after it is committed: a notice that fails is
        logged (the session and the change, nothing personal) and leaves the change made."""
        try:
            await self.on_change(appointment_id, kind, base=base)
        except Exception:
            log.exception(
                "a change of a session was not told",
                extra={
                    "event": "change_not_told",
                    "stream": session_stream(appointment_id),
                    "change": kind,
                },
            )

    # -- scheduling

    async def schedule_one(
        self, user: StaffView, client_id: str, data: NewSession, base: str | None = None
    ) -> Appointment:
        """One session on its own (the same checks as ``Schedule.create``, and the hours)."""
        client = await self.schedule.clients.get(user, client_id, write=True)
        if data.starts_at < utcnow() - SLACK:
            raise PlayroomError("A session cannot be scheduled in the past.", code="in_the_past")
        ends = data.starts_at + timedelta(minutes=data.minutes)
        rationale = self.rationale([(data.starts_at, ends)], data.rationale)
        row = self._row(user, client.id, data.starts_at, ends, data.relay_only, None, rationale)
        async with self.db.session() as session:
            session.add(row)
        await self._announce(user, [row], data.minutes, data.parent_link, base)
        return row

    async def schedule_series(
        self, user: StaffView, client_id: str, data: NewSeries, base: str | None = None
    ) -> tuple[SessionSeries, list[Appointment]]:
        """Every session of the series at once, in one transaction, each with its links."""
        client = await self.schedule.clients.get(user, client_id, write=True)
        if data.starts_at < utcnow() - SLACK:
            raise PlayroomError("The first session cannot be in the past.", code="in_the_past")
        times = series_times(data, self.hours.zone)
        if times[-1][0] - utcnow() > MOST_AHEAD:
            raise PlayroomError("The last session would be more than two years ahead.")
        rationale = self.rationale(times, data.rationale)
        series = SessionSeries(
            id=new_id(),
            client_id=client.id,
            therapist_id=user.id,
            every_weeks=data.every_weeks,
            starts_at=times[0][0],
            minutes=data.minutes,
            count=len(times),
            created_at=utcnow(),
        )
        rows = [
            self._row(user, client.id, s, e, data.relay_only, series.id, rationale)
            for s, e in times
        ]
        async with self.db.session() as session:
            session.add(series)
            await session.flush()  # the series before the sessions that name it
            session.add_all(rows)
        await self._announce(user, rows, data.minutes, data.parent_link, base)
        return series, rows

    def rationale(self, times: Sequence[tuple[datetime, datetime]], given: str) -> str | None:
        """The reason to seal, when a time is outside safeguarding hours (refused without
        one); None when every time is inside."""
        if all(self.hours.fits(s, e) for s, e in times):
            return None
        if not given.strip():
            outside = sum(not self.hours.fits(s, e) for s, e in times)
            which = (
                "This session is"
                if len(times) == 1
                else f"{outside} of these {len(times)} sessions {'is' if outside == 1 else 'are'}"
            )
            raise PlayroomError(
                f"{which} outside the service's safeguarding hours ({self.hours.describe()}): "
                "say why it has to be then.",
                code="rationale_needed",
            )
        return given.strip()

    def _row(
        self,
        user: StaffView,
        client_id: str,
        starts: datetime,
        ends: datetime,
        relay_only: bool,
        series_id: str | None,
        rationale: str | None,
    ) -> Appointment:
        row = Appointment(
            id=new_id(),
            client_id=client_id,
            therapist_id=user.id,
            starts_at=starts,
            ends_at=ends,
            status="scheduled",
            relay_only=relay_only,
            created_at=utcnow(),
            series_id=series_id,
        )
        if not self.hours.fits(starts, ends):
            seal(self.ring, row, "hours_rationale_enc", rationale)
        return row

    async def _announce(
        self,
        user: StaffView,
        rows: list[Appointment],
        minutes: int,
        parent_link: bool,
        base: str | None,
    ) -> None:
        """Each new session's log and its join links; then the family is told of each."""
        for row in rows:
            stream = session_stream(row.id)
            details: dict[str, object] = {
                "starts_at": row.starts_at.isoformat(),
                "minutes": minutes,
            }
            if row.series_id:
                details["series"] = row.series_id
            await self.schedule.log.append(
                stream, "session.scheduled", staff_actor(user.id), details
            )
            await self._log_hours(user, row)
            for role in JOIN_ROLES if parent_link else JOIN_ROLES[:1]:
                await self.schedule.issue_join_link(user, row.id, role)
        for row in rows:
            await self._tell(row.id, "scheduled", base)

    async def _log_hours(self, user: StaffView, row: Appointment) -> None:
        if row.hours_rationale_enc is not None:
            await self.schedule.log.append(
                session_stream(row.id),
                "session.outside_hours",
                staff_actor(user.id),
                {"rationale": "given"},  # the words stay sealed on the session
            )

    # -- moving and cancelling

    async def _affected(
        self, user: StaffView, appointment_id: str, with_rest: bool
    ) -> list[Appointment]:
        """The session (the caller's own, and not under way, ended or cancelled) and, with
        ``with_rest``, the later sessions of its series still to come."""
        this = await self.schedule.get(user, appointment_id)
        if this.status in NOT_NOW:
            raise PlayroomError(NOT_NOW[this.status], code="session_" + this.status)
        if not with_rest or this.series_id is None:
            return [this]
        async with self.db.read() as session:
            rest = await session.scalars(
                sa.select(Appointment)
                .where(
                    Appointment.series_id == this.series_id,
                    Appointment.status == "scheduled",
                    Appointment.starts_at > this.starts_at,
                )
                .order_by(Appointment.starts_at)
            )
            return [this, *rest]

    async def move(
        self, user: StaffView, appointment_id: str, data: Move, base: str | None = None
    ) -> list[Appointment]:
        """Move the session (and, with ``with_rest``, the rest of its series by the same
        span): old links revoked at once, new ones issued for the new times."""
        if data.starts_at <= utcnow():
            raise PlayroomError("A session cannot be moved into the past.", code="in_the_past")
        affected = await self._affected(user, appointment_id, data.with_rest)
        if any(a.group_id is not None for a in affected):
            raise PlayroomError(
                "A group's session is not moved: cancel it and schedule another from the "
                "group's page, so that each member's new link goes through their own gate."
            )
        now = [(a.starts_at, a.ends_at) for a in affected]
        times = shifted(now, data.starts_at, self.hours.zone)
        if times == now:
            raise PlayroomError("The session is at that time already.", code="no_change")
        if times[-1][0] - utcnow() > MOST_AHEAD:
            raise PlayroomError("A session can be scheduled at most two years ahead.")
        rationale = self.rationale(times, data.rationale)
        before = {a.id: a.starts_at for a in affected}
        roles: dict[str, list[str]] = {}
        moved = []
        async with self.db.session() as session:
            for a, (starts, ends) in zip(affected, times, strict=True):
                row = await session.get(Appointment, a.id, with_for_update=True)
                if row is None or row.status != "scheduled":
                    raise PlayroomError("This session changed meanwhile: look at it again.")
                row.starts_at, row.ends_at = starts, ends
                row.hours_rationale_enc = None
                if not self.hours.fits(starts, ends):
                    seal(self.ring, row, "hours_rationale_enc", rationale)
                roles[row.id] = await self._revoke(session, row.id)
                moved.append(row)
        for row in moved:
            stream = session_stream(row.id)
            await self.schedule.log.append(
                stream,
                "session.moved",
                staff_actor(user.id),
                {
                    "from": before[row.id].isoformat(),
                    "to": row.starts_at.isoformat(),
                    "with_rest": data.with_rest,
                    "links_revoked": len(roles[row.id]),
                },
            )
            await self._log_hours(user, row)
            for role in sorted(set(roles[row.id])):
                await self.schedule.issue_join_link(user, row.id, role)
            await self._tell(row.id, "moved", base)
        return moved

    async def cancel(
        self, user: StaffView, appointment_id: str, data: Cancel, base: str | None = None
    ) -> list[Appointment]:
        """Cancel the session (and, with ``with_rest``, the rest of its series): its links
        stop at once, its log is sealed, the reason is sealed on it."""
        affected = await self._affected(user, appointment_id, data.with_rest)
        for a in affected:  # the log first and sealed, as ``Schedule.end`` does
            stream = session_stream(a.id)
            await self.schedule.log.append(
                stream,
                "session.cancelled",
                staff_actor(user.id),
                {"reason": "given", "with_rest": data.with_rest},
            )
            await self.schedule.log.checkpoint(stream, "end")
        cancelled = []
        async with self.db.session() as session:
            for a in affected:
                row = await session.get(Appointment, a.id, with_for_update=True)
                if row is None or row.status != "scheduled":
                    continue  # opened or ended meanwhile: left as it is
                row.status = "cancelled"
                row.cancelled_at = utcnow()
                seal(self.ring, row, "cancel_reason_enc", data.reason)
                await self._revoke(session, row.id)
                cancelled.append(row)
        for row in cancelled:
            await self._tell(row.id, "cancelled", base)
        return cancelled

    async def _revoke(self, session: AsyncSession, appointment_id: str) -> list[str]:
        """Revoke the session's live links in this transaction; the roles they were for."""
        live = list(
            await session.scalars(
                sa.select(Link).where(
                    Link.appointment_id == appointment_id, Link.revoked_at.is_(None)
                )
            )
        )
        now = utcnow()
        for link in live:
            link.revoked_at = now
        return [link.role for link in live]

    # -- what pages show

    async def lines(self, client_id: str, session: AsyncSession | None = None) -> list[SessionLine]:
        """The client's sessions, earliest first, each with its series, its cancellation's
        reason and its reason for a time outside safeguarding hours (the caller has checked
        access: staff only)."""
        async with self.db.read(session) as session:
            rows = (
                await session.execute(
                    sa.select(Appointment, SessionSeries)
                    .outerjoin(SessionSeries, Appointment.series_id == SessionSeries.id)
                    .where(Appointment.client_id == client_id)
                    .order_by(Appointment.starts_at)
                )
            ).all()
        place: dict[str, int] = {}
        lines = []
        for a, series in rows:
            label = None
            if series is not None:
                place[series.id] = place.get(series.id, 0) + 1
                every = "weekly" if series.every_weeks == 1 else "fortnightly"
                label = f"{every}, {place[series.id]} of {series.count}"
            lines.append(
                SessionLine(
                    a,
                    label,
                    unseal(self.ring, a, "cancel_reason_enc"),
                    unseal(self.ring, a, "hours_rationale_enc"),
                    not self.hours.fits(a.starts_at, a.ends_at),
                )
            )
        return lines

    def outside(self, a: Appointment) -> SessionLine | None:
        """The session as the gate shows it when it is outside safeguarding hours and still
        to happen or under way (None otherwise)."""
        if a.status not in ("scheduled", "open") or self.hours.fits(a.starts_at, a.ends_at):
            return None
        return SessionLine(a, None, None, unseal(self.ring, a, "hours_rationale_enc"), True)

    def cancel_reason(self, a: Appointment) -> str | None:
        """Why the session was cancelled, for staff (None: it was not, or no reason kept)."""
        return unseal(self.ring, a, "cancel_reason_enc")

    async def rest_of(self, a: Appointment) -> int:
        """How many later sessions of its series are still to come (0 outside a series)."""
        if a.series_id is None:
            return 0
        async with self.db.read() as session:
            count = await session.scalar(
                sa.select(sa.func.count())
                .select_from(Appointment)
                .where(
                    Appointment.series_id == a.series_id,
                    Appointment.status == "scheduled",
                    Appointment.starts_at > a.starts_at,
                )
            )
        return int(count or 0)
