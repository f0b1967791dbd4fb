"""After the session: the young person's rating in the room, the therapist's goal-based
rating, reflection and risk level; each is sealed and lands on the session's timeline."""

from __future__ import annotations

import json

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import ACCOUNTS, CLIENTS, DATABASE, ESCALATIONS, SESSION_LOG
from server.audit.sessionlog import session_stream, staff_actor, views_stream
from server.records.sessions import describe
from server.storage.models import Appointment, Role
from server.storage.session_models import Outcome, Reflection
from tests.conftest import csrf_from, make_staff, sign_in
from tests.factories import therapist_view
from tests.scenes import Room, join_with


async def test_ratings_reflection_and_risk_reach_the_record(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    young = await join_with(aiohttp_client, client, room.token)
    yid = (await young.expect("joined"))["you"]["id"]
    parent = await join_with(aiohttp_client, client, room.parent_token)
    pid = (await parent.expect("joined"))["you"]["id"]
    for who in (yid, pid):
        await therapist.send({"type": "admit", "participant": who})
    await young.expect("admitted")
    await parent.expect("admitted")

    await young.send({"type": "ask_rating"})
    assert (await young.expect("error"))["code"] == "refused"  # only the therapist asks
    await therapist.send({"type": "ask_rating"})
    await young.expect("rating_request")
    assert not [m for m in parent.inbox if m["type"] == "rating_request"]
    await young.send({"type": "rating", "score": 9})
    assert (await young.expect("error"))["code"] == "bad_message"
    await parent.send({"type": "rating", "score": 2})
    assert (await parent.expect("error"))["code"] == "refused"
    await young.send({"type": "rating", "score": 4})
    await young.expect("notice", code="rating_saved")
    notice = await therapist.expect("notice", code="rating")
    assert "4 of 4" in notice["message"]

    api = f"/api/sessions/{room.session}/after"
    csrf = csrf_from(await (await client.get("/")).text())
    bad = await client.post(
        api, json={"goals": [{"goal": "Sleep", "progress": 11}]}, headers={"X-CSRF-Token": csrf}
    )
    assert bad.status == 400
    saved = await client.post(
        api,
        json={
            "reflection": "Quieter today; the drawing helped.",
            "goals": [{"goal": "Going to school", "progress": 6}],
            "risk_level": "medium",
        },
        headers={"X-CSRF-Token": csrf},
    )
    assert saved.status == 201, await saved.text()
    async with app[DATABASE].session() as session:
        appointment = await session.get(Appointment, room.session)
        assert appointment is not None
        reflection = await session.scalar(sa.select(Reflection))
        assert reflection is not None and b"Quieter" not in reflection.text_enc
        assert len(list(await session.scalars(sa.select(Outcome)))) == 2
    ther = await therapist_view(app, "therapist.one")
    assert (await app[CLIENTS].get(ther, appointment.client_id)).risk_level.value == "medium"
    entries = await app[SESSION_LOG].entries(session_stream(room.session))
    lines = [describe(e) for e in entries]
    assert "Session rated by the young person: 4 of 4" in lines
    assert "Goal-based rating: goal 1 6/10" in lines
    assert "Reflection written" in lines and "Risk level updated to medium" in lines
    # the log records what happened, not what the therapist wrote: no goal or reflection text
    written = json.dumps([e.details for e in entries])
    assert "Going to school" not in written and "Quieter" not in written
    goal = next(e for e in entries if e.details.get("measure") == "goal_based")
    assert goal.details["progress"] == [6] and len(goal.details["outcome"]) == 32
    page = await (await client.get(f"/sessions/{room.session}")).text()
    assert "rated the session <strong>4 of 4</strong>" in page and "Quieter today" in page
    # the page showed the reflection and the ratings: that look at the record is logged
    views = await app[SESSION_LOG].entries(views_stream(room.session))
    assert [(v.kind, v.actor, v.details) for v in views] == [
        ("record.viewed", staff_actor(ther.id), {"page": "session"})
    ]

    other = await make_staff(app, "therapist.two")
    browser = await aiohttp_client(client.server)
    other_csrf = await sign_in(browser, other)
    refused = await browser.post(
        api, json={"reflection": "not mine"}, headers={"X-CSRF-Token": other_csrf}
    )
    assert refused.status == 403


async def test_what_is_recorded_after_the_end_leaves_the_log_intact(
    app: web.Application, client: TestClient, room: Room
) -> None:
    therapist = room.therapist
    await therapist.send({"type": "escalate", "concern": "unreachable"})
    escalation = (await therapist.expect("escalation"))["escalation"]["id"]
    csrf = csrf_from(await (await client.get("/")).text())
    headers = {"X-CSRF-Token": csrf}
    assert (await client.post(f"/api/sessions/{room.session}/end", headers=headers)).status == 200
    await therapist.expect("room_ended")

    # after the end checkpoint, through the real code: the therapist's form, and the
    # escalation acknowledged and closed
    after = {"reflection": "Short session.", "goals": [{"goal": "Sleep", "progress": 3}]}
    saved = await client.post(f"/api/sessions/{room.session}/after", json=after, headers=headers)
    assert saved.status == 201
    await make_staff(app, "sup", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("sup", "therapist.one")
    await app[ESCALATIONS].acknowledge(await therapist_view(app, "sup"), escalation)
    await app[ESCALATIONS].close(
        await therapist_view(app, "therapist.one"), escalation, "Rang the safeguarding lead."
    )

    stream = session_stream(room.session)
    kinds = [e.kind for e in await app[SESSION_LOG].entries(stream)]
    later = kinds[kinds.index("session.ended") + 1 :]
    assert {"reflection.written", "outcome.recorded", "escalation.acknowledged",
            "escalation.closed"} <= set(later)  # fmt: skip
    report = await app[SESSION_LOG].verify(stream)
    assert report.intact, report.findings


async def test_an_over_long_session_id_reaches_no_session(
    app: web.Application, client: TestClient, room: Room
) -> None:
    csrf = csrf_from(await (await client.get("/")).text())
    for odd in (f"{room.session}%0A", f"{room.session}0"):  # a trailing newline, one digit more
        resp = await client.post(
            f"/api/sessions/{odd}/after",
            json={"reflection": "meant for another session"},
            headers={"X-CSRF-Token": csrf},
        )
        assert resp.status == 404, odd
    async with app[DATABASE].session() as session:
        assert await session.scalar(sa.select(Reflection)) is None
