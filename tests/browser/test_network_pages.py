"""Pages on networks that are not the easy case: a young person whose network lets no UDP out
(a school or office firewall that passes only web traffic). Their browser runs on a host of
its own (``tests/browser/remote.py``) reaching this module's server over its cable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Playwright, expect

from tests.browser.conftest import screenshot
from tests.browser.remote import RemoteBrowser
from tests.browser.session_flow import admit, open_room, prepare, therapist_page, walk_in
from tests.browser.test_board_pages import _draw_line, _kinds
from tests.helpers import ServerProcess
from tests.test_images import _jpeg_with_gps

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(open_server: ServerProcess) -> ServerProcess:
    return open_server


# how many pictures a page shows, each with its image loaded
SHOWN = (
    "(n) => { const b = window.playroom.board;"
    " const shown = [...b.elements.values()].filter(e => e.kind === 'picture'"
    " && (b.images.get(e.data.object) || {}).naturalWidth > 0); return shown.length === n; }"
)


@pytest.mark.hazard("HZ-19")
def test_the_board_works_where_no_udp_gets_through(
    browser: Browser, playwright: Playwright, server: ServerProcess, tmp_path: Path
) -> None:
    """The young person's data connection to the server cannot be made (no UDP): their board
    is there as soon as they are admitted, over the signalling socket, and stays on it; the
    therapist's moves from the socket to the data connection. Both see each other's lines and
    pictures."""
    remote = RemoteBrowser(playwright, server, udp=False)
    try:
        context, therapist, _ = therapist_page(browser, server, "noor")
        session = prepare(therapist, server, name="Ash")
        open_room(therapist, server, session)
        young = remote.browser.new_context().new_page()
        walk_in(young, remote.url(session.links["young_person"]))
        admit(therapist, "Young person")
        young.wait_for_function("() => window.playroom.board.snapshots.length > 0")
        assert young.evaluate("() => window.playroom.whiteboard.mode") == "socket"
        therapist.wait_for_function("() => window.playroom.whiteboard.mode === 'data'")
        _draw_line(therapist)
        young.wait_for_function("() => window.playroom.board.elements.size > 0")
        assert _kinds(young) == ["stroke"]
        _draw_line(young)
        therapist.wait_for_function("() => window.playroom.board.elements.size > 1")
        assert _kinds(therapist) == ["stroke", "stroke"]

        # pictures too: the young person's photo reaches the therapist (over the socket, in
        # base64 frames), cleaned; the therapist's still from the camera reaches them
        photo = tmp_path / "holiday.jpg"
        photo.write_bytes(_jpeg_with_gps())
        young.locator("[data-share]").set_input_files(str(photo))
        expect(young.locator("#board-status")).to_contain_text("on the board")
        therapist.wait_for_function(SHOWN, arg=1)
        therapist.get_by_role("button", name="Photo", exact=True).click()
        therapist.get_by_role("button", name="Show me: share a photo from my camera").click()
        young.wait_for_function(SHOWN, arg=2)
        screenshot(young, "young-board-without-udp")

        # a big picture takes a while over the socket: a second one meanwhile is asked to
        # wait (the server keeps one transfer a person), and the first arrives whole
        noise = tmp_path / "noise.png"
        Image.frombytes("RGB", (800, 800), os.urandom(800 * 800 * 3)).save(noise)
        young.locator("[data-share]").set_input_files(str(noise))
        young.locator("[data-share]").set_input_files(str(photo))
        expect(young.locator("#board-status")).to_contain_text("still on its way")
        therapist.wait_for_function(SHOWN, arg=3, timeout=30000)
        expect(young.locator("#board-status")).to_contain_text("on the board")
        context.close()
    finally:
        remote.close()
