"""Practice links: made from the client's page for the young person (once consent stands)
and the parent; signed, expiring with the next session (or after the days set), revocable,
and bound to their purpose, so that a practice link opens no session or consent form, over
the pages or the signalling socket, and neither of those opens a practice page. Opening the
practice page writes nothing to the database."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.access import tokens
from server.access.tokens import Claims
from server.appkeys import (
    CONSENTS,
    DATABASE,
    DISCHARGES,
    KEYRING,
    LINKS,
    PRACTICE,
    RETENTION,
    SCHEDULE,
    SESSION_LOG,
    SETTINGS,
)
from server.audit.sessionlog import client_stream
from server.care.consent import WithdrawIn
from server.crypto.keys import KeyMaterial, KeyRing
from server.exceptions import TokenError
from server.storage.db import utcnow
from server.storage.models import Base, Link, LinkKind
from tests.client import ProtocolPeer
from tests.conftest import Staff, sign_in
from tests.factories import join_message, new_client, ready_client, therapist_view
from tests.scenes import Room, schedule_session

_PRACTICE_URL = re.compile(r'value="https?://[^/"]+/practice/([^"]+)"')


async def _make(client: TestClient, csrf: str, client_id: str, role: str) -> str:
    """Make a practice link from the client's page, as the therapist does; its token."""
    resp = await client.post(
        f"/clients/{client_id}/practice-links/{role}",
        data={"csrf_token": csrf},
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == f"/clients/{client_id}#practice"
    page = await (await client.get(f"/clients/{client_id}")).text()
    block = page.split(f'id="practice-{role}"', 1)[1].split("</div>\n", 1)[0]
    found = _PRACTICE_URL.search(block)
    assert found, block
    return found.group(1)


async def _row(app: web.Application, token: str) -> Link:
    claims = tokens.verify(app[KEYRING], token, "practice")
    async with app[DATABASE].read() as session:
        link = await session.get(Link, claims.link_id)
    assert link is not None
    return link


async def _counts(app: web.Application) -> dict[str, int]:
    """The number of rows in every table."""
    async with app[DATABASE].read() as session:
        return {
            table.name: int(await session.scalar(sa.select(sa.func.count()).select_from(table)))
            for table in Base.metadata.sorted_tables
        }


@pytest.mark.hazard("HZ-32")
async def test_practice_links_from_the_client_page_open_a_page_with_no_names(
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther, display_name="Sky Example")
    page = await (await client.get(f"/clients/{kid.id}")).text()
    assert "Practice links" in page and 'id="practice-needs-consent"' in page
    # without consent, no young person's link is made: contact with a child comes after it
    refused = await client.post(
        f"/clients/{kid.id}/practice-links/young_person", data={"csrf_token": csrf}
    )
    assert refused.status == 409 and "once a parent or carer has given consent" in (
        await refused.text()
    )
    assert await app[LINKS].for_client(kid.id, LinkKind.PRACTICE) == []
    parent = await _make(client, csrf, kid.id, "parent")  # the parent's needs none
    unknown = await client.post(
        f"/clients/{kid.id}/practice-links/therapist", data={"csrf_token": csrf}
    )
    assert unknown.status == 400

    family = await aiohttp_client(client.server)  # the family's browser: no staff cookie
    resp = await family.get(f"/practice/{parent}")
    html = await resp.text()
    assert resp.status == 200, html
    assert "Practise before your session" in html and "not your session" in html
    assert "what your child and their therapist agree" in html
    assert "Our agreement" in html and "What each button does" in html
    assert "Sky" not in html and "Therapist.One" not in html  # no name on the page
    assert "/ws" not in html and "join.js" not in html and "practice.js" in html
    assert "camera=(self)" in resp.headers["Permissions-Policy"]
    assert "Set-Cookie" not in resp.headers
    # QR code and copy button, as join links have
    page = await (await client.get(f"/clients/{kid.id}")).text()
    block = page.split('id="practice-parent"', 1)[1]
    assert 'data-copy="practice-url-parent"' in block and 'class="qr"' in block


@pytest.mark.hazard("HZ-32")
async def test_a_practice_link_ends_with_the_next_session_or_after_the_days_set(
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await ready_client(app, ther)
    before = utcnow()
    token = await _make(client, csrf, kid.id, "young_person")
    link = await _row(app, token)
    days = timedelta(days=app[SETTINGS].practice_link_days)
    assert before + days <= link.expires_at <= utcnow() + days  # no session: the days set
    made = await schedule_session(client, csrf, kid.id, start_in=timedelta(days=3))
    token = await _make(client, csrf, kid.id, "young_person")
    link = await _row(app, token)
    ends = (await app[PRACTICE].expiry(kid.id, utcnow())).isoformat()
    assert link.expires_at.isoformat() == ends
    assert ends.startswith(made["ends_at"][:16])  # the end of the session
    with pytest.raises(TokenError, match="expired"):
        await app[LINKS].verify(token, LinkKind.PRACTICE, now=link.expires_at)
    family = await aiohttp_client(client.server)
    claims = Claims("practice", link.id, link.role, link.not_before, utcnow())
    resp = await family.get(f"/practice/{tokens.issue(app[KEYRING], claims)}")
    assert resp.status == 403 and "expired" in await resp.text()
    async with app[DATABASE].session() as session:  # the row's end decides, too
        row = await session.get(Link, link.id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    resp = await family.get(f"/practice/{token}")
    assert resp.status == 403 and "expired" in await resp.text()


@pytest.mark.hazard("HZ-32")
async def test_a_practice_link_withdrawn_or_made_again_stops_working(
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await ready_client(app, ther)
    family = await aiohttp_client(client.server)
    first = await _make(client, csrf, kid.id, "young_person")
    assert (await family.get(f"/practice/{first}")).status == 200
    second = await _make(client, csrf, kid.id, "young_person")  # the first is withdrawn
    resp = await family.get(f"/practice/{first}")
    assert resp.status == 403 and "withdrawn" in await resp.text()
    assert (await family.get(f"/practice/{second}")).status == 200
    link = await _row(app, second)
    resp = await client.post(
        f"/links/{link.id}/revoke", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert resp.headers["Location"] == f"/clients/{kid.id}#practice"
    resp = await family.get(f"/practice/{second}")
    assert resp.status == 403 and "withdrawn" in await resp.text()
    page = await (await client.get(f"/clients/{kid.id}")).text()
    assert "/practice/" not in page  # a withdrawn link is no longer offered
    kinds = [e.kind for e in await app[SESSION_LOG].entries(client_stream(kid.id))]
    assert kinds.count("link.issued") >= 2 and kinds.count("link.revoked") >= 2

    # consent withdrawn: the young person's link says kindly it is not working, never why
    third = await _make(client, csrf, kid.id, "young_person")
    consent = (await app[CONSENTS].history(kid.id))[-1]
    async with app[DATABASE].read() as session:
        consent_link = await session.get(Link, consent.link_id)
    assert consent_link is not None
    await app[CONSENTS].withdraw(
        consent_link, WithdrawIn(typed_name="Pat Parent", signed_on=utcnow().date())
    )
    resp = await family.get(f"/practice/{third}")
    html = await resp.text()
    assert resp.status == 409 and "not working just now" in html
    assert "consent" not in html.lower() and "practice.js" not in html
    page = await (await client.get(f"/clients/{kid.id}")).text()
    assert 'id="practice-needs-consent"' in page
    # the parent's needs no consent; therapy ended (a discharge) withdraws it
    parent = await _make(client, csrf, kid.id, "parent")
    assert (await family.get(f"/practice/{parent}")).status == 200
    await app[DISCHARGES].discharge(ther, kid.id, True)
    resp = await family.get(f"/practice/{parent}")
    assert resp.status == 403 and "withdrawn" in await resp.text()


@pytest.mark.hazard("HZ-32")
async def test_practice_join_and_consent_links_each_open_only_their_own_pages(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    join_link, _ = await app[SCHEDULE].by_join_token(room.token)
    ther = join_link.created_by
    consent = await app[CONSENTS].issue_link(join_link.client_id, ther)
    practice = await app[LINKS].issue(
        LinkKind.PRACTICE,
        join_link.client_id,
        "young_person",
        utcnow(),
        utcnow() + timedelta(days=1),
        ther,
    )
    family = await aiohttp_client(client.server)
    # a practice link is no way into the session, over the page or the socket
    for path in (f"/join/{practice.token}", f"/consent/{practice.token}"):
        resp = await family.get(path)
        assert resp.status == 403 and "for something else" in await resp.text(), path
    peer = ProtocolPeer(await family.ws_connect("/ws"), media=False)
    await peer.send(join_message(practice.token))
    error = await peer.expect("error")
    assert error["code"] == "bad_link" and "for something else" in error["message"]
    await peer.close()
    # nor does a join or consent link open a practice page
    for other in (room.token, room.parent_token, consent.token):
        resp = await family.get(f"/practice/{other}")
        assert resp.status == 403 and "for something else" in await resp.text()
    # forged: changed, signed by another key, for another role or purpose
    token = practice.token
    body, signature = token.split(".")
    link = practice.link
    claims = Claims("practice", link.id, link.role, link.not_before, link.expires_at)
    for bad in (
        body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + signature,
        body + "." + signature[:-1] + ("A" if signature[-1] != "A" else "B"),
        tokens.issue(KeyRing(KeyMaterial.generate()), claims),
        tokens.issue(app[KEYRING], replace(claims, role="parent")),
        tokens.issue(app[KEYRING], replace(claims, role="therapist")),
        tokens.issue(app[KEYRING], replace(claims, kind="join")),
    ):
        resp = await family.get(f"/practice/{bad}")
        assert resp.status == 403, bad[:20]
        assert "not valid" in await resp.text() or "for something else" in await resp.text()
        peer = ProtocolPeer(await family.ws_connect("/ws"), media=False)
        await peer.send(join_message(bad))
        assert (await peer.expect("error"))["code"] == "bad_link"
        await peer.close()
    # the real one still works, and let nobody into the room
    assert (await family.get(f"/practice/{token}")).status == 200
    assert (await family.get(f"/join/{room.token}")).status == 200


@pytest.mark.hazard("HZ-32")
async def test_opening_the_practice_page_writes_nothing(
    app: web.Application,
    aiohttp_client,
    client: TestClient,
    therapist: Staff,
    caplog: pytest.LogCaptureFixture,
) -> None:  # type: ignore[no-untyped-def]
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await ready_client(app, ther)
    made = {role: await _make(client, csrf, kid.id, role) for role in ("young_person", "parent")}
    family = await aiohttp_client(client.server)
    caplog.set_level(logging.INFO, logger="server.views.practice")
    before = await _counts(app)
    for token in made.values():
        resp = await family.get(f"/practice/{token}")
        html = await resp.text()
        assert resp.status == 200
        # every step runs in the page from what it loaded: its scripts and styles, and the
        # quick exit's page; the page makes no other request
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            assert (await family.get(asset)).status == 200, asset
        assert (await family.get("/away")).status == 200
    # a forged, a withdrawn and a wrong-purpose link write nothing either
    assert (await family.get("/practice/abc.def")).status == 403
    assert (await family.get(f"/join/{made['parent']}")).status == 403
    assert await _counts(app) == before
    # the one trace: a log line counting each opening, with its role and nothing else
    opened = [r for r in caplog.records if getattr(r, "event", "") == "practice_opened"]
    assert sorted(getattr(r, "role", "") for r in opened) == ["parent", "young_person"]
    for record in opened:
        assert not any(token in repr(vars(record)) for token in made.values())
        assert kid.id not in repr(vars(record))


async def test_a_practice_link_goes_with_the_other_dead_links(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    csrf = await sign_in(client, therapist)
    kid = await new_client(app, await therapist_view(app, therapist.username))
    link = await _row(app, await _make(client, csrf, kid.id, "parent"))
    days = app[SETTINGS].retention_link_days
    await app[RETENTION].purge(now=link.expires_at + timedelta(days=days - 1))
    assert [row.id for row in await app[LINKS].for_client(kid.id, LinkKind.PRACTICE)] == [link.id]
    await app[RETENTION].purge(now=link.expires_at + timedelta(days=days + 1))
    assert await app[LINKS].for_client(kid.id, LinkKind.PRACTICE) == []
