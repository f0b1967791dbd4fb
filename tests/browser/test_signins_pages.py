"""Where you are signed in, in Chromium: a supervisor signed in on a phone (its escalations
dashboard open) and on a laptop sees both devices from the laptop, this one marked, and signs
the phone out; the phone's dashboard goes to the sign-in page by itself. The sign-in page and
the sessions page fit 390 px and 1366 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import make_person, screenshot, serious_violations, sign_in_page
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser

PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
LAPTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


def _fits(page: Page) -> bool:
    """No horizontal scrolling at this width."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_signed_in_devices_are_listed_and_one_is_signed_out(
    browser: Browser, live_server: ServerProcess
) -> None:
    person = make_person(live_server, "rowan.devices", "supervisor")
    phone_context = browser.new_context(viewport={"width": 390, "height": 844}, user_agent=PHONE)
    laptop_context = browser.new_context(viewport={"width": 1366, "height": 768}, user_agent=LAPTOP)
    try:
        phone, laptop = phone_context.new_page(), laptop_context.new_page()
        for page, width in ((phone, 390), (laptop, 1366)):
            page.goto(live_server.url + "/signin")
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            assert _fits(page), f"the sign-in page scrolls sideways at {width} px"
            screenshot(page, f"signin-{width}")

        sign_in_page(phone, live_server, person)
        phone.goto(live_server.url + "/escalations")
        expect(phone.get_by_text("Watching for escalations.")).to_be_visible()
        sign_in_page(laptop, live_server, person)

        laptop.get_by_role("link", name="where you are signed in").click()
        expect(laptop.get_by_role("heading", name="Where you are signed in")).to_be_visible()
        devices = laptop.get_by_role("list", name="Your sign-ins").get_by_role("listitem")
        expect(devices).to_have_count(2)
        here = devices.filter(has_text="This device")
        expect(here).to_have_count(1)
        expect(here.get_by_role("heading")).to_contain_text("Firefox on Windows")
        expect(here.get_by_role("button", name="Sign out here")).to_be_visible()
        there = devices.filter(has_text="Chrome on Android")
        expect(there.get_by_text("Last seen")).to_be_visible()
        assert _fits(laptop)
        screenshot(laptop, "sign-ins-1366")
        assert serious_violations(laptop) == []
        laptop.set_viewport_size({"width": 390, "height": 844})
        assert _fits(laptop), "the sessions page scrolls sideways at 390 px"
        screenshot(laptop, "sign-ins-390")

        there.get_by_role("button", name="Sign out there").click()
        expect(devices).to_have_count(1)
        expect(laptop.get_by_text("Chrome on Android")).to_have_count(0)
        # the phone's open dashboard closes within a second, and its page goes to sign in
        phone.wait_for_url(live_server.url + "/signin", timeout=5000)
        expect(phone.get_by_role("heading", name="Sign in")).to_be_visible()
        phone.goto(live_server.url + "/")
        expect(phone).to_have_url(live_server.url + "/signin")
        laptop.goto(live_server.url + "/")
        expect(laptop.get_by_role("heading", name="Hello, rowan.devices")).to_be_visible()
    finally:
        phone_context.close()
        laptop_context.close()
