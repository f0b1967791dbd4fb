"""In Chromium: a parent on a phone (390 px) meets a consent page that says whom and what it
is for, fills in the date, and shows every fault at once beside its field; the therapist's
plan then holds the parent's number, and the checklist keeps what is missing in view."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from server.care.checklists import Kind, load_catalogue
from tests.browser.conftest import (
    ARTIFACTS,
    Person,
    csrf,
    screenshot,
    serious_violations,
    sign_in_page,
    start_server,
)
from tests.conftest import PASSWORD
from tests.helpers import ServerProcess, run_cli

pytestmark = pytest.mark.browser
SERVICE = "Northside Children's Therapy"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(tmp_path_factory, "consent", PLAYROOM_SERVICE_NAME=SERVICE)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def jo(server: ServerProcess) -> Person:
    made = run_cli(
        "create-user",
        "--username",
        "jo",
        "--role",
        "therapist",
        "--display-name",
        "Jo Bloggs",
        "--password-stdin",
        env=server.env,
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    return Person("jo", PASSWORD)


def _client(page: Page, server: ServerProcess, name: str, band: str) -> tuple[str, str]:
    """A client made through the API, and a consent link for their parent."""
    headers = {"X-CSRF-Token": csrf(page)}
    made = page.request.post(
        f"{server.url}/api/clients", data={"display_name": name, "age_band": band}, headers=headers
    ).json()
    link = page.request.post(
        f"{server.url}/api/clients/{made['id']}/consent-links", headers=headers
    ).json()
    return made["id"], link["url"]


def _in_view(page: Page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    height = page.viewport_size["height"] if page.viewport_size else 0
    return box is not None and box["y"] >= -1 and box["y"] < height


def test_a_parent_on_a_phone_sees_whom_it_is_for_and_every_fault_at_once(
    browser: Browser, page: Page, server: ServerProcess, jo: Person
) -> None:
    sign_in_page(page, server, jo)
    client_id, consent_url = _client(page, server, "Robin", "9-11")
    phone = browser.new_context(**PHONE)
    parent = phone.new_page()
    parent.goto(consent_url)
    expect(parent.get_by_role("heading", level=1)).to_have_text("Online therapy for Robin")
    expect(parent.locator(".for-whom")).to_contain_text("Jo Bloggs, a therapist at " + SERVICE)
    expect(parent.locator(".filled-date")).to_contain_text("filled in for you")
    assert parent.locator('input[type="date"]').count() == 0
    screenshot(parent, "consent-parent-390")
    assert serious_violations(parent) == []
    wide = browser.new_context(viewport={"width": 1366, "height": 900})
    desk = wide.new_page()
    desk.goto(consent_url)
    desk.get_by_role("button", name="Send my answer").click()
    expect(desk.locator("#error-summary")).to_contain_text("things to put right")
    screenshot(desk, "consent-parent-errors-1366")
    assert serious_violations(desk) == []
    wide.close()

    # one thing typed wrong, most things left out: one send shows them all
    parent.get_by_label("Type your full name").fill("P")
    parent.get_by_label("Phone number").first.fill("call me")
    parent.get_by_role("button", name="Send my answer").click()
    summary = parent.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("things to put right")
    items = summary.locator("li")
    assert items.count() == 9  # three confirmations, a contact's three fields, the answer's three
    text = summary.inner_text()
    for plain in (
        "Choose whether you give consent.",
        "Type your full name, not only an initial.",
        "Say who you are to the child",
        "Type contact 1's phone number in digits",
        "Answer yes or no:",
    ):
        assert plain in text, plain
    for programmer in ("Input should be", "String should", "typed_name", "signed_on"):
        assert programmer not in parent.locator("main").inner_text()
    # each beside its field, and what was typed kept
    expect(parent.locator("#typed-name-error")).to_contain_text("not only an initial")
    expect(parent.get_by_label("Type your full name")).to_have_value("P")
    expect(parent.get_by_label("Phone number").first).to_have_value("call me")
    expect(parent.get_by_label("Type your full name")).to_have_attribute("aria-invalid", "true")
    screenshot(parent, "consent-parent-errors-390")
    assert serious_violations(parent) == []
    # a link in the list takes the parent to the field
    summary.get_by_role("link", name="Choose whether you give consent.").click()
    expect(parent.locator("#decision")).to_be_in_viewport()
    assert parent.evaluate("document.documentElement.scrollWidth") <= 390

    # one more send puts it right
    for item in load_catalogue()[Kind.CONSENT].items():
        if item.answerable:
            parent.locator(f'input[name="confirm:{item.id}"][value="yes"]').check()
    parent.get_by_label("Name").first.fill("Pat Parent")
    parent.get_by_label("How they know Robin").first.fill("mum")
    parent.get_by_label("Phone number").first.fill("07700 900456")
    parent.get_by_label("Yes, I agree to online sessions").check()
    parent.get_by_label("Type your full name").fill("Pat Parent")
    parent.get_by_label("You are Robin's").fill("mum")
    parent.get_by_role("button", name="Send my answer").click()
    expect(parent.get_by_role("status")).to_contain_text(
        "Your consent and contact numbers are saved"
    )
    screenshot(parent, "consent-parent-done-390")
    phone.close()

    # the therapist finds the parent's number in the plan, marked as from the consent form
    page.goto(f"{server.url}/clients/{client_id}/checklists/disconnection-plan")
    expect(page.locator("#answer-plan\\.parent_phone")).to_have_value("07700 900456")
    expect(page.locator("#from-plan\\.parent_phone")).to_contain_text("From the consent form")
    expect(page.locator("#consent-contacts")).to_be_visible()
    screenshot(page, "plan-from-consent")
    assert serious_violations(page) == []


@pytest.mark.parametrize("width, height", [(1366, 900), (390, 844)])
def test_what_is_missing_stays_in_view_and_leads_to_each_question(
    browser: Browser, server: ServerProcess, jo: Person, width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    sign_in_page(page, server, jo)
    client_id, _ = _client(page, server, f"Ash{width}", "9-11")
    page.goto(f"{server.url}/clients/{client_id}/checklists/suitability")
    item = page.locator("#client\\.age_competence")
    expect(item).to_contain_text(
        "Needs a written clinical rationale whatever the answer, as the child is under 12."
    )
    missing = page.locator("#missing")
    expect(missing).to_contain_text("What is missing")
    details = missing.locator("details")
    if width < 900:
        expect(details).not_to_have_attribute("open", "")  # folded to its heading on a phone
        missing.locator("summary").click()
    links = missing.locator(".reasons a")
    expect(links.first).to_have_text("The suitability and risk checklist has not been started.")
    # answering saves, and the list follows without a reload: every question still unanswered
    page.locator("#therapist\\.trained").get_by_label("yes").check()
    expect(page.locator("#save-status")).to_contain_text("Saved (revision 1)")
    expect(links.first).to_contain_text("Not answered:")
    before = links.count()
    assert before > 20
    page.locator("#therapist\\.safe_space").get_by_label("yes").check()
    expect(page.locator("#save-status")).to_contain_text("Saved (revision 2)")
    expect(links).to_have_count(before - 1)
    if width < 900:
        missing.locator("summary").click()  # fold it again to read the form
    # scrolled to the end of the form, the list is still in view
    page.locator("#reviewed").scroll_into_view_if_needed()
    assert _in_view(page, "#missing")
    screenshot(page, f"checklist-missing-{width}")
    page.screenshot(path=str(ARTIFACTS / f"checklist-missing-{width}-scrolled.png"))  # as seen
    assert serious_violations(page) == []
    # and each entry is a link to its question
    if width < 900:
        missing.locator("summary").click()
    link = missing.get_by_role("link", name="Not answered: I have reviewed the data security")
    link.click()
    expect(page).to_have_url(
        f"{server.url}/clients/{client_id}/checklists/suitability#risk.data_security"
    )
    question = page.locator("#risk\\.data_security")
    expect(question).to_be_in_viewport()
    page.screenshot(path=str(ARTIFACTS / f"checklist-link-{width}.png"))
    assert _in_view(page, "#missing")
    box = question.bounding_box()
    cover = missing.bounding_box()
    assert box is not None and cover is not None
    assert box["y"] >= cover["y"] + cover["height"] - 1 or width >= 900  # not hidden under it
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    context.close()
