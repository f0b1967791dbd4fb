"""Verify the log on a record's page is a form POST answered with a redirect (303) to the
record's page, which shows the verification got by GET: Back and reload never send the form
again. The verification asked for is logged once, by the POST; the page shows it worked out
afresh, so an address cannot make a log look intact."""

from __future__ import annotations

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import DATABASE, SESSION_LOG
from server.audit.sessionlog import session_stream, views_stream
from server.storage.session_models import LogEntry
from tests.conftest import Staff, csrf_from, make_staff, sign_in
from tests.factories import ready_client, therapist_view
from tests.scenes import schedule_session


async def _session(app: web.Application, client: TestClient, therapist: Staff) -> str:
    csrf = await sign_in(client, therapist)
    kid = await ready_client(app, await therapist_view(app, therapist.username))
    return str((await schedule_session(client, csrf, kid.id))["id"])


async def _verified(app: web.Application, session: str) -> int:
    views = await app[SESSION_LOG].entries(views_stream(session))
    return sum(1 for v in views if v.kind == "record.verified")


async def test_verify_redirects_to_the_record_showing_the_verification(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    session = await _session(app, client, therapist)
    page = await client.get(f"/records/{session}")
    assert 'id="verification"' not in await page.text()  # not asked for: not shown
    sent = await client.post(
        f"/records/{session}/verify",
        data={"csrf_token": csrf_from(await page.text())},
        allow_redirects=False,
    )
    assert sent.status == 303
    assert sent.headers["Location"] == f"/records/{session}?verified=1#verification"
    assert await _verified(app, session) == 1

    shown = await client.get(sent.headers["Location"])
    html = await shown.text()
    assert shown.status == 200 and shown.headers["Cache-Control"] == "no-store"
    assert "The log is intact" in html
    again = await client.get(sent.headers["Location"])  # Back, or a reload
    assert "The log is intact" in await again.text()
    assert await _verified(app, session) == 1  # looking at the result asks for nothing again


async def test_the_verification_shown_is_the_logs_own_never_the_addresss(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    session = await _session(app, client, therapist)
    page = await client.get(f"/records/{session}")
    sent = await client.post(
        f"/records/{session}/verify", data={"csrf_token": csrf_from(await page.text())}
    )
    assert "The log is intact" in await sent.text()  # followed to the record's page
    async with app[DATABASE].session() as db:  # an entry rewritten without the key
        await db.execute(
            sa.update(LogEntry)
            .where(LogEntry.stream == session_stream(session), LogEntry.seq == 1)
            .values(kind="session.cancelled")
        )
    html = await (await client.get(f"/records/{session}?verified=1")).text()
    assert "The log has been tampered with" in html


async def test_verify_is_refused_outside_the_team_without_a_redirect(
    app: web.Application, client: TestClient, therapist: Staff, aiohttp_client
) -> None:  # type: ignore[no-untyped-def]
    session = await _session(app, client, therapist)
    other = await make_staff(app, "therapist.two")
    browser = await aiohttp_client(client.server)
    csrf = await sign_in(browser, other)
    sent = await browser.post(
        f"/records/{session}/verify", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert sent.status == 403
    assert await _verified(app, session) == 0
