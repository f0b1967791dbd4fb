"""A family's e-mail addresses: checked before they are kept (not an address, or a line
break that would add a header: refused in words, nothing kept), sealed at rest, masked on
pages where the whole is not needed, never in a log line; and a message whose header would
hold a line break is not sent."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import CONSENTS, DATABASE, INVITATIONS
from server.care.addresses import ContactsIn, check_address, mask, read_contacts
from server.care.delivery import DeliveryFailed, Letter, message
from server.exceptions import PlayroomError
from server.settings import Settings
from server.storage.mail_models import ClientContact
from tests.conftest import Staff, sign_in
from tests.factories import new_client, therapist_view

ADDRESS = "pat.parent@example.org"


@pytest.mark.parametrize(
    "value", ["pat@example.org", " Pat.Parent+sky@Example.ORG ", "o'neil@mail.example.co.uk"]
)
def test_an_address_is_kept_trimmed_with_its_domain_in_lower_case(value: str) -> None:
    kept = check_address(value)
    assert kept == kept.strip() and kept.split("@")[1] == kept.split("@")[1].lower()


@pytest.mark.parametrize(
    "value",
    ["pat", "pat@", "@example.org", "pat@example", "pat@@example.org", "pat@exa mple.org",
     "pat..parent@example.org", ".pat@example.org", "pat@-example.org", "a" * 250 + "@x.org",
     "Pat <pat@example.org>", "pat@example.org, eve@example.org"],
)  # fmt: skip
def test_what_is_not_an_address_is_refused_in_words(value: str) -> None:
    with pytest.raises(PlayroomError, match="not an e-mail address") as raised:
        check_address(value)
    assert raised.value.code == "bad_address"


@pytest.mark.parametrize(
    "value", ["pat@example.org\r\nBcc: eve@example.org", "pat@example.org\nX: y", "a\rb@c.org"]
)
@pytest.mark.hazard("HZ-30")
def test_a_line_break_in_an_address_is_refused_as_header_injection(value: str) -> None:
    with pytest.raises(PlayroomError, match="one line") as raised:
        check_address(value)
    assert raised.value.code == "header_injection"
    with pytest.raises(PlayroomError, match="The parent's or carer's e-mail: .*one line"):
        read_contacts({"parent_email": value})


def test_a_message_whose_header_holds_a_line_break_is_not_sent() -> None:
    letter = Letter(to="pat@example.org", subject="Hi\r\nBcc: eve@example.org", text="", html="")
    with pytest.raises(DeliveryFailed, match="header_injection"):
        message(letter, "playroom@example.org", "Playroom")
    with pytest.raises(DeliveryFailed, match="header_injection"):
        message(Letter("pat@example.org\nBcc: x@y.org", "s", "", ""), "p@example.org", "P")


def test_a_service_name_or_sender_with_a_line_break_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="one line"):
        Settings(service_name="Playroom\r\nBcc: eve@example.org")
    with pytest.raises(ValueError, match="one line"):
        Settings(smtp_from="p@example.org\nX: y")


def test_an_address_is_masked_where_the_whole_is_not_needed() -> None:
    assert mask(ADDRESS) == "p•••@example.org"
    assert mask(None) == mask("") == ""


@pytest.mark.hazard("HZ-30")
async def test_the_client_page_keeps_addresses_sealed_and_refuses_bad_ones(
    app: web.Application, client: TestClient, therapist: Staff, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sky = await new_client(app, await therapist_view(app, therapist.username))
    csrf = await sign_in(client, therapist)
    page = await client.get(f"/clients/{sky.id}")
    assert "Family e-mail" in await page.text()
    form = {
        "csrf_token": csrf,
        "parent_email": ADDRESS,
        "young_person_email": "",
        "join_to": "parent",
        "automatic": "yes",
    }
    resp = await client.post(f"/clients/{sky.id}/contacts", data=form, allow_redirects=False)
    assert resp.status == 303 and "contacts=saved" in resp.headers["Location"]
    contacts = await app[INVITATIONS].contacts.get(sky.id)
    assert (contacts.parent_email, contacts.join_to, contacts.automatic) == (
        ADDRESS,
        "parent",
        True,
    )
    async with app[DATABASE].read() as session:
        row = await session.scalar(sa.select(ClientContact))
    assert row is not None and row.parent_email_enc is not None
    assert b"example.org" not in row.parent_email_enc  # sealed at rest

    page = await (await client.get(f"/clients/{sky.id}")).text()
    assert "p•••@example.org" in page

    for bad, code in (
        ("not an address", "bad_address"),
        (ADDRESS + "\r\nBcc: e@x.org", "header_injection"),
    ):
        resp = await client.post(
            f"/clients/{sky.id}/contacts",
            data={**form, "young_person_email": bad},
            allow_redirects=False,
        )
        location = resp.headers["Location"]
        assert f"contacts={code}" in location and "field=young" in location
        assert "example" not in location and "address" not in location.split("?")[0]
        page = await (await client.get(location)).text()
        assert "The young person&#39;s e-mail" in page and "Nothing was saved" in page
    assert (await app[INVITATIONS].contacts.get(sky.id)).young_person_email is None
    assert ADDRESS not in caplog.text and "e@x.org" not in caplog.text


async def test_an_address_from_the_consent_form_never_replaces_the_therapists(
    app: web.Application, therapist: Staff
) -> None:
    sky = await new_client(app, await therapist_view(app, therapist.username))
    contacts = app[INVITATIONS].contacts
    async with app[DATABASE].session() as session:
        await contacts.from_consent(session, sky.id, "given@example.org")
    assert (await contacts.get(sky.id)).parent_from_consent
    await contacts.save(sky.id, ContactsIn(parent_email=ADDRESS))
    async with app[DATABASE].session() as session:
        await contacts.from_consent(session, sky.id, "later@example.org")
    kept = await contacts.get(sky.id)
    assert kept.parent_email == ADDRESS and not kept.parent_from_consent


@pytest.mark.hazard("HZ-30")
async def test_a_parent_may_give_their_address_on_the_consent_form(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    from tests.test_consent_page import _good

    ther = await therapist_view(app, therapist.username)
    sky = await new_client(app, ther)
    issued = await app[CONSENTS].issue_link(sky.id, ther.id)
    url = f"/consent/{issued.token}"
    for bad, words in (
        ("pat at home", "Type your e-mail address as name@example.org"),
        ("pat@example.org\r\nBcc: eve@example.org", "must be on one line"),
    ):
        resp = await client.post(url, data={**_good(app), "email": bad})
        assert resp.status == 400
        assert words in await resp.text()
    assert await app[CONSENTS].history(sky.id) == []
    resp = await client.post(url, data={**_good(app), "email": " Pat@Example.org "})
    assert resp.status == 200, await resp.text()
    contacts = await app[INVITATIONS].contacts.get(sky.id)
    assert contacts.parent_email == "Pat@example.org" and contacts.parent_from_consent
