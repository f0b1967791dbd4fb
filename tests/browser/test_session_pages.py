"""A live session in Chromium, with fake cameras: the young person's way in, the waiting
room, admission, and video decoded on each side; then a parent joins as a third."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import screenshot, serious_violations
from tests.browser.session_flow import (
    admit,
    first_frame_from,
    frames_decoded,
    my_id,
    open_room,
    prepare,
    therapist_page,
    walk_in,
)
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser


def _checked(page: Page, name: str):  # type: ignore[no-untyped-def]
    def on_step(step: str) -> None:
        screenshot(page, f"{name}-{step}")
        assert serious_violations(page) == [], step

    return on_step


def _hiding_my_picture_hides_it_from_me_only(page: Page, other: Page, pid: str) -> None:
    """ "Hide my picture" takes this person's own tile off their screen, while the other
    page goes on decoding their video; pressed again, the tile is back."""
    button = page.get_by_role("button", name="Hide my picture")
    me = page.locator("[aria-controls=me-panel]")  # on the young person's page, under "Me"
    if me.count():
        me.click()
    tile = page.locator("#self-tile")
    expect(tile).to_be_visible()
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(tile).to_be_hidden()
    decoded = "(id) => (window.playroom.quality[id] || {}).framesDecoded || 0"
    seen = other.evaluate(decoded, pid)
    other.wait_for_function(f"([id, n]) => ({decoded})(id) > n", arg=[pid, seen])
    button.click()
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(tile).to_be_visible()
    if me.count():
        me.click()


@pytest.mark.hazard("HZ-11")
def test_young_person_is_admitted_and_both_see_each_other(
    browser: Browser, live_server: ServerProcess
) -> None:
    context, therapist, _ = therapist_page(browser, live_server, "tara")
    session = prepare(therapist, live_server)
    open_room(therapist, live_server, session)
    young_context = browser.new_context(viewport={"width": 1024, "height": 768})
    young = young_context.new_page()
    walk_in(young, session.links["young_person"], _checked(young, "young"))
    yid, tid = my_id(young), my_id(therapist)

    lobby = therapist.locator("#waiting")
    expect(lobby).to_contain_text("Young person")
    therapist.get_by_role("button", name="Send message to Young person").click()
    expect(young.locator("#waiting-note")).to_contain_text("I'll be with you in two minutes.")
    screenshot(therapist, "therapist-lobby")
    admit(therapist, "Young person")

    first_frame_from(young, tid)
    first_frame_from(therapist, yid)
    assert frames_decoded(young, tid) > 0
    assert frames_decoded(therapist, yid) > 0
    expect(young.get_by_role("button", name="Break please")).to_be_visible()
    for page, other, pid in ((young, therapist, yid), (therapist, young, tid)):
        _hiding_my_picture_hides_it_from_me_only(page, other, pid)
    screenshot(young, "young-room")
    screenshot(therapist, "therapist-room")
    assert serious_violations(young) == []
    assert serious_violations(therapist) == []

    # the discreet signal reaches the therapist only
    young.get_by_role("button", name="It's not private now").click()
    expect(therapist.locator("#alerts")).to_contain_text("NOT PRIVATE")
    expect(young.locator("#room-status")).to_contain_text("Only your therapist was told")
    # the plan agreed in advance appears for the therapist, step by step
    plan = therapist.locator("#plan")
    expect(plan).to_contain_text("not private now")
    plan.get_by_role("button", name="Reached: Do what you agreed").click()
    expect(plan).to_contain_text("Recorded: reached")
    # quick exit: a neutral page at once, and the therapist is told
    young.get_by_role("button", name="Exit now").click()
    expect(young).to_have_title("Times tables")
    assert "join" not in young.url
    expect(therapist.locator("#alerts")).to_contain_text("used the quick exit")
    expect(plan).to_contain_text("used the quick exit")
    expect(plan.get_by_role("link", name="07700 900123").first).to_be_visible()
    screenshot(therapist, "therapist-plan")
    assert serious_violations(therapist) == []
    young_context.close()
    context.close()


def test_three_people_with_a_parent(browser: Browser, live_server: ServerProcess) -> None:
    context, therapist, _ = therapist_page(browser, live_server, "tom")
    session = prepare(therapist, live_server, name="Rue")
    open_room(therapist, live_server, session)
    pages = {}
    for role in ("young_person", "parent"):
        ctx = browser.new_context(viewport={"width": 1024, "height": 768})
        pages[role] = ctx.new_page()
        walk_in(pages[role], session.links[role])
    expect(therapist.locator("#waiting")).to_contain_text("Parent or carer")
    ids = {role: my_id(page) for role, page in pages.items()} | {"therapist": my_id(therapist)}
    admit(therapist, "Young person")
    admit(therapist, "Parent or carer")
    everyone = {"therapist": therapist, **pages}
    for role, page in everyone.items():
        for other, other_id in ids.items():
            if other != role:
                assert frames_decoded(page, other_id) > 0, f"{role} does not see {other}"
    screenshot(therapist, "therapist-room-three")
    # the therapist ends the session: everyone sees that it ended
    therapist.get_by_role("button", name="End session").click()
    for page in pages.values():
        expect(page.get_by_role("heading", name="See you next time")).to_be_visible()
    screenshot(pages["young_person"], "young-ended")
    context.close()


def test_the_young_person_rates_the_session_and_the_therapist_records_after_it(
    browser: Browser, live_server: ServerProcess
) -> None:
    context, therapist, _ = therapist_page(browser, live_server, "remy")
    session = prepare(therapist, live_server, name="Ash")
    open_room(therapist, live_server, session)
    young = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    walk_in(young, session.links["young_person"])
    my_id(young)
    admit(therapist, "Young person")
    therapist.get_by_role("button", name="Ask how it went").click()
    expect(young.get_by_role("heading", name="How was today?")).to_be_focused()
    screenshot(young, "young-rating")
    assert serious_violations(young) == []
    young.get_by_role("button", name="Good", exact=True).click()
    expect(young.locator("#room-status")).to_contain_text("Thank you")
    expect(therapist.locator("#alerts")).to_contain_text("rated today 4 of 4")
    therapist.get_by_role("button", name="End session").click()
    expect(young.get_by_role("heading", name="See you next time")).to_be_visible()

    therapist.goto(f"{live_server.url}/sessions/{session.id}")
    after = therapist.locator("section.after")
    expect(after).to_contain_text("rated the session 4 of 4")
    after.get_by_label("Your reflection").fill("Settled quickly; used the board to talk.")
    after.get_by_label("Goal 1").fill("Feeling calmer at bedtime")
    after.get_by_label("Progress").first.fill("5")
    after.get_by_label("Risk level now").select_option("low")
    after.get_by_role("button", name="Save to the record").click()
    expect(therapist.locator("section.after")).to_contain_text("Saved")
    expect(therapist.locator("section.after")).to_contain_text("Feeling calmer at bedtime: 5 of 10")
    screenshot(therapist, "therapist-after-session")
    assert serious_violations(therapist) == []
    therapist.goto(f"{live_server.url}/records/{session.id}")
    timeline = therapist.locator("#timeline")
    expect(timeline).to_contain_text("Session rated by the young person: 4 of 4")
    expect(timeline).to_contain_text("Risk level updated to low")
    young.context.close()
    context.close()
