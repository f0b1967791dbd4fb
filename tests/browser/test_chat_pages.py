"""The room's chat in Chromium: the young person (on a 390 px phone) opens "Chat" from the
bar above the board and writes to their therapist only, as the choice starts; the message
reaches the therapist's page, not the parent's, with its link as plain text; both pages pass
axe with the panel open, and the young person's reflows at 320 px. Once the young person
leaves, their page holds nothing of it (nor does their browser's storage), and the session's
record shows it to the therapist after the session."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import ARTIFACTS, screenshot, serious_violations
from tests.browser.session_flow import admit, live_room, no_sideways_scroll, walk_in
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser

SECRET = "I'm scared of my dad. https://example.org/help"
# what a browser could keep after the page: storage, databases, caches
KEPT = """async () => ({
  local: localStorage.length,
  session: sessionStorage.length,
  databases: (await indexedDB.databases()).length,
  caches: (await caches.keys()).length,
})"""


@pytest.mark.hazard("HZ-26")
def test_a_private_message_reaches_the_therapist_only_and_leaves_nothing_behind(
    browser: Browser, live_server: ServerProcess
) -> None:
    room = live_room(browser, live_server, "chloe", "Jules")
    therapist, young = room.therapist, room.young
    therapist.on("dialog", lambda dialog: dialog.accept())
    parent_context = browser.new_context(viewport={"width": 1100, "height": 900})
    parent = parent_context.new_page()
    walk_in(parent, room.session.links["parent"])
    admit(therapist, "Parent or carer")
    expect(parent.get_by_role("button", name="Chat")).to_be_visible()

    young.set_viewport_size({"width": 390, "height": 844})
    chat = young.get_by_role("button", name="Chat")
    chat.click()
    panel = young.locator("#chat-panel")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("radio", name="Only my therapist")).to_be_checked()
    panel.get_by_label("Write a message").fill(SECRET)
    panel.get_by_role("button", name="Send").click()
    mine = panel.locator(".chat-message")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("only to your therapist")
    expect(panel.get_by_label("Write a message")).to_have_value("")

    theirs = therapist.locator("#chat-panel .chat-message")
    expect(theirs).to_have_count(1)
    expect(theirs).to_contain_text(SECRET)
    expect(theirs).to_contain_text("only to you")
    # wherever the side panel is scrolled, the alerts at its top say a private message came
    expect(therapist.locator("#alerts")).to_contain_text("wrote to you privately in the chat")
    assert therapist.locator("#chat-panel a").count() == 0  # the link is text, not a link
    # the therapist then writes to everyone: the parent gets that one, and only that one
    therapist.locator("#chat-panel").get_by_label("Your message").fill("Shall we all draw?")
    therapist.locator("#chat-panel").get_by_role("button", name="Send").click()
    parent.get_by_role("button", name="Chat").click()
    parents = parent.locator("#chat-panel .chat-message")
    expect(parents).to_have_count(1)
    expect(parents).to_contain_text("Shall we all draw?")
    assert SECRET not in parent.content()
    expect(young.locator("#chat-panel .chat-message")).to_have_count(2)

    no_sideways_scroll(young)
    screenshot(young, "chat-young-390x844")
    screenshot(therapist, "chat-therapist-1280x860")
    # the side panel scrolls on its own: the card itself, as the therapist sees it there
    therapist.locator("#chat-panel").screenshot(path=str(ARTIFACTS / "chat-therapist-card.png"))
    assert serious_violations(young) == []
    assert serious_violations(therapist) == []
    young.set_viewport_size({"width": 320, "height": 640})
    expect(panel).to_be_visible()
    no_sideways_scroll(young)
    screenshot(young, "chat-young-320x640")

    # the young person leaves: nothing of the chat on their page, nor in their browser
    chat.click()
    young.get_by_role("button", name="Me").click()
    young.get_by_role("button", name="Leave").click()
    expect(young.get_by_role("heading", name="See you next time")).to_be_visible()
    assert young.locator("#chat-panel .chat-message").count() == 0
    assert SECRET not in young.content() and "Shall we all draw?" not in young.content()
    assert young.evaluate(KEPT) == {"local": 0, "session": 0, "databases": 0, "caches": 0}

    # after the session, the therapist's record of it shows who wrote what, to whom
    therapist.get_by_role("button", name="End session").click()
    expect(therapist.get_by_role("heading", name="The session has ended")).to_be_visible()
    therapist.goto(f"{live_server.url}/records/{room.session.id}")
    record = therapist.locator("#chat")
    expect(record).to_contain_text(SECRET)
    expect(record.locator(".chat-line.private")).to_contain_text("only")
    assert record.locator("a").count() == 0
    screenshot(therapist, "chat-record-1280x860")
    parent_context.close()
    for context in room.contexts:
        context.close()
