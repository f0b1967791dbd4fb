"""Aggregate reports: built from the session logs and outcome measures of one team (or the
whole service), with every figure that rests on fewer than five young people suppressed."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import ACCOUNTS, DATABASE, KEYRING, REPORTS, SESSION_LOG
from server.audit.sessionlog import session_stream
from server.crypto.sealed import seal
from server.records.reports import HIDDEN, HIDDEN_REST, NONE_YET, Report
from server.storage.db import utcnow
from server.storage.models import Appointment, Role, new_id
from server.storage.session_models import Outcome
from tests.conftest import make_staff, sign_in
from tests.factories import new_client, therapist_view


def _this_week(app: web.Application) -> datetime:
    """An hour ago, or this week's first moment where the week began less than an hour ago
    (in the reports' time zone): a session then is in this week's bar whatever the hour."""
    zone = app[REPORTS].zone
    now = utcnow()
    local = now.astimezone(zone)
    monday = datetime.combine(local.date() - timedelta(days=local.weekday()), time(), zone)
    return max(now - timedelta(hours=1), monday.astimezone(UTC))


async def _held(
    app: web.Application,
    therapist: str,
    events: list[str],
    client_id: str | None = None,
    starts_at: datetime | None = None,
) -> str:
    """A session held by the therapist, for a new client unless one is given."""
    ther = await therapist_view(app, therapist)
    client_id = client_id or (await new_client(app, ther)).id
    now = utcnow()
    starts_at = starts_at or _this_week(app)
    appointment = Appointment(
        id=new_id(),
        client_id=client_id,
        therapist_id=ther.id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=50),
        status="ended",
        created_at=now,
    )
    async with app[DATABASE].session() as session:
        session.add(appointment)
    for kind in ["room.opened", *events, "session.ended"]:
        await app[SESSION_LOG].append(session_stream(appointment.id), kind, "system")
    return appointment.id


async def _outcome(app: web.Application, appointment_id: str, measure: str, values: dict) -> None:  # type: ignore[type-arg]
    row = Outcome(id=new_id(), appointment_id=appointment_id, measure=measure,
                  given_by="young_person", created_at=utcnow())  # fmt: skip
    seal(app[KEYRING], row, "values_enc", json.dumps(values))
    async with app[DATABASE].session() as session:
        session.add(row)


async def test_a_team_report_counts_and_suppresses_small_numbers(
    app: web.Application, aiohttp_client, client: TestClient
) -> None:  # type: ignore[no-untyped-def]
    await make_staff(app, "ther.a")
    await make_staff(app, "ther.b")
    sup = await make_staff(app, "sup.a", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("sup.a", "ther.a")
    drops = ["participant.interrupted", "participant.reconnected"]
    plans = [drops, drops, ["participant.lost"], ["escalation.raised"], ["escalation.raised"],
             ["escalation.raised"], []]  # fmt: skip
    ids = [await _held(app, "ther.a", events) for events in plans]
    for appointment_id, score in zip(ids, [4, 3, 4, 4, 2, 3], strict=False):
        await _outcome(app, appointment_id, "session_rating", {"score": score})
    await _outcome(app, ids[0], "goal_based", {"goals": [{"goal": "x", "progress": 7}]})
    for _ in range(3):  # another team's sessions are not counted
        await _held(app, "ther.b", ["participant.lost"])

    report = await app[REPORTS].build(await therapist_view(app, "sup.a"))
    figures = {f.label: f.value for f in report.figures}
    assert figures["Sessions held"] == "7"
    # 2 of 7 and 1 of 7 sessions: too few young people in the part, so not shown
    assert figures["Sessions with a disconnection"] == HIDDEN
    assert figures["Disconnections that reconnected"] == HIDDEN
    assert figures["Sessions where a young person was lost"] == HIDDEN
    assert figures["Escalations"] == HIDDEN
    assert figures["Average length"] == "0 minutes"
    assert sum(b.n for b in report.sessions_per_week) == 7
    assert [b.n for b in report.rating_per_month] == [6]
    assert abs((report.rating_per_month[0].value or 0) - 20 / 6) < 1e-9
    assert report.goals_per_month[0].value is None  # one goal rating: suppressed

    browser = await aiohttp_client(client.server)
    await sign_in(browser, sup)
    page = await (await browser.get("/reports")).text()
    assert 'role="img"' in page and "Sessions held each week" in page
    assert "fewer than 5" in page


async def test_a_small_team_shows_no_numbers_and_therapists_see_no_reports(
    app: web.Application, aiohttp_client, client: TestClient
) -> None:  # type: ignore[no-untyped-def]
    ther = await make_staff(app, "ther.c")
    await make_staff(app, "sup.c", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("sup.c", "ther.c")
    empty = _figures(await app[REPORTS].build(await therapist_view(app, "sup.c")))
    assert empty["Sessions held"] == "0" and empty["Escalations"] == "0"
    assert empty["Average length"] == empty["Sessions where a young person was lost"] == NONE_YET
    for _ in range(3):
        await _held(app, "ther.c", ["participant.lost"])
    report = await app[REPORTS].build(await therapist_view(app, "sup.c"))
    values = {f.label: f.value for f in report.figures}
    assert values["Sessions held"] == HIDDEN
    assert "3" not in " ".join(values.values())
    assert all(b.value is None for b in report.sessions_per_week if b.n)
    browser = await aiohttp_client(client.server)
    await sign_in(browser, ther)
    assert (await browser.get("/reports")).status == 403


def _figures(report: Report) -> dict[str, str]:
    return {f.label: f.value for f in report.figures}


async def _team(app: web.Application, name: str) -> None:
    """A supervisor ``sup.<name>`` of one therapist ``ther.<name>``."""
    await make_staff(app, f"ther.{name}")
    await make_staff(app, f"sup.{name}", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise(f"sup.{name}", f"ther.{name}")


async def test_a_share_hides_a_few_young_people_in_its_part_or_in_the_rest(
    app: web.Application, client: TestClient
) -> None:
    """1 lost of 7 picks out one young person, and so does 6 of 7 (the one who was not)."""
    await _team(app, "d")
    drop = ["participant.interrupted"]
    for events in [["participant.lost", *drop], *[drop] * 5, []]:
        await _held(app, "ther.d", events)
    figures = _figures(await app[REPORTS].build(await therapist_view(app, "sup.d")))
    assert figures["Sessions held"] == "7"
    assert figures["Sessions where a young person was lost"] == HIDDEN  # was "14%"
    assert figures["Sessions with a disconnection"] == HIDDEN_REST  # was "86%"
    assert figures["Disconnections that reconnected"] == "0%"  # none of 6: no child in particular

    await _team(app, "e")  # five on each side: shown
    for events in [["participant.lost"]] * 5 + [[]] * 5:
        await _held(app, "ther.e", events)
    figures = _figures(await app[REPORTS].build(await therapist_view(app, "sup.e")))
    assert figures["Sessions where a young person was lost"] == "50%"


async def test_a_hidden_week_cannot_be_worked_out_from_the_other_figures(
    app: web.Application, aiohttp_client, client: TestClient
) -> None:  # type: ignore[no-untyped-def]
    """Two weeks of 6 sessions beside one of 2: the 2 are hidden, and were they counted in
    the total, the total less the bars would give them back."""
    await _team(app, "f")
    now, this_week = utcnow(), _this_week(app)
    for weeks_ago in (1, 2):
        for _ in range(6):
            await _held(app, "ther.f", [], starts_at=this_week - timedelta(weeks=weeks_ago))
    for _ in range(2):
        await _held(app, "ther.f", ["participant.lost"])
    report = await app[REPORTS].build(await therapist_view(app, "sup.f"), now)
    figures = _figures(report)
    shown = [b.n for b in report.sessions_per_week if b.value is not None]
    assert figures["Sessions held"] == str(sum(shown)) == "12"  # was "14"
    assert [b.n for b in report.sessions_per_week if b.value is None] == [2]
    assert report.weeks_hidden == 1
    assert figures["Sessions where a young person was lost"] == "0%"  # was 2 of 14

    # the page draws the hidden week as hidden, not as zero, and says why
    browser = await aiohttp_client(client.server)
    await sign_in(browser, await make_staff(app, "sup.f2", Role.SUPERVISOR))
    await app[ACCOUNTS].supervise("sup.f2", "ther.f")
    page = await (await browser.get("/reports")).text()
    shown_figures = re.search(r'<dl class="summary" id="figures">(.*?)</dl>', page, re.S)
    assert shown_figures and "<dd>12</dd>" in shown_figures[1] and "14" not in shown_figures[1]
    chart = re.search(r'<svg id="chart-weeks".*?</svg>', page, re.S)
    assert chart is not None
    values = re.findall(r'class="bar-value">([^<]*)</text>', chart[0])
    assert values == ["0"] * 9 + ["6", "6", "hidden"]
    assert chart[0].count('class="bar-hidden"') == 1
    assert f"<td>{HIDDEN}</td>" in page and "1 of 12 weeks is left out" in page


async def test_the_total_counts_no_session_outside_the_weeks_shown(
    app: web.Application, client: TestClient
) -> None:
    """The 12 weeks start on a Monday: a session in the part-week before them would be in
    the total and in no bar, so the total less the bars would give it back."""
    await _team(app, "g")
    today = utcnow()
    wednesday = (today - timedelta(days=(today.weekday() - 2) % 7 or 7)).replace(
        hour=12, minute=0, second=0, microsecond=0, tzinfo=UTC
    )
    for _ in range(5):
        await _held(app, "ther.g", [], starts_at=wednesday - timedelta(hours=1))
    await _held(app, "ther.g", [], starts_at=wednesday - timedelta(weeks=12, days=-1))
    report = await app[REPORTS].build(await therapist_view(app, "sup.g"), wednesday)
    assert sum(b.n for b in report.sessions_per_week) == 5
    assert _figures(report)["Sessions held"] == "5"  # was "6"
    assert report.since.weekday() == 0


async def test_scores_and_counts_rest_on_young_people_not_rows(
    app: web.Application, client: TestClient
) -> None:
    """One young person with five rated sessions, three goals in two of them and six
    escalations: many rows, one child."""
    await _team(app, "h")
    ther = await therapist_view(app, "ther.h")
    sky = (await new_client(app, ther)).id
    ids = [await _held(app, "ther.h", [], client_id=sky) for _ in range(4)]
    ids.append(await _held(app, "ther.h", ["escalation.raised"] * 6, client_id=sky))
    others = [await _held(app, "ther.h", []) for _ in range(5)]  # so the week is shown
    for appointment_id in ids:
        await _outcome(app, appointment_id, "session_rating", {"score": 4})
    goals = [{"goal": g, "progress": 5} for g in "xyz"]
    for appointment_id in ids[:2]:
        await _outcome(app, appointment_id, "goal_based", {"goals": goals})

    report = await app[REPORTS].build(await therapist_view(app, "sup.h"))
    assert [(b.n, b.value) for b in report.rating_per_month] == [(5, None)]  # was 4.0
    assert [(b.n, b.value) for b in report.goals_per_month] == [(6, None)]  # was 5.0
    assert _figures(report)["Sessions held"] == "10"
    assert _figures(report)["Escalations"] == HIDDEN  # was "6"

    for appointment_id in others[:4]:  # now five young people have rated a session
        await _outcome(app, appointment_id, "session_rating", {"score": 2})
    report = await app[REPORTS].build(await therapist_view(app, "sup.h"))
    assert [(b.n, b.value) for b in report.rating_per_month] == [(9, 28 / 9)]
