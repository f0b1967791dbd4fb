"""The whiteboard in Chromium: the therapist places a sticker and draws a line, the young
person sees both; the young person shares a photo, the therapist sees it, with no metadata."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import screenshot, serious_violations
from tests.browser.session_flow import admit, my_id, open_room, prepare, therapist_page, walk_in
from tests.helpers import ServerProcess
from tests.test_images import _jpeg_with_gps

pytestmark = pytest.mark.browser
VISIBLE = (
    "() => [...window.playroom.board.elements.values()].filter(e => e.visible).map(e => e.kind)"
)


def _kinds(page: Page) -> list[str]:
    return list(page.evaluate(VISIBLE))


def _board_box(page: Page) -> dict[str, float]:
    """The board as the canvas draws it, in CSS pixels: the canvas fills its space, and the
    board (4:3) is fitted into it."""
    page.locator("#board").scroll_into_view_if_needed()
    box = page.evaluate("() => window.playroom.board.boardBox()")
    return {"x": box["left"], "y": box["top"], "width": box["width"]}


def _draw_line(page: Page) -> None:
    box = _board_box(page)
    page.mouse.move(box["x"] + 80, box["y"] + 80)
    page.mouse.down()
    for step in range(1, 25):
        page.mouse.move(box["x"] + 80 + step * 12, box["y"] + 80 + step * 6)
    page.mouse.up()


def test_sticker_line_and_picture_reach_the_other_side(
    browser: Browser, live_server: ServerProcess, tmp_path: Path
) -> None:
    context, therapist, _ = therapist_page(browser, live_server, "bea")
    session = prepare(therapist, live_server, name="Kai")
    open_room(therapist, live_server, session)
    young_context = browser.new_context(viewport={"width": 1100, "height": 900})
    young = young_context.new_page()
    walk_in(young, session.links["young_person"])
    my_id(young)
    admit(therapist, "Young person")
    young.wait_for_function("() => window.playroom.board !== undefined")

    therapist.get_by_role("button", name="Minis", exact=True).click()
    therapist.get_by_label("Find a miniature").fill("dog")
    therapist.get_by_role("button", name="Put dog on the tray", exact=True).first.click()
    _draw_line(therapist)
    young.wait_for_function(
        "() => [...window.playroom.board.elements.values()]"
        ".some(e => e.kind === 'stroke' && e.finished)"
    )  # the line arrives point by point: wait for its end
    assert sorted(_kinds(young)) == ["sticker", "stroke"]
    stroke = young.evaluate(
        "() => [...window.playroom.board.elements.values()].find(e => e.kind === 'stroke')"
    )
    assert stroke["finished"] and len(stroke["points"]) >= 20
    # the canvas really shows it: pixels along the line are not white
    painted = young.evaluate(
        "() => { const c = document.getElementById('board').getContext('2d');"
        " const d = c.getImageData(0, 0, c.canvas.width, c.canvas.height).data; let n = 0;"
        " for (let i = 0; i < d.length; i += 4) if (d[i] < 200) n++; return n; }"
    )
    assert painted > 500
    screenshot(young, "board-young")
    assert serious_violations(young) == []

    # the rubber takes the sticker away, for both
    therapist.get_by_role("button", name="Rubber").click()
    sticker = therapist.evaluate(
        "() => [...window.playroom.board.elements.values()].find(e => e.kind === 'sticker').data"
    )
    box = _board_box(therapist)
    scale = box["width"] / 1600
    therapist.mouse.click(
        box["x"] + (sticker["x"] + 80) * scale, box["y"] + (sticker["y"] + 80) * scale
    )
    young.wait_for_function(f"() => !({VISIBLE})().includes('sticker')")
    therapist.get_by_role("button", name="Pen", exact=True).click()

    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(_jpeg_with_gps())
    young.locator("[data-share]").set_input_files(str(photo))
    expect(young.locator("#board-status")).to_contain_text("on the board")
    therapist.wait_for_function(f"() => ({VISIBLE})().includes('picture')")
    therapist.wait_for_function(
        "() => { const b = window.playroom.board;"
        " const p = [...b.elements.values()].find(e => e.kind === 'picture');"
        " const img = b.images.get(p.data.object); return img && img.naturalWidth > 0; }"
    )
    # "show me": a still from the therapist's camera reaches the young person's board
    therapist.get_by_role("button", name="Photo", exact=True).click()
    therapist.get_by_role("button", name="Show me: share a photo from my camera").click()
    young.wait_for_function(f"() => ({VISIBLE})().filter(k => k === 'picture').length === 2")

    # a picture too large is refused at once with the reason, and its bytes never go: what
    # the page says from then on is the reason, then the next picture arriving (the
    # channel keeps order, so refusals of sent bytes would come before it)
    young.evaluate(
        "() => { const s = document.getElementById('board-status'); window.said = [];"
        " new MutationObserver(() => window.said.push(s.textContent))"
        ".observe(s, { childList: true, characterData: true, subtree: true }); }"
    )
    huge = tmp_path / "huge.png"
    huge.write_bytes(bytes(9 * 1024 * 1024))
    young.locator("[data-share]").set_input_files(str(huge))
    expect(young.locator("#board-status")).to_contain_text("limited to 8 MB")
    young.locator("[data-share]").set_input_files(str(photo))
    young.wait_for_function(f"() => ({VISIBLE})().filter(k => k === 'picture').length === 3")
    said = young.evaluate("() => window.said")
    assert not [line for line in said if "not complete" in line or "begin" in line], said
    screenshot(therapist, "board-therapist")
    assert serious_violations(therapist) == []

    # the session ends: nothing stays in the young person's page
    therapist.get_by_role("button", name="End session").click()
    expect(young.get_by_role("heading", name="See you next time")).to_be_visible()
    assert young.evaluate("() => window.playroom.board.elements.size") == 0
    assert young.evaluate("() => localStorage.length + sessionStorage.length") == 0
    young_context.close()
    context.close()
