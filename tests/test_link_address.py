"""Where consent and join links get their address: the public address whenever one is set,
whatever Host a request names; without one, a development server uses the request's address
and says so, and production makes no link at all."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiohttp import web

from server.app import create_app
from server.appkeys import DATABASE, SCHEDULE
from server.care.schedule import NewAppointment
from server.settings import Settings
from server.storage.db import utcnow
from server.storage.models import Appointment, Link
from tests.conftest import make_staff, sign_in
from tests.factories import ready_client, soon, therapist_view

EVIL = {"Host": "evil.example"}
REFUSAL = "This service has no public address set (PLAYROOM_PUBLIC_URL), so it cannot make links"


async def _signed_in(app: web.Application, aiohttp_client):  # type: ignore[no-untyped-def]
    browser = await aiohttp_client(app)
    staff = await make_staff(app, "ther")
    token = await sign_in(browser, staff)
    kid = await ready_client(app, await therapist_view(app, "ther"))
    return browser, {"X-CSRF-Token": token}, kid.id


async def _count(app: web.Application, model: type) -> int:
    async with app[DATABASE].session() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_which_servers_count_as_development() -> None:
    assert Settings().development  # 127.0.0.1, as `make serve` and the tests run it
    assert Settings(host="::1").development and Settings(host="localhost").development
    assert not Settings(host="0.0.0.0").development  # noqa: S104 - as the image listens
    assert not Settings(trusted_proxies=["10.0.0.0/8"]).development  # behind a proxy
    assert Settings(host="0.0.0.0", test_hooks=True).development  # noqa: S104 - a test server
    assert not Settings(environment="production").development
    assert Settings(host="0.0.0.0", environment="development").development  # noqa: S104


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_development_server_makes_links_from_the_request_and_says_so(
    settings: Settings, aiohttp_client, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="server.views.common")
    app = create_app(settings)
    browser, csrf, kid = await _signed_in(app, aiohttp_client)
    made = await browser.post(f"/api/clients/{kid}/consent-links", headers={**csrf, **EVIL})
    assert made.status == 201
    assert (await made.json())["url"].startswith("http://evil.example/consent/")
    page = await browser.post(f"/clients/{kid}/consent-link", headers={**csrf, **EVIL})
    html = await page.text()
    assert page.status == 200 and 'value="http://evil.example/consent/' in html
    assert "this development server has no public address set" in html
    scheduled = await browser.post(
        f"/api/clients/{kid}/sessions", json={"starts_at": soon()}, headers=csrf
    )
    assert scheduled.status == 201
    session = (await scheduled.json())["id"]
    html = await (await browser.get(f"/sessions/{session}")).text()
    assert "/join/" in html and 'id="links-from-host"' in html
    warned = [r for r in caplog.records if getattr(r, "event", None) == "links_from_host"]
    assert len(warned) == 1  # once, as the server started, however many links since
    assert "PLAYROOM_PUBLIC_URL is not set" in warned[0].getMessage()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_production_makes_no_link_without_a_public_address(
    settings: Settings, aiohttp_client, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="server.views.common")
    app = create_app(settings.model_copy(update={"environment": "production"}))
    browser, csrf, kid = await _signed_in(app, aiohttp_client)
    assert any(getattr(r, "event", None) == "no_public_url" for r in caplog.records)
    links, sessions = await _count(app, Link), await _count(app, Appointment)

    refused = await browser.post(f"/api/clients/{kid}/consent-links", headers={**csrf, **EVIL})
    assert refused.status == 503
    error = (await refused.json())["error"]
    assert error["code"] == "no_public_url" and error["message"].startswith(REFUSAL)
    page = await browser.post(f"/clients/{kid}/consent-link", headers={**csrf, **EVIL})
    assert page.status == 503 and REFUSAL in await page.text()
    scheduled = await browser.post(
        f"/api/clients/{kid}/sessions", json={"starts_at": soon()}, headers=csrf
    )
    assert scheduled.status == 503 and (await scheduled.json())["error"]["code"] == "no_public_url"
    assert (await _count(app, Link), await _count(app, Appointment)) == (links, sessions)

    # a session scheduled all the same (its form makes no link to show): its page says why
    # there is no link to send
    starts = utcnow() + timedelta(minutes=5)
    made = await app[SCHEDULE].create(
        await therapist_view(app, "ther"), kid, NewAppointment(starts_at=starts)
    )
    html = await (await browser.get(f"/sessions/{made.id}", headers=EVIL)).text()
    assert REFUSAL in html and "/join/" not in html and "evil.example" not in html


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("environment", ["production", "development"])
async def test_a_public_address_is_used_whatever_host_a_request_names(
    settings: Settings, aiohttp_client, environment: str
) -> None:  # type: ignore[no-untyped-def]
    public = "http://playroom.example.org/"
    update = {"public_url": public, "environment": environment}
    app = create_app(settings.model_copy(update=update))
    browser, csrf, kid = await _signed_in(app, aiohttp_client)
    made = await browser.post(f"/api/clients/{kid}/consent-links", headers={**csrf, **EVIL})
    assert (await made.json())["url"].startswith("http://playroom.example.org/consent/")
    scheduled = await browser.post(
        f"/api/clients/{kid}/sessions", json={"starts_at": soon()}, headers={**csrf, **EVIL}
    )
    for link in (await scheduled.json())["join_links"]:
        assert link["url"].startswith("http://playroom.example.org/join/")
    html = await (await browser.get(f"/sessions/{(await scheduled.json())['id']}")).text()
    assert "http://playroom.example.org/join/" in html and 'id="links-from-host"' not in html
