"""The way in to a session goes through the gate: no join link is offered or works before
consent and the gate allow the session, nothing is asked of the young person before then,
and a young person waiting when the gate closes is told kindly, keeps their place and is
shown to the therapist, whose room page shows the gate's reasons instead of the room."""

from __future__ import annotations

import asyncio
import re

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.access.accounts import StaffView
from server.appkeys import CATALOGUE, CONSENTS, DATABASE, HUB, SCHEDULE
from server.care.checklists import Kind
from server.care.clients import ClientView
from server.care.consent import WithdrawIn
from server.care.gate import GateResult, GateStatus, Reason
from server.care.schedule import for_joining
from server.storage.db import utcnow
from server.storage.models import Link
from server.storage.session_models import JoinCheck, LogEntry
from tests.client import ProtocolPeer
from tests.conftest import Staff, sign_in
from tests.factories import (
    answer,
    daily_checks,
    give_consent,
    join_message,
    new_client,
    ready_client,
    safe_answers,
    therapist_view,
)
from tests.scenes import join_token, schedule_session

JOIN_URL = re.compile(r"/join/[A-Za-z0-9_\-.]+")


async def _checklists(app: web.Application, ther: StaffView, kid: ClientView) -> None:
    """The suitability checklist and the disconnection plan, answered safely."""
    catalogue = app[CATALOGUE]
    for kind in (Kind.SUITABILITY, Kind.DISCONNECTION_PLAN):
        await answer(app, ther, kid, kind, safe_answers(catalogue[kind]))


async def _withdraw_consent(app: web.Application, client_id: str) -> None:
    consent = (await app[CONSENTS].history(client_id))[-1]
    async with app[DATABASE].session() as session:
        link = await session.get(Link, consent.link_id)
    assert link is not None
    await app[CONSENTS].withdraw(
        link, WithdrawIn(typed_name="Pat Parent", signed_on=utcnow().date())
    )


async def _join_checks(app: web.Application, session_id: str) -> int:
    async with app[DATABASE].read() as session:
        count = await session.scalar(
            sa.select(sa.func.count())
            .select_from(JoinCheck)
            .where(JoinCheck.appointment_id == session_id)
        )
    return int(count or 0)


async def _young_person(aiohttp_client, client: TestClient) -> ProtocolPeer:  # type: ignore[no-untyped-def]
    """A fresh browser (no cookie) on the signalling socket."""
    outsider = await aiohttp_client(client.server)
    return ProtocolPeer(await outsider.ws_connect("/ws"), media=False)


def test_the_way_in_is_the_gate_without_the_therapists_checks_for_the_day() -> None:
    daily = Reason("daily_checks_missing", "Today's pre-session checks have not been done.")
    check = Reason("daily_check", "Today's check not met", "space.private")
    consent = Reason("consent_missing", "A parent or carer has not given consent yet.")
    sign = Reason("sign_off", "Needs supervisor sign-off", "client.age_competence")
    forged = Reason("forged_sign_off", "A sign-off ... was ignored.")
    blocked = GateStatus.BLOCKED
    assert for_joining(GateResult(blocked, (daily, check))).is_open
    assert for_joining(GateResult(blocked, (daily, consent))).reasons == (consent,)
    assert for_joining(GateResult(blocked, (daily, consent))).status is blocked
    waiting = for_joining(GateResult(blocked, (daily, sign, forged), ("client.age_competence",)))
    assert waiting.status is GateStatus.NEEDS_SIGN_OFF and waiting.reasons == (sign, forged)
    assert for_joining(GateResult(GateStatus.OPEN)).is_open


@pytest.mark.hazard("HZ-03")
async def test_no_join_link_is_offered_or_works_before_consent_and_the_gate(
    app: web.Application, client: TestClient, aiohttp_client, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    """A 14-15-year-old with no consent and no checklist, and a session today: the session
    page offers no link and no QR code but what is missing, each with its link; the link
    itself shows a kind page that asks nothing, and the socket's join is refused before
    any pre-join answer is kept. Once consent and the checklists are in, both work."""
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther, age_band="14-15")
    made = await schedule_session(client, csrf, kid.id, parent_link=True)
    token = join_token(made)

    page = await (await client.get(f"/sessions/{made['id']}")).text()
    assert not JOIN_URL.search(page) and 'class="qr"' not in page
    assert "Copy link" not in page and "Make a new link" not in page
    offered = page[page.index('id="links-heading"') : page.index('id="room-heading"')]
    assert "No link to send yet" in offered
    assert f'href="/clients/{kid.id}#consent"' in offered  # consent, to be asked for
    assert f'href="/clients/{kid.id}/checklists/suitability"' in offered
    assert f'href="/clients/{kid.id}/checklists/disconnection-plan"' in offered
    assert "Withdraw link" in offered  # a link sent already can still be withdrawn

    young_browser = await aiohttp_client(client.server)  # no cookie
    joining = await young_browser.get(f"/join/{token}")
    html = await joining.text()
    assert joining.status == 200
    assert "Today's session cannot start" in html and "will be in touch" in html
    assert "checks-form" not in html and "join.js" not in html  # nothing asked, nothing runs

    young = await _young_person(aiohttp_client, client)
    await young.send(join_message(token))
    refused = await young.expect("error")
    assert refused["code"] == "cannot_start" and "will be in touch" in refused["message"]
    assert "consent" not in refused["message"]  # the reasons are the therapist's to read
    assert await _join_checks(app, made["id"]) == 0  # nothing the young person said is kept
    assert app[HUB].rooms.get(made["id"]) is None  # nobody waits

    # consent and the checklists in (not yet the therapist's checks for today): the link is
    # offered, and it lets the young person into the waiting room
    await give_consent(app, ther, kid)
    await _checklists(app, ther, kid)
    page = await (await client.get(f"/sessions/{made['id']}")).text()
    assert f"/join/{token}" in page and 'class="qr"' in page and "No link to send yet" not in page
    assert "checks-form" in await (await young_browser.get(f"/join/{token}")).text()
    await young.send(join_message(token))
    await young.expect("joined")
    await young.expect("waiting")
    assert await _join_checks(app, made["id"]) == 1
    await young.close()


@pytest.mark.hazard("HZ-03")
async def test_a_young_person_waiting_when_consent_is_withdrawn_is_told_and_still_seen(
    app: web.Application, client: TestClient, aiohttp_client, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    """The gate closes while the young person waits and the therapist is not in the room:
    the young person is told kindly (at every ping: a page that comes back is told again),
    keeps their place, and the therapist's room page shows them waiting, what they were
    told, and the gate's reasons with links, instead of the room."""
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await ready_client(app, ther)
    made = await schedule_session(client, csrf, kid.id)
    app[SCHEDULE].recheck_seconds = 0  # the gate asked at every ping, not every few seconds
    young = await _young_person(aiohttp_client, client)
    await young.send(join_message(join_token(made)))
    await young.expect("waiting")
    await young.send({"type": "ping", "n": 1})
    await young.expect("pong", n=1)
    assert not [m for m in young.inbox if m["type"] == "notice"]  # the gate is open

    await _withdraw_consent(app, kid.id)
    await young.send({"type": "ping", "n": 2})
    await young.expect("pong", n=2)
    told = [m for m in young.inbox if m["type"] == "notice"]
    assert [m["code"] for m in told] == ["cannot_start"]
    assert "Today's session cannot start" in told[0]["message"]
    assert "will be in touch" in told[0]["message"]
    assert "consent" not in told[0]["message"]
    room = app[HUB].rooms.get(made["id"])
    assert room is not None and [p.role.value for p in room.waiting()] == ["young_person"]
    await young.send({"type": "ping", "n": 3})
    await young.expect("pong", n=3)
    assert len([m for m in young.inbox if m["type"] == "notice"]) == 2  # told again

    page = await client.get(f"/sessions/{made['id']}/room")
    html = await page.text()
    assert page.status == 200
    assert "therapist.js" not in html and 'id="self-video"' not in html  # no room, no camera
    assert "The room cannot open yet" in html
    waiting = html[html.index('id="waiting-room"') : html.index('id="gate"')]
    assert "The young person is waiting" in waiting and "Nobody is waiting" not in waiting
    assert "today's session cannot start" in waiting and "will be in touch" in waiting
    gate = html[html.index('id="gate"') :]
    assert "withdrawn consent" in gate and f'href="/clients/{kid.id}#consent"' in gate
    assert "Cancel the session" in html  # a way out for everyone: the waiting page is told
    async with app[DATABASE].read() as session:
        kinds = list(
            await session.scalars(
                sa.select(LogEntry.kind)
                .where(LogEntry.stream == f"session:{made['id']}")
                .order_by(LogEntry.seq)
            )
        )
    assert kinds.count("gate.evaluated") == 1  # the closing is on the record, once
    await young.close()


@pytest.mark.hazard("HZ-03")
async def test_a_therapist_in_the_room_is_told_once_when_the_gate_closes_on_someone_waiting(
    app: web.Application, client: TestClient, aiohttp_client, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await ready_client(app, ther)
    made = await schedule_session(client, csrf, kid.id)
    app[SCHEDULE].recheck_seconds = 0
    host = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await host.send({"type": "open_room", "session": made["id"]})
    await host.expect("room_opened")
    young = await _young_person(aiohttp_client, client)
    await young.send(join_message(join_token(made)))
    await young.expect("waiting")
    await host.expect("notice", code="checks")

    await _withdraw_consent(app, kid.id)
    for n in (1, 2):
        await young.send({"type": "ping", "n": n})
        await young.expect("pong", n=n)
    await host.send({"type": "ping", "n": 9})
    await host.expect("pong", n=9)
    alerts = [m for m in host.inbox if m.get("code") == "cannot_start"]
    assert len(alerts) == 1  # once, when it closed
    assert "withdrawn consent" in alerts[0]["message"]
    assert "young person" in alerts[0]["message"]
    assert len([m for m in young.inbox if m.get("code") == "cannot_start"]) == 2
    await asyncio.gather(young.close(), host.close())


async def test_the_room_page_with_the_gate_closed_shows_what_is_missing_not_the_room(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    """ "Go to the room" with the gate closed: the gate's reasons, each with a link to put it
    right, and nobody waiting; the room (and its camera) is not there."""
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    made = await schedule_session(client, csrf, kid.id)
    page = await client.get(f"/sessions/{made['id']}/room")
    html = await page.text()
    assert page.status == 200
    assert "therapist.js" not in html and "<video" not in html
    assert "The room cannot open yet" in html and "Check again" in html
    assert "Nobody is waiting." in html
    gate = html[html.index('id="gate"') :]
    for fix in (
        f"/clients/{kid.id}#consent",
        f"/clients/{kid.id}/checklists/suitability",
        f"/clients/{kid.id}/checklists/disconnection-plan",
        f"/checks/today?next=/sessions/{made['id']}/room",  # saving them comes back here
    ):
        assert f'href="{fix}"' in gate, fix
    # once the gate is open, the room itself
    await give_consent(app, ther, kid)
    await _checklists(app, ther, kid)
    await daily_checks(app, ther)
    html = await (await client.get(f"/sessions/{made['id']}/room")).text()
    assert "therapist.js" in html and "The room cannot open yet" not in html


async def test_a_young_person_may_wait_before_the_therapists_checks_for_the_day(
    app: web.Application, client: TestClient, aiohttp_client, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    """Today's checks are the therapist's, made before they open the room: a link sent
    ahead works without them, and the room page shows the young person waiting, with the
    checks to do, until they are done."""
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    await give_consent(app, ther, kid)
    await _checklists(app, ther, kid)
    gate = await app[SCHEDULE].gatekeeper.evaluate(kid.id)
    assert [r.code for r in gate.reasons] == ["daily_checks_missing"]
    assert for_joining(gate).is_open
    made = await schedule_session(client, csrf, kid.id)
    young = await _young_person(aiohttp_client, client)
    await young.send(join_message(join_token(made)))
    await young.expect("waiting")
    html = await (await client.get(f"/sessions/{made['id']}/room")).text()
    assert "The young person is waiting" in html and "They are waiting for you" in html
    assert 'href="/checks/today"' in html and "therapist.js" not in html
    await daily_checks(app, ther)
    html = await (await client.get(f"/sessions/{made['id']}/room")).text()
    assert "therapist.js" in html
    await young.close()
