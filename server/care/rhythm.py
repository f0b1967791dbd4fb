"""What a therapist asks of the calendar, and the times it makes: one session, a weekly or
fortnightly series, a move, a cancellation, each a bounded pydantic model; and the sessions'
times, kept to the service's wall clock (a weekly 16:00 session stays at 16:00 across a
change of the clocks, and a move shifts each later session by the same span of wall-clock
time). No I/O here: ``series.py`` does it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from server.care.hours import RATIONALE_MAX
from server.care.schedule import MOST_AHEAD, NewAppointment
from server.exceptions import PlayroomError
from server.storage.db import utcnow

MOST_SESSIONS = 52  # a year of weekly sessions
REASON_MAX = 2000
Times = list[tuple[datetime, datetime]]  # each session's start and end


def reachable(value: datetime) -> datetime:
    """At most two years ahead, as ``NewAppointment`` (a later start is a typing slip, and
    one near the end of the calendar has no end time)."""
    now = utcnow()
    if value.year > now.year + 2 or value - now > MOST_AHEAD:
        raise ValueError("a session can be scheduled at most two years ahead")
    return value


class NewSession(NewAppointment):
    """One session, with the therapist's reason when it is outside safeguarding hours."""

    rationale: Annotated[str, Field(max_length=RATIONALE_MAX)] = ""


class NewSeries(BaseModel):
    """A weekly or fortnightly series: its first start, each session's length, and either
    how many sessions or the date of the last."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    starts_at: AwareDatetime
    minutes: Annotated[int, Field(ge=10, le=180)] = 50
    every_weeks: Literal[1, 2] = 1
    count: int | None = None
    until: date | None = Field(None, validate_default=True)
    relay_only: bool = False
    parent_link: bool = False
    rationale: Annotated[str, Field(max_length=RATIONALE_MAX)] = ""

    @field_validator("starts_at")
    @classmethod
    def _within_reach(cls, value: datetime) -> datetime:
        return reachable(value)

    @field_validator("count")
    @classmethod
    def _bounded(cls, value: int | None) -> int | None:
        if value is not None and not 2 <= value <= MOST_SESSIONS:
            raise ValueError(f"a series has from 2 to {MOST_SESSIONS} sessions, not {value}")
        return value

    @field_validator("until")
    @classmethod
    def _one_end(cls, value: date | None, info: ValidationInfo) -> date | None:
        """Either a count or a last date; a last date on or after the first session, within
        ``MOST_SESSIONS`` sessions of it."""
        count, starts = info.data.get("count"), info.data.get("starts_at")
        if value is None and count is None and "count" in info.data:
            raise ValueError("give the number of sessions or the date of the last one")
        if value is not None and count is not None:
            raise ValueError("give the number of sessions or the date of the last one, not both")
        if value is not None and starts is not None:
            if value < starts.date():
                raise ValueError("the last date is before the first session")
            step = 7 * int(info.data.get("every_weeks", 1))
            many = (value - starts.date()).days // step + 1
            if many > MOST_SESSIONS:
                raise ValueError(f"that makes {many} sessions: a series has at most 52")
            if many < 2:
                raise ValueError("that makes one session: schedule it on its own")
        return value


class Move(BaseModel):
    """A new start for a session (its length kept), and whether the rest of its series
    shifts by the same amount."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    starts_at: AwareDatetime
    with_rest: bool = False
    rationale: Annotated[str, Field(max_length=RATIONALE_MAX)] = ""

    @field_validator("starts_at")
    @classmethod
    def _within_reach(cls, value: datetime) -> datetime:
        return reachable(value)


class Cancel(BaseModel):
    """Why a session (or it and the rest of its series) is cancelled: the therapist's words,
    sealed and shown to staff only."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Annotated[str, Field(min_length=1, max_length=REASON_MAX)]
    with_rest: bool = False


def _wall(at: datetime, zone: ZoneInfo) -> datetime:
    """The service's wall-clock time of ``at`` (naive)."""
    return at.astimezone(zone).replace(tzinfo=None)


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=zone).astimezone(UTC)


def series_times(data: NewSeries, zone: ZoneInfo) -> Times:
    """Each session of the series: the first start's wall-clock time every one or two
    weeks, as many as asked or up to the last date."""
    first = _wall(data.starts_at, zone)
    step = timedelta(weeks=data.every_weeks)
    if data.count is not None:
        walls = [first + n * step for n in range(data.count)]
    else:
        assert data.until is not None  # the model asks for one or the other
        walls = []
        while (first + len(walls) * step).date() <= data.until and len(walls) <= MOST_SESSIONS:
            walls.append(first + len(walls) * step)
    if not 2 <= len(walls) <= MOST_SESSIONS:  # the last date read on the service's calendar
        raise PlayroomError(
            f"A series has from 2 to {MOST_SESSIONS} sessions: these dates make {len(walls)}"
            f"{'' if len(walls) <= MOST_SESSIONS else ' or more'}.",
            code="series_length",
        )
    length = timedelta(minutes=data.minutes)
    return [(_instant(w, zone), _instant(w + length, zone)) for w in walls]


def shifted(sessions: Times, starts_at: datetime, zone: ZoneInfo) -> Times:
    """The sessions moved so that the first starts at ``starts_at``, each later one by the
    same span of wall-clock time, each keeping its length."""
    shift = _wall(starts_at, zone) - _wall(sessions[0][0], zone)
    out = []
    for start, end in sessions:
        wall = _wall(start, zone) + shift
        out.append((_instant(wall, zone), _instant(wall + (end - start), zone)))
    return out
