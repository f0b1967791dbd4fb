"""The gate end to end in Chromium: an under-12 client is blocked with reasons, the parent
consents on a phone, the supervisor signs off, and the gate opens."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from server.care.checklists import Kind, load_catalogue
from tests.browser.conftest import csrf, make_person, screenshot, serious_violations, sign_in_page
from tests.factories import safe_answer, safe_answers
from tests.helpers import ServerProcess, run_cli

pytestmark = pytest.mark.browser


def test_under_twelve_client_from_blocked_to_open(
    browser: Browser, page: Page, live_server: ServerProcess
) -> None:
    therapist = make_person(live_server, "theo", "therapist")
    supervisor = make_person(live_server, "suzy", "supervisor")
    assert run_cli("supervise", "suzy", "theo", env=live_server.env).returncode == 0
    catalogue = load_catalogue()

    # the therapist adds a client aged 9-11: the gate is closed, with every reason shown
    sign_in_page(page, live_server, therapist)
    page.get_by_role("link", name="Add a client").first.click()
    page.get_by_label("Chosen name or initials").fill("Ash")
    page.get_by_label("Age band").select_option("9-11")
    page.get_by_role("button", name="Add client").click()
    expect(page.get_by_role("heading", name="Ash", exact=True)).to_be_visible()
    gate = page.locator("#gate")
    expect(gate).to_contain_text("Not yet")
    expect(gate).to_contain_text("has not been started")
    expect(gate).to_contain_text("has not given consent")
    screenshot(page, "client-blocked")
    assert serious_violations(page) == []
    client_url = page.url
    client_id = client_url.rsplit("/", 1)[1]

    # the checklist saves as you go
    page.get_by_role("link", name=catalogue[Kind.SUITABILITY].title).click()
    trained = page.locator("#therapist\\.trained")
    trained.get_by_label("yes").check()
    expect(page.locator("#save-status")).to_contain_text("Saved (revision 1)")
    screenshot(page, "checklist")
    assert serious_violations(page) == []

    # the rest through the API, as the page's script would send it
    token = csrf(page)
    answers = safe_answers(catalogue[Kind.SUITABILITY])
    answers["client.age_competence"] = {
        "answer": "yes",
        "rationale": "Ten; confident online; parent nearby.",
    }
    for kind, body in (
        ("suitability", answers),
        ("disconnection-plan", safe_answers(catalogue[Kind.DISCONNECTION_PLAN])),
    ):
        resp = page.request.put(
            f"{live_server.url}/api/clients/{client_id}/checklists/{kind}",
            data={"answers": body},
            headers={"X-CSRF-Token": token},
        )
        assert resp.ok, resp.text()
    daily = {i.id: safe_answer(i) for i in catalogue[Kind.PRE_SESSION].items() if i.answerable}
    assert page.request.put(
        f"{live_server.url}/api/checks/today",
        data={"answers": daily},
        headers={"X-CSRF-Token": token},
    ).ok

    # a consent link, opened by the parent on a phone
    page.goto(client_url)
    page.get_by_role("button", name="Make a consent link").click()
    screenshot(page, "consent-link")
    consent_url = page.get_by_label("Consent link").input_value()
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    parent = phone.new_page()
    parent.goto(consent_url)
    expect(parent.get_by_role("heading", level=1)).to_be_visible()
    screenshot(parent, "consent-phone")
    assert serious_violations(parent) == []
    for item in catalogue[Kind.CONSENT].items():
        if item.answerable:
            parent.locator(f'input[name="confirm:{item.id}"][value="yes"]').check()
    parent.get_by_label("Name").first.fill("Pat Parent")
    parent.get_by_label("How they know Ash").first.fill("mum")
    parent.get_by_label("Phone number").first.fill("07700 900456")
    parent.get_by_label("Yes, I agree to online sessions").check()
    parent.get_by_label("Type your full name").first.fill("Pat Parent")
    parent.get_by_label("You are Ash's").fill("mum")
    parent.get_by_role("button", name="Send my answer").click()
    expect(parent.get_by_role("status")).to_contain_text(
        "Your consent and contact numbers are saved"
    )
    screenshot(parent, "consent-done")
    assert serious_violations(parent) == []
    phone.close()

    # now only the supervisor's sign-off is missing
    page.goto(client_url)
    expect(gate).to_contain_text("Waiting for supervisor sign-off")
    expect(page.locator("#consent")).to_contain_text("consent given")

    sup_context = browser.new_context(viewport={"width": 1100, "height": 800})
    sup = sup_context.new_page()
    sign_in_page(sup, live_server, supervisor)
    sup.get_by_role("link", name="Sign-offs").first.click()
    expect(sup.get_by_role("heading", name="Ash")).to_be_visible()
    expect(sup.locator("main")).to_contain_text("Ten; confident online; parent nearby.")
    screenshot(sup, "sign-off-queue")
    assert serious_violations(sup) == []
    sup.get_by_label("Your comment").fill("Agreed; review after four sessions.")
    sup.get_by_role("button", name="Sign off Ash's checklist").click()
    expect(sup.get_by_role("status")).to_contain_text("Signed off")
    sup_context.close()

    page.reload()
    expect(gate).to_contain_text("Yes: the gate is open")
    screenshot(page, "client-open")
    assert serious_violations(page) == []
