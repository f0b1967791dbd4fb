"""The way in through the gate, in Chromium: with no consent, the session page offers no link,
the link asks the young person nothing and says kindly that the session cannot start, and
"Go to the room" shows what is missing instead of the room, with no camera. A young person
waiting when the gate closes is shown to the therapist on the room page, and told kindly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import csrf, screenshot, serious_violations
from tests.browser.session_flow import Session, prepare, therapist_page, walk_in
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
WIDTHS = (390, 1366)


def blocked_session(page: Page, server: ServerProcess) -> tuple[str, Session]:
    """A 14-15-year-old with no consent and no checklist, and a session in a minute, as the
    therapist's pages would make them."""
    headers = {"X-CSRF-Token": csrf(page)}
    api = server.url + "/api"
    client = page.request.post(
        f"{api}/clients", data={"display_name": "Kit", "age_band": "14-15"}, headers=headers
    ).json()
    made = page.request.post(
        f"{api}/clients/{client['id']}/sessions",
        data={"starts_at": (datetime.now(UTC) + timedelta(minutes=1)).isoformat()},
        headers=headers,
    ).json()
    links = {link["role"]: link["url"] for link in made["join_links"]}
    return client["id"], Session(made["id"], links)


def at_widths(page: Page, name: str) -> None:
    """A screenshot at a phone's width and a laptop's, with no serious WCAG fault at either."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, f"{name}-{width}")
        assert serious_violations(page) == [], (name, width)
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), (name, width)


@pytest.mark.hazard("HZ-03")
def test_no_consent_no_link_no_questions_and_no_room(
    browser: Browser, live_server: ServerProcess
) -> None:
    context, therapist, _ = therapist_page(browser, live_server, "gwen")
    client_id, session = blocked_session(therapist, live_server)

    # the session page: no link, no QR code, but what is missing, each a link to put it right
    therapist.goto(f"{live_server.url}/sessions/{session.id}")
    links = therapist.locator("#no-links")
    expect(links).to_contain_text("No link to send yet")
    expect(therapist.locator("img.qr")).to_have_count(0)
    expect(therapist.get_by_role("button", name="Copy link")).to_have_count(0)
    consent = links.get_by_role("link", name="A parent or carer has not given consent yet.")
    expect(consent).to_have_attribute("href", f"/clients/{client_id}#consent")
    at_widths(therapist, "session-no-link")

    # the link itself, on the young person's phone: nothing asked, a kind word
    phone = browser.new_context(**PHONE)
    young = phone.new_page()
    young.goto(session.links["young_person"])
    expect(young.get_by_role("heading", name="Today's session cannot start")).to_be_visible()
    expect(young.locator("main")).to_contain_text("Your therapist will be in touch with you.")
    expect(young.get_by_role("button", name="I've read this. Next")).to_have_count(0)
    expect(young.locator("form")).to_have_count(0)
    at_widths(young, "join-cannot-start")
    phone.close()

    # "Go to the room": what is missing, with links; no room, no camera
    therapist.set_viewport_size({"width": 1366, "height": 900})
    therapist.goto(f"{live_server.url}/sessions/{session.id}")
    therapist.get_by_role("link", name="Go to the room").click()
    expect(therapist.get_by_role("heading", name="The room cannot open yet")).to_be_visible()
    expect(therapist.locator("#waiting-room")).to_contain_text("Nobody is waiting.")
    gate = therapist.locator("#gate")
    expect(
        gate.get_by_role("link", name="Today's pre-session checks have not been done.")
    ).to_be_visible()
    expect(therapist.locator("video")).to_have_count(0)
    assert therapist.evaluate("typeof window.playroom") == "undefined"  # no room script ran
    at_widths(therapist, "room-closed")
    context.close()


def _close_the_gate(page: Page, server: ServerProcess, client_id: str) -> None:
    """The therapist revises the checklist: the young person's room is not their own now."""
    resp = page.request.put(
        f"{server.url}/api/clients/{client_id}/checklists/suitability",
        data={"answers": {"context.own_room": {"answer": "no", "rationale": ""}}},
        headers={"X-CSRF-Token": csrf(page)},
    )
    assert resp.ok, resp.text()


def _client_of(page: Page, server: ServerProcess, session: Session) -> str:
    page.goto(f"{server.url}/sessions/{session.id}")
    href = page.get_by_role("link", name="Back to").get_attribute("href") or ""
    return href.rsplit("/", 1)[1]


@pytest.mark.hazard("HZ-03", "HZ-08")
def test_the_therapist_sees_who_waits_when_the_gate_closes(
    browser: Browser, live_server: ServerProcess
) -> None:
    context, therapist, _ = therapist_page(browser, live_server, "hal")
    session = prepare(therapist, live_server, name="Lou")
    young_context = browser.new_context(viewport={"width": 1024, "height": 768})
    young = young_context.new_page()
    walk_in(young, session.links["young_person"])
    _close_the_gate(therapist, live_server, _client_of(therapist, live_server, session))

    therapist.goto(f"{live_server.url}/sessions/{session.id}/room")
    expect(therapist.get_by_role("heading", name="The room cannot open yet")).to_be_visible()
    waiting = therapist.locator("#waiting-room")
    expect(waiting).to_contain_text("The young person is waiting.")
    expect(waiting).to_contain_text("today's session cannot start")
    expect(therapist.locator("#gate")).to_contain_text("Blocks online work")
    expect(therapist.get_by_role("button", name="Cancel the session")).to_be_visible()
    at_widths(therapist, "room-closed-waiting")
    context.close()
    young_context.close()


@pytest.mark.hazard("HZ-03")
def test_a_waiting_young_person_is_told_kindly_when_the_gate_closes(
    browser: Browser, live_server: ServerProcess
) -> None:
    context, therapist, _ = therapist_page(browser, live_server, "ivy")
    session = prepare(therapist, live_server, name="Mo")
    young_context = browser.new_context(**PHONE)
    young = young_context.new_page()
    walk_in(young, session.links["young_person"])
    _close_the_gate(therapist, live_server, _client_of(therapist, live_server, session))
    # the gate is asked again within 5 s, and the page pings every 2 s
    expect(young.locator("main")).to_contain_text("Today's session cannot start", timeout=15000)
    expect(young.locator("main")).to_contain_text("Your therapist will be in touch with you.")
    screenshot(young, "young-cannot-start-390")
    assert serious_violations(young) == []
    context.close()
    young_context.close()
