"""The young person's ending screen, in Chromium at 390 px: when the therapist ends the
session, the plan agreed for after it (what to do, whom to go to) is shown in warm words, and
nothing of it is kept in the browser's storage."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from server.care.checklists import Kind, load_catalogue
from server.care.plan import AFTER_SESSION
from tests.browser.conftest import csrf, screenshot, serious_violations
from tests.browser.session_flow import (
    admit,
    first_frame_from,
    my_id,
    open_room,
    prepare,
    therapist_page,
    walk_in,
)
from tests.factories import safe_answers
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser
PLAN = "Have a drink and a snack, then do something you enjoy. If you feel wobbly, talk to Nan."


def test_the_young_persons_ending_screen_shows_their_plan_for_after(
    browser: Browser, live_server: ServerProcess
) -> None:
    context, therapist, _ = therapist_page(browser, live_server, "aftercare")
    therapist.on("dialog", lambda dialog: dialog.accept())
    session = prepare(therapist, live_server, name="Wren")
    api, headers = live_server.url + "/api", {"X-CSRF-Token": csrf(therapist)}
    clients = therapist.request.get(f"{api}/clients").json()["clients"]
    client_id = next(c["id"] for c in clients if c["display_name"] == "Wren")
    plan = safe_answers(load_catalogue()[Kind.DISCONNECTION_PLAN])
    plan[AFTER_SESSION] = {"answer": PLAN, "rationale": ""}
    assert therapist.request.put(
        f"{api}/clients/{client_id}/checklists/disconnection-plan",
        data={"answers": plan},
        headers=headers,
    ).ok
    open_room(therapist, live_server, session)

    young = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    walk_in(young, session.links["young_person"])
    young_id = my_id(young)
    admit(therapist, "Young person")
    first_frame_from(therapist, young_id)
    expect(young.locator("#after-plan")).to_be_hidden()  # nothing before the end

    therapist.get_by_role("button", name="End session").click()
    expect(young.get_by_role("heading", name="See you next time")).to_be_visible()
    region = young.get_by_role("region", name="For after the session")
    expect(region).to_be_visible()
    expect(region).to_contain_text(PLAN)
    expect(region).to_contain_text("who you can go to")
    stored = young.evaluate(
        "() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie"
    )
    assert PLAN not in stored and "Nan" not in stored
    width = young.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling on a phone
    screenshot(young, "ending-young-after-plan-390x844")
    assert serious_violations(young) == []
    young.context.close()
    context.close()
