"""The way to a sign-off through the pages: the therapist asks for it, the supervisor's home
counts what waits and links to it, the supervisor sends it back with a comment the therapist
reads, or signs off "Sky's checklist"; and a room opened on a sign-off is called a sign-off,
never an override, in the session's record."""

from __future__ import annotations

import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.access.accounts import StaffView
from server.appkeys import ACCOUNTS, GATEKEEPER, SCHEDULE, SESSION_LOG, SIGN_OFF_REQUESTS
from server.audit.sessionlog import client_stream
from server.care.checklists import Kind
from server.care.clients import ClientView
from server.care.gate import GateStatus
from server.care.schedule import NewAppointment
from server.exceptions import Forbidden, PlayroomError
from server.storage.db import utcnow
from server.storage.models import Role
from tests.conftest import Staff, csrf_from, make_staff, sign_in
from tests.factories import answer, ready_client, therapist_view

RATIONALE = {"client.age_competence": {"answer": "yes", "rationale": "Ten; parent nearby."}}
COMMENT = "Please ask mum whether she can stay in the next room."


async def _waiting(app: web.Application, therapist: StaffView) -> tuple[ClientView, int]:
    """Sky, aged 9-11, whose gate waits only for a supervisor's sign-off."""
    sky = await ready_client(app, therapist, display_name="Sky", age_band="9-11")
    revision = await answer(app, therapist, sky, Kind.SUITABILITY, RATIONALE)
    assert (await app[GATEKEEPER].evaluate(sky.id)).status is GateStatus.NEEDS_SIGN_OFF
    return sky, revision


async def _browser(aiohttp_client, client: TestClient, staff: Staff) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    browser = await aiohttp_client(client.server)
    return browser, await sign_in(browser, staff)


def _text(html: str) -> str:
    """The page's words, without tags or runs of white space."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_the_therapist_asks_the_supervisor_sends_back_then_signs_off(
    app: web.Application, aiohttp_client, client: TestClient
) -> None:  # type: ignore[no-untyped-def]
    ther_staff = await make_staff(app, "theo")
    sup_staff = await make_staff(app, "suzy", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("suzy", "theo")
    ther = await therapist_view(app, "theo")
    sky, revision = await _waiting(app, ther)
    therapist, ther_csrf = await _browser(aiohttp_client, client, ther_staff)
    supervisor, sup_csrf = await _browser(aiohttp_client, client, sup_staff)

    # the therapist asks, with a note, from the client's page
    page = await (await therapist.get(f"/clients/{sky.id}")).text()
    assert 'action="/clients/' + sky.id + '/sign-off-request"' in page
    assert "Ask for a sign-off" in page
    resp = await therapist.post(
        f"/clients/{sky.id}/sign-off-request",
        data={"csrf_token": ther_csrf, "note": "Before Thursday, please."},
        allow_redirects=False,
    )
    assert resp.status == 303
    page = _text(await (await therapist.get(resp.headers["Location"])).text())
    assert "You asked for a sign-off on" in page and "Before Thursday, please." in page
    assert "Ask for a sign-off" not in page  # asked once is enough

    # the supervisor's home counts it and links to it; the queue says who asked, and why
    home = await (await supervisor.get("/")).text()
    assert re.search(r'<a href="/sign-offs"><strong>1</strong> checklist waits', home)
    assert "(1 asked for by the therapist)" in home
    queue = _text(await (await supervisor.get("/sign-offs")).text())
    assert "Waiting for your sign-off (1)" in queue
    assert "Theo asked for your sign-off on" in queue and "Before Thursday, please." in queue
    assert "Sign off Sky's checklist" in queue and "Send it back to Theo" in queue
    assert "revision" not in queue.lower()  # the words people use

    # sent back with a comment: the therapist reads it on the client's page and at home
    resp = await supervisor.post(
        f"/sign-offs/{sky.id}",
        data={
            "csrf_token": sup_csrf,
            "revision": str(revision),
            "comment": COMMENT,
            "action": "send_back",
        },  # fmt: skip
        allow_redirects=False,
    )
    assert resp.status == 303
    done = _text(await (await supervisor.get(resp.headers["Location"])).text())
    assert "Sent back Sky's checklist" in done
    assert "Waiting for your sign-off (0)" in done and "Sent back to the therapist (1)" in done
    assert "Nothing waits for your sign-off" in await (await supervisor.get("/")).text()
    page = _text(await (await therapist.get(f"/clients/{sky.id}")).text())
    assert "Sent back by Suzy" in page and COMMENT in page and "Ask for a sign-off again" in page
    home = _text(await (await therapist.get("/")).text())
    assert "Sent back by your supervisor" in home and "Sky's checklist" in home
    assert COMMENT in home

    # the client's log says who asked and who sent back, never what they wrote
    entries = await app[SESSION_LOG].entries(client_stream(sky.id))
    steps = [(e.kind, e.details.get("revision")) for e in entries if e.kind.startswith("signoff")]
    assert steps == [("signoff.requested", revision), ("signoff.sent_back", revision)]
    assert not any("Thursday" in str(e.details) or "mum" in str(e.details) for e in entries)

    # asked again: it waits for the supervisor once more, and is signed off
    await therapist.post(
        f"/clients/{sky.id}/sign-off-request", data={"csrf_token": ther_csrf, "note": ""}
    )
    assert "<strong>1</strong> checklist waits" in await (await supervisor.get("/")).text()
    resp = await supervisor.post(
        f"/sign-offs/{sky.id}",
        data={
            "csrf_token": sup_csrf,
            "revision": str(revision),
            "comment": "Agreed.",
            "action": "sign_off",
        },  # fmt: skip
        allow_redirects=False,
    )
    assert resp.status == 303
    done = _text(await (await supervisor.get(resp.headers["Location"])).text())
    assert "Signed off Sky's checklist" in done
    assert (await app[GATEKEEPER].evaluate(sky.id)).status is GateStatus.OPEN
    page = _text(await (await therapist.get(f"/clients/{sky.id}")).text())
    assert "Signed off on" in page and "Agreed." in page
    assert "Sent back by" not in page and "Sent back by your supervisor" not in _text(
        await (await therapist.get("/")).text()
    )


async def test_a_refused_send_back_keeps_the_comment_beside_its_form(
    app: web.Application, aiohttp_client, client: TestClient
) -> None:  # type: ignore[no-untyped-def]
    await make_staff(app, "theo")
    sup_staff = await make_staff(app, "suzy", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("suzy", "theo")
    sky, revision = await _waiting(app, await therapist_view(app, "theo"))
    supervisor, csrf = await _browser(aiohttp_client, client, sup_staff)
    resp = await supervisor.post(
        f"/sign-offs/{sky.id}",
        data={
            "csrf_token": csrf,
            "revision": str(revision - 1),
            "comment": COMMENT,
            "action": "send_back",
        },  # fmt: skip
    )
    assert resp.status == 400
    page = await resp.text()
    assert f'id="comment-{sky.id}-error"' in page and "changed since you opened it" in page
    assert f">{COMMENT}</textarea>" in page  # what was typed is not lost
    assert csrf_from(page)


async def test_who_may_ask_and_send_back(
    app: web.Application, aiohttp_client, client: TestClient
) -> None:  # type: ignore[no-untyped-def]
    await make_staff(app, "theo")
    await make_staff(app, "other")
    await make_staff(app, "suzy", Role.SUPERVISOR)
    await make_staff(app, "outsider", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("suzy", "theo")
    ther, other = await therapist_view(app, "theo"), await therapist_view(app, "other")
    suzy, outsider = await therapist_view(app, "suzy"), await therapist_view(app, "outsider")
    sky, revision = await _waiting(app, ther)
    requests = app[SIGN_OFF_REQUESTS]
    with pytest.raises(Forbidden):
        await requests.ask(other, sky.id)  # not their client
    with pytest.raises(Forbidden):
        await requests.ask(suzy, sky.id)  # supervisors do not ask
    with pytest.raises(Forbidden):
        await requests.send_back(outsider, sky.id, revision, COMMENT)  # not their team
    with pytest.raises(Forbidden):
        await requests.send_back(ther, sky.id, revision, COMMENT)
    with pytest.raises(PlayroomError, match="comment"):
        await requests.send_back(suzy, sky.id, revision, "   ")
    asked = await requests.ask(ther, sky.id, "one")
    assert (await requests.ask(ther, sky.id, "two")).at == asked.at  # asking twice: once
    await app[GATEKEEPER].sign_off(suzy, sky.id, revision, "Agreed.")
    with pytest.raises(PlayroomError, match="Nothing in this checklist waits"):
        await requests.ask(ther, sky.id)
    with pytest.raises(PlayroomError, match="Nothing in this checklist waits"):
        await requests.send_back(suzy, sky.id, revision, COMMENT)


async def test_a_room_opened_on_a_sign_off_is_called_a_sign_off_in_its_record(
    app: web.Application, aiohttp_client, client: TestClient
) -> None:  # type: ignore[no-untyped-def]
    await make_staff(app, "theo")
    sup_staff = await make_staff(app, "suzy", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("suzy", "theo")
    ther = await therapist_view(app, "theo")
    sky, revision = await _waiting(app, ther)
    await app[GATEKEEPER].sign_off(await therapist_view(app, "suzy"), sky.id, revision, "Yes.")
    session = await app[SCHEDULE].create(ther, sky.id, NewAppointment(starts_at=utcnow()))
    await app[SCHEDULE].open_room(ther, session.id)
    await app[SCHEDULE].end(ther, session.id)

    supervisor, _ = await _browser(aiohttp_client, client, sup_staff)
    listed = await (await supervisor.get("/records?flag=sign_off")).text()
    assert f'href="/records/{session.id}"' in listed
    assert '<span class="badge badge-sign_off">sign-off</span>' in listed
    assert "a supervisor's sign-off" in listed or "a supervisor&#39;s sign-off" in listed
    record = _text(await (await supervisor.get(f"/records/{session.id}")).text())
    assert "Gate passed on a supervisor's sign-off" in record.replace("&#39;", "'")
    exported = await (await supervisor.get(f"/records/{session.id}/export.json")).json()
    assert exported["summary"]["sign_offs"] == 1
    for page in (listed, record, str(exported)):
        assert "override" not in page.lower()
