"""Saving today's checks returns to the page they were opened from (the room that could
not open, a client's page), and never to another site."""

from __future__ import annotations

import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import CATALOGUE
from server.care.checklists import Kind
from server.views.supervision import local_path
from tests.conftest import Staff, csrf_from, sign_in
from tests.factories import new_client, safe_answer, therapist_view
from tests.scenes import schedule_session

CHECKS_LINK = re.compile(r'href="(/checks/today[^"]*)"')


def _answers(app: web.Application) -> dict[str, str]:
    checklist = app[CATALOGUE][Kind.PRE_SESSION]
    return {f"answer:{i.id}": safe_answer(i) for i in checklist.items() if i.answerable}


async def _save_from(app: web.Application, client: TestClient, link: str) -> str:
    """Open the checks page at ``link``, save the answers: where the browser is sent."""
    page = await client.get(link)
    assert page.status == 200
    html = await page.text()
    data = {"csrf_token": csrf_from(html), **_answers(app)}
    back = re.search(r'name="next" value="([^"]*)"', html)
    if back:
        data["next"] = back.group(1)
    saved = await client.post("/checks/today", data=data, allow_redirects=False)
    assert saved.status == 303, await saved.text()
    return saved.headers["Location"]


async def test_saving_the_checks_returns_to_the_room_or_the_client_page(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    made = await schedule_session(client, csrf, kid.id)
    room = f"/sessions/{made['id']}/room"

    # both pages link to today's checks among what the gate is missing, before they are done
    closed = await (await client.get(room)).text()  # the room-closed page
    from_room = CHECKS_LINK.search(closed[closed.index('id="gate"') :])
    assert from_room is not None and from_room.group(1) == f"/checks/today?next={room}"
    page = await (await client.get(f"/clients/{kid.id}")).text()
    from_client = CHECKS_LINK.search(page[page.index('id="gate"') :])
    assert from_client is not None
    assert from_client.group(1) == f"/checks/today?next=/clients/{kid.id}"

    assert await _save_from(app, client, from_room.group(1)) == room
    assert await _save_from(app, client, from_client.group(1)) == f"/clients/{kid.id}"
    assert await _save_from(app, client, "/checks/today") == "/"  # from anywhere else: home


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "http:/evil.example",
        "javascript:alert(1)",
        "sessions/x",
        "/\tevil",
    ],
)
async def test_saving_the_checks_never_sends_the_therapist_to_another_site(
    app: web.Application, client: TestClient, therapist: Staff, target: str
) -> None:
    await sign_in(client, therapist)
    page = await client.get("/checks/today", params={"next": target})
    assert 'name="next"' not in await page.text()
    html = await page.text()
    data = {"csrf_token": csrf_from(html), "next": target, **_answers(app)}
    saved = await client.post("/checks/today", data=data, allow_redirects=False)
    assert saved.status == 303 and saved.headers["Location"] == "/"
    assert local_path(target) == ""
