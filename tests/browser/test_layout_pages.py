"""The room's layout in Chromium. On a phone (320 and 390 px wide, and turned on its side) the
board's space fills the screen and the board (4:3, as the server's) is as large as that space
allows; the videos float over it without covering the tools, and the tools fit the width with
every panel open: no sideways scroll (WCAG 1.4.10 Reflow, which axe cannot see). On the
therapist's desktop page the board is the largest thing and nothing pushes it below the fold.
Every button is at least 44 px, a young person sees no control they cannot use, and axe finds
nothing.

A tool is shown once the board view offers it; these tests lend the view a stand-in for any
it does not offer yet (the tray's backgrounds), so that every panel is laid out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import screenshot, serious_violations
from tests.browser.session_flow import admit, my_id, open_room, prepare, therapist_page, walk_in
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser

PHONES = [(320, 568), (390, 844), (844, 390)]
DESKTOP = {"width": 1366, "height": 768}

# no sideways scroll, and no page wider than the screen (a phone widens its layout viewport
# to whatever overflows, so innerWidth alone would not tell)
NO_SIDEWAYS_SCROLL = "(w) => document.documentElement.scrollWidth <= w && innerWidth <= w"
# how far the whole page scrolls down (a room on a desktop fills the screen and scrolls
# nothing: only its side panel scrolls, within itself)
PAGE_SCROLLS = "() => document.documentElement.scrollHeight - innerHeight"
# every button (and disclosure summary, and the label that opens the file picker) shown on
# the page, narrower or shorter than 44 px
SMALL_TARGETS = """() => [...document.querySelectorAll('button, summary, label.share-picture')]
  .filter((e) => e.checkVisibility())
  .map((e) => [e, e.getBoundingClientRect()])
  .filter(([, r]) => r.width < 43.5 || r.height < 43.5)
  .map(([e, r]) => `${e.getAttribute('aria-label') || e.textContent.trim()}:`
    + ` ${Math.round(r.width)}x${Math.round(r.height)}`)"""
SPACE_SHARE = """() => { const r = document.querySelector('.board-space').getBoundingClientRect();
  return (r.width * r.height) / (innerWidth * innerHeight); }"""
# the canvas covers the board's space, and the board drawn in it is the largest 4:3 rectangle
# that space holds
BOARD_FITS = """() => { const s = document.querySelector('.board-space').getBoundingClientRect();
  const c = document.getElementById('board').getBoundingClientRect();
  const b = window.playroom.board.boardBox();
  const w = Math.min(s.width, (s.height * 4) / 3);
  return ['left', 'top', 'width', 'height'].every((k) => Math.abs(c[k] - s[k]) < 1)
    && Math.abs(b.width - w) < 2 && Math.abs(b.height - (w * 3) / 4) < 2; }"""
# what is shown that is larger than the board's canvas (its own ancestors apart)
LARGER_THAN_BOARD = """() => { const board = document.getElementById('board');
  const r = board.getBoundingClientRect(); const area = r.width * r.height;
  return [...document.querySelectorAll('body *')]
    .filter((e) => e !== board && !e.contains(board) && e.checkVisibility())
    .filter((e) => { const b = e.getBoundingClientRect(); return b.width * b.height > area; })
    .map((e) => e.tagName + '.' + e.className); }"""
# video tiles overlapping the bar above the board or the tools below it
TILES_ON_TOOLS = """() => { const tools = [...document.querySelectorAll('.board-dock, .room-top')]
  .filter((e) => e.checkVisibility()).map((e) => e.getBoundingClientRect());
  const meet = (a, b) =>
    a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  return [...document.querySelectorAll('#stage .tile')].filter((t) => t.checkVisibility())
    .filter((t) => tools.some((r) => meet(t.getBoundingClientRect(), r))).length; }"""
LEND_NEW_TOOLS = """() => { const view = window.playroom.board;
  if (!('tool' in view)) view.tool = view.mode;
  view.roll ??= () => {}; view.setBackground ??= () => {};
  view.onSettings(); }"""
PANEL_BUTTONS = "[role=toolbar] button[aria-controls]:visible"


@pytest.fixture(scope="module")
def room(browser: Browser, live_server: ServerProcess) -> Iterator[tuple[Page, Page]]:
    """A therapist at a desktop and a young person on a phone, in one room."""
    context, therapist, _ = therapist_page(browser, live_server, "lena")
    therapist.set_viewport_size(DESKTOP)
    session = prepare(therapist, live_server, name="Mo")
    open_room(therapist, live_server, session)
    young_context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    young = young_context.new_page()
    walk_in(young, session.links["young_person"])
    my_id(young)
    expect(therapist.locator("#waiting")).to_contain_text("Young person")
    screenshot(therapist, "layout-therapist-waiting")
    admit(therapist, "Young person")
    expect(young.get_by_role("button", name="Break please")).to_be_visible()
    young.wait_for_function("() => window.playroom.board !== undefined")
    for page in (therapist, young):
        page.evaluate(LEND_NEW_TOOLS)
    yield therapist, young
    young_context.close()
    context.close()


def _fits(page: Page) -> bool:
    """No sideways scroll at the page's viewport width."""
    viewport = page.viewport_size
    assert viewport is not None
    return bool(page.evaluate(NO_SIDEWAYS_SCROLL, viewport["width"]))


def _check_each_panel(page: Page, name: str) -> None:
    """Open every panel in turn: the page never scrolls sideways, each panel lies within the
    screen, every button in sight is 44 px or more; one screenshot a panel."""
    buttons = page.locator(PANEL_BUTTONS)
    labels = [b.inner_text().strip() for b in buttons.all()]
    assert len(labels) >= 6, labels
    me = page.locator(".me-button")
    openers = [*buttons.all(), *([me] if me.count() else [])]
    for button in openers:
        label = button.inner_text().split("\n")[0].strip()
        button.click()
        expect(button).to_have_attribute("aria-expanded", "true")
        panel = page.locator(f"#{button.get_attribute('aria-controls')}")
        expect(panel).to_be_visible()
        assert _fits(page), f"{name}: sideways scroll with {label} open"
        box = panel.bounding_box()
        viewport = page.viewport_size
        assert box is not None and viewport is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 0.5, label
        assert box["y"] >= 0, f"{name}: the {label} panel runs off the top"
        assert page.evaluate(SMALL_TARGETS) == [], f"{name}, {label} open"
        screenshot(page, f"layout-{name}-{label.lower().replace(' ', '-')}")
        button.click()  # the same button closes it
        expect(button).to_have_attribute("aria-expanded", "false")
        expect(panel).to_be_hidden()


@pytest.mark.parametrize(("width", "height"), PHONES, ids=[f"{w}x{h}" for w, h in PHONES])
def test_the_board_fills_a_phone(room: tuple[Page, Page], width: int, height: int) -> None:
    _, young = room
    young.set_viewport_size({"width": width, "height": height})
    young.wait_for_timeout(200)  # the resize settles (the tiles follow it)
    name = f"young-{width}x{height}"
    screenshot(young, f"layout-{name}")
    share = young.evaluate(SPACE_SHARE)
    assert share >= 0.7, f"{name}: the board's space has {share:.0%} of the screen"
    assert young.evaluate(BOARD_FITS)
    assert _fits(young)
    assert young.evaluate("() => document.documentElement.scrollHeight <= innerHeight + 1")
    assert young.evaluate(TILES_ON_TOOLS) == 0
    assert young.evaluate(SMALL_TARGETS) == []
    # the safety controls are in sight at every size, never in a panel
    for control in ("Break please", "It's not private now", "Exit now"):
        expect(young.get_by_role("button", name=control)).to_be_in_viewport()
    assert serious_violations(young) == []
    _check_each_panel(young, name)


@pytest.mark.hazard("HZ-36")
def test_the_board_takes_the_therapists_screen(room: tuple[Page, Page]) -> None:
    therapist, _ = room
    therapist.set_viewport_size(DESKTOP)
    screenshot(therapist, "layout-therapist-1366x768")
    assert therapist.evaluate(LARGER_THAN_BOARD) == []
    board = therapist.locator("#board").bounding_box()
    assert board is not None
    assert board["y"] + board["height"] <= DESKTOP["height"] + 1  # not below the fold
    assert therapist.evaluate(BOARD_FITS)
    assert therapist.evaluate(SPACE_SHARE) >= 0.6
    assert _fits(therapist)
    assert therapist.evaluate(PAGE_SCROLLS) <= 0  # the side panel's content stays inside it
    # the young person's face in sight on a laptop's screen, the side panel as it opens and
    # the alerts of a long session above it: a therapist never scrolls to see the child
    therapist.locator(".side-scroll").evaluate("(side) => side.scrollTo(0, 0)")
    expect(therapist.locator("#lobby")).to_be_hidden()  # nobody waits: it steps aside
    long = "a longer alert, as a young person checking in gives. " * 3
    for n in range(12):
        therapist.locator("#alerts").evaluate("(box) => { box.scrollTop = box.scrollHeight; }")
        therapist.evaluate("(text) => window.playroom.alert(text)", f"Alert {n}: {long}")
    expect(therapist.locator("#alerts .alert").first).to_contain_text("Alert 11")
    expect(therapist.locator("#alerts")).to_be_in_viewport(ratio=1)  # the older ones within it
    newest = therapist.evaluate(
        "() => { const box = document.getElementById('alerts');"
        " const top = (e) => e.getBoundingClientRect().top;"
        " return top(box.firstElementChild) - top(box); }"
    )
    assert 0 <= newest < 2  # the newest at the top of the box, in sight
    expect(therapist.locator(".stage .tile:not(.self)")).to_be_in_viewport(ratio=1)
    # nothing covers the face until the pointer is on the video, or the keyboard on a button
    tile = therapist.locator(".stage .tile:not(.self)")
    buttons = tile.locator(".person-controls")
    therapist.mouse.move(5, 400)  # over the board
    assert buttons.evaluate("(b) => getComputedStyle(b).opacity") == "0"
    tile.hover()
    assert buttons.evaluate("(b) => getComputedStyle(b).opacity") == "1"
    therapist.mouse.move(5, 400)
    tile.get_by_role("button", name="Remove Young person").focus()
    assert buttons.evaluate("(b) => getComputedStyle(b).opacity") == "1"
    # escalation, at the panel's foot, is one click from the controls: in sight below them
    therapist.get_by_role("button", name="Escalate a concern").click()
    expect(therapist.locator("#concern")).to_be_focused()
    escalate = therapist.get_by_role("button", name="Escalate now")
    expect(escalate).to_be_in_viewport(ratio=1)
    card_top = therapist.locator(".side-scroll .escalate").evaluate(
        "(card) => card.getBoundingClientRect().top"
    )
    scroller = therapist.locator(".side-scroll").bounding_box()
    assert scroller is not None and card_top >= scroller["y"] - 1  # under the controls, whole
    therapist.locator(".side-scroll").evaluate("(side) => side.scrollTo(0, 0)")
    assert therapist.evaluate(SMALL_TARGETS) == []
    # the waiting room, the plan and escalation live in the side panel, reachable there
    side = therapist.locator(".room-side")
    for part in ("Escalate a concern", "The board"):
        expect(side.get_by_role("heading", name=part)).to_be_attached()
    expect(side.locator("#lobby")).to_be_attached()  # shown there when someone waits
    expect(side.get_by_role("button", name="End session")).to_be_in_viewport()
    assert serious_violations(therapist) == []
    _check_each_panel(therapist, "therapist-1366x768")
    # on a narrow screen the side panel goes under the board, and nothing scrolls sideways
    therapist.set_viewport_size({"width": 390, "height": 844})
    assert _fits(therapist)
    assert therapist.evaluate(SMALL_TARGETS) == []
    screenshot(therapist, "layout-therapist-390x844")
    therapist.set_viewport_size(DESKTOP)


def test_a_young_person_sees_only_what_they_may_use(room: tuple[Page, Page]) -> None:
    therapist, young = room
    young.set_viewport_size({"width": 390, "height": 844})
    tools = young.get_by_role("toolbar", name="Board tools")
    expect(tools.get_by_role("button", name="Clear board")).to_be_hidden()
    expect(
        therapist.get_by_role("toolbar").get_by_role("button", name="Clear board")
    ).to_be_visible()
    assert young.locator("[data-lock]").count() == 0  # locking is the therapist's alone
    # the board says the therapist let others clear, or hid the miniatures
    young.evaluate(
        "() => { window.playroom.board.canClear = true; window.playroom.board.onSettings(); }"
    )
    expect(tools.get_by_role("button", name="Clear board")).to_be_visible()
    young.evaluate(
        "() => { const v = window.playroom.board; v.canClear = false; v.libraryHidden = true;"
        " v.onSettings(); }"
    )
    expect(tools.get_by_role("button", name="Clear board")).to_be_hidden()
    expect(tools.get_by_role("button", name="Minis")).to_be_hidden()
    young.evaluate(
        "() => { window.playroom.board.libraryHidden = false; window.playroom.board.onSettings(); }"
    )
    expect(tools.get_by_role("button", name="Minis")).to_be_visible()

    # something selected: front, back and delete for both; lock for the therapist only
    for page in (therapist, young):
        page.evaluate("() => window.playroom.board.onSelect({ name: 'horse', locked: false })")
    selected = young.get_by_role("group", name="Selected: horse")
    expect(selected.get_by_role("button", name="Front")).to_be_visible()
    expect(selected.get_by_role("button", name="Delete")).to_be_visible()
    expect(selected.get_by_role("button", name="Lock")).to_have_count(0)
    expect(
        therapist.get_by_role("group", name="Selected: horse").get_by_role("button", name="Lock")
    ).to_be_visible()
    screenshot(young, "layout-young-selected")
    assert _fits(young)
    assert young.evaluate(SMALL_TARGETS) == []
    # a locked item: the young person cannot move it, so is offered nothing to do to it
    young.evaluate("() => window.playroom.board.onSelect({ name: 'horse', locked: true })")
    expect(selected.get_by_role("button")).to_have_count(0)
    for page in (therapist, young):
        page.evaluate("() => window.playroom.board.onSelect(null)")
    expect(selected).to_be_hidden()


def test_videos_move_and_fold_away(room: tuple[Page, Page]) -> None:
    _, young = room
    young.set_viewport_size({"width": 390, "height": 844})
    tile = young.locator("#self-tile")
    before = tile.bounding_box()
    assert before is not None
    # dragged across the board, it stays on the board
    young.mouse.move(before["x"] + 20, before["y"] + before["height"] - 10)
    young.mouse.down()
    young.mouse.move(before["x"] - 300, before["y"] + 900, steps=8)
    young.mouse.up()
    after = tile.bounding_box()
    space = young.locator(".board-space").bounding_box()
    assert after is not None and space is not None
    assert after["x"] < before["x"] - 100 and after["y"] > before["y"] + 300
    assert after["x"] >= space["x"] - 1
    assert after["y"] + after["height"] <= space["y"] + space["height"] + 1
    assert young.evaluate(TILES_ON_TOOLS) == 0
    # the same without dragging: a button sends it to another corner
    young.get_by_role("button", name="Move your video").click()
    moved = tile.bounding_box()
    assert moved is not None and moved != after
    # folded to its name, and back
    hide = young.get_by_role("button", name="Hide your video")
    hide.click()
    expect(hide).to_have_attribute("aria-pressed", "true")
    expect(young.locator("#self-video")).to_be_hidden()
    screenshot(young, "layout-young-folded")
    hide.click()
    expect(young.locator("#self-video")).to_be_visible()


def test_the_toolbar_is_one_tab_stop_with_arrow_keys(room: tuple[Page, Page]) -> None:
    _, young = room
    tools = young.get_by_role("toolbar", name="Board tools")
    shown = tools.locator("button:visible")
    shown.first.focus()
    young.keyboard.press("ArrowRight")
    expect(shown.nth(1)).to_be_focused()
    young.keyboard.press("End")
    expect(shown.last).to_be_focused()
    young.keyboard.press("ArrowRight")  # round to the start
    expect(shown.first).to_be_focused()
    assert tools.locator("button[tabindex='0']").count() == 1
    # a panel opens from the keyboard, closes with Escape, and focus goes back to its button
    pen = tools.get_by_role("button", name="Pen")
    pen.focus()
    young.keyboard.press("Enter")
    expect(young.locator("#panel-pens")).to_be_visible()
    young.locator("#panel-pens").get_by_role("button", name="Red").focus()
    young.keyboard.press("Escape")
    expect(young.locator("#panel-pens")).to_be_hidden()
    expect(pen).to_be_focused()
