"""The checklist page: under each question, what its answers call for with this child (the
gate's rule in words), and what is missing, each a link to where it is put right."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import CATALOGUE, GATEKEEPER
from server.care.checklists import Kind
from server.care.rules import sentences
from tests.conftest import Staff, sign_in
from tests.factories import answer, new_client, safe_answers, therapist_view
from tests.pagetext import Page

SLUGS = {Kind.SUITABILITY: "suitability", Kind.DISCONNECTION_PLAN: "disconnection-plan"}


@pytest.mark.parametrize("band, age", [("9-11", 9), ("14-15", 14)])
async def test_each_question_says_what_the_gate_asks_of_this_child(
    app: web.Application, client: TestClient, therapist: Staff, band: str, age: int
) -> None:
    await sign_in(client, therapist)
    kid = await new_client(app, await therapist_view(app, therapist.username), age_band=band)
    for kind, slug in SLUGS.items():
        checklist = app[CATALOGUE][kind]
        page = Page(await (await client.get(f"/clients/{kid.id}/checklists/{slug}")).text())
        for item in checklist.items():
            said = page.by_id.get(f"asks-{item.id}")
            shown = [li.text for li in said.all("li")] if said else []
            assert shown == sentences(item, checklist, age), item.id


async def test_under_twelve_age_and_competence_asks_for_both_whatever_the_answer(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    """The page once said "needed when the answer is no or unsure" while the gate asked for
    a rationale and a sign-off after "yes" too."""
    await sign_in(client, therapist)
    kid = await new_client(app, await therapist_view(app, therapist.username), age_band="9-11")
    page = Page(await (await client.get(f"/clients/{kid.id}/checklists/suitability")).text())
    item = page["client.age_competence"].text
    assert "Needs a written clinical rationale whatever the answer, as the child is under 12." in (
        item
    )
    assert "Needs your supervisor's sign-off whatever the answer, as the child is under 12." in (
        item
    )
    assert "when the answer is no or unsure" not in item


async def test_what_is_missing_is_one_link_per_reason_to_its_question(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther, age_band="9-11")
    answers = safe_answers(app[CATALOGUE][Kind.SUITABILITY])
    answers["context.own_room"] = {"answer": "no", "rationale": ""}
    answers["risk.external_risk"] = {"answer": "unsure", "rationale": ""}
    del answers["risk.data_security"]
    await answer(app, ther, kid, Kind.SUITABILITY, answers)
    gate = await app[GATEKEEPER].evaluate(kid.id)
    for slug in SLUGS.values():
        page = Page(await (await client.get(f"/clients/{kid.id}/checklists/{slug}")).text())
        missing = page["missing"]
        assert missing.tag == "aside" and "missing" in missing.attrs["class"].split()
        links = [(a.text, a.attrs["href"]) for a in missing.all("a")]
        assert [text for text, _ in links] == [r.message for r in gate.reasons]
        for text, href in links:
            if href.startswith("#"):
                assert href[1:] in page.by_id, (text, href)  # a question on this page
            else:
                assert href.startswith(("/clients/", "/checks/today")), (text, href)
        if slug == "suitability":
            for item in ("context.own_room", "risk.external_risk", "risk.data_security"):
                assert any(href == f"#{item}" for _, href in links), item
        else:  # the suitability checklist's questions, from the plan's page
            assert (
                "Not answered: I have reviewed the data security arrangements for work with "
                "this child.",
                f"/clients/{kid.id}/checklists/suitability#risk.data_security",
            ) in links
