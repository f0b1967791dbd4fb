"""Aggregate figures for a service, or a supervisor's team: sessions held, their length,
disconnections and reconnections, losses, escalations, and outcome trends (Kooth: data
shared with commissioners in aggregate). Figures are built from the signed session logs
and the outcome measures.

Small numbers can identify a child, so no figure on the page may rest on 1 to ``SMALL - 1``
young people. The rules, each answering a way a child could be picked out:

* People, not rows: what is counted is the distinct clients behind a figure, so one child's
  many sessions or scores are still one child (``few``).
* Both sides of a share: a share is shown only when its part and the rest each rest on none
  or at least ``SMALL`` young people; "6 of 7 were lost" singles out the one who was not as
  surely as "1 of 7" singles out the one who was (``rate``). None is shown (0% or 100%),
  as a count of 0 is: it describes no child in particular.
* No subtraction: a week with too few young people is hidden, and its sessions are left out
  of every other figure on the page, so no total, share or average less the weeks shown
  brings it back (``Reports._weeks``).
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from server.access.accounts import StaffView
from server.audit.sessionlog import session_stream
from server.crypto.keys import KeyRing
from server.crypto.sealed import unseal
from server.exceptions import Forbidden
from server.storage.db import Database, utcnow
from server.storage.models import Appointment, Role, Supervision, User
from server.storage.session_models import LogEntry, Outcome

SMALL = 5  # the fewest young people any figure may rest on
WEEKS = 12

HIDDEN = f"not shown (fewer than {SMALL} young people)"
NONE_YET = "none yet"  # no session held at all: nothing to hide, nothing to show
HIDDEN_REST = f"not shown (all but fewer than {SMALL} young people)"


@dataclass
class Bar:
    label: str
    value: float | None  # None: suppressed (fewer than SMALL young people behind it)
    n: int  # rows behind it (sessions or scores); never shown


@dataclass
class Figure:
    label: str
    value: str  # already suppressed and formatted
    n: int  # rows behind it; never shown


@dataclass
class Report:
    scope: str
    since: date
    figures: list[Figure] = field(default_factory=list)
    sessions_per_week: list[Bar] = field(default_factory=list)
    weeks_hidden: int = 0  # weeks left out of every figure
    rating_per_month: list[Bar] = field(default_factory=list)
    goals_per_month: list[Bar] = field(default_factory=list)

    @staticmethod
    def chart_max(bars: list[Bar]) -> float:
        return max([b.value for b in bars if b.value is not None] + [1.0])


def few(clients: Iterable[str]) -> bool:
    """Whether 1 to SMALL - 1 young people are behind some rows, given the client of each
    row (a session, an event, a score): few enough to pick one out."""
    return 0 < len(set(clients)) < SMALL


def count(clients: list[str]) -> str:
    """A count of rows, given the client of each; hidden when few young people are behind it."""
    return HIDDEN if few(clients) else str(len(clients))


def rate(part: list[str], rest: list[str], of_none: str = HIDDEN) -> str:
    """The share of rows in ``part`` out of ``part`` and ``rest``, given the client of each
    row. Hidden unless the whole, the part and the rest each rest on enough young people;
    ``of_none`` when there are no rows at all."""
    if not part and not rest:
        return of_none
    if len(set(part) | set(rest)) < SMALL or few(part):
        return HIDDEN
    if few(rest):
        return HIDDEN_REST
    return f"{100 * len(part) / (len(part) + len(rest)):.0f}%"


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
        today = (now or utcnow()).astimezone(self.zone).date()
        # the window starts on the first bar's Monday, so every session counted is in a bar
        # (a part-week before it would be the total less the bars)
        first = today - timedelta(days=today.weekday(), weeks=WEEKS - 1)
        report = Report(scope, first)
        async with self.db.session() as session:
            held = list(
                await session.scalars(
                    sa.select(Appointment).where(
                        Appointment.therapist_id.in_(therapists),
                        Appointment.status == "ended",
                        Appointment.starts_at >= datetime.combine(first, time(), self.zone),
                    )
                )
            )
            shown = self._weeks(report, held, first)
            events = list(
                await session.execute(
                    sa.select(LogEntry.stream, LogEntry.kind, LogEntry.at).where(
                        LogEntry.stream.in_([session_stream(a.id) for a in shown]),
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
                    sa.select(Outcome).where(Outcome.appointment_id.in_([a.id for a in shown]))
                )
            )
        self._figures(report, shown, events)
        self._outcomes(report, shown, outcomes)
        return report

    def _weeks(self, report: Report, held: list[Appointment], first: date) -> list[Appointment]:
        """Fill the weekly bars; return the sessions of the weeks shown, the only ones any
        other figure counts.

        A week with few young people is hidden. Were its sessions counted in the total, the
        total less the weeks shown would give it back, and so would a share or an average
        over all sessions against one over the weeks shown. Rounding the total is not
        enough: at the edge of a rounding band the hidden week is pinned again (weeks of 5
        and 6 and a hidden 1 make 12, "about 10", so the hidden week can only be 1). Hiding
        more weeks until the hidden ones are safe together needs care and hides more. Leaving
        the hidden weeks out of everything is simple and sound: each figure is then built
        from weeks that are themselves shown, and the page says how many were left out.
        """
        per_week: dict[date, list[Appointment]] = defaultdict(list)
        for a in held:
            day = a.starts_at.astimezone(self.zone).date()
            per_week[day - timedelta(days=day.weekday())].append(a)
        shown: list[Appointment] = []
        for w in range(WEEKS):
            week = first + timedelta(weeks=w)
            sessions = per_week.get(week, [])
            hidden = few(_who(a) for a in sessions)
            value = None if hidden else float(len(sessions))
            report.sessions_per_week.append(Bar(week.strftime("%d %b"), value, len(sessions)))
            if hidden:
                report.weeks_hidden += 1
            else:
                shown += sessions
        return shown

    def _figures(
        self,
        report: Report,
        held: list[Appointment],
        events: list[sa.Row[str, str, datetime]],
    ) -> None:
        client = {session_stream(a.id): _who(a) for a in held}
        kinds: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        opened: dict[str, datetime] = {}
        ended: dict[str, datetime] = {}
        for stream, kind, at in events:
            kinds[stream][kind] += 1
            if kind == "room.opened":
                opened[stream] = min(at, opened.get(stream, at))
            elif kind == "session.ended":
                ended[stream] = at
        lengths = {s: (ended[s] - opened[s]).total_seconds() / 60 for s in ended if s in opened}

        def sessions(kind: str) -> tuple[list[str], list[str]]:
            """The clients of the sessions with an event of this kind, and of the rest."""
            with_ = [c for s, c in client.items() if kinds[s][kind]]
            return with_, [c for s, c in client.items() if not kinds[s][kind]]

        reconnected: list[str] = []
        not_reconnected: list[str] = []
        for s, c in client.items():
            drops = kinds[s]["participant.interrupted"]
            back = min(kinds[s]["participant.reconnected"], drops)
            reconnected += [c] * back
            not_reconnected += [c] * (drops - back)
        escalations = [c for s, c in client.items() for _ in range(kinds[s]["escalation.raised"])]
        n = len(held)
        # with no session held at all there is nothing to hide: a share or an average of
        # nothing is "none yet" (but with weeks hidden, their sessions are only left out)
        of_none = HIDDEN if report.weeks_hidden else NONE_YET
        lengths_of = [client[s] for s in lengths]
        report.figures = [
            Figure("Sessions held", HIDDEN if not n and report.weeks_hidden else str(n), n),
            Figure(
                "Average length",
                of_none
                if not lengths_of
                else HIDDEN
                if len(set(lengths_of)) < SMALL
                else f"{statistics.mean(lengths.values()):.0f} minutes",
                len(lengths),
            ),
            Figure(
                "Sessions with a disconnection",
                rate(*sessions("participant.interrupted"), of_none),
                n,
            ),
            Figure(
                "Disconnections that reconnected",
                rate(reconnected, not_reconnected, of_none),
                len(reconnected) + len(not_reconnected),
            ),
            Figure(
                "Sessions where a young person was lost",
                rate(*sessions("participant.lost"), of_none),
                n,
            ),
            # none in the weeks shown is not none at all: the hidden weeks may hold some
            Figure(
                "Escalations",
                HIDDEN if not escalations and report.weeks_hidden else count(escalations),
                len(escalations),
            ),
        ]

    def _outcomes(self, report: Report, held: list[Appointment], outcomes: list[Outcome]) -> None:
        client = {a.id: _who(a) for a in held}
        # month -> (client, score) for each score, so the threshold is on young people
        ratings: dict[str, list[tuple[str, float]]] = defaultdict(list)
        goals: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for o in outcomes:
            month = o.created_at.astimezone(self.zone).strftime("%Y-%m")
            values = json.loads(unseal(self.ring, o, "values_enc") or "{}")
            who = client[o.appointment_id]
            if o.measure == "session_rating":
                ratings[month].append((who, float(values.get("score", 0))))
            elif o.measure == "goal_based":
                for g in values.get("goals", []):
                    goals[month].append((who, float(g.get("progress", 0))))
        for source, bars in ((ratings, report.rating_per_month), (goals, report.goals_per_month)):
            for month in sorted(source):
                rows = source[month]
                enough = len({who for who, _ in rows}) >= SMALL
                value = statistics.mean(score for _, score in rows) if enough else None
                label = datetime.strptime(month, "%Y-%m").strftime("%b %Y")
                bars.append(Bar(label, value, len(rows)))


def _who(appointment: Appointment) -> str:
    """Whom a session counts for when too few people would be shown: its client, or its
    group as one (fewer than its members: hidden sooner, never later)."""
    return appointment.client_id or f"group:{appointment.group_id}"
