"""Removed means out, and the therapist's way to undo it, in Chromium: the young person's page
says kindly that their therapist asked them to leave (and says it again if they open their
link), the therapist's room shows who was removed with "Let them back in", and once let back
the same link goes back to the waiting room."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import screenshot
from tests.browser.session_flow import admit, my_id, open_room, prepare, therapist_page, walk_in
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser

OUT = "Your therapist has asked you to leave this session. They will be in touch."


@pytest.mark.hazard("HZ-02")
def test_the_therapist_lets_back_someone_they_removed(
    browser: Browser, live_server: ServerProcess
) -> None:
    context, therapist, _ = therapist_page(browser, live_server, "lena")
    therapist.set_viewport_size({"width": 1366, "height": 860})
    session = prepare(therapist, live_server, name="Kit")
    open_room(therapist, live_server, session)
    young_context = browser.new_context(viewport={"width": 390, "height": 844})
    young = young_context.new_page()
    url = session.links["young_person"]
    try:
        walk_in(young, url)
        admit(therapist, "Young person")
        my_id(young)
        therapist.get_by_role("button", name="Remove Young person").click()
        expect(young.locator("#ended-note")).to_have_text(OUT)

        out = therapist.locator("#out li")
        expect(out).to_have_count(1)
        expect(out).to_contain_text("The young person was removed")
        let_back = out.get_by_role("button", name="Let the young person back in")
        expect(let_back).to_have_text("Let them back in")
        therapist.locator("#lobby").scroll_into_view_if_needed()
        screenshot(therapist, "therapist-removed-let-back-1366")

        # their link again: told the same, asked nothing
        young.goto(url)
        heading = young.get_by_role("heading", name="Your therapist has asked you to leave")
        expect(heading).to_be_visible()
        expect(young.get_by_text("They will be in touch.")).to_be_visible()
        expect(young.locator("#checks-form")).to_have_count(0)
        screenshot(young, "young-asked-to-leave-390")

        let_back.click()
        expect(out).to_have_count(0)
        expect(therapist.locator("#alerts")).to_contain_text(
            "The young person can come back with the same link, to the waiting room."
        )
        young.goto(url)  # the same link: back through the waiting room
        expect(young.get_by_role("heading", name="Welcome back")).to_be_visible()
        form = young.locator("#checks-form")
        for group in form.locator("fieldset").all():
            group.locator('input[type="radio"]').first.check()
        form.get_by_role("button", name="Back to the waiting room").click()
        expect(young.get_by_role("heading", name="You're in the waiting room")).to_be_visible()
        expect(therapist.locator("#waiting")).to_contain_text("Young person")
    finally:
        young_context.close()
        context.close()
