"""The parent/carer's consent page, and every way a link can be bad."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.access import tokens
from server.access.tokens import Claims
from server.appkeys import CATALOGUE, CONSENTS, KEYRING, LINKS
from server.care.checklists import Kind
from server.crypto.keys import KeyMaterial, KeyRing
from server.exceptions import TokenError
from server.storage.db import utcnow
from server.storage.models import LinkKind
from tests.conftest import Staff, sign_in
from tests.factories import new_client, therapist_view


def _form(app: web.Application, **overrides: str) -> dict[str, str]:
    data = {
        "decision": "given",
        "typed_name": "Pat Parent",
        "relationship": "mum",
        "signed_on": utcnow().date().isoformat(),
        "contact1_name": "Pat Parent",
        "contact1_relationship": "mum",
        "contact1_phone": "07700 900456",
    }
    for item in app[CATALOGUE][Kind.CONSENT].items():
        if item.answerable:
            data[f"confirm:{item.id}"] = "yes"
    data.update(overrides)
    return data


@pytest.fixture
async def consent_url(app: web.Application, client: TestClient, therapist: Staff) -> str:
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    issued = await app[CONSENTS].issue_link(kid.id, ther.id)
    return f"/consent/{issued.token}"


@pytest.mark.hazard("HZ-03")
async def test_parent_consents_once_then_withdraws(
    app: web.Application, client: TestClient, consent_url: str
) -> None:
    page = await client.get(consent_url)
    html = await page.text()
    assert page.status == 200 and "Set-Cookie" not in page.headers  # no cookie for a parent
    assert "Emergency contacts" in html
    resp = await client.post(consent_url, data=_form(app))
    assert resp.status == 200 and "Your consent and contact numbers are saved" in await resp.text()
    again = await client.post(consent_url, data=_form(app))
    assert again.status == 400
    assert "already given through this link" in await again.text()
    withdraw = re.search(r'<form method="post" action="([^"]+)"', await resp.text())
    assert (
        withdraw is not None and withdraw.group(1) == consent_url + "/withdraw"
    )  # what the page posts to
    resp = await client.post(
        consent_url + "/withdraw",
        data={"typed_name": "Pat Parent", "signed_on": utcnow().date().isoformat()},
    )
    assert "Your consent is withdrawn" in await resp.text()
    resp = await client.post(
        consent_url + "/withdraw",
        data={"typed_name": "Pat Parent", "signed_on": utcnow().date().isoformat()},
    )
    assert resp.status == 400 and "no consent in place to withdraw" in await resp.text()
    link = await app[LINKS].verify(consent_url.rsplit("/", 1)[1], LinkKind.CONSENT)
    history = await app[CONSENTS].history(link.client_id)
    assert [h.decision.value for h in history] == ["given", "withdrawn"]
    assert history[0].contacts == [
        {"name": "Pat Parent", "relationship": "mum", "phone": "07700 900456"}
    ]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"contact1_name": "", "contact1_relationship": "", "contact1_phone": ""},
            "at least one emergency contact",
        ),
        ({"contact1_phone": "call me maybe"}, "phone number in digits"),
        ({"typed_name": ""}, "Type your full name."),
        ({"relationship": ""}, "Say who you are to the child"),
        ({"decision": "perhaps"}, "Choose whether you give consent."),
    ],
)
async def test_bad_consent_answers_are_explained_and_nothing_is_saved(
    app: web.Application,
    client: TestClient,
    consent_url: str,
    overrides: dict[str, str],
    message: str,
) -> None:
    resp = await client.post(consent_url, data=_form(app, **overrides))
    assert resp.status == 400
    assert message in (await resp.text())
    link = await app[LINKS].verify(consent_url.rsplit("/", 1)[1], LinkKind.CONSENT)
    assert await app[CONSENTS].history(link.client_id) == []


async def test_a_no_to_a_confirmation_is_refused_with_advice(
    app: web.Application, client: TestClient, consent_url: str
) -> None:
    item = next(i for i in app[CATALOGUE][Kind.CONSENT].items() if i.answerable)
    resp = await client.post(consent_url, data=_form(app, **{f"confirm:{item.id}": "no"}))
    assert resp.status == 400 and "talk to the therapist" in await resp.text()


async def test_refusal_needs_no_contacts(
    app: web.Application, client: TestClient, consent_url: str
) -> None:
    resp = await client.post(
        consent_url,
        data={
            "decision": "refused",
            "typed_name": "Pat Parent",
            "relationship": "dad",
            "signed_on": utcnow().date().isoformat(),
        },
    )
    assert resp.status == 200 and "You said no" in await resp.text()


async def test_forged_expired_revoked_and_misused_links(
    app: web.Application, client: TestClient, consent_url: str, therapist: Staff
) -> None:
    token = consent_url.rsplit("/", 1)[1]
    body, signature = token.split(".")
    forged_body = body[:-2] + ("AA" if body[-2:] != "AA" else "BB")
    other_ring = KeyRing(KeyMaterial.generate())
    link = await app[LINKS].verify(token, LinkKind.CONSENT)
    foreign = tokens.issue(
        other_ring, Claims("consent", link.id, "parent", link.not_before, link.expires_at)
    )
    as_join = tokens.issue(
        app[KEYRING], Claims("join", link.id, "parent", link.not_before, link.expires_at)
    )
    for bad, message in [
        (f"{forged_body}.{signature}", "not valid"),
        (foreign, "not valid"),
        ("garbage", "not valid"),
        ("a" * 5000, "not valid"),
        (as_join, "for something else"),
    ]:
        resp = await client.get(f"/consent/{bad}")
        assert resp.status == 403, bad[:20]
        assert message in await resp.text()
    # expired: the clock moves past the link's end
    with pytest.raises(TokenError, match="expired"):
        await app[LINKS].verify(token, LinkKind.CONSENT, now=utcnow() + timedelta(days=31))
    # revoked by the therapist: refused at once, and the form cannot be posted either
    csrf = await sign_in(client, therapist)
    resp = await client.post(
        f"/links/{link.id}/revoke", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert resp.status == 303
    client.session.cookie_jar.clear()
    page = await client.get(consent_url)
    assert page.status == 403 and "withdrawn" in await page.text()
    resp = await client.post(consent_url, data=_form(app))
    assert resp.status == 403
    assert await app[CONSENTS].history(link.client_id) == []


async def test_a_new_link_after_withdrawal_can_record_consent_again(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    from tests.factories import give_consent

    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    token = await give_consent(app, ther, kid)
    resp = await client.post(
        f"/consent/{token}/withdraw",
        data={"typed_name": "Pat Parent", "signed_on": utcnow().date().isoformat()},
    )
    assert "withdrawn" in await resp.text()
    resp = await client.post(f"/consent/{token}", data=_form(app))
    assert resp.status == 400  # the old link is spent
    await give_consent(app, ther, kid)
    assert [h.decision.value for h in await app[CONSENTS].history(kid.id)] == [
        "given",
        "withdrawn",
        "given",
    ]


async def test_forged_expired_and_foreign_links_can_neither_consent_nor_withdraw(
    app: web.Application, client: TestClient, consent_url: str
) -> None:
    token = consent_url.rsplit("/", 1)[1]
    link = await app[LINKS].verify(token, LinkKind.CONSENT)
    body, signature = token.split(".")
    claims = Claims("consent", link.id, "parent", link.not_before, link.expires_at)
    cases = [
        (body + "." + signature[:-1] + ("A" if signature[-1] != "A" else "B"), "not valid"),
        (tokens.issue(KeyRing(KeyMaterial.generate()), claims), "not valid"),
        (
            tokens.issue(
                app[KEYRING],
                Claims("consent", link.id, "young_person", link.not_before, link.expires_at),
            ),
            "not valid",
        ),  # another role named over the real key: the row says parent
        (
            tokens.issue(
                app[KEYRING], Claims("consent", link.id, "parent", link.not_before, utcnow())
            ),
            "expired",
        ),
    ]
    withdraw = {"typed_name": "Pat Parent", "signed_on": utcnow().date().isoformat()}
    for bad, message in cases:
        resp = await client.post(f"/consent/{bad}", data=_form(app))
        assert resp.status == 403 and message in await resp.text(), message
        resp = await client.post(f"/consent/{bad}/withdraw", data=withdraw)
        assert resp.status == 403, message
    assert await app[CONSENTS].history(link.client_id) == []  # nothing recorded
    # the real link still works, once
    resp = await client.post(consent_url, data=_form(app))
    assert resp.status == 200
    assert [h.decision.value for h in await app[CONSENTS].history(link.client_id)] == ["given"]
