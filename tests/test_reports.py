"""Aggregate reports: built from the session logs and outcome measures of one team (or the
whole service), with every figure that rests on fewer than five sessions suppressed."""

from __future__ import annotations

import json
from datetime import timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import ACCOUNTS, DATABASE, KEYRING, REPORTS, SESSION_LOG
from server.db import utcnow
from server.models import Appointment, Outcome, Role, new_id
from server.sealed import seal
from server.sessionlog import session_stream
from tests.conftest import make_staff, sign_in
from tests.factories import new_client, therapist_view


async def _held(app: web.Application, therapist: str, events: list[str]) -> str:
    ther = await therapist_view(app, therapist)
    client = await new_client(app, ther)
    now = utcnow()
    appointment = Appointment(
        id=new_id(),
        client_id=client.id,
        therapist_id=ther.id,
        starts_at=now - timedelta(hours=1),
        ends_at=now - timedelta(minutes=10),
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
    assert figures["Sessions with a disconnection"] == "29%"
    assert figures["Disconnections that reconnected"] == "not shown (fewer than 5 sessions)"
    assert figures["Sessions where a young person was lost"] == "14%"
    assert figures["Escalations"] == "fewer than 5"
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
    for _ in range(3):
        await _held(app, "ther.c", ["participant.lost"])
    report = await app[REPORTS].build(await therapist_view(app, "sup.c"))
    values = {f.label: f.value for f in report.figures}
    assert values["Sessions held"] == "fewer than 5"
    assert "3" not in " ".join(values.values())
    assert all(b.value is None for b in report.sessions_per_week if b.n)
    browser = await aiohttp_client(client.server)
    await sign_in(browser, ther)
    assert (await browser.get("/reports")).status == 403
