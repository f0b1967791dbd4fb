"""Screen sharing and choosing devices in Chromium, with its fake devices.

The browser of this module is launched with ``--use-fake-device-for-media-stream=device-count=3``
(three fake cameras: ``fake_device_0`` draws a bright green picture, ``fake_device_2`` a darker
one; ``fake_device_1`` is a depth camera (16-bit grey) whose frames reach a video element but
never a connection's sender, so it is not the one chosen) and
``--use-fake-ui-for-media-stream``, with which Debian's Chromium 156 answers
``getDisplayMedia`` at once with a fake screen (``screen:-3:0``, 1280 by 720, with a fake
audio track; on a page emulating a phone, the phone's own size, 390 wide): no picker, and no
``--auto-select-desktop-capture-source`` or tab-capture flag needed. A share is told apart
from a camera on the far side by the stream it comes in (the one announced), and the
therapist's by its frame size too (1280 wide, a camera 640), read from the decoded video.

The therapist's share is seen on the young person's page, stops with the browser's own "Stop
sharing" (the track's ``ended``, dispatched here: a headless browser shows no such bar) and
when the therapist leaves; a young person's share is refused until the therapist allows it,
then seen, and the therapist stops it; another camera chosen in the "Me" panel changes what
the therapist's page decodes (the far side's picture turns darker green, with no
renegotiation), and "Switch camera" turns it back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from tests.browser.conftest import CHROMIUM, FLAGS, screenshot, serious_violations
from tests.browser.session_flow import admit, my_id, open_room, prepare, therapist_page, walk_in
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser

THREE_CAMERAS = [
    "--use-fake-device-for-media-stream=device-count=3"
    if flag == "--use-fake-device-for-media-stream"
    else flag
    for flag in FLAGS
]
# the share shown large on a page: its decoded width and frames, from the video itself
SHOWN = """() => { const v = document.querySelector('.share-view video');
  return v && !v.closest('[hidden]') && v.videoWidth > 0
    ? { width: v.videoWidth, frames: v.getVideoPlaybackQuality().totalVideoFrames } : null; }"""
# how green the video from ``id`` is on this page (the mean of its green channel, 0-255),
# drawn into a canvas: ``fake_device_0`` is 140 and more, ``fake_device_2`` about 128
GREEN = """(id) => { const v = document.querySelector(`[data-peer="${id}"] video`);
  if (!v || !v.videoWidth) return null;
  const c = document.createElement('canvas'); c.width = 64; c.height = 48;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0, 64, 48);
  const d = g.getImageData(0, 0, 64, 48).data; let green = 0;
  for (let i = 0; i < d.length; i += 4) green += d[i + 1];
  return green / (d.length / 4); }"""
NO_SIDEWAYS_SCROLL = "(w) => document.documentElement.scrollWidth <= w && innerWidth <= w"


@pytest.fixture(scope="module")
def cameras(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, args=THREE_CAMERAS, headless=True
    )
    yield chromium
    chromium.close()


def _room(browser: Browser, server: ServerProcess, username: str) -> tuple[Page, Page, str, str]:
    """A therapist at a desktop and a young person on a phone, admitted, each seeing the
    other's camera."""
    _, therapist, _ = therapist_page(browser, server, username)
    session = prepare(therapist, server, name="Ash")
    open_room(therapist, server, session)
    young = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    ).new_page()
    walk_in(young, session.links["young_person"])
    yid = my_id(young)
    admit(therapist, "Young person")
    tid = my_id(therapist)
    for page, other in ((therapist, yid), (young, tid)):
        page.wait_for_function(
            "(id) => window.playroom.firstFrame[id] !== undefined", arg=other, timeout=30000
        )
    return therapist, young, tid, yid


def _seen(page: Page) -> dict[str, int]:
    """Wait until ``page`` shows a share with frames decoded, from the stream announced."""
    try:
        page.wait_for_function(
            f"() => {{ const s = ({SHOWN})(); return s && s.frames > 2; }}",
            timeout=30000,
        )
    except Exception as error:
        raise AssertionError(page.evaluate(SHOWN)) from error
    assert page.evaluate(
        "() => window.playroom.share.showing.stream === window.playroom.share.on.stream"
    )
    return page.evaluate(SHOWN)  # type: ignore[no-any-return]


@pytest.mark.hazard("HZ-27")
def test_the_therapists_share_is_seen_and_ends_when_they_leave(
    cameras: Browser, live_server: ServerProcess
) -> None:
    therapist, young, tid, _ = _room(cameras, live_server, "sharer")
    therapist.get_by_role("button", name="Share screen").click()
    expect(therapist.get_by_role("button", name="Stop sharing").first).to_be_visible()
    assert _seen(young)["width"] == 1280
    expect(young.locator(".share-view figcaption")).to_contain_text("is sharing their screen")
    # the young person's videos still float over it, small
    assert young.evaluate("() => document.querySelector('#stage .tile').checkVisibility()")
    # a young person cannot stop the therapist's share
    expect(young.locator(".share-view").get_by_role("button", name="Stop sharing")).to_be_hidden()
    screenshot(young, "share-young-sees-therapists-390x844")
    assert serious_violations(young) == []
    young.set_viewport_size({"width": 320, "height": 568})
    assert young.evaluate(NO_SIDEWAYS_SCROLL, 320)
    screenshot(young, "share-young-sees-therapists-320x568")

    # the browser's own "Stop sharing" ends the track: the share ends for everyone
    therapist.evaluate(
        "() => [...window.playroom.mesh.extra.values()][0].getVideoTracks()[0]"
        ".dispatchEvent(new Event('ended'))"
    )
    expect(young.locator(".share-view")).to_be_hidden(timeout=15000)
    expect(therapist.get_by_role("button", name="Share screen")).to_be_visible()
    assert therapist.evaluate("() => window.playroom.mesh.extra.size") == 0

    # shared again, and the therapist leaves: it ends with them
    therapist.get_by_role("button", name="Share screen").click()
    _seen(young)
    therapist.context.close()  # the therapist leaves: their socket and connections drop
    expect(young.locator(".share-view")).to_be_hidden(timeout=15000)
    assert young.evaluate("window.playroom.share.on") is None
    young.context.close()


@pytest.mark.hazard("HZ-27")
def test_a_young_persons_share_waits_for_the_therapist_who_can_stop_it(
    cameras: Browser, live_server: ServerProcess
) -> None:
    therapist, young, _, yid = _room(cameras, live_server, "allower")
    young.locator(".me-button").click()
    share_button = young.locator("#share-screen")
    expect(share_button).to_be_hidden()  # not allowed: not offered
    # pressed anyway (a page's own script): the server refuses, nothing is shown
    young.evaluate("() => document.getElementById('share-screen').click()")
    young.wait_for_function("() => window.playroom.share.refused === 'share_not_allowed'")
    assert young.evaluate("window.playroom.share.showing") is None
    assert therapist.evaluate("window.playroom.share.showing") is None
    assert young.evaluate(
        "() => window.playroom.mesh.extra.size === 0"
        " && [...window.playroom.mesh.peers.values()][0].pc.getSenders()"
        ".every((s) => !s.track || s.track.label !== 'screen:-3:0')"
    )

    therapist.get_by_label("Young person may share their screen").check()
    expect(share_button).to_be_visible()
    assert young.evaluate("window.playroom.share.allowed") is True
    screenshot(young, "share-young-me-panel-390x844")
    assert serious_violations(young) == []
    share_button.click()
    _seen(therapist)
    assert therapist.evaluate("window.playroom.share.showing.participant") == yid
    screenshot(therapist, "share-therapist-sees-young-persons")
    assert serious_violations(therapist) == []

    # the therapist stops it: the young person's page stops the capture
    therapist.locator(".share-view").get_by_role("button", name="Stop sharing").click()
    expect(therapist.locator(".share-view")).to_be_hidden()
    expect(young.locator(".share-view")).to_be_hidden()
    young.wait_for_function("() => window.playroom.mesh.extra.size === 0")
    expect(young.locator("#room-status")).to_contain_text("stopped your screen share")
    expect(share_button).to_have_attribute("aria-pressed", "false")
    therapist.context.close()
    young.context.close()


def test_another_camera_chosen_in_the_room_changes_what_the_other_side_sees(
    cameras: Browser, live_server: ServerProcess
) -> None:
    therapist, young, _, yid = _room(cameras, live_server, "switcher")
    therapist.wait_for_function(f"() => ({GREEN})('{yid}') > 137", timeout=30000)
    # the same choices were offered at the device check, before joining
    cameras = ["fake_device_0", "fake_device_1", "fake_device_2"]
    assert young.locator("#check-camera option").all_inner_texts() == cameras
    young.locator(".me-button").click()
    panel = young.locator("#me-panel")
    camera = panel.get_by_label("Camera", exact=True)
    expect(camera).to_be_visible()
    labels = camera.locator("option").all_inner_texts()
    assert labels == cameras, labels
    expect(panel.get_by_role("button", name="Switch camera")).to_be_visible()  # two cameras
    screenshot(young, "devices-young-me-panel-390x844")
    assert serious_violations(young) == []
    young.set_viewport_size({"width": 320, "height": 568})
    assert young.evaluate(NO_SIDEWAYS_SCROLL, 320)
    screenshot(young, "devices-young-me-panel-320x568")
    offers = young.evaluate("() => window.playroom.mesh.peers.size")
    camera.select_option(label="fake_device_2")
    # the same connection, the other camera: the therapist's page decodes its darker picture
    therapist.wait_for_function(f"() => ({GREEN})('{yid}') < 133", timeout=30000)
    assert young.evaluate("window.playroom.devices.camera") == "fake_device_2"
    assert young.evaluate("() => window.playroom.mesh.peers.size") == offers
    # one tap on to the next: the first again
    panel.get_by_role("button", name="Switch camera").click()
    therapist.wait_for_function(f"() => ({GREEN})('{yid}') > 137", timeout=30000)
    assert young.evaluate("window.playroom.devices.camera") == "fake_device_0"
    # nothing of the choice is kept on the device
    assert young.evaluate("() => localStorage.length + sessionStorage.length") == 0
    therapist.context.close()
    young.context.close()
