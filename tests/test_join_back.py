"""Coming back to the same session after a quick exit: only where they are and whether it is
private now is asked again; the rest of their answers stand, sealed with the session."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import CATALOGUE, DATABASE, KEYRING
from server.care.checklists import Kind
from server.crypto.sealed import unseal
from server.storage.session_models import JoinCheck
from tests.client import ProtocolPeer
from tests.factories import join_message, pre_join_answers
from tests.scenes import Room


def _asked_again(app: web.Application) -> set[str]:
    return {i.id for i in app[CATALOGUE][Kind.PRE_JOIN].items() if i.asked_again}


def test_the_pre_join_checks_ask_again_only_where_and_whether_private(
    app: web.Application,
) -> None:
    assert _asked_again(app) == {"where.place", "where.details", "privacy.private"}


@pytest.mark.hazard("HZ-24")
async def test_back_after_a_quick_exit_only_where_and_private_are_asked(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    browser = await aiohttp_client(client.server)  # the young person's: no cookies
    page = await browser.get(f"/join/{room.token}")
    html = await page.text()
    assert "Before you join" in html and 'data-back="false"' in html
    assert 'name="privacy.who_else"' in html  # the first time, every question

    young = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    await young.send(join_message(room.token))
    await young.expect("waiting")
    first = await room.therapist.expect("notice", code="checks")
    assert "Who else is at home right now?" in first["message"]
    await young.send({"type": "flag", "kind": "quick_exit"})
    await young.send({"type": "leave"})
    await young.expect("done")  # gone from the waiting room
    await young.close()

    # the same link again: the page asks only what can have changed, and shows no answer
    html = await (await browser.get(f"/join/{room.token}")).text()
    assert "Welcome back" in html and 'data-back="true"' in html
    assert 'name="where.place"' in html and 'name="privacy.private"' in html
    assert 'name="privacy.who_else"' not in html and 'name="ready.silent"' not in html
    assert "Back to the waiting room" in html

    again = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    # the questions asked again are answered anew: the earlier answers do not stand for them
    await again.send({"type": "join", "token": room.token, "checks": {}})
    refused = await again.expect("error")
    assert refused["code"] == "missing_checks"
    assert "Where are you today?" in refused["message"]
    assert "Are you somewhere private" in refused["message"]
    assert "Who else" not in refused["message"]

    await again.send(
        {
            "type": "join",
            "token": room.token,
            "checks": {"where.place": "somewhere_else", "privacy.private": "no"},
        }
    )
    await again.expect("waiting")
    back = await room.therapist.expect("notice", code="checks")
    assert back["message"].startswith("Young person is back and says:")
    assert "Where are you today? somewhere else" in back["message"]
    assert "Are you somewhere private where people can't hear you? no" in back["message"]
    assert "Who else is at home right now?" in back["message"]  # the earlier answer stands

    stored = await _latest_answers(app, room.session)
    expected = {**pre_join_answers(), "where.place": "somewhere_else", "privacy.private": "no"}
    assert stored == expected
    await again.close()


async def _latest_answers(app: web.Application, session: str) -> dict[str, str]:
    """The young person's answers as the session keeps them (opened from their seal)."""
    async with app[DATABASE].read() as db:
        row = await db.scalar(
            sa.select(JoinCheck)
            .where(JoinCheck.appointment_id == session)
            .order_by(JoinCheck.created_at.desc())
            .limit(1)
        )
    assert row is not None
    answers: dict[str, str] = json.loads(unseal(app[KEYRING], row, "answers_enc") or "{}")
    return answers


@pytest.mark.hazard("HZ-24")
@pytest.mark.parametrize("gone", ["where.details"])
async def test_a_detail_given_before_does_not_stand_when_they_come_back(
    app: web.Application, aiohttp_client, client: TestClient, room: Room, gone: str
) -> None:  # type: ignore[no-untyped-def]
    """'At my gran's' said at the start is not kept when they come back from home."""
    browser = await aiohttp_client(client.server)
    young = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    checks = {**pre_join_answers(), "where.place": "somewhere_else", gone: "my gran's house"}
    await young.send({"type": "join", "token": room.token, "checks": checks})
    await young.expect("waiting")
    await young.send({"type": "leave"})
    await young.expect("done")
    await young.close()
    again = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    await again.send(
        {
            "type": "join",
            "token": room.token,
            "checks": {"where.place": "home", "privacy.private": "yes"},
        }
    )
    await again.expect("waiting")
    stored = await _latest_answers(app, room.session)
    assert stored["where.place"] == "home" and gone not in stored
    await again.close()
