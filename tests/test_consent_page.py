"""The parent's consent page says whom and what it is for, fills in the date, and names every
fault at once, beside its field, in the parent's words, keeping what was typed."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import CATALOGUE, CONSENTS, DATABASE
from server.care.checklists import Kind
from server.settings import Settings
from server.storage.models import Consent
from tests.conftest import Staff
from tests.factories import new_client, therapist_view
from tests.pagetext import Page

SERVICE = "Northside Children's Therapy"
# the other side of the date line from UTC for most of the day: "today" there is rarely UTC's
ZONE = "Pacific/Kiritimati"
PROGRAMMERS_WORDS = ("Input should be", "String should", "typed_name", "signed_on", "decision:")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"service_name": SERVICE, "timezone": ZONE})


@pytest.fixture
async def kid_and_url(
    app: web.Application, client: TestClient, therapist: Staff
) -> tuple[str, str]:
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther, display_name="Robin", age_band="9-11")
    issued = await app[CONSENTS].issue_link(kid.id, ther.id)
    return kid.id, f"/consent/{issued.token}"


def _today() -> str:
    return datetime.now(ZoneInfo(ZONE)).date().isoformat()


async def test_the_page_names_the_child_the_therapist_and_the_service(
    client: TestClient, kid_and_url: tuple[str, str]
) -> None:
    page = Page(await (await client.get(kid_and_url[1])).text())
    heading = page.root.all("h1")[0].text
    assert heading == "Online therapy for Robin"
    lede = page.root.all("p", class_="for-whom")[0].text
    assert "Therapist.One" in lede  # the named worker's display name
    assert SERVICE in lede and "Robin" in lede
    assert [f.attrs["for"] for f in page.root.all("label") if "Robin" in f.text] == [
        "contact1-relationship",
        "contact2-relationship",
        "relationship",
    ]


async def test_the_date_is_filled_in_as_today_where_the_service_is(
    app: web.Application, client: TestClient, kid_and_url: tuple[str, str]
) -> None:
    kid, url = kid_and_url
    page = Page(await (await client.get(url)).text())
    assert not [i for i in page.root.all("input") if i.attrs.get("type") == "date"]
    assert not [i for i in page.root.all("input") if i.attrs.get("name") == "signed_on"]
    shown = datetime.fromisoformat(_today()).strftime("%-d %B %Y")
    assert f"Date: {shown}" in page.root.all("p", class_="filled-date")[0].text
    resp = await client.post(url, data=_good(app))
    assert resp.status == 200, await resp.text()
    (given,) = await app[CONSENTS].history(kid)
    assert given.signed_on == _today()


def _good(app: web.Application) -> dict[str, str]:
    data = {
        "decision": "given",
        "typed_name": "Pat Parent",
        "relationship": "mum",
        "contact1_name": "Pat Parent",
        "contact1_relationship": "mum",
        "contact1_phone": "07700 900456",
    }
    for item in app[CATALOGUE][Kind.CONSENT].items():
        if item.answerable:
            data[f"confirm:{item.id}"] = "yes"
    return data


async def test_every_fault_at_once_beside_its_field_in_plain_words(
    app: web.Application, client: TestClient, kid_and_url: tuple[str, str]
) -> None:
    """What once took six sends, one fault at a time in a programmer's words, now takes one
    send to see them all, and one more to put them right."""
    kid, url = kid_and_url
    form = app[CATALOGUE][Kind.CONSENT]
    confirmations = [i for i in form.items() if i.answerable]
    typed = {
        "typed_name": "P",
        "contact1_name": "Sam Neighbour",
        "contact1_phone": "call me",
        f"confirm:{confirmations[0].id}": "no",
    }
    resp = await client.post(url, data=typed)
    assert resp.status == 400
    html = await resp.text()
    for words in PROGRAMMERS_WORDS:
        assert words not in Page(html).root.all("main")[0].text, words
    page = Page(html)
    expected = {
        f"confirm:{confirmations[0].id}": "Online sessions need a yes here.",
        **{f"confirm:{i.id}": f"Answer yes or no: {i.prompt}" for i in confirmations[1:]},
        "contact1_relationship": "Say how contact 1 knows your child",
        "contact1_phone": "Type contact 1's phone number in digits",
        "decision": "Choose whether you give consent.",
        "typed_name": "Type your full name, not only an initial.",
        "relationship": "Say who you are to the child",
    }
    summary = [(a.attrs["href"], a.text) for a in page["error-summary"].all("a")]
    assert len(summary) == len(expected)
    assert "There are 8 things to put right" in page["error-summary"].text
    anchors = {
        field: field.replace(":", "-").replace(".", "-").replace("_", "-") for field in expected
    }
    for (href, text), (field, words) in zip(summary, expected.items(), strict=True):
        assert href == f"#{anchors[field]}" and text.startswith(words), (href, text)
        assert anchors[field] in page.by_id, field  # the link lands on the field
        beside = page[f"{anchors[field]}-error"]
        assert beside.text == f"Error: {text}"
    for name in ("typed_name", "contact1_phone", "contact1_relationship", "relationship"):
        field = page[anchors[name]]
        assert field.attrs["aria-invalid"] == "true"
        assert field.attrs["aria-describedby"] == f"{anchors[name]}-error"
    # what was typed is still there
    assert page["typed-name"].attrs["value"] == "P"
    assert page["contact1-name"].attrs["value"] == "Sam Neighbour"
    assert page["contact1-phone"].attrs["value"] == "call me"
    no = page[f"{anchors[f'confirm:{confirmations[0].id}']}-no"]
    assert "checked" in no.attrs
    assert await app[CONSENTS].history(kid) == []
    # one more send puts it right
    resp = await client.post(url, data=_good(app))
    assert resp.status == 200 and "Your consent and contact numbers are saved" in (
        await resp.text()
    )


async def test_a_refusal_asks_only_what_a_refusal_needs(
    client: TestClient, kid_and_url: tuple[str, str]
) -> None:
    resp = await client.post(kid_and_url[1], data={"decision": "refused"})
    page = Page(await resp.text())
    assert [a.text for a in page["error-summary"].all("a")] == [
        "Type your full name.",
        "Say who you are to the child, for example mum, dad or carer.",
    ]


async def test_withdrawal_needs_only_a_name_beside_its_field(
    app: web.Application, client: TestClient, kid_and_url: tuple[str, str]
) -> None:
    kid, url = kid_and_url
    assert (await client.post(url, data=_good(app))).status == 200
    resp = await client.post(url + "/withdraw", data={"typed_name": ""})
    assert resp.status == 400
    page = Page(await resp.text())
    assert [(a.attrs["href"], a.text) for a in page["error-summary"].all("a")] == [
        ("#w-typed-name", "Type your full name.")
    ]
    assert page["w-typed-name-error"].text == "Error: Type your full name."
    resp = await client.post(url + "/withdraw", data={"typed_name": "Pat Parent"})
    assert "Your consent is withdrawn" in await resp.text()
    history = await app[CONSENTS].history(kid)
    assert [c.decision.value for c in history] == ["given", "withdrawn"]
    assert history[-1].signed_on == _today()
    # the page's language switch, or a reload, at the withdrawal's address: back to the
    # consent page in that language, not an error
    again = await client.get(url + "/withdraw?lang=cy", allow_redirects=False)
    assert again.status == 303 and again.headers["Location"].endswith(
        url.rsplit("/", 1)[1] + "?lang=cy"
    )
    assert (await client.get(url + "/withdraw")).status == 200


async def test_what_the_parent_gives_is_sealed_and_never_logged(
    app: web.Application,
    client: TestClient,
    kid_and_url: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    kid, url = kid_and_url
    personal = ("Pat Parent", "07700 900456", "Robin", "Therapist.One")
    with caplog.at_level(logging.DEBUG):
        await client.get(url)
        await client.post(url, data={**_good(app), "typed_name": ""})
        assert (await client.post(url, data=_good(app))).status == 200
    for record in caplog.records:
        line = record.getMessage() + json.dumps(record.__dict__, default=str)
        assert not [p for p in personal if p in line], record.getMessage()
    async with app[DATABASE].read() as session:
        (row,) = list(await session.scalars(sa.select(Consent)))
    assert b"Pat Parent" not in row.details_enc and b"07700" not in row.details_enc
