"""A therapist signs in for the first time in Chromium: password, QR enrolment, home."""

from __future__ import annotations

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import screenshot, serious_violations
from tests.conftest import PASSWORD
from tests.helpers import ServerProcess, run_cli

pytestmark = pytest.mark.browser


def test_first_sign_in_with_password_and_totp(page: Page, live_server: ServerProcess) -> None:
    made = run_cli(
        "create-user",
        "--username",
        "robin",
        "--role",
        "therapist",
        "--display-name",
        "Robin Ash",
        "--password-stdin",
        env=live_server.env,
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr

    page.goto(live_server.url + "/")
    expect(page).to_have_url(live_server.url + "/signin")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "signin")
    assert serious_violations(page) == []

    page.get_by_label("Username").fill("robin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an account")
    assert serious_violations(page) == []

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    expect(page.get_by_role("img", name="QR code")).to_be_visible()
    screenshot(page, "signin-enrol")
    assert serious_violations(page) == []
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")

    page.get_by_label("Type the 6-digit code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm and sign in").click()
    expect(page.get_by_role("heading", name="Hello, Robin Ash")).to_be_visible()
    screenshot(page, "therapist-home")
    assert serious_violations(page) == []

    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_times_of_day_read_24_hour_whatever_the_browsers_language(
    browser: Browser, live_server: ServerProcess
) -> None:
    """The pages' times of day (a log line, an escalation card, a plan step) are "14:05", not
    "2:05 PM", even in a browser set to American English."""
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{live_server.url}/signin")
    said = page.evaluate(
        "async () => (await import('/static/js/clock.js')).clock(new Date(2026, 0, 1, 14, 5))"
    )
    assert said == "14:05"
    context.close()
