"""Series, moves and cancellations through the pages and the JSON API: forms checked for
CSRF, faults beside their fields in plain words, the gate showing a session outside
safeguarding hours with its reason and the CCAP passage, someone else's client refused."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.appkeys import ACCOUNTS, SCHEDULE, SERIES
from server.care.hours import PASSAGE
from server.settings import Settings
from server.storage.db import utcnow
from server.storage.models import Role
from tests.conftest import Staff, make_staff, sign_in
from tests.factories import give_supervisor, new_client, therapist_view

LONDON = ZoneInfo("Europe/London")


def _local(days: int, hour: int) -> str:
    """A ``datetime-local`` value ``days`` on at ``hour`` in London."""
    day = (utcnow() + timedelta(days=days)).astimezone(LONDON)
    return day.replace(hour=hour, minute=0).strftime("%Y-%m-%dT%H:%M")


async def _page(client: TestClient, path: str) -> str:
    resp = await client.get(path)
    assert resp.status == 200, path
    return await resp.text()


async def test_a_twelve_week_series_from_the_client_page(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    form = {"starts_at": _local(2, 16), "repeat": "1", "count": "12", "csrf_token": csrf}
    resp = await client.post(f"/clients/{kid.id}/sessions", data=form, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].endswith("?scheduled=12#sessions")
    page = await _page(client, resp.headers["Location"])
    assert "12 sessions scheduled" in page
    assert page.count("weekly, ") == 12 and "weekly, 12 of 12" in page
    assert len(await app[SCHEDULE].for_client(ther, kid.id)) == 12


async def test_one_session_still_goes_to_its_page(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    csrf = await sign_in(client, therapist)
    kid = await new_client(app, await therapist_view(app, therapist.username))
    form = {"starts_at": _local(1, 10), "csrf_token": csrf}
    resp = await client.post(f"/clients/{kid.id}/sessions", data=form, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/sessions/")


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        (
            {"repeat": "1", "count": "10000"},
            "count",
            "A series has from 2 to 52 sessions, not 10000.",
        ),
        (
            {"repeat": "2", "until": "2001-01-01"},
            "until",
            "The last date is before the first session.",
        ),
        ({"repeat": "1"}, "until", "Give the number of sessions or the date of the last one."),
        ({"starts_at": "tomorrow"}, "starts_at", "Give the day and time it starts."),
        (
            {"starts_at": "2001-01-01T10:00"},
            "starts_at",
            "A session cannot be scheduled in the past.",
        ),
    ],
)
async def test_a_bad_schedule_comes_back_with_the_fault_beside_its_field(
    app: web.Application,
    client: TestClient,
    therapist: Staff,
    fields: dict[str, str],
    field: str,
    words: str,
) -> None:
    csrf = await sign_in(client, therapist)
    kid = await new_client(app, await therapist_view(app, therapist.username))
    form = {"starts_at": _local(2, 16), "csrf_token": csrf, **fields}
    resp = await client.post(f"/clients/{kid.id}/sessions", data=form)
    assert resp.status == 400
    page = await resp.text()
    assert f'id="{field}-error"><span class="visually-hidden">Error: </span>{words}</p>' in page
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', page)
    assert f'value="{fields.get(field, form["starts_at"])}"' in page or field == "until"
    assert (
        await app[SCHEDULE].for_client(await therapist_view(app, therapist.username), kid.id) == []
    )


async def test_forms_without_the_csrf_token_are_refused(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    form = {"starts_at": _local(2, 16), "repeat": "1", "count": "3"}
    assert (await client.post(f"/clients/{kid.id}/sessions", data=form)).status == 403
    one = await app[SCHEDULE].create(ther, kid.id, _new(2))
    for action in ("move", "cancel"):
        resp = await client.post(f"/sessions/{one.id}/{action}", data={"reason": "x"})
        assert resp.status == 403
    assert (await app[SCHEDULE].get(ther, one.id)).status == "scheduled"


def _new(days: int):  # type: ignore[no-untyped-def]
    from server.care.schedule import NewAppointment

    return NewAppointment(starts_at=utcnow() + timedelta(days=days))


async def test_moving_and_cancelling_from_the_session_page(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    form = {"starts_at": _local(2, 11), "repeat": "1", "count": "3", "csrf_token": csrf}
    await client.post(f"/clients/{kid.id}/sessions", data=form)
    first, second, third = await app[SCHEDULE].for_client(ther, kid.id)
    page = await _page(client, f"/sessions/{second.id}")
    assert "This one and the rest of the series (1 more)" in page
    # into the past: refused beside the field, nothing moved
    past = {"starts_at": "2001-01-01T10:00", "scope": "rest", "csrf_token": csrf}
    resp = await client.post(f"/sessions/{second.id}/move", data=past)
    assert resp.status == 400
    assert 'id="move-starts_at-error"' in (text := await resp.text())
    assert "A session cannot be moved into the past." in text
    later = second.starts_at.astimezone(LONDON) + timedelta(hours=2)
    move = {"starts_at": later.strftime("%Y-%m-%dT%H:%M"), "scope": "rest", "csrf_token": csrf}
    resp = await client.post(f"/sessions/{second.id}/move", data=move, allow_redirects=False)
    assert resp.status == 303
    assert "old join links no longer work" in await _page(client, resp.headers["Location"])
    after = await app[SCHEDULE].for_client(ther, kid.id)
    assert [
        a.starts_at - b.starts_at for a, b in zip(after, (first, second, third), strict=True)
    ] == [
        timedelta(0),
        timedelta(hours=2),
        timedelta(hours=2),
    ]
    # a cancellation needs its reason
    resp = await client.post(
        f"/sessions/{third.id}/cancel", data={"reason": " ", "csrf_token": csrf}
    )
    assert resp.status == 400
    assert "Say why the session is cancelled" in await resp.text()
    resp = await client.post(
        f"/sessions/{third.id}/cancel",
        data={"reason": "Sky is in hospital", "csrf_token": csrf},
        allow_redirects=False,
    )
    assert resp.status == 303
    page = await _page(client, f"/sessions/{third.id}")
    assert (
        "Why: Sky is in hospital" in page and 'action="/sessions/' + third.id + "/move" not in page
    )
    client_page = await _page(client, f"/clients/{kid.id}")
    assert "Why cancelled: Sky is in hospital" in client_page
    # a second cancellation, or a move, of a cancelled session is refused in words
    resp = await client.post(
        f"/sessions/{third.id}/cancel", data={"reason": "again", "csrf_token": csrf}
    )
    assert resp.status == 400 and "This session is cancelled." in await resp.text()


async def test_someone_elses_client_and_session_are_refused(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    one = await app[SCHEDULE].create(ther, kid.id, _new(2))
    other = await make_staff(app, "therapist.two")
    csrf = await sign_in(client, other)
    form = {"starts_at": _local(2, 16), "repeat": "1", "count": "3", "csrf_token": csrf}
    assert (await client.post(f"/clients/{kid.id}/sessions", data=form)).status in (403, 404)
    h = {"X-CSRF-Token": csrf}
    body = {"starts_at": (utcnow() + timedelta(days=3)).isoformat(), "count": 3}
    assert (await client.post(f"/api/clients/{kid.id}/series", json=body, headers=h)).status in (
        403,
        404,
    )
    move = {"starts_at": (utcnow() + timedelta(days=3)).isoformat()}
    assert (await client.post(f"/api/sessions/{one.id}/move", json=move, headers=h)).status == 403
    cancel = {"reason": "not mine"}
    assert (
        await client.post(f"/api/sessions/{one.id}/cancel", json=cancel, headers=h)
    ).status == 403
    assert (
        await client.post(f"/sessions/{one.id}/cancel", data={**cancel, "csrf_token": csrf})
    ).status == 403
    assert (await app[SCHEDULE].get(ther, one.id)).status == "scheduled"


async def test_the_api_schedules_moves_and_cancels(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    csrf = await sign_in(client, therapist)
    kid = await new_client(app, await therapist_view(app, therapist.username))
    h = {"X-CSRF-Token": csrf}
    start = utcnow() + timedelta(days=1)
    too_many = {"starts_at": start.isoformat(), "count": 10_000}
    resp = await client.post(f"/api/clients/{kid.id}/series", json=too_many, headers=h)
    assert resp.status == 400
    assert (
        "a series has from 2 to 52 sessions, not 10000" in (await resp.json())["error"]["message"]
    )
    body = {"starts_at": start.isoformat(), "count": 3, "every_weeks": 2}
    resp = await client.post(f"/api/clients/{kid.id}/series", json=body, headers=h)
    assert resp.status == 201
    made = await resp.json()
    assert made["every_weeks"] == 2 and len(made["sessions"]) == 3
    assert all(len(s["join_links"]) == 1 for s in made["sessions"])
    first = made["sessions"][0]
    old_url = first["join_links"][0]["url"]
    past = {"starts_at": (utcnow() - timedelta(days=1)).isoformat()}
    resp = await client.post(f"/api/sessions/{first['id']}/move", json=past, headers=h)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "in_the_past"
    move = {"starts_at": (start + timedelta(days=1)).isoformat(), "with_rest": True}
    resp = await client.post(f"/api/sessions/{first['id']}/move", json=move, headers=h)
    assert resp.status == 200
    moved = (await resp.json())["sessions"]
    assert len(moved) == 3 and moved[0]["join_links"][0]["url"] != old_url
    page = await client.get("/" + old_url.split("/", 3)[3])
    assert page.status == 403 and "withdrawn" in await page.text()
    cancel = {"reason": "The family moved away", "with_rest": True}
    resp = await client.post(f"/api/sessions/{moved[1]['id']}/cancel", json=cancel, headers=h)
    assert resp.status == 200
    assert [s["status"] for s in (await resp.json())["sessions"]] == ["cancelled", "cancelled"]
    url = moved[1]["join_links"][0]["url"]
    page = await client.get("/" + url.split("/", 3)[3])
    assert page.status == 403 and "This session has been cancelled" in await page.text()


@pytest.fixture
async def hours_client(aiohttp_client, settings: Settings) -> TestClient:  # type: ignore[no-untyped-def]
    """The app with safeguarding hours set, as a service sets them."""
    update = {"safeguarding_hours": "Mon-Fri 09:00-17:00", "timezone": "Europe/London"}
    return await aiohttp_client(create_app(settings.model_copy(update=update)))  # type: ignore[no-any-return]


@pytest.mark.hazard("HZ-29")
async def test_outside_safeguarding_hours_the_form_asks_why_and_the_gate_shows_it_to_both(
    hours_client: TestClient,
) -> None:
    app = hours_client.app
    assert app[SERIES].hours.describe() == "Mon–Fri 09:00–17:00"
    therapist = await make_staff(app, "therapist.hours")
    ther = await therapist_view(app, therapist.username)
    await give_supervisor(app, ther)
    kid = await new_client(app, ther)
    csrf = await sign_in(hours_client, therapist)
    day = utcnow().astimezone(LONDON) + timedelta(days=1)
    while day.weekday() != 2:  # a Wednesday
        day += timedelta(days=1)
    evening = day.replace(hour=18, minute=0).strftime("%Y-%m-%dT%H:%M")
    form = {"starts_at": evening, "csrf_token": csrf}
    resp = await hours_client.post(f"/clients/{kid.id}/sessions", data=form)
    assert resp.status == 400
    page = await resp.text()
    assert 'id="rationale-error"' in page and "safeguarding hours (Mon–Fri 09:00–17:00)" in page
    why = "The only time the foster carer can be at home"
    form["rationale"] = why
    resp = await hours_client.post(f"/clients/{kid.id}/sessions", data=form, allow_redirects=False)
    assert resp.status == 303
    session_page = await _page(hours_client, resp.headers["Location"])
    for page in (session_page, await _page(hours_client, f"/clients/{kid.id}")):
        gate = page.split('id="gate"', 1)[1].split("</section>", 1)[0]
        assert "Outside safeguarding hours" in gate and why in gate
        assert (
            PASSAGE in gate and "CCAP 2024, Considerations for online therapy / Context, 3" in gate
        )
    # the supervisor reads the same on the client's page
    boss = await make_staff(app, "supervisor.hours", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise(boss.username, therapist.username)
    await hours_client.post("/signout", data={"csrf_token": csrf})
    hours_client.session.cookie_jar.clear()
    await sign_in(hours_client, boss)
    gate = (await _page(hours_client, f"/clients/{kid.id}")).split('id="gate"', 1)[1]
    assert "Outside safeguarding hours" in gate and why in gate.split("</section>", 1)[0]
