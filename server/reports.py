"""Aggregate figures for a service, or a supervisor's team: sessions held, their length,
disconnections and reconnections, losses, escalations, and outcome trends (Kooth: data
shared with commissioners in aggregate). Figures are built from the signed session logs
and the outcome measures.

Small numbers can identify a child, so every figure that rests on fewer than
``SMALL`` sessions (or ratings) is suppressed: shown as "fewer than 5", never as a number.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from server.accounts import StaffView
from server.db import Database, utcnow
from server.exceptions import Forbidden
from server.keys import KeyRing
from server.models import Appointment, LogEntry, Outcome, Role, Supervision, User
from server.sealed import unseal
from server.sessionlog import session_stream

SMALL = 5
WEEKS = 12


@dataclass
class Bar:
    label: str
    value: float | None  # None: suppressed (fewer than SMALL behind it)
    n: int


@dataclass
class Figure:
    label: str
    value: str  # already suppressed and formatted
    n: int


@dataclass
class Report:
    scope: str
    since: date
    figures: list[Figure] = field(default_factory=list)
    sessions_per_week: list[Bar] = field(default_factory=list)
    rating_per_month: list[Bar] = field(default_factory=list)
    goals_per_month: list[Bar] = field(default_factory=list)

    @staticmethod
    def chart_max(bars: list[Bar]) -> float:
        return max([b.value for b in bars if b.value is not None] + [1.0])


def count(n: int) -> str:
    return "fewer than 5" if 0 < n < SMALL else str(n)


def rate(part: int, whole: int, unit: str = "%") -> str:
    if whole < SMALL:
        return "not shown (fewer than 5 sessions)"
    return f"{100 * part / whole:.0f}{unit}"


class Reports:
    def __init__(self, db: Database, ring: KeyRing, timezone: str) -> None:
        self.db = db
        self.ring = ring
        self.zone = ZoneInfo(timezone)

    async def _therapists(self, user: StaffView) -> tuple[str, list[str]]:
        async with self.db.session() as session:
            if user.role is Role.ADMIN:
                rows = await session.scalars(
                    sa.select(User.id).where(User.role == Role.THERAPIST.value)
                )
                return "the whole service", list(rows)
            if user.role is Role.SUPERVISOR:
                rows = await session.scalars(
                    sa.select(Supervision.therapist_id).where(Supervision.supervisor_id == user.id)
                )
                return "your team", list(rows)
        raise Forbidden("Reports are for supervisors and administrators.")

    async def build(self, user: StaffView, now: datetime | None = None) -> Report:
        scope, therapists = await self._therapists(user)
        now = now or utcnow()
        since = (now - timedelta(weeks=WEEKS)).astimezone(self.zone).date()
        start = now - timedelta(weeks=WEEKS)
        async with self.db.session() as session:
            held = list(
                await session.scalars(
                    sa.select(Appointment).where(
                        Appointment.therapist_id.in_(therapists),
                        Appointment.status == "ended",
                        Appointment.starts_at >= start,
                    )
                )
            )
            streams = {session_stream(a.id): a for a in held}
            events = list(
                await session.execute(
                    sa.select(LogEntry.stream, LogEntry.kind, LogEntry.at).where(
                        LogEntry.stream.in_(streams),
                        LogEntry.kind.in_(
                            (
                                "room.opened",
                                "session.ended",
                                "participant.interrupted",
                                "participant.reconnected",
                                "participant.lost",
                                "escalation.raised",
                            )
                        ),
                    )
                )
            )
            outcomes = list(
                await session.scalars(
                    sa.select(Outcome).where(Outcome.appointment_id.in_([a.id for a in held]))
                )
            )
        report = Report(scope, since)
        self._figures(report, held, events)
        self._weeks(report, held, now)
        self._outcomes(report, outcomes)
        return report

    def _figures(
        self,
        report: Report,
        held: list[Appointment],
        events: list[sa.Row[str, str, datetime]],
    ) -> None:
        n = len(held)
        kinds: dict[str, int] = defaultdict(int)
        opened: dict[str, datetime] = {}
        ended: dict[str, datetime] = {}
        sessions_with: dict[str, set[str]] = defaultdict(set)
        for stream, kind, at in events:
            kinds[kind] += 1
            sessions_with[kind].add(stream)
            if kind == "room.opened":
                opened[stream] = min(at, opened.get(stream, at))
            elif kind == "session.ended":
                ended[stream] = at
        lengths = [(ended[s] - opened[s]).total_seconds() / 60 for s in ended if s in opened]
        interrupted = len(sessions_with["participant.interrupted"])
        report.figures = [
            Figure("Sessions held", count(n), n),
            Figure(
                "Average length",
                f"{statistics.mean(lengths):.0f} minutes"
                if len(lengths) >= SMALL
                else "not shown (fewer than 5 sessions)",
                len(lengths),
            ),
            Figure("Sessions with a disconnection", rate(interrupted, n), n),
            Figure(
                "Disconnections that reconnected",
                rate(kinds["participant.reconnected"], kinds["participant.interrupted"]),
                kinds["participant.interrupted"],
            ),
            Figure(
                "Sessions where a young person was lost",
                rate(len(sessions_with["participant.lost"]), n),
                n,
            ),
            Figure("Escalations", count(kinds["escalation.raised"]), kinds["escalation.raised"]),
        ]

    def _weeks(self, report: Report, held: list[Appointment], now: datetime) -> None:
        today = now.astimezone(self.zone).date()
        monday = today - timedelta(days=today.weekday())
        per_week: dict[date, int] = defaultdict(int)
        for a in held:
            day = a.starts_at.astimezone(self.zone).date()
            per_week[day - timedelta(days=day.weekday())] += 1
        for w in range(WEEKS - 1, -1, -1):
            week = monday - timedelta(weeks=w)
            n = per_week.get(week, 0)
            value = None if 0 < n < SMALL else float(n)
            report.sessions_per_week.append(Bar(week.strftime("%d %b"), value, n))

    def _outcomes(self, report: Report, outcomes: list[Outcome]) -> None:
        ratings: dict[str, list[float]] = defaultdict(list)
        goals: dict[str, list[float]] = defaultdict(list)
        for o in outcomes:
            month = o.created_at.astimezone(self.zone).strftime("%Y-%m")
            values = json.loads(unseal(self.ring, o, "values_enc") or "{}")
            if o.measure == "session_rating":
                ratings[month].append(float(values.get("score", 0)))
            elif o.measure == "goal_based":
                for g in values.get("goals", []):
                    goals[month].append(float(g.get("progress", 0)))
        for source, bars in ((ratings, report.rating_per_month), (goals, report.goals_per_month)):
            for month in sorted(source):
                scores = source[month]
                value = statistics.mean(scores) if len(scores) >= SMALL else None
                label = datetime.strptime(month, "%Y-%m").strftime("%b %Y")
                bars.append(Bar(label, value, len(scores)))
