"""A break in Chromium, both sides: the young person (390 px wide) asks, the therapist starts
one of 2 minutes, both pages show "Break" and the time left with their camera and microphone
paused (not stopped); "I'm back" tells the therapist, who ends it, and both come back."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import screenshot, serious_violations
from tests.browser.session_flow import (
    admit,
    first_frame_from,
    my_id,
    open_room,
    prepare,
    therapist_page,
    walk_in,
)
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser

TRACKS = "() => window.playroom.localTracks()"


def _paused(page: Page, paused: bool) -> None:
    """Every camera and microphone track of the page is live, and off (or on) for the break."""
    page.wait_for_function(
        f"(off) => {{ const t = ({TRACKS})(); "
        "return t.length >= 2 && t.every((x) => x.live && x.enabled === !off); }",
        arg=paused,
    )


def test_a_break_pauses_both_sides_and_ends_for_both(
    browser: Browser, live_server: ServerProcess
) -> None:
    context, therapist, _ = therapist_page(browser, live_server, "bea")
    session = prepare(therapist, live_server, name="Rowan")
    open_room(therapist, live_server, session)
    young = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    walk_in(young, session.links["young_person"])
    young_id = my_id(young)
    admit(therapist, "Young person")
    first_frame_from(therapist, young_id)
    _paused(young, False)
    _paused(therapist, False)

    young.get_by_role("button", name="Break please").click()
    expect(therapist.locator("#alerts")).to_contain_text("asked for a break")
    therapist.get_by_role("button", name="2 min").click()
    for page in (therapist, young):
        banner = page.locator("#break-banner")
        expect(banner).to_be_visible()
        expect(banner.get_by_role("heading", name="Break")).to_be_visible()
        expect(banner.locator("[data-break-left]")).to_have_text(re.compile(r"^(2:00|1:5\d)$"))
        _paused(page, True)
    seconds = [p.evaluate("() => window.playroom.onBreak.secondsLeft") for p in (therapist, young)]
    assert all(100 < s <= 120 for s in seconds) and abs(seconds[0] - seconds[1]) <= 2
    expect(young.locator("#mute")).to_be_disabled()
    expect(young.locator("#break-banner")).to_be_in_viewport()
    screenshot(young, "break-young-390x844")
    screenshot(therapist, "break-therapist-1280x860")
    assert serious_violations(young) == []

    young.get_by_role("button", name="I'm back").click()
    expect(therapist.locator("#alerts")).to_contain_text("is back from the break")
    expect(therapist.locator("#break-banner")).to_contain_text("They say they're back")
    therapist.get_by_role("button", name="End the break").click()
    for page in (therapist, young):
        expect(page.locator("#break-banner")).to_be_hidden()
        _paused(page, False)
    expect(young.locator("#mute")).to_be_enabled()
    young.context.close()
    context.close()
