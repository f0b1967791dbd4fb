"""The way in, in the family's language, on a phone: the young person in Welsh (their
browser's language), admitted and leaving, with what the room's scripts say in Welsh too; the
parent in Arabic (picked on the page), laid out right to left, with no sideways scroll at
320 px. One session, one therapist, for both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import screenshot, serious_violations
from tests.browser.session_flow import (
    Session,
    admit,
    my_id,
    open_room,
    prepare,
    therapist_page,
)
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def family_session(browser: Browser, live_server: ServerProcess) -> Iterator[tuple[Page, Session]]:
    """A therapist in an open room, with the links of a session ready to join."""
    context, therapist, _ = therapist_page(browser, live_server, "tegwen")
    session = prepare(therapist, live_server, "Cai")
    open_room(therapist, live_server, session)
    yield therapist, session
    context.close()


def _phone(browser: Browser, locale: str) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=PHONE, locale=locale)
    return context, context.new_page()


def _checked(page: Page, name: str) -> None:
    screenshot(page, name)
    assert serious_violations(page) == [], name


def _walk_in(page: Page, name: str) -> None:
    """The steps to the waiting room, by their ids: their words are the page's language."""
    page.locator("#contract-next").click()
    form = page.locator("#checks-form")
    for group in form.locator("fieldset").all():
        group.locator('input[type="radio"]').first.check()
    _checked(page, f"{name}-checks")
    form.locator('button[type="submit"]').click()
    page.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
    page.locator("#join").click()
    expect(page.locator("#step-waiting")).to_be_visible()


@pytest.mark.hazard("HZ-31")
def test_the_young_person_joins_in_welsh(
    browser: Browser, family_session: tuple[Page, Session]
) -> None:
    therapist, session = family_session
    context, young = _phone(browser, "cy-GB")  # the browser asks for Welsh
    young.goto(session.links["young_person"])
    expect(young.locator("html")).to_have_attribute("lang", "cy")
    expect(young.get_by_role("heading", name="Helo! Cyn dy sesiwn")).to_be_visible()
    expect(young.get_by_role("heading", name="Ein cytundeb")).to_be_visible()  # the checklist
    _checked(young, "i18n-cy-contract")
    _walk_in(young, "i18n-cy")
    expect(young.get_by_role("heading", name="Rwyt ti yn yr ystafell aros")).to_be_visible()
    _checked(young, "i18n-cy-waiting")

    admit(therapist, "Young person")
    expect(young.locator("#step-room")).to_be_visible()
    expect(young.get_by_role("button", name="Seibiant, os gwelwch yn dda")).to_be_visible()
    young.locator("#not-private").click()
    # a line the room's script shows, from the page's catalogue
    expect(young.locator("#room-status")).to_have_text("Dim ond dy therapydd gafodd wybod.")
    overflowing = young.evaluate(
        "() => [document.documentElement, ...document.querySelectorAll('.room-top, .board-tools')]"
        ".filter((e) => e.scrollWidth > e.clientWidth).map((e) => e.className || e.tagName)"
    )
    assert overflowing == []  # the longer Welsh names take more lines, not more width
    cramped = young.evaluate(
        "() => [...document.querySelectorAll('.room-top .top-button, .board-tools button')]"
        ".filter((b) => b.offsetParent && (b.scrollWidth > b.clientWidth"
        " || b.getBoundingClientRect().width < 44)).map((b) => b.textContent.trim())"
    )
    assert cramped == []  # no word spills out of its button, and each is a 44 px target
    _checked(young, "i18n-cy-room")
    young.locator(".me-button").click()
    young.locator("#leave").click()
    expect(young.locator("#ended-note")).to_have_text("Rwyt ti wedi gadael y sesiwn.")
    expect(young.get_by_role("heading", name="Welwn ni di y tro nesaf")).to_be_visible()
    _checked(young, "i18n-cy-ended")
    context.close()


@pytest.mark.hazard("HZ-31")
def test_the_parent_joins_in_arabic_right_to_left(
    browser: Browser, family_session: tuple[Page, Session]
) -> None:
    _, session = family_session
    context, parent = _phone(browser, "en-GB")  # an English browser: Arabic picked on the page
    parent.goto(session.links["parent"])
    pages_before = parent.evaluate("() => history.length")
    parent.get_by_role("navigation", name="Language").get_by_role("link", name="العربية").click()
    parent.wait_for_url("**?lang=ar")
    # the switch takes the page's place in the history: after "Exit now", Back cannot bring
    # the session's page up again on a shared device
    assert parent.evaluate("() => history.length") == pages_before
    html = parent.locator("html")
    expect(html).to_have_attribute("lang", "ar")
    expect(html).to_have_attribute("dir", "rtl")
    heading = parent.get_by_role("heading", name="مرحبًا! قبل جلستك")
    expect(heading).to_be_visible()
    # right to left, mirrored: the heading starts at the right of the screen, and the quick
    # exit, at the end of its line, sits at the left (at the right in English)
    exit_box = parent.locator("[data-quick-exit]").first.bounding_box()
    assert exit_box is not None
    assert exit_box["x"] + exit_box["width"] < PHONE["width"] / 2, exit_box
    start = parent.evaluate(
        "() => { const r = document.createRange();"
        " r.selectNodeContents(document.getElementById('contract-heading'));"
        " return r.getBoundingClientRect().right; }"
    )
    assert start > PHONE["width"] - 40, start
    _checked(parent, "i18n-ar-contract")

    parent.set_viewport_size({"width": 320, "height": 700})
    sideways = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert parent.evaluate(sideways) <= 0
    screenshot(parent, "i18n-ar-contract-320")
    parent.set_viewport_size(PHONE)

    _walk_in(parent, "i18n-ar")
    expect(parent.get_by_role("heading", name="أنت في غرفة الانتظار")).to_be_visible()
    assert my_id(parent)
    assert parent.evaluate(sideways) <= 0
    _checked(parent, "i18n-ar-waiting")
    parent.locator("[data-quick-exit]").first.click()
    parent.wait_for_url("**/away")
    parent.go_back()  # what a sibling picking up the phone would try
    assert "/join/" not in parent.url, parent.url
    context.close()
