"""The emergency contacts a parent gives on the consent form fill the disconnection plan's
parent or carer to ring, so the therapist does not type them again: while the plan has none
of the therapist's own, marked as from the consent form, and never over what they typed."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.access.accounts import StaffView
from server.appkeys import CATALOGUE, CLIENTS, CONSENTS, GATEKEEPER, LINKS
from server.care.checklists import Kind
from server.care.clients import ClientView
from server.care.consent import ConsentIn, WithdrawIn
from server.care.plan import Case, steps_for
from server.storage.models import LinkKind
from tests.conftest import Staff, sign_in
from tests.factories import answer, new_client, safe_answers, therapist_view
from tests.pagetext import Page


async def _consent(
    app: web.Application,
    therapist: StaffView,
    kid: ClientView,
    decision: str = "given",
    name: str = "Pat Parent",
    phone: str = "07700 900456",
) -> str:
    issued = await app[CONSENTS].issue_link(kid.id, therapist.id)
    link = await app[LINKS].verify(issued.token, LinkKind.CONSENT)
    form = app[CATALOGUE][Kind.CONSENT]
    await app[CONSENTS].record(
        link,
        ConsentIn(
            decision=decision,
            typed_name=name,
            relationship="mum",
            contacts=[
                {"name": name, "relationship": "mum", "phone": phone},
                {"name": "Gran", "relationship": "grandmother", "phone": "07700 900999"},
            ],
            confirmations={i.id: "yes" for i in form.items() if i.answerable},
        ),
    )
    return issued.token


async def _plan(app: web.Application, kid: ClientView) -> dict[str, dict[str, str]]:
    return await app[GATEKEEPER].plan_answers(kid.id)


@pytest.mark.hazard("HZ-01")
async def test_consent_fills_a_plan_that_has_no_parent_to_ring(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    await _consent(app, ther, kid)
    (given,) = await app[CONSENTS].history(kid.id)
    plan = await _plan(app, kid)
    assert plan["plan.parent_name"] == {
        "answer": "Pat Parent (mum)",
        "rationale": "",
        "from": "consent",
        "on": given.signed_on,
    }
    assert plan["plan.parent_phone"]["answer"] == "07700 900456"
    assert plan["plan.parent_phone"]["from"] == "consent"
    # the gate no longer asks for them; the rest of the plan is still the therapist's to agree
    gate = await app[GATEKEEPER].evaluate(kid.id)
    waiting = {r.item for r in gate.reasons if r.code == "plan_incomplete"}
    assert "plan.parent_phone" not in waiting and "plan.parent_name" not in waiting
    assert "plan.wait_minutes" in waiting
    # and a session that loses the young person rings that number
    ring = next(s for s in steps_for(Case.LOST, plan) if s.id == "ring_parent")
    assert ring.title == "Ring Pat Parent (mum)" and ring.phone == "07700 900456"


async def test_the_plan_page_shows_where_the_contact_came_from(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    await _consent(app, ther, kid)
    url = f"/clients/{kid.id}/checklists/disconnection-plan"
    page = Page(await (await client.get(url)).text())
    phone = page["answer-plan.parent_phone"]
    assert phone.attrs["value"] == "07700 900456"
    assert "from-plan.parent_phone" in phone.attrs["aria-describedby"].split()
    assert page["from-plan.parent_phone"].text.startswith("From the consent form of ")
    listed = page["consent-contacts"].text
    assert listed == "Emergency contacts from the consent form"
    contacts = page.root.all("section", class_="from-consent")[0].text
    assert "Gran (grandmother): 07700 900999" in contacts


async def test_the_therapists_own_contact_is_never_replaced(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    await answer(
        app,
        ther,
        kid,
        Kind.DISCONNECTION_PLAN,
        {"plan.parent_name": {"answer": "Dad", "rationale": ""}},
    )
    await _consent(app, ther, kid)
    plan = await _plan(app, kid)
    # a name of the therapist's own: neither field is filled, so no number meets another name
    assert plan["plan.parent_name"] == {"answer": "Dad", "rationale": ""}
    assert "plan.parent_phone" not in plan


async def test_a_later_consent_refreshes_only_what_a_consent_put_there(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    first = await _consent(app, ther, kid)

    async def withdraw(token: str) -> None:
        link = await app[LINKS].verify(token, LinkKind.CONSENT)
        await app[CONSENTS].withdraw(link, WithdrawIn(typed_name="Pat Parent"))

    await withdraw(first)
    second = await _consent(app, ther, kid, name="Alex Carer", phone="07700 900111")
    plan = await _plan(app, kid)
    assert plan["plan.parent_name"]["answer"] == "Alex Carer (mum)"
    assert plan["plan.parent_phone"]["answer"] == "07700 900111"
    # the therapist changes the number: it is theirs from now on
    await answer(
        app,
        ther,
        kid,
        Kind.DISCONNECTION_PLAN,
        {"plan.parent_phone": {"answer": "07700 900222", "rationale": ""}},
    )
    await withdraw(second)
    await _consent(app, ther, kid, name="Sam Other", phone="07700 900333")
    plan = await _plan(app, kid)
    assert plan["plan.parent_phone"] == {"answer": "07700 900222", "rationale": ""}
    assert plan["plan.parent_name"]["answer"] == "Alex Carer (mum)"


async def test_a_refusal_fills_nothing_and_a_full_plan_is_left_alone(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    ther = await therapist_view(app, therapist.username)
    refused = await new_client(app, ther, display_name="Ash")
    await _consent(app, ther, refused, decision="refused")
    assert await _plan(app, refused) == {}
    agreed = await new_client(app, ther, display_name="Bo")
    own = safe_answers(app[CATALOGUE][Kind.DISCONNECTION_PLAN])
    revision = await answer(app, ther, agreed, Kind.DISCONNECTION_PLAN, own)
    await _consent(app, ther, agreed)
    assert await _plan(app, agreed) == own
    saved = await app[CLIENTS].answers(ther, agreed.id, Kind.DISCONNECTION_PLAN)
    assert saved is not None and saved.revision == revision  # not even touched
