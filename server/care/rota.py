"""The on-shift rota: which supervisors are on shift now, and in what order an escalation
reaches them.

A supervisor's shifts are a weekly pattern (some days of the week, one span of hours in the
service's time zone; a span that ends at or before it starts runs past midnight) and a
button on their home page (or ``playroom shift``). The button holds until the pattern next
changes (the end or the start of a shift), then the pattern decides again; without a
pattern it holds until pressed again. Nobody is on shift until they say so.

An escalation goes, in order: at once to the therapist's supervisors on shift (or, when none
of them is, to every other supervisor of the service on shift); then, one each time the
repeat interval passes without an acknowledgement, to the service's other supervisors on
shift, then to the therapist's supervisors off shift. Someone on shift is there to answer;
someone off shift may be asleep, so they come last, but they do come.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.exceptions import PlayroomError
from server.storage.db import Database, utcnow
from server.storage.models import Role, Shift, Supervision, User

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True)
class Pattern:
    """A weekly pattern: the days a shift starts on (0 is Monday) and its hours."""

    days: frozenset[int]
    start: time
    end: time  # at or before ``start``: the shift ends the next day

    @classmethod
    def parse(cls, text: str) -> Pattern:
        """``mon-fri 09:00-17:00``, ``sat,sun 08:00-20:00``, ``mon-sun 20:00-08:00``."""
        parts = text.lower().split()
        if len(parts) != 2:
            raise PlayroomError("Give the days and the hours, e.g. 'mon-fri 09:00-17:00'.")
        days: set[int] = set()
        for piece in parts[0].split(","):
            first, _, last = piece.partition("-")
            if first not in DAYS or (last and last not in DAYS):
                raise PlayroomError(f"'{piece}' is not a day or a run of days, e.g. 'mon-fri'.")
            a, b = DAYS.index(first), DAYS.index(last or first)
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        hours = _HOURS.match(parts[1])
        if hours is None or (hours.group(3) == "24" and hours.group(4) != "00"):
            raise PlayroomError(f"'{parts[1]}' is not a span of hours, e.g. '09:00-17:00'.")
        h1, m1, h2, m2 = (int(g) for g in hours.groups())
        return cls(frozenset(days), time(h1, m1), time(h2 % 24, m2))

    @classmethod
    def from_row(cls, row: Shift) -> Pattern | None:
        if not row.pattern_days or not row.pattern_start or not row.pattern_end:
            return None
        days = frozenset(d for d in range(7) if row.pattern_days & (1 << d))
        return cls(days, time.fromisoformat(row.pattern_start), time.fromisoformat(row.pattern_end))

    @property
    def bits(self) -> int:
        return sum(1 << d for d in self.days)

    def describe(self) -> str:
        """``Mon–Fri 09:00–17:00``, as a page shows it."""
        runs: list[str] = []
        d = 0
        while d < 7:
            if d not in self.days:
                d += 1
                continue
            last = d
            while last + 1 < 7 and last + 1 in self.days:
                last += 1
            runs.append(DAY_NAMES[d] if last == d else f"{DAY_NAMES[d]}–{DAY_NAMES[last]}")
            d = last + 1
        end = "24:00" if self.end == time(0) else self.end.strftime("%H:%M")
        return f"{', '.join(runs)} {self.start.strftime('%H:%M')}–{end}"

    def _spans(self, around: date) -> list[tuple[datetime, datetime]]:
        """The shifts (local wall-clock times) that start from a week before ``around`` to a
        week after: enough to find the shift that holds now and the next change."""
        spans = []
        for offset in range(-8, 9):
            day = around + timedelta(days=offset)
            if day.weekday() in self.days:
                begin = datetime.combine(day, self.start)
                end = datetime.combine(day, self.end)
                if end <= begin:
                    end += timedelta(days=1)
                spans.append((begin, end))
        return spans

    def on_at(self, local: datetime) -> bool:
        """On shift at this local wall-clock time (naive)."""
        return any(begin <= local < end for begin, end in self._spans(local.date()))

    def next_change(self, local: datetime) -> datetime | None:
        """The first local time after ``local`` at which being on shift changes (None: it
        never does, e.g. every day round the clock)."""
        now = self.on_at(local)
        edges = sorted({t for span in self._spans(local.date()) for t in span if t > local})
        return next((t for t in edges if self.on_at(t) != now), None)


@dataclass(frozen=True)
class ShiftView:
    """A supervisor's shift as their home page shows it."""

    on: bool
    pattern: str  # "Mon–Fri 09:00–17:00", or "" without a pattern
    by_hand: bool  # the button decides now, not the pattern
    held_until: datetime | None  # when the button's choice gives way to the pattern


def decide(row: Shift | None, now: datetime, zone: ZoneInfo) -> ShiftView:
    """On shift or not at ``now``: the button while it holds, otherwise the pattern."""
    if row is None:
        return ShiftView(False, "", False, None)
    pattern = Pattern.from_row(row)
    described = pattern.describe() if pattern else ""
    if row.manual_on is not None and (row.manual_until is None or now < row.manual_until):
        return ShiftView(row.manual_on, described, True, row.manual_until)
    local = now.astimezone(zone).replace(tzinfo=None)
    return ShiftView(bool(pattern and pattern.on_at(local)), described, False, None)


@dataclass(frozen=True)
class Entry:
    """One supervisor on an escalation's rota, as it was when the escalation was raised."""

    id: str
    on_shift: bool
    own: bool  # a supervisor of the therapist (not only on shift for the service)

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "on_shift": self.on_shift, "own": self.own}


def first_wave(entries: list[Entry]) -> list[Entry]:
    """Who the first alert goes to at once: the therapist's supervisors on shift; else the
    service's supervisors on shift; else (nobody on shift) the first on the rota."""
    own = [e for e in entries if e.own and e.on_shift]
    if own:
        return own
    on = [e for e in entries if e.on_shift]
    return on or entries[:1]


class Rota:
    """Shifts kept in the database (``shifts``), read in the service's time zone."""

    def __init__(self, db: Database, timezone: str) -> None:
        self.db = db
        self.zone = ZoneInfo(timezone)

    async def shift(self, supervisor_id: str, now: datetime | None = None) -> ShiftView:
        async with self.db.read() as session:
            row = await session.get(Shift, supervisor_id)
        return decide(row, now or utcnow(), self.zone)

    async def press(self, supervisor_id: str, on: bool, now: datetime | None = None) -> ShiftView:
        """The button: on or off shift from now until the pattern next changes."""
        now = now or utcnow()
        async with self.db.session() as session:
            row = await self._row(session, supervisor_id)
            pattern = Pattern.from_row(row)
            local = now.astimezone(self.zone).replace(tzinfo=None)
            change = pattern.next_change(local) if pattern else None
            if pattern and pattern.on_at(local) == on:
                row.manual_on, row.manual_until = None, None  # the pattern says so already
            else:
                row.manual_on = on
                row.manual_until = (
                    change.replace(tzinfo=self.zone).astimezone(now.tzinfo) if change else None
                )
            row.updated_at = now
            return decide(row, now, self.zone)

    async def set_pattern(
        self, supervisor_id: str, pattern: Pattern | None, now: datetime | None = None
    ) -> ShiftView:
        """A new weekly pattern (None: none); the button's last choice gives way to it."""
        now = now or utcnow()
        async with self.db.session() as session:
            row = await self._row(session, supervisor_id)
            row.pattern_days = pattern.bits if pattern else 0
            row.pattern_start = pattern.start.strftime("%H:%M") if pattern else None
            row.pattern_end = pattern.end.strftime("%H:%M") if pattern else None
            row.manual_on, row.manual_until, row.updated_at = None, None, now
            return decide(row, now, self.zone)

    async def _row(self, session: AsyncSession, supervisor_id: str) -> Shift:
        user = await session.get(User, supervisor_id)
        if user is None or user.role != Role.SUPERVISOR.value:
            raise PlayroomError("Only supervisors go on and off shift.")
        row = await session.get(Shift, supervisor_id)
        if row is None:
            row = Shift(supervisor_id=supervisor_id, pattern_days=0)
            session.add(row)
        return row

    async def on_shift(self, now: datetime | None = None) -> set[str]:
        """Every supervisor of the service on shift now (enabled accounts)."""
        now = now or utcnow()
        async with self.db.read() as session:
            rows = await session.scalars(
                sa.select(Shift)
                .join(User, User.id == Shift.supervisor_id)
                .where(User.role == Role.SUPERVISOR.value, User.disabled.is_(False))
            )
            return {r.supervisor_id for r in rows if decide(r, now, self.zone).on}

    async def order(self, therapist_id: str, now: datetime | None = None) -> list[Entry]:
        """The rota for an escalation by ``therapist_id`` now (see the module's text); each
        group in a stable order."""
        on = await self.on_shift(now)
        async with self.db.read() as session:
            own = set(
                await session.scalars(
                    sa.select(Supervision.supervisor_id)
                    .join(User, User.id == Supervision.supervisor_id)
                    .where(Supervision.therapist_id == therapist_id, User.disabled.is_(False))
                )
            )
        return (
            [Entry(s, True, True) for s in sorted(own & on)]
            + [Entry(s, True, False) for s in sorted(on - own)]
            + [Entry(s, False, True) for s in sorted(own - on)]
        )
