"""Pages on networks that are not the easy case: a young person whose network lets no UDP out
(a school or office firewall that passes only web traffic). Their browser runs on a host of
its own (``tests/browser/remote.py``) reaching this module's server over its cable."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Playwright

from tests.browser.remote import RemoteBrowser
from tests.browser.session_flow import admit, open_room, prepare, therapist_page, walk_in
from tests.browser.test_board_pages import _draw_line, _kinds
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(open_server: ServerProcess) -> ServerProcess:
    return open_server


def test_the_board_works_where_no_udp_gets_through(
    browser: Browser, playwright: Playwright, server: ServerProcess
) -> None:
    """The young person's data connection to the server cannot be made (no UDP), so within
    a few seconds their board goes over the signalling socket: both see each other's lines,
    and the therapist's board stays on its data connection."""
    remote = RemoteBrowser(playwright, server, udp=False)
    try:
        context, therapist, _ = therapist_page(browser, server, "noor")
        session = prepare(therapist, server, name="Ash")
        open_room(therapist, server, session)
        young = remote.browser.new_context().new_page()
        walk_in(young, remote.url(session.links["young_person"]))
        admit(therapist, "Young person")
        young.wait_for_function(
            "() => window.playroom.whiteboard.mode === 'socket'", timeout=20000
        )
        assert therapist.evaluate("() => window.playroom.whiteboard.mode") == "data"
        _draw_line(therapist)
        young.wait_for_function("() => window.playroom.board.elements.size > 0")
        assert _kinds(young) == ["stroke"]
        _draw_line(young)
        therapist.wait_for_function("() => window.playroom.board.elements.size > 1")
        assert _kinds(therapist) == ["stroke", "stroke"]
        context.close()
    finally:
        remote.close()
