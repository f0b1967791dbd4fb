"""Items on the board in Chromium, a therapist's page and a young person's in one room: a
sticker dragged on one page sits where it was dropped on the other and after a reload; a
two-finger pinch (touch events through the DevTools protocol) resizes one; one moved with
the keyboard; a locked one does not move for the young person; both pages show the same
dice; a stroke goes to the server once, at pen-up, and the rubber takes it away; the
therapist hides the library from the young person and lays a sand tray for both.

The pages are driven through the canvas (mouse, touch, keys) and the board view's own API
(``window.playroom.board``), which the toolbar calls: the toolbar itself is not what these
tests are about."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.conftest import screenshot
from tests.browser.session_flow import (
    admit,
    my_id,
    open_room,
    pinch,
    prepare,
    same_place,
    therapist_page,
    walk_in,
)
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser
BOARD = "window.playroom.board"
ELEMENT = (
    f"(id) => {{ const e = {BOARD}.elements.get(id);"
    " return e ? JSON.parse(JSON.stringify(e)) : null; }"
)
# a board point (x, y) where the page shows it, in CSS pixels (through the board's fit in
# its canvas)
CLIENT = f"([x, y]) => {BOARD}.clientPoint(x, y)"


@dataclass
class Room:
    therapist: Page
    young: Page
    contexts: list[BrowserContext]
    url: str


@pytest.fixture(scope="module")
def room(browser: Browser, live_server: ServerProcess) -> Iterator[Room]:
    """One session for the module, both pages on the board: the young person's device takes
    touch as well as a mouse."""
    context, therapist, _ = therapist_page(browser, live_server, "ines")
    session = prepare(therapist, live_server, name="Noor")
    open_room(therapist, live_server, session)
    young_context = browser.new_context(viewport={"width": 1100, "height": 900}, has_touch=True)
    young = young_context.new_page()
    walk_in(young, session.links["young_person"])
    my_id(young)
    admit(therapist, "Young person")
    for page in (therapist, young):
        _board_open(page)
    yield Room(
        therapist, young, [context, young_context], f"{live_server.url}/sessions/{session.id}/room"
    )
    for c in (young_context, context):
        c.close()


def _board_open(page: Page) -> None:
    page.wait_for_function(f"() => {BOARD} && {BOARD}.snapshots.length > 0", timeout=30000)
    page.locator("#board").scroll_into_view_if_needed()


def _element(page: Page, element_id: str) -> dict[str, Any]:
    found = page.evaluate(ELEMENT, element_id)
    assert found is not None, element_id
    return dict(found)


def _arrived(page: Page, element_id: str, check: str = "true") -> dict[str, Any]:
    """The element once it is on ``page`` and ``check`` (JS of ``e``) holds for it."""
    page.wait_for_function(
        f"(id) => {{ const e = {BOARD}.elements.get(id); return e && ({check}); }}",
        arg=element_id,
        timeout=15000,
    )
    return _element(page, element_id)


def _client(page: Page, x: float, y: float) -> tuple[float, float]:
    cx, cy = page.evaluate(CLIENT, [x, y])
    return float(cx), float(cy)


def _put(page: Page, call: str) -> str:
    """Call the view (``place(...)``, ``roll(...)``) and return the id of what it made."""
    return str(page.evaluate(f"() => {{ {BOARD}.{call}; return {BOARD}.wanted; }}"))


def _drag(
    page: Page, start: tuple[float, float], end: tuple[float, float], steps: int = 12
) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    for i in range(1, steps + 1):
        page.mouse.move(
            start[0] + (end[0] - start[0]) * i / steps, start[1] + (end[1] - start[1]) * i / steps
        )
    page.mouse.up()


def test_a_dragged_sticker_sits_where_it_was_dropped_for_both_and_after_a_reload(
    room: Room,
) -> None:
    t, y = room.therapist, room.young
    dog = _put(t, 'place("dog")')
    start = _arrived(y, dog)["place"]
    assert start["x"] != 0 and _arrived(t, dog)["place"] == start
    y.evaluate(f"() => {{ {BOARD}.tool = 'select'; }}")
    scale = y.evaluate(f"() => {BOARD}.boardBox().width") / 1600
    here = _client(y, start["x"], start["y"])
    there = (here[0] + 200 * scale, here[1] + 120 * scale)
    _drag(y, here, there)
    moved = _arrived(t, dog, f"e.place.x !== {start['x']}")["place"]
    assert abs(moved["x"] - (start["x"] + 200)) < 2 and abs(moved["y"] - (start["y"] + 120)) < 2
    same_place(y, dog, moved)  # where the young person dropped it, for both
    assert y.evaluate(f"() => {BOARD}.selected.id") == dog
    screenshot(y, "items-dragged")
    # and after a reload, from the server's stored board
    t.reload()
    _board_open(t)
    assert _arrived(t, dog)["place"] == moved


def test_a_two_finger_pinch_resizes_and_turns_an_item(room: Room) -> None:
    t, y = room.therapist, room.young
    cat = _put(y, 'place("cat")')
    start = _arrived(y, cat)["place"]
    y.evaluate(f"() => {{ {BOARD}.tool = 'select'; }}")
    cx, cy = _client(y, start["x"], start["y"])
    pinch(y, cx, cy)
    pinched = _arrived(t, cat, "e.place.scale > 1.5")["place"]
    # from 30 px apart to 2 × (45, 15): three times as far, turned by atan(15 / 45)
    assert abs(pinched["scale"] - 3.16) < 0.1 and abs(pinched["rotation"] - 18.4) < 1.5
    same_place(y, cat, pinched)


def test_an_item_is_picked_with_tab_and_moved_with_the_arrow_keys(room: Room) -> None:
    t, y = room.therapist, room.young
    house = _put(t, 'place("house")')
    start = _arrived(t, house)["place"]
    t.evaluate(f"() => {{ {BOARD}.selected = null; }}")
    t.locator("#board").focus()
    for _ in range(30):  # Tab goes through the items, back to front: the house is the last
        t.keyboard.press("Tab")
        if t.evaluate(f"() => {BOARD}.selected?.id") == house:
            break
    assert t.evaluate(f"() => {BOARD}.selected?.id") == house
    said = t.evaluate(f"() => {BOARD}.announcer.textContent")
    assert said.startswith("House, selected") and "arrow keys" in said
    for _ in range(3):
        t.keyboard.press("ArrowRight")
    t.keyboard.press("Shift+ArrowDown")
    moved = _arrived(y, house, f"e.place.y !== {start['y']}")["place"]
    assert (moved["x"], moved["y"]) == (start["x"] + 30, start["y"] + 50)
    same_place(t, house, moved)
    t.keyboard.press("Delete")
    _arrived(y, house, "!e.visible")


@pytest.mark.hazard("HZ-14")
def test_a_locked_item_does_not_move_for_the_young_person(room: Room) -> None:
    t, y = room.therapist, room.young
    assert t.evaluate(f"() => {BOARD}.canLock") and not y.evaluate(f"() => {BOARD}.canLock")
    sun = _put(t, 'place("sun")')
    _arrived(t, sun)
    t.evaluate(f"(id) => {{ {BOARD}.selected = id; {BOARD}.lockSelected(true); }}", sun)
    place = _arrived(y, sun, "e.locked")["place"]
    y.evaluate(
        f"() => {{ window.refused = []; {BOARD}.onError = (m) => window.refused.push(m.code);"
        f" {BOARD}.tool = 'select'; }}"
    )
    # a drag, the keyboard, the rubber: nothing moves it
    here = _client(y, place["x"], place["y"])
    _drag(y, here, (here[0] + 120, here[1] + 60))
    assert y.evaluate(f"() => {BOARD}.selected.id") == sun
    y.locator("#board").focus()
    y.keyboard.press("ArrowLeft")
    y.keyboard.press("Delete")
    assert "locked in place" in y.evaluate(f"() => {BOARD}.announcer.textContent")
    y.evaluate(f"() => {{ {BOARD}.tool = 'erase'; }}")
    y.mouse.click(*here)
    # nor does the operation itself, sent anyway: the server refuses it
    y.evaluate(f"(id) => {BOARD}.send({{op: 'transform', target: id, x: 5, y: 5, scale: 1}})", sun)
    y.wait_for_function("() => window.refused.includes('locked')")
    assert y.evaluate("() => window.refused") == ["locked"]  # nothing else was even sent
    for page in (t, y):
        element = _element(page, sun)
        assert element["place"] == place and element["visible"] and element["locked"]
    # the therapist moves it
    t.evaluate(
        f"(id) => {BOARD}.send({{op: 'transform', target: id, x: 300, y: 300, scale: 1}})", sun
    )
    _arrived(y, sun, "e.place.x === 300")
    y.evaluate(f"() => {{ {BOARD}.tool = 'select'; }}")


def test_both_pages_show_the_same_dice_roll(room: Room) -> None:
    t, y = room.therapist, room.young
    dice = _put(y, "roll(2)")
    theirs = _arrived(t, dice)
    mine = _arrived(y, dice)
    assert theirs == mine and theirs["kind"] == "dice" and theirs["place"] is not None
    values = theirs["data"]["values"]
    assert len(values) == 2 and all(1 <= v <= 6 for v in values)
    assert (
        y.evaluate(f"() => {BOARD}.selected.label") == f"Dice showing {values[0]} and {values[1]}"
    )
    screenshot(t, "items-dice")


def test_a_stroke_goes_once_at_pen_up_and_the_rubber_takes_it_away(room: Room) -> None:
    t, y = room.therapist, room.young
    # a short line by its points, however slowly a loaded machine moves the mouse: the time
    # after which a stroke goes in segments is the long stroke's test, below
    t.evaluate(f"() => {{ {BOARD}.tool = 'draw'; {BOARD}.hand.wholeMs = 60000; }}")
    before = int(y.evaluate(f"() => {BOARD}.seq"))
    a, b = _client(t, 200, 1000), _client(t, 700, 1100)
    _drag(t, a, b, steps=30)
    y.wait_for_function(f"(n) => {BOARD}.seq > n", arg=before)
    stroke = y.evaluate(
        f"() => {{ const s = [...{BOARD}.elements.values()].filter(e => e.kind === 'stroke');"
        " return JSON.parse(JSON.stringify(s.at(-1))); }"
    )
    assert stroke["finished"] and len(stroke["points"]) >= 20
    assert int(y.evaluate(f"() => {BOARD}.seq")) == before + 1  # one operation for the line
    t.evaluate(f"() => {{ {BOARD}.tool = 'erase'; }}")
    middle = stroke["points"][len(stroke["points"]) // 2]
    m = _client(t, middle[0], middle[1])
    _drag(t, (m[0] - 10, m[1] - 20), (m[0] + 10, m[1] + 20), steps=5)  # a swipe across it
    _arrived(y, stroke["id"], "!e.visible")
    t.evaluate(f"() => {{ {BOARD}.hand.wholeMs = 2000; }}")


def test_shapes_and_text_made_on_one_page_reach_the_other(room: Room) -> None:
    t, y = room.therapist, room.young
    made = (
        "(kind) => [...window.playroom.board.elements.values()].filter(e => e.kind === kind).length"
    )
    shapes, texts = y.evaluate(made, "shape"), y.evaluate(made, "text")
    t.evaluate(f"() => {{ {BOARD}.tool = 'ellipse'; {BOARD}.colour = '#c81e1e'; }}")
    _drag(t, _client(t, 1000, 250), _client(t, 1300, 450))
    y.wait_for_function(f"(n) => ({made})('shape') > n", arg=shapes)
    t.evaluate(f"() => {{ {BOARD}.tool = 'text'; {BOARD}.textSize = 40; }}")
    t.mouse.click(*_client(t, 1100, 700))
    box = t.get_by_label("Text to put on the board")
    box.fill("Hello Noor")
    box.press("Enter")
    y.wait_for_function(f"(n) => ({made})('text') > n", arg=texts)
    elements = y.evaluate(f"() => JSON.parse(JSON.stringify([...{BOARD}.elements.values()]))")
    ellipse = [e for e in elements if e["kind"] == "shape"][-1]
    text = [e for e in elements if e["kind"] == "text"][-1]
    assert ellipse["data"]["kind"] == "ellipse" and ellipse["data"]["colour"] == "#c81e1e"
    assert abs(ellipse["place"]["w"] - 300) < 3 and abs(ellipse["place"]["h"] - 200) < 3
    assert text["data"]["text"] == "Hello Noor" and text["data"]["size"] == 40
    assert abs(text["place"]["x"] - 1100) < 2 and abs(text["place"]["y"] - 700) < 2
    t.evaluate(f"() => {{ {BOARD}.tool = 'draw'; }}")


def test_live_messages_are_checked_before_they_are_shown(room: Room) -> None:
    t, y = room.therapist, room.young
    dog = _put(t, 'place("dog")')
    place = _arrived(y, dog)["place"]
    lock = _put(t, 'place("star")')
    _arrived(t, lock)
    t.evaluate(f"(id) => {{ {BOARD}.selected = id; {BOARD}.lockSelected(true); }}", lock)
    _arrived(y, lock, "e.locked")
    shown = f"(m) => {BOARD}.showLive(m)"
    move = {"kind": "move", "id": dog, "x": 400, "y": 300, "rotation": 10, "scale": 1.5}
    for bad in (
        {**move, "x": 1e6},
        {**move, "scale": 50},
        {**move, "scale": None, "w": 10, "h": 10},  # a sticker is sized by scale
        {**move, "id": "nobody"},
        {**move, "id": lock},  # locked
        {**move, "author": "staff"},
        {"kind": "points", "id": "s-1", "colour": "#000000", "width": 4, "points": [[1, 1, 2]]},
        {"kind": "points", "id": "s-1", "colour": "red", "width": 4, "points": [[1, 1, 0.5]]},
        {
            "kind": "points",
            "id": "s-1",
            "colour": "#000000",
            "width": 4,
            "points": [[1, 1, 0.5]] * 201,
        },  # fmt: skip
        {"kind": "points", "id": dog, "colour": "#000000", "width": 4, "points": [[1, 1, 0.5]]},
        {"kind": "wave", "id": dog},
    ):
        assert y.evaluate(shown, bad) is False, bad
    assert y.evaluate(shown, move) is True
    assert y.evaluate(f"(id) => {BOARD}.placeOf({BOARD}.elements.get(id)).x", dog) == 400
    assert _element(y, dog)["place"] == place  # the board itself is untouched
    stroke = {"kind": "points", "id": "s-live", "colour": "#000000", "width": 4}
    for _ in range(25):
        assert y.evaluate(shown, {**stroke, "points": [[5, 5, 0.5]] * 200}) is True
    assert y.evaluate(shown, {**stroke, "points": [[5, 5, 0.5]]}) is False  # past 5,000 points
    assert y.evaluate(shown, {"kind": "end", "id": dog}) is True
    assert y.evaluate(f"(id) => {BOARD}.placeOf({BOARD}.elements.get(id)).x", dog) == place["x"]


def test_a_long_stroke_goes_in_segments_and_one_past_5000_points_goes_on_as_another(
    room: Room,
) -> None:
    """What the pen sends, caught before it leaves the page: a stroke of 1,200 points drawn
    in a breath goes as segments of at most 200 points and an end; 6,000 points go as two
    strokes of at most 5,000, the second going on from the first."""
    sent = room.young.evaluate(
        f"""() => {{
        const view = {BOARD}, hand = view.hand, sent = [], send = view.send;
        view.send = (op) => sent.push(op);
        const line = (n, from) => Array.from({{length: n}}, (_, i) =>
            [100 + ((from + i) % 1400), 100 + Math.floor((from + i) / 1400), 0.5]);
        try {{
            hand.startStroke([100, 100, 0.5], 99);
            hand.addPoints(line(1200, 1));
            hand.segment();  // the 250 ms tick: a stroke this long goes in segments
            hand.addPoints(line(50, 1201));
            hand.segment();
            hand.finishStroke();
            hand.gesture = null;
            hand.startStroke([100, 100, 0.5], 99);
            hand.addPoints(line(6000, 1));
            hand.finishStroke();
            hand.gesture = null;
        }} finally {{ view.send = send; }}
        return sent.map((op) => ({{op: op.op, id: op.id, n: op.points ? op.points.length : 0}}));
    }}"""
    )
    end = next(i for i, op in enumerate(sent) if op["op"] == "stroke_end")
    long, rest = sent[: end + 1], sent[end + 1 :]
    # 1,201 points at the first tick (200, then 6 segments), 50 at the next, then the end
    assert [op["op"] for op in long] == ["stroke_begin"] + ["stroke_points"] * 7 + ["stroke_end"]
    assert all(op["n"] <= 200 for op in long) and sum(op["n"] for op in long) == 1251
    assert len({op["id"] for op in long}) == 1
    # 6,001 points: a stroke of 5,000 (in segments: too long for one frame), then the rest
    ids = list(dict.fromkeys(op["id"] for op in rest))
    assert len(ids) == 2
    first = [op for op in rest if op["id"] == ids[0]]
    second = [op for op in rest if op["id"] == ids[1]]
    assert sum(op["n"] for op in first) == 5000 and first[-1]["op"] == "stroke_end"
    assert sum(op["n"] for op in second) == 1002  # from the last point of the first on
    assert second[0]["op"] in ("stroke", "stroke_begin")


# the canvas's pixel at board point (x, y)
PIXEL = (
    f"([x, y]) => {{ const [px, py] = {BOARD}.canvasPoint(x, y).map(Math.floor);"
    " return [...document.getElementById('board').getContext('2d')"
    ".getImageData(px, py, 1, 1).data]; }"
)


@pytest.mark.hazard("HZ-15")
def test_the_therapist_hides_the_library_and_lays_a_sand_tray_for_both_pages(room: Room) -> None:
    t, y = room.therapist, room.young
    minis = "() => document.querySelector('[data-library]').hidden"
    tray = "() => document.querySelector('[aria-controls=panel-tray]').hidden"
    assert not y.evaluate(minis) and not t.evaluate(minis)
    assert y.evaluate(tray) and not t.evaluate(tray)  # the tray is the therapist's to lay
    t.evaluate(f"() => {BOARD}.setLibraryHidden(true)")
    y.wait_for_function(minis)  # gone from the young person's toolbar, without a reload
    assert y.evaluate(f"() => {BOARD}.libraryHidden") is True
    assert not t.evaluate(minis) and t.evaluate(f"() => {BOARD}.libraryHidden") is False
    # a sticker asked for anyway is refused by the server
    y.evaluate(
        f"() => {{ window.refused = []; {BOARD}.onError = (m) => window.refused.push(m.code); }}"
    )
    _put(y, 'place("cat")')
    y.wait_for_function("() => window.refused.includes('not_allowed')")
    # the therapist chooses the sand tray from the toolbar: both canvases show it
    corner = [1598, 2]  # clear of every item: a free spot keeps 20 units from the edge
    assert y.evaluate(PIXEL, corner)[:3] == [255, 255, 255]
    t.locator("[aria-controls=panel-tray]").click()
    t.locator("[data-background=sand]").click()
    sand = (0xE6, 0xCF, 0x9C)
    for page in (t, y):
        page.wait_for_function(f"() => {BOARD}.background === 'sand'")
        page.wait_for_function(
            "([xy, sand]) => { const p = (" + PIXEL + ")(xy);"
            " return sand.every((c, i) => Math.abs(p[i] - c) < 40); }",
            arg=[corner, list(sand)],
        )
    screenshot(y, "items-sand-tray")
    # as they were, for whatever runs next
    t.evaluate(f"() => {{ {BOARD}.setBackground(null); {BOARD}.setLibraryHidden(false); }}")
    y.wait_for_function(f"() => !({minis})() && {BOARD}.background === null")


def test_the_therapist_saves_the_board_as_a_scene_that_the_box_shows(room: Room) -> None:
    """From the room's panel the board goes into the child's box by name, with a thumbnail."""
    t = room.therapist
    form = t.locator("#save-scene")
    form.get_by_label("Save the board as a scene in the box").fill("The castle")
    form.get_by_role("button", name="Save scene").click()
    t.wait_for_function(
        "() => document.getElementById('scene-status').textContent.includes('The castle')"
    )
    base, session = room.url.split("/sessions/")[0], room.url.split("/")[-2]
    scenes = t.evaluate(
        "(url) => fetch(url).then((r) => r.json())", f"{base}/api/sessions/{session}/scenes"
    )
    assert [s["name"] for s in scenes["scenes"]][:1] == ["The castle"]
    assert scenes["scenes"][0]["thumbnail"]
