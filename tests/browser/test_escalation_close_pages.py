"""An escalation in Chromium at 1366 px, seen through to its end: the supervisor's card names
the young person (by their chosen name) and the therapist, and keeps both once acknowledged;
the therapist's panel says at once that nobody is on shift (and on a phone too), then who
acknowledged it and when, as it happens; the supervisor closes it with a short note, and the
session's timeline shows the closing."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import make_person, screenshot, serious_violations, sign_in_page
from tests.browser.session_flow import open_room, prepare
from tests.helpers import ServerProcess, run_cli

pytestmark = pytest.mark.browser
STAFF = {"width": 1366, "height": 768}
NOTE = "Rang mum: Robin is safe at home, GP tomorrow."


def _staff_page(
    browser: Browser, server: ServerProcess, name: str, role: str
) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=STAFF)
    page = context.new_page()
    sign_in_page(page, server, make_person(server, name, role))
    return context, page


@pytest.mark.hazard("HZ-05", "HZ-20")
def test_an_escalation_is_acknowledged_and_closed_with_a_note(
    browser: Browser, live_server: ServerProcess
) -> None:
    ther_context, therapist = _staff_page(browser, live_server, "tamsin", "therapist")
    sup_context, supervisor = _staff_page(browser, live_server, "sol", "supervisor")
    assert run_cli("supervise", "sol", "tamsin", env=live_server.env).returncode == 0
    supervisor.get_by_role("link", name="Escalations").click()
    expect(supervisor.locator("#watch-status")).to_contain_text("Watching")
    session = prepare(therapist, live_server, name="Robin")
    open_room(therapist, live_server, session)

    therapist.get_by_label("Concern", exact=True).select_option("risk_to_self")
    therapist.get_by_role("button", name="Escalate now").click()
    panel = therapist.locator("#escalation")
    # sol is off shift: the therapist is told at once, and who was alerted all the same
    expect(panel).to_contain_text(
        "Nobody is on shift: follow your service's out-of-hours procedure."
    )
    expect(panel).to_contain_text("Alerted off shift:")
    expect(therapist.locator("#alerts")).to_contain_text("Nobody is on shift")
    therapist.set_viewport_size({"width": 390, "height": 844})
    panel.scroll_into_view_if_needed()
    expect(panel).to_be_in_viewport()
    assert therapist.evaluate("() => document.documentElement.scrollWidth") <= 390
    screenshot(therapist, "escalation-nobody-on-shift-390x844")
    therapist.set_viewport_size(STAFF)

    # the card says who it is about and whose it is
    card = supervisor.locator("#escalations li").first
    expect(card.get_by_role("heading")).to_have_text("risk to self: Robin")
    expect(card).to_contain_text("Therapist: tamsin")
    expect(card).to_contain_text("Open: nobody has acknowledged it yet.")
    card.get_by_role("button", name="Acknowledge").click()
    expect(card).to_contain_text("Acknowledged by sol at")
    expect(card.get_by_role("heading")).to_have_text("risk to self: Robin")
    expect(card).to_contain_text("Therapist: tamsin")
    screenshot(supervisor, "escalation-card-acknowledged-1366x768")
    assert serious_violations(supervisor) == []

    # the therapist's panel says who acknowledged it, and when, without a reload
    expect(panel).to_contain_text("acknowledged by sol at")
    expect(panel).not_to_contain_text("Nobody is on shift")
    screenshot(therapist, "escalation-panel-acknowledged-1366x768")

    # closed with a note: the card and the panel say so, and the timeline has it
    card.get_by_label("What was done (a short note)").fill(NOTE)
    card.get_by_role("button", name="Close the escalation").click()
    expect(card).to_contain_text("Closed by sol at")
    expect(card).to_contain_text(NOTE)
    expect(card.get_by_role("button")).to_have_count(0)
    expect(panel).to_contain_text("closed by sol at")
    screenshot(supervisor, "escalation-card-closed-1366x768")
    assert serious_violations(supervisor) == []
    card.get_by_role("link", name="Open the session record").click()
    timeline = supervisor.locator("#timeline")
    expect(timeline).to_contain_text("Escalation acknowledged")
    expect(timeline).to_contain_text("Escalation closed")
    supervisor.goto(live_server.url + "/escalations")
    expect(supervisor.locator("#none")).to_be_visible()  # nothing open is left
    sup_context.close()
    ther_context.close()
