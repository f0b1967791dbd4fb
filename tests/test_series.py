"""Sessions in a week's rhythm, through the service: series, moving one session or the rest,
cancelling with a sealed reason, links that stop at once, the family's notices, and
safeguarding hours. On SQLite and PostgreSQL (the ``app`` fixture)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiohttp import web

from server.access.accounts import StaffView
from server.appkeys import DATABASE, SCHEDULE, SERIES, SESSION_LOG
from server.audit.sessionlog import session_stream
from server.care.hours import SafeguardingHours
from server.care.rhythm import Cancel, Move, NewSeries, NewSession, series_times
from server.care.series import Change
from server.exceptions import Forbidden, NotFound, PlayroomError, TokenError
from server.storage.db import utcnow
from server.storage.models import Appointment, Link, SessionSeries
from tests.conftest import Staff, make_staff
from tests.factories import new_client, therapist_view

LONDON = ZoneInfo("Europe/London")
REASON = "Pat rang: the family are away at Grandma Edith's in Leeds"


class Told:
    """The family's notices as the series service gives them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Change]] = []

    async def __call__(self, appointment_id: str, kind: Change, *, base: str | None = None) -> None:
        self.calls.append((appointment_id, kind))


@pytest.fixture
def told(app: web.Application, therapist: Staff) -> Told:
    notices = Told()
    app[SERIES].on_change = notices
    return notices


def _next_weekday(weekday: int, hour: int, days_ahead: int = 1) -> datetime:
    """The next such weekday at ``hour`` in London, at least ``days_ahead`` days on."""
    day = (utcnow() + timedelta(days=days_ahead)).astimezone(LONDON).date()
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=LONDON)


async def _setup(app: web.Application, therapist: Staff) -> tuple[StaffView, str]:
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    return ther, kid.id


async def _live_links(app: web.Application, appointment_id: str) -> list[Link]:
    async with app[DATABASE].read() as session:
        rows = await session.scalars(
            sa.select(Link).where(Link.appointment_id == appointment_id, Link.revoked_at.is_(None))
        )
        return list(rows)


async def test_a_weekly_series_is_twelve_ordinary_sessions_each_with_its_own_link(
    app: web.Application, therapist: Staff, told: Told
) -> None:
    ther, kid = await _setup(app, therapist)
    first = _next_weekday(1, 16)  # a Tuesday, 16:00
    made, rows = await app[SERIES].schedule_series(
        ther, kid, NewSeries(starts_at=first, count=12, minutes=45, parent_link=True)
    )
    assert made.count == 12 and made.every_weeks == 1
    assert len(rows) == 12
    for n, row in enumerate(rows):
        local = row.starts_at.astimezone(LONDON)
        assert local.weekday() == 1 and (local.hour, local.minute) == (16, 0)
        assert local.date() == first.date() + timedelta(weeks=n)
        assert row.ends_at - row.starts_at == timedelta(minutes=45)
        assert row.series_id == made.id and row.status == "scheduled"
        links = await _live_links(app, row.id)
        assert sorted(link.role for link in links) == ["parent", "young_person"]
    assert told.calls == [(row.id, "scheduled") for row in rows]
    listed = await app[SCHEDULE].for_client(ther, kid)
    assert [a.id for a in listed] == [r.id for r in rows]


async def test_a_series_keeps_the_services_wall_clock_when_the_clocks_change(
    app: web.Application, therapist: Staff
) -> None:
    ther, kid = await _setup(app, therapist)
    # the Tuesday before the next October change of the clocks in London
    year = utcnow().year if utcnow().month < 10 else utcnow().year + 1
    change = max(date(year, 10, d) for d in range(25, 32) if date(year, 10, d).weekday() == 6)
    tuesday = change - timedelta(days=5)
    first = datetime(tuesday.year, tuesday.month, tuesday.day, 16, tzinfo=LONDON)
    _, rows = await app[SERIES].schedule_series(ther, kid, NewSeries(starts_at=first, count=2))
    assert [r.starts_at.astimezone(LONDON).hour for r in rows] == [16, 16]
    assert [r.starts_at.astimezone(UTC).hour for r in rows] == [15, 16]


async def test_a_fortnightly_series_runs_to_its_last_date(
    app: web.Application, therapist: Staff
) -> None:
    ther, kid = await _setup(app, therapist)
    first = _next_weekday(3, 10)
    until = (first + timedelta(weeks=10)).date()  # weeks 0, 2, 4, 6, 8, 10
    made, rows = await app[SERIES].schedule_series(
        ther, kid, NewSeries(starts_at=first, every_weeks=2, until=until)
    )
    assert made.count == len(rows) == 6
    assert rows[-1].starts_at.astimezone(LONDON).date() == until


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"count": 10_000}, "from 2 to 52 sessions, not 10000"),
        ({"until": "2001-01-01"}, "the last date is before the first session"),
        ({}, "give the number of sessions or the date of the last one"),
        ({"count": 3, "until": "2099-01-01"}, "not both"),
        ({"every_weeks": 3, "count": 3}, "every_weeks"),
    ],
)
def test_a_series_out_of_bounds_is_refused_in_plain_words(
    body: dict[str, object], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        NewSeries.model_validate({"starts_at": (utcnow() + timedelta(days=1)).isoformat(), **body})


def test_a_last_date_a_year_and_a_half_on_makes_too_many() -> None:
    start = utcnow() + timedelta(days=1)
    with pytest.raises(ValueError, match="that makes 7[0-9] sessions: a series has at most 52"):
        NewSeries(starts_at=start, until=(start + timedelta(weeks=75)).date())


def test_the_dates_read_on_the_services_calendar_still_make_2_to_52_sessions() -> None:
    """The model counts a last date in the offset the request gave; the sessions are laid
    out on the service's own calendar, where the same dates can make one session more or
    less: what they make there is checked again."""
    start = utcnow() + timedelta(days=1)
    for until, made in ((start.date(), "1"), ((start + timedelta(weeks=60)).date(), "53 or more")):
        data = NewSeries.model_construct(starts_at=start, every_weeks=1, count=None, until=until)
        with pytest.raises(PlayroomError, match=f"these dates make {made}") as refused:
            series_times(data, LONDON)
        assert refused.value.code == "series_length"


async def test_a_series_starting_in_the_past_is_refused(
    app: web.Application, therapist: Staff
) -> None:
    ther, kid = await _setup(app, therapist)
    with pytest.raises(PlayroomError, match="cannot be in the past"):
        await app[SERIES].schedule_series(
            ther, kid, NewSeries(starts_at=utcnow() - timedelta(days=1), count=3)
        )
    async with app[DATABASE].read() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(SessionSeries)) == 0


@pytest.mark.hazard("HZ-29")
async def test_a_moved_sessions_old_links_stop_at_once_and_new_ones_fit_its_new_time(
    app: web.Application, therapist: Staff, told: Told
) -> None:
    ther, kid = await _setup(app, therapist)
    one = await app[SERIES].schedule_one(
        ther, kid, NewSession(starts_at=utcnow() + timedelta(days=2), parent_link=True)
    )
    old = await app[SCHEDULE].join_links(ther, one.id)
    later = one.starts_at + timedelta(days=1, hours=2)
    moved = await app[SERIES].move(ther, one.id, Move(starts_at=later))
    assert [m.id for m in moved] == [one.id] and moved[0].starts_at == later
    for join in old:
        with pytest.raises(TokenError, match="withdrawn"):
            await app[SCHEDULE].by_join_token(join.token)
        assert not await app[SCHEDULE].link_still_works(join.link.id, one.id)
    fresh = await _live_links(app, one.id)
    assert sorted(link.role for link in fresh) == ["parent", "young_person"]
    for link in fresh:
        assert link.not_before == later - app[SCHEDULE].join_early
        assert link.expires_at == later + timedelta(minutes=50)
    live = [j for j in await app[SCHEDULE].join_links(ther, one.id) if j.link.revoked_at is None]
    await app[SCHEDULE].by_join_token(live[0].token, now=later)
    assert told.calls == [(one.id, "scheduled"), (one.id, "moved")]
    kinds = [e.kind for e in await app[SESSION_LOG].entries(session_stream(one.id))]
    assert kinds.count("session.moved") == 1 and kinds.count("link.issued") == 4


async def test_moving_the_rest_of_a_series_shifts_each_by_the_same_amount(
    app: web.Application, therapist: Staff, told: Told
) -> None:
    ther, kid = await _setup(app, therapist)
    first = _next_weekday(0, 15)  # Mondays at 15:00
    _, rows = await app[SERIES].schedule_series(ther, kid, NewSeries(starts_at=first, count=4))
    told.calls.clear()
    second = rows[1].starts_at.astimezone(LONDON)
    moved = await app[SERIES].move(
        ther, rows[1].id, Move(starts_at=second + timedelta(days=1, hours=1), with_rest=True)
    )
    assert [m.id for m in moved] == [r.id for r in rows[1:]]
    after = {a.id: a for a in await app[SCHEDULE].for_client(ther, kid)}
    assert after[rows[0].id].starts_at == rows[0].starts_at  # earlier: as it was
    for row in rows[1:]:
        local = after[row.id].starts_at.astimezone(LONDON)
        assert (local.weekday(), local.hour) == (1, 16)  # Tuesdays at 16:00
        assert after[row.id].ends_at - after[row.id].starts_at == timedelta(minutes=50)
    assert told.calls == [(r.id, "moved") for r in rows[1:]]


async def test_a_move_into_the_past_or_of_a_session_not_to_come_is_refused(
    app: web.Application, therapist: Staff, told: Told
) -> None:
    ther, kid = await _setup(app, therapist)
    one = await app[SERIES].schedule_one(
        ther, kid, NewSession(starts_at=utcnow() + timedelta(days=2))
    )
    with pytest.raises(PlayroomError, match="cannot be moved into the past") as past:
        await app[SERIES].move(ther, one.id, Move(starts_at=utcnow() - timedelta(hours=1)))
    assert past.value.code == "in_the_past"
    await app[SERIES].cancel(ther, one.id, Cancel(reason="ill"))
    with pytest.raises(PlayroomError, match="is cancelled"):
        await app[SERIES].move(ther, one.id, Move(starts_at=utcnow() + timedelta(days=3)))
    other = await app[SERIES].schedule_one(ther, kid, NewSession(starts_at=utcnow()))
    await app[SCHEDULE].end(ther, other.id)
    with pytest.raises(PlayroomError, match="has ended"):
        await app[SERIES].move(ther, other.id, Move(starts_at=utcnow() + timedelta(days=3)))
    with pytest.raises(PlayroomError, match="has ended"):
        await app[SERIES].cancel(ther, other.id, Cancel(reason="ill"))
    assert [kind for _, kind in told.calls] == ["scheduled", "cancelled", "scheduled"]


@pytest.mark.hazard("HZ-29")
async def test_a_cancelled_session_shuts_its_links_cannot_open_and_keeps_its_reason_sealed(
    app: web.Application, therapist: Staff, told: Told
) -> None:
    ther, kid = await _setup(app, therapist)
    one = await app[SERIES].schedule_one(ther, kid, NewSession(starts_at=utcnow()))
    [join] = await app[SCHEDULE].join_links(ther, one.id)
    await app[SCHEDULE].by_join_token(join.token)  # works before
    await app[SERIES].cancel(ther, one.id, Cancel(reason=REASON))
    with pytest.raises(TokenError, match="cancelled"):
        await app[SCHEDULE].by_join_token(join.token)
    assert not await app[SCHEDULE].link_still_works(join.link.id, one.id)
    with pytest.raises(PlayroomError, match="has ended"):
        await app[SCHEDULE].open_room(ther, one.id)
    row = await app[SCHEDULE].get(ther, one.id)
    assert row.status == "cancelled" and row.cancelled_at is not None
    assert app[SERIES].cancel_reason(row) == REASON
    assert row.cancel_reason_enc is not None and b"Grandma" not in row.cancel_reason_enc
    entries = await app[SESSION_LOG].entries(session_stream(one.id))
    cancelled = [e for e in entries if e.kind == "session.cancelled"]
    assert cancelled and cancelled[0].details["reason"] == "given"
    assert "Grandma" not in json.dumps([e.details for e in entries])
    assert told.calls == [(one.id, "scheduled"), (one.id, "cancelled")]


async def test_cancelling_the_rest_of_a_series_leaves_the_earlier_sessions(
    app: web.Application, therapist: Staff, told: Told
) -> None:
    ther, kid = await _setup(app, therapist)
    _, rows = await app[SERIES].schedule_series(
        ther, kid, NewSeries(starts_at=_next_weekday(2, 11), count=5)
    )
    told.calls.clear()
    await app[SERIES].cancel(ther, rows[3].id, Cancel(reason="ill"))  # one of the later ones
    gone = await app[SERIES].cancel(ther, rows[2].id, Cancel(reason="moving away", with_rest=True))
    assert [g.id for g in gone] == [rows[2].id, rows[4].id]  # the cancelled one stays as it was
    lines = await app[SERIES].lines(kid)
    assert [line.appointment.status for line in lines] == ["scheduled", "scheduled"] + [
        "cancelled"
    ] * 3
    assert [line.cancel_reason for line in lines][2:] == ["moving away", "ill", "moving away"]
    assert [line.series for line in lines][:2] == ["weekly, 1 of 5", "weekly, 2 of 5"]
    assert told.calls == [
        (rows[3].id, "cancelled"),
        (rows[2].id, "cancelled"),
        (rows[4].id, "cancelled"),
    ]


async def test_someone_elses_client_and_sessions_are_not_theirs_to_change(
    app: web.Application, therapist: Staff
) -> None:
    ther, kid = await _setup(app, therapist)
    one = await app[SERIES].schedule_one(ther, kid, NewSession(starts_at=utcnow()))
    other = await therapist_view(app, (await make_staff(app, "therapist.two")).username)
    start = utcnow() + timedelta(days=1)
    with pytest.raises((Forbidden, NotFound)):
        await app[SERIES].schedule_series(other, kid, NewSeries(starts_at=start, count=2))
    with pytest.raises(Forbidden):
        await app[SERIES].move(other, one.id, Move(starts_at=start))
    with pytest.raises(Forbidden):
        await app[SERIES].cancel(other, one.id, Cancel(reason="mine now"))
    assert (await app[SCHEDULE].get(ther, one.id)).status == "scheduled"


@pytest.mark.hazard("HZ-29")
async def test_outside_safeguarding_hours_a_reason_is_required_sealed_and_logged(
    app: web.Application, therapist: Staff
) -> None:
    ther, kid = await _setup(app, therapist)
    app[SERIES].hours = SafeguardingHours.parse("Mon-Fri 09:00-17:00", LONDON)
    evening = _next_weekday(2, 18)  # a Wednesday at 18:00
    with pytest.raises(PlayroomError, match="outside the service's safeguarding hours") as no:
        await app[SERIES].schedule_one(ther, kid, NewSession(starts_at=evening))
    assert no.value.code == "rationale_needed"
    why = "Only after school: Sky's carer works until 17:30"
    one = await app[SERIES].schedule_one(ther, kid, NewSession(starts_at=evening, rationale=why))
    assert b"carer" not in (one.hours_rationale_enc or b"carer")
    [line] = [x for x in await app[SERIES].lines(kid) if x.appointment.id == one.id]
    assert line.outside_hours and line.hours_rationale == why
    entries = await app[SESSION_LOG].entries(session_stream(one.id))
    assert [e.details for e in entries if e.kind == "session.outside_hours"] == [
        {"rationale": "given"}
    ]
    assert "carer" not in json.dumps([e.details for e in entries])
    # a move inside the hours drops the reason; one back outside asks again
    noon = evening.replace(hour=12)
    await app[SERIES].move(ther, one.id, Move(starts_at=noon))
    assert (await app[SCHEDULE].get(ther, one.id)).hours_rationale_enc is None
    with pytest.raises(PlayroomError, match="say why"):
        await app[SERIES].move(ther, one.id, Move(starts_at=evening + timedelta(days=7)))


async def test_a_series_partly_outside_the_hours_says_how_many_and_asks_once(
    app: web.Application, therapist: Staff
) -> None:
    ther, kid = await _setup(app, therapist)
    app[SERIES].hours = SafeguardingHours.parse("Mon-Thu 09:00-17:00", LONDON)
    # a Thursday at 16:30 for 50 minutes runs past 17:00: every one of the three is outside
    start = _next_weekday(3, 16).replace(minute=30)
    with pytest.raises(PlayroomError, match="3 of these 3 sessions are outside"):
        await app[SERIES].schedule_series(ther, kid, NewSeries(starts_at=start, count=3))
    _, rows = await app[SERIES].schedule_series(
        ther, kid, NewSeries(starts_at=start, count=3, minutes=30, rationale="")
    )
    assert all(r.hours_rationale_enc is None for r in rows)  # 16:30-17:00 fits


async def test_the_setting_reaches_the_service(
    settings: object, app: web.Application, therapist: Staff
) -> None:
    assert app[SERIES].hours.set is False  # unset: every time fits
    ther, kid = await _setup(app, therapist)
    made = await app[SERIES].schedule_one(
        ther, kid, NewSession(starts_at=utcnow().replace(hour=3) + timedelta(days=1))
    )
    async with app[DATABASE].read() as session:
        row = await session.get(Appointment, made.id)
    assert row is not None and row.hours_rationale_enc is None


async def test_a_notice_that_fails_leaves_the_change_made_and_is_logged(
    app: web.Application, therapist: Staff, caplog: pytest.LogCaptureFixture
) -> None:
    ther, kid = await _setup(app, therapist)

    async def broken(appointment_id: str, kind: Change, *, base: str | None = None) -> None:
        raise RuntimeError("the mail server is down")

    app[SERIES].on_change = broken
    one = await app[SERIES].schedule_one(ther, kid, NewSession(starts_at=utcnow()))
    await app[SERIES].cancel(ther, one.id, Cancel(reason=REASON))
    assert (await app[SCHEDULE].get(ther, one.id)).status == "cancelled"
    records = [r for r in caplog.records if getattr(r, "event", None) == "change_not_told"]
    assert [r.change for r in records] == ["scheduled", "cancelled"]  # type: ignore[attr-defined]
    assert {r.stream for r in records} == {session_stream(one.id)}  # type: ignore[attr-defined]
