"""In Chromium: the therapist enters a family's e-mail addresses on the client's page (a bad
one named beside its field, a good one shown masked), presses **Send invitation** on the
session page and sees it go, sent by the server's own periodic job to a real SMTP server;
both pages pass axe and do not scroll sideways at 320 and 390 px, and at 1366 px."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import screenshot, serious_violations, start_server
from tests.browser.session_flow import prepare, therapist_page
from tests.helpers import ServerProcess
from tests.mailbox import Mailbox, smtp_server

pytestmark = pytest.mark.browser
YOUNG = "sky@example.org"


@pytest.fixture(scope="module")
def mail() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as served:
        yield served


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, mail: tuple[Mailbox, int]
) -> Iterator[ServerProcess]:
    running = start_server(
        tmp_path_factory,
        "mail",
        PLAYROOM_SMTP_HOST="127.0.0.1",
        PLAYROOM_SMTP_PORT=str(mail[1]),
        PLAYROOM_OUTBOX_POLL_SECONDS="0.2",
    )
    yield running
    running.stop()


def _no_sideways_scroll(page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 800})
    wide = page.evaluate(
        """w => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > w + 1)
        .map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)""",
        width,
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= width, wide


def test_addresses_are_entered_and_the_invitation_goes_and_is_shown_sent(
    browser: Browser, server: ServerProcess, mail: tuple[Mailbox, int]
) -> None:
    box, _ = mail
    context, page, _ = therapist_page(browser, server, "mia")
    try:
        session = prepare(page, server)
        page.goto(f"{server.url}/sessions/{session.id}")
        expect(page.locator("#mail-no-address")).to_be_visible()
        page.locator("#mail-no-address a").click()

        page.get_by_text("Change addresses").click()
        page.get_by_label("Young person's e-mail (optional)").fill("not an address")
        page.get_by_role("button", name="Save addresses").click()
        error = page.locator("#contacts-error")
        expect(error).to_contain_text("that is not an e-mail address")
        expect(page.get_by_label("Young person's e-mail (optional)")).to_have_attribute(
            "aria-invalid", "true"
        )
        assert serious_violations(page) == []
        screenshot(page, "mail-client-error-1280")

        page.get_by_label("Young person's e-mail (optional)").fill(YOUNG)
        page.get_by_label("The young person", exact=True).check()
        page.get_by_role("button", name="Save addresses").click()
        expect(page.locator("#contacts-summary")).to_contain_text("s•••@example.org")
        assert YOUNG not in page.locator("#contacts-summary").inner_text()
        for width in (320, 390):
            _no_sideways_scroll(page, width)
        assert serious_violations(page) == []
        screenshot(page, "mail-client-390")

        page.set_viewport_size({"width": 1366, "height": 900})
        page.goto(f"{server.url}/sessions/{session.id}")
        page.get_by_role("button", name="Send invitation").click()
        expect(page.get_by_role("status").filter(has_text="on its way")).to_be_visible()
        assert box.wait_for(1, timeout=15)
        assert box.messages[0][0] == [YOUNG]
        sent = page.locator('#mail-messages li[data-kind="invitation"][data-status="sent"]')
        for _ in range(50):  # the job marks it sent just after the mail server took it
            page.reload()
            if sent.count():
                break
        expect(sent).to_have_count(1)
        assert serious_violations(page) == []
        screenshot(page, "mail-session-1366")
        for width in (320, 390):
            _no_sideways_scroll(page, width)
        assert serious_violations(page) == []
        screenshot(page, "mail-session-390")
    finally:
        context.close()
