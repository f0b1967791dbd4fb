"""A therapist schedules a 12-week series from the client's page in Chromium and cancels one
session of it with a reason; the client's page lists the series with the cancelled one
marked. Each action of the therapist (a click, a field filled) is counted: the series takes
4, one session 2. At 1366 px, and at 390 px and 320 px without sideways scrolling."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    csrf,
    make_person,
    screenshot,
    serious_violations,
    sign_in_page,
    start_server,
)
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser
LONDON = ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def series_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory, "series")
    yield server
    server.stop()


class Actions:
    """The therapist's clicks and fields filled, counted."""

    def __init__(self, page: Page) -> None:
        self.page, self.count = page, 0

    def fill(self, label: str, value: str) -> None:
        self.page.get_by_label(label, exact=True).fill(value)
        self.count += 1

    def choose(self, label: str, value: str) -> None:
        self.page.get_by_label(label, exact=True).select_option(value)
        self.count += 1

    def click(self, name: str) -> None:
        self.page.get_by_role("button", name=name).click()
        self.count += 1


def _local(days: int, hour: int) -> str:
    day = (datetime.now(UTC) + timedelta(days=days)).astimezone(LONDON)
    return day.replace(hour=hour, minute=0).strftime("%Y-%m-%dT%H:%M")


def _this_minute() -> str:
    """Now, to the minute, in London: a start that is today at any hour (a fixed hour today
    is in the past once that hour has gone; a start a moment ago is allowed, not refused)."""
    return datetime.now(UTC).astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")


def _no_sideways_scroll(page: Page, width: int, name: str) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= width, name
    screenshot(page, f"{name}-{width}")


@pytest.mark.hazard("HZ-29")
def test_a_twelve_week_series_and_one_session_cancelled(
    browser: Browser, series_server: ServerProcess
) -> None:
    server = series_server
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    person = make_person(server, "tess", "therapist")
    sign_in_page(page, server, person)
    made = page.request.post(
        f"{server.url}/api/clients",
        data={"display_name": "Sky", "age_band": "9-11"},
        headers={"X-CSRF-Token": csrf(page)},
    ).json()
    client_page = f"{server.url}/clients/{made['id']}"

    # the series: starts, "Every week", 12 sessions, Schedule
    page.goto(client_page)
    series = Actions(page)
    series.fill("Starts (Europe/London time)", _local(3, 16))
    series.choose("Repeats", "1")
    series.fill("Number of sessions (2 to 52)", "12")
    series.click("Schedule a session or series")
    expect(page.locator("#scheduled-notice")).to_contain_text("12 sessions scheduled")
    assert series.count == 4
    lines = page.locator(".session-line")
    expect(lines).to_have_count(12)
    expect(page.locator(".session-line", has_text="weekly, 12 of 12")).to_have_count(1)
    screenshot(page, "series-client-1366")
    assert serious_violations(page) == []

    # cancel the third with a reason
    page.locator(".session-line a").nth(2).click()
    expect(page.get_by_role("heading", name="Cancel this session")).to_be_visible()
    screenshot(page, "series-session-1366")
    assert serious_violations(page) == []
    cancel = Actions(page)
    cancel.click("Cancel the session")  # no reason yet: said beside the field
    expect(page.locator("#cancel-reason-error")).to_contain_text("Say why the session is cancelled")
    expect(page.get_by_label("Why it is cancelled")).to_have_attribute("aria-invalid", "true")
    assert serious_violations(page) == []
    cancel.fill("Why it is cancelled", "Sky's school trip")
    cancel.click("Cancel the session")
    expect(page.locator("#cancelled")).to_contain_text("Why: Sky's school trip")
    expect(page.get_by_role("heading", name="Move this session")).to_have_count(0)
    screenshot(page, "series-cancelled-1366")

    page.goto(client_page)
    expect(page.locator(".session-cancelled")).to_have_count(1)
    third = page.locator(".session-line").nth(2)
    expect(third).to_contain_text("cancelled")
    expect(third).to_contain_text("Why cancelled: Sky's school trip")
    expect(page.locator(".session-scheduled")).to_have_count(11)
    screenshot(page, "series-client-after-cancel-1366")
    for width in (390, 320):
        _no_sideways_scroll(page, width, "series-client")
    page.set_viewport_size({"width": 1366, "height": 900})

    # one session today, as before, starting now: a start, Schedule
    page.goto(client_page)
    one = Actions(page)
    one.fill("Starts (Europe/London time)", _this_minute())
    one.click("Schedule a session or series")
    page.wait_for_url(f"{server.url}/sessions/*")
    assert one.count == 2
    for width in (390, 320):
        _no_sideways_scroll(page, width, "series-session")
    context.close()


def test_outside_safeguarding_hours_the_gate_shows_the_reason(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = start_server(
        tmp_path_factory, "hours", PLAYROOM_SAFEGUARDING_HOURS="Mon-Fri 09:00-17:00"
    )
    try:
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        sign_in_page(page, server, make_person(server, "tom", "therapist"))
        made = page.request.post(
            f"{server.url}/api/clients",
            data={"display_name": "Kit", "age_band": "12-13"},
            headers={"X-CSRF-Token": csrf(page)},
        ).json()
        page.goto(f"{server.url}/clients/{made['id']}")
        day = datetime.now(UTC).astimezone(LONDON) + timedelta(days=1)
        while day.weekday() != 2:  # a Wednesday evening
            day += timedelta(days=1)
        page.get_by_label("Starts (Europe/London time)", exact=True).fill(
            day.replace(hour=18, minute=0).strftime("%Y-%m-%dT%H:%M")
        )
        page.get_by_role("button", name="Schedule a session or series").click()
        expect(page.locator("#rationale-error")).to_contain_text("safeguarding hours")
        assert serious_violations(page) == []
        screenshot(page, "series-hours-refused-1366")
        page.get_by_label("Reason, if outside safeguarding hours").fill(
            "The only hour the carer is home"
        )
        page.get_by_role("button", name="Schedule a session or series").click()
        page.wait_for_url(f"{server.url}/sessions/*")
        gate = page.locator("#outside-hours")
        expect(gate).to_contain_text("The only hour the carer is home")
        expect(gate).to_contain_text("CCAP 2024, Considerations for online therapy / Context, 3")
        screenshot(page, "series-hours-gate-1366")
        assert serious_violations(page) == []
        _no_sideways_scroll(page, 390, "series-hours-gate")
        context.close()
    finally:
        server.stop()
