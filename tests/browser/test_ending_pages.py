"""The way out of a session, for each person, in Chromium: the therapist ends it and the room
closes cleanly (nothing live left: camera, microphone, connections, reconnecting) and leads
to the after-session notes; the young person's link then says goodbye rather than refusing;
the young person sees "Clear board" only while the therapist allows it; and Back after
verifying a session's log goes where it came from.

This module's server has a 1 s WebSocket heartbeat, so that "a few heartbeats" is a few
seconds: long enough for a page that would reconnect (its first try comes within 0.6 s) to
have done so."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import screenshot, serious_violations, start_server
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
HEARTBEAT = 1.0

# Everything live a page makes, kept where a test can look at it whatever the page's own
# scripts do with it: each camera or microphone track, each track arriving from a peer, each
# RTCPeerConnection and each WebSocket, and the code each socket was closed with.
WATCH_LIVE = """
(() => {
  const live = { tracks: [], connections: [], sockets: [], closes: [] };
  window.watched = live;
  const media = navigator.mediaDevices;
  const getUserMedia = media.getUserMedia.bind(media);
  media.getUserMedia = async (constraints) => {
    const stream = await getUserMedia(constraints);
    live.tracks.push(...stream.getTracks());
    return stream;
  };
  const PeerConnection = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends PeerConnection {
    constructor(...args) {
      super(...args);
      live.connections.push(this);
      this.addEventListener("track", (event) => live.tracks.push(event.track));
    }
  };
  const Socket = window.WebSocket;
  window.WebSocket = class extends Socket {
    constructor(...args) {
      super(...args);
      live.sockets.push(this);
      this.addEventListener("close", (event) => live.closes.push(event.code));
    }
  };
})();
"""
LIVE_TRACKS = "() => window.watched.tracks.filter((t) => t.readyState === 'live').length"
OPEN_CONNECTIONS = (
    "() => window.watched.connections.filter((pc) => pc.connectionState !== 'closed').length"
)
OPEN_SOCKETS = "() => window.watched.sockets.filter((ws) => ws.readyState !== 3).length"
# every text the room's status line shows, from now on
RECORD_STATUS = (
    "() => { const s = document.getElementById('status'); window.said = [];"
    " new MutationObserver(() => window.said.push(s.textContent))"
    ".observe(s, { childList: true, characterData: true, subtree: true }); }"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(
        tmp_path_factory, "ending", PLAYROOM_HEARTBEAT_SECONDS=str(int(HEARTBEAT))
    )
    yield running
    running.stop()


def _stored(page: Page, room_url: str, *, allowed: bool) -> None:
    """Wait until the session's row keeps whether others may clear the board as ``allowed``
    (the room page's box is ticked as the row has it)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        html = page.request.get(room_url).text()
        if ("data-allow-clear checked" in html) is allowed:
            return
        time.sleep(0.1)
    raise AssertionError("the setting was not stored")


def _young_in_room(browser: Browser, therapist: Page, url: str) -> Page:
    young = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    walk_in(young, url)
    young_id = my_id(young)
    admit(therapist, "Young person")
    first_frame_from(therapist, young_id)
    return young


def test_ending_closes_the_therapists_room_and_leads_to_the_notes(
    browser: Browser, server: ServerProcess
) -> None:
    context, therapist, _ = therapist_page(browser, server, "erin")
    asked: list[str] = []
    therapist.on("dialog", lambda dialog: asked.append(dialog.message))
    therapist.add_init_script(WATCH_LIVE)
    session = prepare(therapist, server, name="Kit")
    open_room(therapist, server, session)
    young = _young_in_room(browser, therapist, session.links["young_person"])
    # the young person leaves by the quick exit: the plan starts, with its countdowns
    young.get_by_role("button", name="Exit now").click()
    expect(therapist.locator("#plan")).to_contain_text("used the quick exit")
    expect(therapist.locator("#plan .due").first).to_contain_text("due")
    assert therapist.evaluate(LIVE_TRACKS) >= 2  # the therapist's camera and microphone
    sockets = therapist.evaluate("() => window.watched.sockets.length")
    therapist.evaluate(RECORD_STATUS)

    therapist.get_by_role("button", name="End session").click()
    therapist.wait_for_function("() => window.watched.closes.length > 0")  # the socket went
    # a few heartbeats: long enough for any reconnecting, a ping or a countdown to show
    therapist.wait_for_timeout(3 * HEARTBEAT * 1000)
    assert therapist.evaluate(LIVE_TRACKS) == 0
    assert therapist.evaluate(OPEN_CONNECTIONS) == 0
    assert therapist.evaluate(OPEN_SOCKETS) == 0
    assert therapist.evaluate("() => window.watched.sockets.length") == sockets  # none anew
    said = therapist.evaluate("() => window.said")
    assert not [s for s in said if "Reconnecting" in s or "Disconnected" in s], said
    alerts = therapist.locator("#alerts").inner_text()
    for refusal in ("can no longer be resumed", "Join or open a room first", "has ended"):
        assert refusal not in alerts
    ended = therapist.get_by_role("heading", name="The session has ended")
    expect(ended).to_be_visible()
    expect(ended).to_be_focused()
    # the plan stays to read, its numbers too, but counts down no more and records nothing
    plan = therapist.locator("#plan")
    expect(plan).to_contain_text("The session has ended")
    expect(plan.locator(".due")).to_have_count(0)
    expect(plan.get_by_role("button")).to_have_count(0)
    expect(therapist.get_by_role("link", name="07700 900123").first).to_be_visible()
    # nothing of the live room is offered any more
    for control in ("End session", "Mute", "Ask how it went", "Escalate now", "Clear board"):
        expect(therapist.get_by_role("button", name=control)).to_have_count(0)
    screenshot(therapist, "ending-therapist-1280x860")
    assert serious_violations(therapist) == []
    therapist.set_viewport_size({"width": 390, "height": 844})
    expect(ended).to_be_in_viewport()
    screenshot(therapist, "ending-therapist-390x844")
    therapist.set_viewport_size({"width": 1280, "height": 860})

    # its main action: the after-session notes
    therapist.get_by_role("link", name="Write your after-session notes").click()
    therapist.wait_for_url(f"**/sessions/{session.id}#after-heading")
    expect(therapist.get_by_role("heading", name="After the session")).to_be_in_viewport()
    expect(therapist.get_by_label("Your reflection")).to_be_visible()
    # Back to the room of a session that has ended: still closed, no camera asked for
    therapist.go_back()
    expect(therapist.get_by_role("heading", name="The session has ended")).to_be_visible()
    assert therapist.evaluate(LIVE_TRACKS) == 0
    assert therapist.evaluate("() => window.watched.sockets.length") == 0
    assert asked == ["End the session for everyone?"]  # the young person had gone already
    young.context.close()
    context.close()


def test_ending_offers_to_ask_the_young_person_how_it_went_first(
    browser: Browser, server: ServerProcess
) -> None:
    context, therapist, _ = therapist_page(browser, server, "ezra")
    asked: list[str] = []
    therapist.on("dialog", lambda dialog: asked.append(dialog.message))
    session = prepare(therapist, server, name="Lou")
    open_room(therapist, server, session)
    young = _young_in_room(browser, therapist, session.links["young_person"])
    expect(therapist.locator("#stage")).to_contain_text("Young person")

    therapist.get_by_role("button", name="End session").click()
    expect(therapist.get_by_role("heading", name="The session has ended")).to_be_visible()
    assert len(asked) == 1 and "Ask how it went" in asked[0], asked
    # the young person's page says goodbye, and so does their link afterwards
    expect(young.get_by_role("heading", name="See you next time")).to_be_visible()
    young.goto(session.links["young_person"])
    expect(young.get_by_role("heading", name="This session has ended")).to_be_visible()
    expect(young.locator("main")).to_contain_text("See you next time.")
    expect(young.locator("main")).not_to_contain_text("withdrawn")
    expect(young.locator("main")).not_to_contain_text("not working")
    screenshot(young, "ending-young-link-390x844")
    assert serious_violations(young) == []
    young.context.close()
    context.close()


@pytest.mark.hazard("HZ-14")
def test_the_young_person_sees_clear_board_only_while_the_therapist_allows_it(
    browser: Browser, server: ServerProcess
) -> None:
    context, therapist, _ = therapist_page(browser, server, "elle")
    session = prepare(therapist, server, name="Max")
    open_room(therapist, server, session)
    allow = therapist.get_by_label("Others may clear the board")
    allow.check()  # for a moment: the young person's page opens while it is allowed...
    _stored(therapist, f"{server.url}/sessions/{session.id}/room", allowed=True)
    young = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    walk_in(young, session.links["young_person"])
    allow.uncheck()  # ...and it is not any more by the time they come in
    therapist.wait_for_function("() => !document.getElementById('allow-clear').checked")
    # what the toolbar shows at the moment the room appears, before the board has said
    young.evaluate(
        "() => { window.clearShown = []; const room = document.getElementById('step-room');"
        " new MutationObserver(() => { if (!room.hidden) window.clearShown.push("
        "!document.querySelector('[data-clear]').hidden); })"
        ".observe(room, { attributeFilter: ['hidden'] }); }"
    )
    admit(therapist, "Young person")
    young.wait_for_function("() => window.playroom.board.snapshots.length > 0")
    tools = young.get_by_role("toolbar", name="Board tools")
    clear = tools.get_by_role("button", name="Clear board")
    assert young.evaluate("() => window.clearShown") == [False]
    expect(clear).to_be_hidden()
    screenshot(young, "clear-hidden-young-390x844")

    allow.check()
    expect(clear).to_be_visible()
    screenshot(young, "clear-allowed-young-390x844")
    allow.uncheck()
    expect(clear).to_be_hidden()
    young.context.close()
    context.close()


@pytest.mark.hazard("HZ-07")
def test_back_after_verifying_the_log_returns_to_the_verified_record(
    browser: Browser, server: ServerProcess
) -> None:
    context, therapist, _ = therapist_page(browser, server, "enzo")
    session = prepare(therapist, server, name="Noa")
    therapist.goto(f"{server.url}/records/{session.id}")
    therapist.get_by_role("button", name="Verify the log").click()
    result = therapist.locator("#verification")
    expect(result).to_contain_text("The log is intact")
    assert "/verify" not in therapist.url  # the result is a page of its own, got again by GET
    screenshot(therapist, "verify-result-1280x860")
    therapist.get_by_role("link", name="Printable page").click()
    expect(therapist.get_by_text("Printed from Playroom")).to_be_visible()
    therapist.go_back()  # not a form sent again, nor ERR_CACHE_MISS
    expect(result).to_contain_text("The log is intact")
    therapist.reload()
    expect(result).to_contain_text("The log is intact")
    context.close()
