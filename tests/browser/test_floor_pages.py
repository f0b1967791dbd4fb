"""The group's rules in Chromium, with a therapist, a young person (on a phone) and a parent:
hands raised are listed on the therapist's page in the order they went up, with a hand on
each tile, and said to a screen reader; "Mute everyone", with "People may unmute themselves"
unticked, turns the young person's and the parent's outgoing microphone off
(``track.enabled === false``), holds their Mute button off saying why, and an unmute sent
anyway is refused; a spotlight on the young person shows their video large and first on
the parent's page and on their own. The young person's page passes axe with the hand up and
the microphone held off, and does not scroll sideways at 390 px and 320 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ARTIFACTS, screenshot, serious_violations
from tests.browser.session_flow import admit, live_room, my_id, no_sideways_scroll, walk_in
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser

HELD = (
    "Your therapist has turned microphones off for now. "
    "You can raise your hand or write in the chat."
)
AUDIO_ON = (
    "() => window.playroom.localTracks().filter((t) => t.kind === 'audio').map((t) => t.enabled)"
)


def _target(page: Page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None and box["width"] >= 44 and box["height"] >= 44, box


@pytest.mark.hazard("HZ-34")
def test_hands_in_order_mute_everyone_and_a_spotlight_across_three_pages(
    browser: Browser, live_server: ServerProcess
) -> None:
    room = live_room(browser, live_server, "farah", "Robin")
    therapist, young = room.therapist, room.young
    therapist.on("dialog", lambda dialog: dialog.accept())
    parent_context = browser.new_context(viewport={"width": 1100, "height": 900})
    parent = parent_context.new_page()
    walk_in(parent, room.session.links["parent"])
    pid = my_id(parent)
    admit(therapist, "Parent or carer")
    yid = my_id(young)
    expect(parent.locator("#hand")).to_be_visible()
    young.set_viewport_size({"width": 390, "height": 844})

    # the parent raises a hand, then the young person: the therapist sees them in that order
    parent.locator("#hand").click()
    expect(therapist.locator("#hands li")).to_have_count(1)
    young.get_by_role("button", name="Raise my hand").click()
    hands = therapist.locator("#hands li")
    expect(hands).to_have_count(2)
    expect(hands.nth(0)).to_contain_text("Parent or carer")
    expect(hands.nth(1)).to_contain_text("Young person")
    expect(therapist.locator("#hands-said")).to_have_text(
        "Young person raised their hand (2 of 2)."
    )
    expect(therapist.locator(f'[data-peer="{yid}"] .hand-badge')).to_be_visible()
    expect(therapist.locator(f'[data-peer="{pid}"] .hand-badge')).to_be_visible()
    expect(young.locator("#hand")).to_have_attribute("aria-pressed", "true")
    expect(young.locator("#room-status")).to_have_text(
        "Your hand is up. Your therapist can see it."
    )

    # everyone muted, and not allowed to unmute themselves
    assert young.evaluate(AUDIO_ON) == [True] and parent.evaluate(AUDIO_ON) == [True]
    therapist.get_by_label("People may unmute themselves").uncheck()
    therapist.get_by_role("button", name="Mute everyone").click()
    for page in (young, parent):
        page.wait_for_function(f"() => ({AUDIO_ON})().every((on) => !on)")
        expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#mute")).to_be_disabled()
        expect(page.locator("#room-status")).to_contain_text("turned everyone's microphone off")
    expect(young.locator("#mute")).to_have_accessible_description(HELD)
    # an unmute sent anyway (as a page changed by hand could) is refused; the track stays off
    young.evaluate("() => window.playroom.signalling.send({ type: 'mic', on: true })")
    expect(young.locator("#room-status")).to_have_text(HELD)
    assert young.evaluate(AUDIO_ON) == [False]
    assert therapist.evaluate("window.playroom.floor.muted") is False

    # the therapist lowers the parent's hand: the young person's is first now
    therapist.get_by_role("button", name="Lower Parent or carer's hand").click()
    expect(hands).to_have_count(1)
    expect(hands.nth(0)).to_contain_text("1. Young person")
    expect(parent.locator("#hand")).to_have_attribute("aria-pressed", "false")

    # a spotlight on the young person: large and first on the parent's page and their own
    therapist.get_by_role("button", name="Spotlight Young person").click()
    spotlit = parent.locator(f'[data-peer="{yid}"]')
    expect(spotlit).to_have_class("tile spotlit")
    assert spotlit.evaluate("(t) => getComputedStyle(t).order") == "-1"
    expect(young.locator("#self-tile")).to_have_class("tile self spotlit")
    expect(therapist.locator("#spotlight-who")).to_have_text("In the spotlight: Young person.")

    # the young person's phone, with the hand up and the microphone held off
    _target(young, "#hand")
    no_sideways_scroll(young)
    screenshot(young, "floor-young-390x844")
    screenshot(therapist, "floor-therapist-1280x860")
    therapist.locator("#floor").screenshot(path=str(ARTIFACTS / "floor-therapist-card.png"))
    assert serious_violations(young) == []
    young.get_by_role("button", name="Me (muted)").click()
    expect(young.locator("#mute-why")).to_be_visible()
    assert serious_violations(young) == []
    assert serious_violations(therapist) == []
    young.get_by_role("button", name="Me (muted)").click()
    young.set_viewport_size({"width": 320, "height": 640})
    _target(young, "#hand")
    no_sideways_scroll(young)
    screenshot(young, "floor-young-320x640")
    assert serious_violations(young) == []

    # the spotlight taken away: nobody's video large
    therapist.get_by_role("button", name="Remove spotlight from Young person").click()
    expect(parent.locator(".tile.spotlit")).to_have_count(0)
    expect(young.locator(".tile.spotlit")).to_have_count(0)
    parent_context.close()
    for context in room.contexts:
        context.close()
