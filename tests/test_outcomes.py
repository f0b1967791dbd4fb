"""After the session: the young person's rating in the room, the therapist's goal-based
rating, reflection and risk level; each is sealed and lands on the session's timeline."""

from __future__ import annotations

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import CLIENTS, DATABASE, SESSION_LOG
from server.models import Appointment, Outcome, Reflection
from server.records import describe
from server.sessionlog import session_stream
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
    lines = [describe(e) for e in await app[SESSION_LOG].entries(session_stream(room.session))]
    assert "Session rated by the young person: 4 of 4" in lines
    assert "Goal-based rating: Going to school 6/10" in lines
    assert "Reflection written" in lines and "Risk level updated to medium" in lines
    page = await (await client.get(f"/sessions/{room.session}")).text()
    assert "rated the session <strong>4 of 4</strong>" in page and "Quieter today" in page

    other = await make_staff(app, "therapist.two")
    browser = await aiohttp_client(client.server)
    other_csrf = await sign_in(browser, other)
    refused = await browser.post(
        api, json={"reflection": "not mine"}, headers={"X-CSRF-Token": other_csrf}
    )
    assert refused.status == 403
