"""An interpreter joins a session as a guest in Chromium: the therapist invites them from the
session's page, the interpreter checks their camera on their own short page, waits, is
admitted and announced to the others as a guest with their role, and cannot draw."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import screenshot, serious_violations
from tests.browser.session_flow import (
    admit,
    csrf,
    frames_decoded,
    my_id,
    open_room,
    prepare,
    therapist_page,
    walk_in,
)
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser

ANNOUNCED = "Sam Rivers, interpreter, has joined as a guest."


def _no_sideways_scroll(page: Page) -> None:
    for width in (320, 390):
        page.set_viewport_size({"width": width, "height": 760})
        wide = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert wide <= 0, f"{wide}px of sideways scroll at {width}px"


@pytest.mark.hazard("HZ-35")
def test_an_interpreter_is_announced_as_a_guest_and_cannot_draw(
    browser: Browser, live_server: ServerProcess
) -> None:
    context, therapist, _ = therapist_page(browser, live_server, "gwen")
    session = prepare(therapist, live_server, name="Ari")
    # the session's page: the invitation, with the young person's agreement recorded
    therapist.goto(f"{live_server.url}/sessions/{session.id}")
    therapist.get_by_label("Their name").fill("Sam Rivers")
    therapist.get_by_label("Their role").select_option("interpreter")
    therapist.get_by_label("The young person agreed on").fill(datetime.now(UTC).date().isoformat())
    therapist.get_by_role("button", name="Invite the guest").click()
    expect(therapist.locator("#guest-added")).to_be_visible()
    guest_url = therapist.locator('input[id^="guest-url-"]').input_value()
    assert "/guest/" in guest_url and csrf(therapist)
    assert serious_violations(therapist) == []

    open_room(therapist, live_server, session)
    young = browser.new_context(viewport={"width": 1100, "height": 860}).new_page()
    walk_in(young, session.links["young_person"])
    admit(therapist, "Young person")
    tid = my_id(therapist)

    guest_context = browser.new_context(viewport={"width": 390, "height": 760})
    guest = guest_context.new_page()
    guest.goto(guest_url)
    expect(guest.get_by_role("heading", name="Joining as a guest")).to_be_visible()
    expect(guest.locator("#checks-form")).to_have_count(0)  # none of the young person's
    guest.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
    assert serious_violations(guest) == []
    _no_sideways_scroll(guest)
    guest.set_viewport_size({"width": 390, "height": 760})
    guest.get_by_role("button", name="Join the waiting room").click()
    expect(guest.get_by_role("heading", name="You're in the waiting room")).to_be_visible()
    expect(therapist.locator("#waiting")).to_contain_text("Sam Rivers (guest)")
    admit(therapist, "Sam Rivers")

    # announced to the others, as a guest with their role
    expect(young.locator("#guests")).to_have_text(ANNOUNCED)
    expect(therapist.locator("#status")).to_have_text(ANNOUNCED)
    expect(guest.locator("#room-status")).to_contain_text("joined as a guest")
    gid = my_id(guest)
    assert frames_decoded(guest, tid) > 0  # the interpreter sees and hears the session
    assert frames_decoded(young, gid) > 0
    board = "window.playroom.board"
    for page in (therapist, young, guest):
        page.wait_for_function(f"() => {board} && {board}.snapshots.length > 0", timeout=30000)
    screenshot(guest, "guest-in-room-390")
    screenshot(young, "young-with-guest")
    assert serious_violations(guest) == []
    assert serious_violations(young) == []
    _no_sideways_scroll(guest)
    guest.set_viewport_size({"width": 1100, "height": 800})

    # no tools, and a drawing attempt (by hand, or past the page) does not reach the board
    expect(guest.locator(".board-dock")).to_be_hidden()
    box = guest.locator("#board").bounding_box()
    assert box is not None
    guest.mouse.move(box["x"] + 100, box["y"] + 100)
    guest.mouse.down()
    guest.mouse.move(box["x"] + 200, box["y"] + 160, steps=8)
    guest.mouse.up()
    guest.evaluate(
        "() => window.playroom.whiteboard.link.send('board',"
        " {op: 'sticker', id: 'g-sun', name: 'sun', x: 40, y: 40, scale: 2})"
    )
    expect(guest.locator("#board-status")).to_contain_text("not given you the board")
    for page in (therapist, young):
        assert page.evaluate(f"() => {board}.elements.size") == 0
        assert page.evaluate(f"() => {board}.seq") == 0

    # given the board, the interpreter's drawing reaches everyone; taken back, it stops
    therapist.get_by_role("button", name="Give Sam Rivers the board").click()
    expect(guest.locator(".board-dock")).to_be_visible()
    guest.evaluate(
        "() => window.playroom.whiteboard.link.send('board',"
        " {op: 'sticker', id: 'g-sun2', name: 'sun', x: 40, y: 40, scale: 2})"
    )
    young.wait_for_function(f"() => {board}.elements.has('g-sun2')")
    therapist.get_by_role("button", name="Take the board back from Sam Rivers").click()
    expect(guest.locator(".board-dock")).to_be_hidden()

    guest.get_by_role("button", name="Leave").click()
    expect(young.locator("#guests")).to_have_text("Sam Rivers, interpreter, has left.")
    for c in (guest_context, young.context, context):
        c.close()
