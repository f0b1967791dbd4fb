"""A young person on a weak connection: their browser is on a host of its own
(``tests/browser/remote.py``) whose cable is made thin both ways (a token bucket, ``tbf``: at
most 80 kilobits a second, packets queued up to 300 ms and dropped beyond; this kernel has no
``netem``), so that delay and loss grow with what is sent, as on a weak mobile signal. Their
page steps down by itself, lower video first, then a calm suggestion of sound only; taken,
both pages say what changed; when the line is good again, video comes back by itself on both
sides. The page's own thresholds are kept, its counts of seconds shortened (``POOR`` in
``web/static/js/poorlink.js``). The time each step took is printed, for
``docs/performance.md``."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, Playwright, expect

from tests.browser.conftest import screenshot, serious_violations
from tests.browser.remote import RemoteBrowser
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
FAST = (
    "() => Object.assign(window.playroom.poorLink.settings,"
    " {downAfter: 2, upAfter: 3, backNoteMs: 60000})"
)
MODE = "(mode) => window.playroom.poorLink.told.mode === mode"
# whether this page still sends its camera's video to anyone
SENDING = (
    "() => [...window.playroom.mesh.peers.values()].some((link) => link.pc.getSenders()"
    ".some((s) => s.track?.kind === 'video' && s.getParameters().encodings[0]?.active))"
)


@pytest.fixture(scope="module")
def server(open_server: ServerProcess) -> ServerProcess:
    return open_server


@pytest.mark.hazard("HZ-28")
def test_a_weak_connection_steps_down_to_sound_only_and_comes_back(
    browser: Browser, playwright: Playwright, server: ServerProcess
) -> None:
    remote = RemoteBrowser(playwright, server)
    try:
        context, therapist, _ = therapist_page(browser, server, "mira")
        session = prepare(therapist, server, name="Sam")
        open_room(therapist, server, session)
        young = remote.browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        walk_in(young, remote.url(session.links["young_person"]))
        yid = my_id(young)
        admit(therapist, "Young person")
        first_frame_from(therapist, yid)
        for page in (young, therapist):
            page.evaluate(FAST)
        note = therapist.locator(f'[data-peer="{yid}"] .link-note')
        line = young.locator("#link-line")

        began = time.monotonic()
        remote.shape(kbit=80, queue_ms=300)
        young.wait_for_function(MODE, arg="lower", timeout=30000)
        lowered = time.monotonic()
        expect(line).to_contain_text("your video is smaller")
        # the others are told over the same thin line: it may take a few seconds
        expect(note).to_contain_text("connection is slow", timeout=20000)
        suggestion = young.locator("#link-suggestion")
        expect(suggestion).to_be_visible(timeout=30000)
        suggested = time.monotonic()
        screenshot(young, "poor-connection-suggestion-390x844")
        assert serious_violations(young) == []
        suggestion.get_by_role("button", name="Sound only").click()
        expect(line).to_contain_text("Video paused to keep your sound clear")
        assert young.evaluate(SENDING) is False  # nothing of the camera goes out

        remote.mend()
        mended = time.monotonic()
        young.wait_for_function(MODE, arg="full", timeout=60000)
        back = time.monotonic()
        assert young.evaluate(SENDING) is True
        expect(line).to_contain_text("Your video is clear again")
        steps = young.evaluate("() => window.playroom.poorLink.steps.map((s) => s.mode)")
        assert steps[0] == "lower" and "audio" in steps and steps[-1] == "full", steps
        # the therapist's page was told each change, and its line on the video is gone
        therapist.wait_for_function(
            "(id) => window.playroom.poorLink.heard.filter((h) => h.participant === id)"
            ".at(-1)?.mode === 'full'",
            arg=yid,
            timeout=20000,
        )
        heard = therapist.evaluate(
            "(id) => window.playroom.poorLink.heard.filter((h) => h.participant === id)"
            ".map((h) => h.mode)",
            yid,
        )
        assert "lower" in heard and "audio" in heard and heard[-1] == "full", (heard, steps)
        expect(note).to_have_count(0)
        print(
            f"\nstepped down {lowered - began:.1f} s after the line was shaped; sound only"
            f" suggested {suggested - began:.1f} s after; everything back"
            f" {back - mended:.1f} s after it was mended"
        )
        context.close()
    finally:
        remote.close()
