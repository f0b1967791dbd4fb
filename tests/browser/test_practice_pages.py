"""In Chromium: the therapist makes practice links on the client's page; the young person
opens theirs on a phone (390 px), checks the fake camera and microphone, reads the agreement
and sees the room's preview with their own camera in it, with nothing sent anywhere and
nothing written to the database; the parent's page too; no sideways scroll at 320 px, in
English and in Arabic (right to left); the desktop too."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from server.care.checklists import Kind, load_catalogue
from tests.browser.conftest import (
    ARTIFACTS,
    csrf,
    make_person,
    screenshot,
    serious_violations,
    sign_in_page,
    start_server,
)
from tests.browser.session_flow import give_consent
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
SMALL = {"viewport": {"width": 320, "height": 640}, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(tmp_path_factory, "practice")
    yield running
    running.stop()


def _counts(server: ServerProcess) -> dict[str, int]:
    """The rows of every table in the server's SQLite file."""
    path = Path(server.env["PLAYROOM_DATA_DIR"]) / "playroom.db"
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}  # noqa: S608


def _consented_client(page: Page, server: ServerProcess) -> str:
    """A client whose parent has given consent through their link, made through the API."""
    headers = {"X-CSRF-Token": csrf(page)}
    made = page.request.post(
        f"{server.url}/api/clients",
        data={"display_name": "Sky", "age_band": "14-15"},
        headers=headers,
    ).json()
    give_consent(page, server, made["id"])
    return str(made["id"])


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.evaluate("() => document.documentElement.clientWidth"), width


@pytest.mark.hazard("HZ-32")
@pytest.mark.hazard("HZ-31")
def test_a_young_person_practises_on_a_phone_and_nothing_is_kept(
    browser: Browser, page: Page, server: ServerProcess
) -> None:
    therapist = make_person(server, "jo", "therapist", "Jo Bloggs")
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in_page(page, server, therapist)
    client_id = _consented_client(page, server)
    page.goto(f"{server.url}/clients/{client_id}")
    card = page.locator("#practice-young_person")
    card.get_by_role("button", name="Make a practice link").click()
    page.wait_for_url(f"**/clients/{client_id}#practice")
    url = page.locator("#practice-url-young_person").input_value()
    assert "/practice/" in url
    page.locator("#practice-parent").get_by_role("button", name="Make a practice link").click()
    page.wait_for_url(f"**/clients/{client_id}#practice")
    parent_url = page.locator("#practice-url-parent").input_value()
    page.locator("#practice").scroll_into_view_if_needed()
    screenshot(page, "practice-link-therapist-1366")
    assert serious_violations(page) == []

    before = _counts(server)
    phone = browser.new_context(**PHONE)
    young = phone.new_page()
    asked: list[str] = []
    young.on("request", lambda r: asked.append(f"{r.method} {r.url}"))
    young.goto(url)
    expect(young.get_by_role("heading", level=1)).to_have_text("Practise before your session")
    assert "Jo Bloggs" not in young.content() and "Sky" not in young.content()
    # the device check, as on the join page: the fake camera shows, the microphone bar too
    young.get_by_role("button", name="Start the check").click()
    young.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
    young.wait_for_function("() => document.getElementById('preview-self').videoWidth > 0")
    expect(young.locator("#preview-self-tile")).to_have_class("preview-tile self live")
    young.wait_for_function("() => document.getElementById('mic-level').value > 0")
    expect(young.get_by_role("button", name="Stop the camera")).to_be_focused()
    screenshot(young, "practice-young-person-390")
    assert serious_violations(young) == []
    _no_sideways_scroll(young)
    # the agreement, readable: every section's heading and words on the page
    contract = load_catalogue()[Kind.CONTRACT]
    agreement = young.locator("#practice-agreement")
    for section in contract.sections:
        expect(agreement.get_by_role("heading", name=section.title)).to_be_visible()
    font = agreement.locator("li").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert font >= 16
    # the room's preview and what each button does
    young.locator("#room-preview").scroll_into_view_if_needed()
    expect(young.locator("#room-preview")).to_be_visible()
    young.locator("#room-preview").screenshot(path=str(ARTIFACTS / "practice-room-preview-390.png"))
    expect(young.locator(".button-guide dt")).to_have_count(14)
    young.get_by_role("button", name="Stop the camera").click()
    assert young.evaluate("() => document.getElementById('preview').srcObject") is None
    young.get_by_role("button", name="Exit now").click()
    young.wait_for_url("**/away")
    phone.close()
    # nothing asked of the server but the page, its scripts and styles, and the exit
    for request in asked:
        method, address = request.split(" ", 1)
        path = address.removeprefix(server.url)
        assert method == "GET" and path.startswith(("/practice/", "/static/", "/away")), request

    # the parent's: the same page, in words for a parent
    parent_phone = browser.new_context(**PHONE)
    parent = parent_phone.new_page()
    parent.goto(parent_url)
    expect(parent.locator("#practice-agreement")).to_contain_text("your child and their therapist")
    parent.get_by_role("button", name="Start the check").click()
    parent.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
    screenshot(parent, "practice-parent-390")
    assert serious_violations(parent) == []
    _no_sideways_scroll(parent)
    parent_phone.close()

    small = browser.new_context(**SMALL)
    narrow = small.new_page()
    narrow.goto(url)
    narrow.get_by_role("button", name="Start the check").click()
    narrow.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
    _no_sideways_scroll(narrow)
    screenshot(narrow, "practice-young-person-320")
    assert serious_violations(narrow) == []
    # in Arabic, chosen on the page: right to left, laid out from the right, still no
    # sideways scroll
    narrow.get_by_role("link", name="العربية").click()
    narrow.wait_for_url("**?lang=ar")
    expect(narrow.locator("html")).to_have_attribute("dir", "rtl")
    expect(narrow.get_by_role("heading", level=1)).to_have_text("تدرّب قبل جلستك")
    narrow.get_by_role("button", name="ابدأ التحقق").click()  # "Start the check"
    narrow.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
    tile = narrow.locator(".preview-tile.self span").bounding_box()
    video = narrow.locator("#preview-self-tile").bounding_box()
    assert tile and video and tile["x"] + tile["width"] > video["x"] + video["width"] - 8
    _no_sideways_scroll(narrow)
    screenshot(narrow, "practice-young-person-320-ar")
    assert serious_violations(narrow) == []
    small.close()

    wide = browser.new_context(viewport={"width": 1366, "height": 900})
    desk = wide.new_page()
    desk.goto(url)
    desk.get_by_role("button", name="Start the check").click()
    desk.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
    screenshot(desk, "practice-young-person-1366")
    assert serious_violations(desk) == []
    wide.close()
    assert _counts(server) == before
