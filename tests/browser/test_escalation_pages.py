"""A supervisor goes on shift from their home page (on a phone, 390 px); a therapist
escalates in the room; the supervisor's dashboard shows it at once, and the supervisor
acknowledges it; the therapist sees who it reached, the numbers and the acknowledgement. The
supervisor then opens the session's record, verifies its log and exports it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import make_person, screenshot, serious_violations, sign_in_page
from tests.browser.session_flow import admit, my_id, open_room, prepare, therapist_page, walk_in
from tests.helpers import ServerProcess, run_cli

pytestmark = pytest.mark.browser


@pytest.mark.hazard("HZ-05", "HZ-20")
def test_a_live_escalation_is_acknowledged(browser: Browser, live_server: ServerProcess) -> None:
    context, therapist, _ = therapist_page(browser, live_server, "esme")
    supervisor_person = make_person(live_server, "sam.sup", "supervisor")
    assert run_cli("supervise", "sam.sup", "esme", env=live_server.env).returncode == 0
    sup_context = browser.new_context(viewport={"width": 390, "height": 844})
    supervisor = sup_context.new_page()
    sign_in_page(supervisor, live_server, supervisor_person)
    shift = supervisor.locator("#shift")
    expect(shift).to_contain_text("You are off shift")
    shift.get_by_role("button", name="Go on shift").click()
    expect(shift).to_contain_text("You are on shift")
    expect(shift.get_by_role("button", name="Go off shift")).to_be_visible()
    assert supervisor.evaluate("() => document.documentElement.scrollWidth") <= 390
    screenshot(supervisor, "supervisor-home-on-shift-390x844")
    assert serious_violations(supervisor) == []
    supervisor.set_viewport_size({"width": 1100, "height": 800})
    supervisor.get_by_role("link", name="Escalations").click()
    expect(supervisor.locator("#watch-status")).to_contain_text("Watching")

    session = prepare(therapist, live_server, name="Noor")
    open_room(therapist, live_server, session)
    young = browser.new_context().new_page()
    walk_in(young, session.links["young_person"])
    my_id(young)
    admit(therapist, "Young person")

    therapist.get_by_label("Concern", exact=True).select_option("risk_from_others")
    therapist.get_by_role("button", name="Escalate now").click()
    info = therapist.locator("#escalation")
    expect(info).to_contain_text("Alerted, on shift: sam.sup.")  # who it reached, by name
    expect(info).to_contain_text("07700 900456")  # the parent's number, from the consent
    expect(info).to_contain_text("home")  # where the young person said they are

    alert = supervisor.locator("#escalations li").first
    expect(alert).to_contain_text("risk from others")
    screenshot(supervisor, "supervisor-escalation")
    assert serious_violations(supervisor) == []
    alert.get_by_role("button", name="Acknowledge").click()
    expect(therapist.locator("#alerts")).to_contain_text("acknowledged by sam.sup")
    expect(alert).to_contain_text("Acknowledged by sam.sup")
    screenshot(therapist, "therapist-escalation")

    # the record of the session, while it is still going on
    alert.get_by_role("link", name="Open the session record").click()
    expect(supervisor.get_by_role("heading", name="Timeline")).to_be_visible()
    timeline = supervisor.locator("#timeline")
    expect(timeline).to_contain_text("ESCALATION raised: risk from others")
    expect(timeline).to_contain_text("Escalation acknowledged")
    expect(timeline).to_contain_text("Admitted the young person")
    supervisor.get_by_role("button", name="Verify the log").click()
    expect(supervisor.locator("#verification")).to_contain_text("The log is intact")
    screenshot(supervisor, "supervisor-session-record")
    assert serious_violations(supervisor) == []
    with supervisor.expect_download() as download:
        supervisor.get_by_role("link", name="Export as JSON").click()
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["verification"]["intact"]
    assert any(e["kind"] == "escalation.acknowledged" for e in exported["timeline"])
    supervisor.goto(f"{live_server.url}/records?flag=escalation")
    expect(supervisor.locator("table.records")).to_contain_text("Noor")
    screenshot(supervisor, "supervisor-records")
    assert serious_violations(supervisor) == []
    supervisor.get_by_role("link", name="Reports").click()
    # the session is still going on: no session has ended yet, so nothing is shown or hidden
    expect(supervisor.locator("#figures")).to_contain_text("none yet")
    expect(supervisor.locator("#figures")).not_to_contain_text("fewer than")
    screenshot(supervisor, "supervisor-reports")
    assert serious_violations(supervisor) == []
    young.context.close()
    sup_context.close()
    context.close()
