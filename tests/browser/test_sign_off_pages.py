"""The way to a sign-off in Chromium at 1366 px: the therapist asks from the client's page,
the supervisor's home says how many wait and links to them, the supervisor sends the
checklist back with a comment the therapist reads, and signs it off when asked again."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from server.care.checklists import Kind, load_catalogue
from tests.browser.conftest import csrf, make_person, screenshot, serious_violations, sign_in_page
from tests.factories import safe_answer, safe_answers
from tests.helpers import ServerProcess, run_cli

pytestmark = pytest.mark.browser
STAFF = {"width": 1366, "height": 768}
COMMENT = "Please check with mum that she can stay in the next room."


def _needs_sign_off(page: Page, server: ServerProcess, name: str) -> str:
    """Through the API, as the pages would: a client aged 9-11 whose answers need a
    supervisor's sign-off; returns the client's id."""
    catalogue = load_catalogue()
    headers = {"X-CSRF-Token": csrf(page)}
    api = server.url + "/api"
    client = page.request.post(
        f"{api}/clients", data={"display_name": name, "age_band": "9-11"}, headers=headers
    ).json()
    answers = safe_answers(catalogue[Kind.SUITABILITY])
    answers["client.age_competence"] = {"answer": "yes", "rationale": "Ten; parent nearby."}
    for kind, body in (
        ("suitability", answers),
        ("disconnection-plan", safe_answers(catalogue[Kind.DISCONNECTION_PLAN])),
    ):
        assert page.request.put(
            f"{api}/clients/{client['id']}/checklists/{kind}",
            data={"answers": body},
            headers=headers,
        ).ok
    daily = {i.id: safe_answer(i) for i in catalogue[Kind.PRE_SESSION].items() if i.answerable}
    assert page.request.put(f"{api}/checks/today", data={"answers": daily}, headers=headers).ok
    return str(client["id"])


def test_a_sign_off_asked_for_sent_back_and_signed_off(
    browser: Browser, live_server: ServerProcess
) -> None:
    therapist_person = make_person(live_server, "thea", "therapist")
    supervisor_person = make_person(live_server, "suki", "supervisor")
    assert run_cli("supervise", "suki", "thea", env=live_server.env).returncode == 0
    contexts = [browser.new_context(viewport=STAFF) for _ in range(2)]
    therapist, supervisor = (context.new_page() for context in contexts)
    sign_in_page(therapist, live_server, therapist_person)
    client_id = _needs_sign_off(therapist, live_server, "Ash")
    client_url = f"{live_server.url}/clients/{client_id}"

    # the therapist asks, from the client's page
    therapist.goto(client_url)
    section = therapist.locator("#sign-off")
    expect(section).to_contain_text("need a supervisor's sign-off")
    section.get_by_label("A note for your supervisor (optional)").fill("Before Thursday, please.")
    section.get_by_role("button", name="Ask for a sign-off").click()
    expect(therapist.locator("#sign-off")).to_contain_text("You asked for a sign-off on")
    screenshot(therapist, "sign-off-asked-therapist-1366x768")
    assert serious_violations(therapist) == []

    # the supervisor's home says how many wait, and leads to them
    sign_in_page(supervisor, live_server, supervisor_person)
    waiting = supervisor.locator("#sign-offs-waiting")
    expect(waiting).to_contain_text("1 checklist waits for your sign-off")
    expect(waiting).to_contain_text("1 asked for by the therapist")
    screenshot(supervisor, "sign-off-supervisor-home-1366x768")
    assert serious_violations(supervisor) == []
    waiting.get_by_role("link", name="1 checklist waits for your sign-off").click()
    card = supervisor.locator(f"#client-{client_id}")
    expect(card).to_contain_text("thea asked for your sign-off")
    expect(card).to_contain_text("Before Thursday, please.")
    expect(card.get_by_role("button", name="Sign off Ash's checklist")).to_be_visible()
    screenshot(supervisor, "sign-off-queue-1366x768")
    assert serious_violations(supervisor) == []

    # sent back with a comment, which the therapist reads on the client's page and at home
    card.get_by_label("Your comment").fill(COMMENT)
    card.get_by_role("button", name="Send it back to thea").click()
    expect(supervisor.get_by_role("status")).to_contain_text("Sent back Ash's checklist")
    expect(supervisor.locator("main")).to_contain_text("Sent back to the therapist (1)")
    therapist.goto(live_server.url + "/")
    expect(therapist.locator("#sent-back")).to_contain_text(COMMENT)
    therapist.locator("#sent-back").get_by_role("link", name="Ash's checklist").click()
    expect(therapist.locator("#sign-off")).to_contain_text("Sent back by suki")
    expect(therapist.locator("#sign-off")).to_contain_text(COMMENT)
    screenshot(therapist, "sign-off-sent-back-therapist-1366x768")
    assert serious_violations(therapist) == []

    # asked again, and signed off
    therapist.locator("#sign-off").get_by_role("button", name="Ask for a sign-off again").click()
    expect(therapist.locator("#sign-off")).to_contain_text("You asked for a sign-off on")
    supervisor.goto(live_server.url + "/sign-offs")
    card.get_by_label("Your comment").fill("Agreed; review after four sessions.")
    card.get_by_role("button", name="Sign off Ash's checklist").click()
    expect(supervisor.get_by_role("status")).to_contain_text("Signed off Ash's checklist")
    therapist.goto(client_url)
    expect(therapist.locator("#sign-off")).to_have_count(0)
    expect(therapist.locator("main")).to_contain_text("Signed off on")
    for context in contexts:
        context.close()
