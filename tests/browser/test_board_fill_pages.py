"""The board fills the screen in Chromium, whatever its shape: on a phone held upright
(390 x 844, 320 x 568) or on its side (844 x 390), and on the therapist's desktop
(1366 x 768), the canvas takes the whole of the board's space at the screen's own pixel
density, and the board (4:3, as the server's) is drawn in it as large as it fits, with a calm
margin around it. Nothing scrolls sideways, every button is 44 px or more, and the videos
float over the margin, clear of the tools.

Whatever the screen's shape, what one person does lands at the same board position for the
other: a stroke drawn with a finger on the upright phone, an item dragged there (and on the
phone turned on its side), one pinched and one turned by its handle, and text put down, all
arrive where they were made on the therapist's desktop page, and the desktop's canvas shows
them there. A press in the margin draws nothing."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, ViewportSize

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
WIDTH, HEIGHT = 1600, 1200  # the board's extent, the same for everyone (media/places.py)
PHONES = [(390, 844), (844, 390), (320, 568)]
DESKTOP: ViewportSize = {"width": 1366, "height": 768}
DENSITY = 3  # the phone's device pixels per CSS pixel
SHOTS = Path("/tmp/board-fill")

# the canvas, the board's space, and the board as drawn in the canvas (CSS pixels), the
# canvas's bitmap, and the screen
GEOMETRY = f"""() => {{
  const c = document.getElementById('board');
  const box = (r) => ({{left: r.left, top: r.top, width: r.width, height: r.height}});
  return {{
    canvas: box(c.getBoundingClientRect()),
    space: box(document.querySelector('.board-space').getBoundingClientRect()),
    board: {BOARD}.boardBox(),
    bitmap: [c.width, c.height],
    css: [c.clientWidth, c.clientHeight],
    density: devicePixelRatio,
    screen: [innerWidth, innerHeight],
    scroll: [document.documentElement.scrollWidth, document.documentElement.scrollHeight],
  }};
}}"""
SMALL_TARGETS = """() => [...document.querySelectorAll('button, summary, label.share-picture')]
  .filter((e) => e.checkVisibility())
  .map((e) => [e, e.getBoundingClientRect()])
  .filter(([, r]) => r.width < 43.5 || r.height < 43.5)
  .map(([e, r]) => `${e.getAttribute('aria-label') || e.textContent.trim()}:`
    + ` ${Math.round(r.width)}x${Math.round(r.height)}`)"""
# shown video tiles that overlap the tools (the bar above the board, the tools below it), and
# those that overlap the board as drawn
TILES_OVER = f"""() => {{
  const meet = (a, b) =>
    a.left < b.left + b.width - 1 && b.left < a.left + a.width - 1 &&
    a.top < b.top + b.height - 1 && b.top < a.top + a.height - 1;
  const tiles = [...document.querySelectorAll('#stage .tile')]
    .filter((t) => t.checkVisibility()).map((t) => t.getBoundingClientRect());
  const tools = [...document.querySelectorAll('.board-dock, .room-top')]
    .filter((e) => e.checkVisibility()).map((e) => e.getBoundingClientRect());
  const board = {BOARD}.boardBox();
  return {{
    tools: tiles.filter((t) => tools.some((r) => meet(t, r))).length,
    board: tiles.filter((t) => meet(t, board)).length,
  }};
}}"""
ELEMENT = (
    f"(id) => {{ const e = {BOARD}.elements.get(id);"
    " return e ? JSON.parse(JSON.stringify(e)) : null; }"
)
# the colour of the canvas's pixel at board point (x, y), through the page's own fit
PIXEL_AT = f"""([x, y]) => {{
  const [px, py] = {BOARD}.canvasPoint(x, y).map(Math.floor);
  return [...document.getElementById('board').getContext('2d').getImageData(px, py, 1, 1).data];
}}"""
PIXEL = (
    "([x, y]) => [...document.getElementById('board').getContext('2d')"
    ".getImageData(x, y, 1, 1).data]"
)
MARGIN = (0xD6, 0xDD, 0xE6)


@dataclass
class Room:
    therapist: Page
    young: Page
    contexts: list[BrowserContext]


@pytest.fixture(scope="module")
def room(browser: Browser, live_server: ServerProcess) -> Iterator[Room]:
    """The therapist at a desktop, the young person on a phone held upright (touch, three
    device pixels to a CSS pixel), in one room, both boards open."""
    context, therapist, _ = therapist_page(browser, live_server, "femi")
    therapist.set_viewport_size(DESKTOP)
    session = prepare(therapist, live_server, name="Ada")
    open_room(therapist, live_server, session)
    young_context = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=DENSITY,
    )
    young = young_context.new_page()
    walk_in(young, session.links["young_person"])
    my_id(young)
    admit(therapist, "Young person")
    for page in (therapist, young):
        page.wait_for_function(f"() => {BOARD} && {BOARD}.snapshots.length > 0", timeout=30000)
    yield Room(therapist, young, [context, young_context])
    for c in (young_context, context):
        c.close()


def _shot(page: Page, name: str) -> None:
    screenshot(page, f"board-fill-{name}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _resize(page: Page, width: int, height: int) -> dict[str, Any]:
    """The page at ``width`` by ``height``, once its canvas has followed (a ResizeObserver
    sizes its bitmap after layout)."""
    page.set_viewport_size({"width": width, "height": height})
    page.wait_for_function(
        "(d) => { const c = document.getElementById('board');"
        " return innerWidth === d[0] && Math.abs(c.width - c.clientWidth * devicePixelRatio) < 2"
        " && Math.abs(c.height - c.clientHeight * devicePixelRatio) < 2; }",
        arg=[width, height],
    )
    page.wait_for_timeout(150)  # the floating tiles follow the resize too
    return dict(page.evaluate(GEOMETRY))


def _close(a: float, b: float, within: float = 1.5) -> bool:
    return abs(a - b) <= within


def _check_fills(g: dict[str, Any], name: str) -> None:
    """The canvas covers the board's space at the screen's density; the board is the largest
    4:3 rectangle the canvas holds, centred across; nothing scrolls sideways."""
    canvas, space, board = g["canvas"], g["space"], g["board"]
    for key in ("left", "top", "width", "height"):
        assert _close(canvas[key], space[key]), f"{name}: the canvas leaves its space ({key})"
    width, height = g["css"]
    assert _close(g["bitmap"][0], width * g["density"], 1)
    assert _close(g["bitmap"][1], height * g["density"], 1)
    fitted = min(canvas["width"], canvas["height"] * WIDTH / HEIGHT)
    assert _close(board["width"], fitted), (name, board, canvas)
    assert _close(board["height"], fitted * HEIGHT / WIDTH), (name, board, canvas)
    assert _close(board["left"] - canvas["left"], canvas["left"] + canvas["width"] - board["left"]
                  - board["width"], 1.5)  # fmt: skip
    assert board["top"] >= canvas["top"] - 0.5
    assert board["top"] + board["height"] <= canvas["top"] + canvas["height"] + 0.5
    assert g["scroll"][0] <= g["screen"][0], f"{name}: sideways scroll"


@pytest.mark.parametrize(("width", "height"), PHONES, ids=[f"{w}x{h}" for w, h in PHONES])
def test_the_canvas_fills_a_phone_held_either_way(room: Room, width: int, height: int) -> None:
    y = room.young
    name = f"young-{width}x{height}"
    g = _resize(y, width, height)
    _shot(y, name)
    _check_fills(g, name)
    canvas, board = g["canvas"], g["board"]
    assert canvas["width"] * canvas["height"] >= 0.6 * width * height, name
    if height > width:
        assert canvas["height"] > 0.6 * height, f"{name}: canvas {canvas['height']} px high"
        # upright, the board is in the middle, or down by the tools where the space is too
        # short for the videos above a centred board (they float in the margin above it)
        above = board["top"] - canvas["top"]
        below = canvas["top"] + canvas["height"] - board["top"] - board["height"]
        assert _close(above, below) or _close(below, 0), (name, above, below)
    else:
        assert board["height"] > 0.6 * height, f"{name}: board {board['height']} px high"
    assert g["scroll"][1] <= height + 1  # nor up and down: the room is the screen
    assert y.evaluate(SMALL_TARGETS) == []
    assert y.evaluate(TILES_OVER) == {"tools": 0, "board": 0}, name
    # the margin is drawn calm, and the board's ground only inside the board
    inside = y.evaluate(PIXEL_AT, [WIDTH - 3, 3])
    assert inside[:3] == [255, 255, 255], inside
    bitmap = g["bitmap"]
    corner = [2, 2] if height > width else [2, bitmap[1] // 2]
    assert all(abs(a - b) < 4 for a, b in zip(y.evaluate(PIXEL, corner), MARGIN, strict=False))


def test_the_therapists_desktop_gives_the_board_most_of_the_screen(room: Room) -> None:
    t = room.therapist
    g = _resize(t, DESKTOP["width"], DESKTOP["height"])
    _shot(t, "therapist-1366x768")
    _check_fills(g, "therapist-1366x768")
    canvas, board = g["canvas"], g["board"]
    assert canvas["width"] * canvas["height"] >= 0.6 * DESKTOP["width"] * DESKTOP["height"]
    assert board["height"] >= 0.8 * canvas["height"]  # a landscape space: little margin
    assert board["top"] + board["height"] <= DESKTOP["height"]  # not below the fold
    # centred up and down too (the videos are in the side panel)
    assert _close(board["top"] - canvas["top"], canvas["top"] + canvas["height"] - board["top"]
                  - board["height"], 1.5)  # fmt: skip
    assert t.evaluate(SMALL_TARGETS) == []


# -- the same board position on every screen


def _cdp(page: Page) -> CDPSession:
    return page.context.new_cdp_session(page)


def _client(page: Page, x: float, y: float) -> tuple[float, float]:
    cx, cy = page.evaluate(f"([x, y]) => {BOARD}.clientPoint(x, y)", [x, y])
    return float(cx), float(cy)


def _finger(page: Page, path: Sequence[tuple[float, float]]) -> None:
    """One finger down at the first point of the page (CSS pixels), along the others, and
    up: real touch events, through the DevTools protocol."""
    cdp = _cdp(page)

    def send(kind: str, at: tuple[float, float] | None) -> None:
        touches = [] if at is None else [{"x": at[0], "y": at[1], "id": 1}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": touches})

    send("touchStart", path[0])
    for at in path[1:]:
        send("touchMove", at)
    send("touchEnd", None)
    cdp.detach()


def _between(
    a: tuple[float, float], b: tuple[float, float], steps: int
) -> list[tuple[float, float]]:
    """``steps`` + 1 points from ``a`` to ``b``, evenly apart."""
    return [
        (a[0] + (b[0] - a[0]) * i / steps, a[1] + (b[1] - a[1]) * i / steps)
        for i in range(steps + 1)
    ]


def _touch_path(page: Page, points: Sequence[tuple[float, float]]) -> None:
    """A finger along board points, mapped to the page by its own fit."""
    _finger(page, [_client(page, x, y) for x, y in points])


def _arrived(page: Page, element_id: str, check: str = "true") -> dict[str, Any]:
    page.wait_for_function(
        f"(id) => {{ const e = {BOARD}.elements.get(id); return e && ({check}); }}",
        arg=element_id,
        timeout=15000,
    )
    found = page.evaluate(ELEMENT, element_id)
    assert found is not None
    return dict(found)


def _newest(page: Page, kind: str, before: int) -> dict[str, Any]:
    """The newest element of ``kind`` once there are more than ``before`` of them."""
    count = f"[...{BOARD}.elements.values()].filter((e) => e.kind === {kind!r})"
    page.wait_for_function(f"(n) => {count}.length > n", arg=before, timeout=15000)
    return dict(page.evaluate(f"() => JSON.parse(JSON.stringify({count}.at(-1)))"))


def _count(page: Page, kind: str) -> int:
    return int(
        page.evaluate(
            f"(k) => [...{BOARD}.elements.values()].filter((e) => e.kind === k).length", kind
        )  # fmt: skip
    )


def _put(page: Page, name: str) -> str:
    return str(page.evaluate(f"(n) => {{ {BOARD}.place(n); return {BOARD}.wanted; }}", name))


def _tool(page: Page, tool: str) -> None:
    page.evaluate(f"(t) => {{ {BOARD}.tool = t; {BOARD}.selected = null; }}", tool)


def test_a_stroke_drawn_on_the_upright_phone_lands_in_the_same_place_on_the_desktop(
    room: Room,
) -> None:
    t, y = room.therapist, room.young
    _resize(y, 390, 844)
    _resize(t, DESKTOP["width"], DESKTOP["height"])
    _tool(y, "draw")
    y.evaluate(f"() => {{ {BOARD}.colour = '#c81e1e'; {BOARD}.width = 14; }}")
    before = _count(t, "stroke")
    line = [(400 + 40 * i, 300 + 30 * i) for i in range(21)]  # (400, 300) to (1200, 900)
    _touch_path(y, line)
    stroke = _newest(t, "stroke", before)
    t.wait_for_function(
        f"(id) => {BOARD}.elements.get(id).finished", arg=stroke["id"], timeout=15000
    )
    stroke = _arrived(t, stroke["id"])
    points = stroke["points"]
    assert len(points) >= 15
    # a CSS pixel on the phone is about four board units: the finger's points, to within one
    for (px, py, _), (x, yy) in zip((points[0], points[-1]), (line[0], line[-1]), strict=True):
        assert abs(px - x) <= 4 and abs(py - yy) <= 4, (points[0], points[-1])
    for px, py, _ in points:  # every point on the line the finger followed
        assert abs((py - 300) - (px - 400) * 0.75) <= 5, (px, py)
    assert _arrived(y, stroke["id"], "e.finished")["points"] == points
    # and the desktop's canvas shows it there: red in the middle of the line
    red = t.evaluate(PIXEL_AT, [800, 600])
    assert red[0] > 150 and red[1] < 90 and red[2] < 90, red
    _shot(t, "therapist-stroke-from-phone")
    _shot(y, "young-stroke")


def test_a_press_in_the_margin_draws_nothing(room: Room) -> None:
    y = room.young
    g = _resize(y, 390, 844)
    _tool(y, "draw")
    seq = int(y.evaluate(f"() => {BOARD}.seq"))
    sent = "window.sentOps"
    y.evaluate(
        f"() => {{ {sent} = []; const v = {BOARD}, send = v.send;"
        f" v.send = (op) => {{ {sent}.push(op.op); return send(op); }}; }}"
    )
    # a line across the margin above the board (upright, the board is down by the tools)
    top = g["board"]["top"] - g["canvas"]["top"]
    assert top > 100, g
    row = g["canvas"]["top"] + top / 2
    _finger(y, [(60, row), (160, row), (260, row)])
    y.wait_for_timeout(400)
    assert y.evaluate(f"() => {sent}") == []
    assert int(y.evaluate(f"() => {BOARD}.seq")) == seq


def test_items_moved_on_a_phone_either_way_up_land_in_the_same_place_on_the_desktop(
    room: Room,
) -> None:
    t, y = room.therapist, room.young
    _resize(t, DESKTOP["width"], DESKTOP["height"])
    for width, height in ((390, 844), (844, 390)):
        _resize(y, width, height)
        dog = _put(t, "dog")
        start = _arrived(y, dog)["place"]
        _tool(y, "select")
        target = (
            min(start["x"] + 300, WIDTH - 100),
            max(start["y"] - 200, 100),
        )
        steps = _between((start["x"], start["y"]), target, 8)
        _touch_path(y, steps)
        moved = _arrived(t, dog, f"e.place.x !== {start['x']}")["place"]
        assert abs(moved["x"] - target[0]) <= 4 and abs(moved["y"] - target[1]) <= 4, (
            f"{width}x{height}",
            target,
            moved,
        )
        same_place(y, dog, moved)
        _shot(y, f"young-dragged-{width}x{height}")
        # and the other way: the therapist drags it back on the desktop, the phone sees it
        # where the desktop dropped it
        _tool(t, "select")
        here, there = _client(t, moved["x"], moved["y"]), _client(t, start["x"], start["y"])
        t.mouse.move(*here)
        t.mouse.down()
        t.mouse.move(*there, steps=8)
        t.mouse.up()
        back = _arrived(y, dog, f"e.place.x !== {moved['x']}")["place"]
        assert abs(back["x"] - start["x"]) <= 2 and abs(back["y"] - start["y"]) <= 2
        _tool(t, "draw")
    _resize(y, 390, 844)


def _moved_by_therapist(room: Room, item: str, **place: float) -> dict[str, Any]:
    """The therapist puts ``item`` at ``place`` (through the board's own operation); its
    place once the phone has it."""
    room.therapist.evaluate(
        f"([id, at]) => {BOARD}.send({{op: 'transform', target: id, ...at}})", [item, place]
    )
    return _arrived(room.young, item, f"e.place.x === {place['x']} && e.place.y === {place['y']}")


def test_a_pinch_and_a_turn_by_the_handle_on_the_upright_phone(room: Room) -> None:
    """Two fingers on a small board, one of them going out into the margin, resize and turn
    an item just as on a large one; its turning handle, however small the board is drawn,
    is a target a finger can take."""
    t, y = room.therapist, room.young
    _resize(y, 390, 844)
    cat = _put(y, "cat")
    _arrived(y, cat)
    # by the board's top edge: twenty pixels below it on this phone
    start = _moved_by_therapist(room, cat, x=800, y=80, rotation=0, scale=1)["place"]
    _tool(y, "select")
    cx, cy = _client(y, start["x"], start["y"])
    top = y.evaluate(f"() => {BOARD}.boardBox().top")
    assert cy - 45 < top < cy - 15  # the upper finger leaves the board
    pinch(y, cx, cy, upright=True)
    pinched = _arrived(t, cat, "e.place.scale > 1.5")["place"]
    # from 30 px apart to 2 x (15, 45): three times as far, turned back by atan(15 / 45),
    # about the same middle
    assert abs(pinched["scale"] - 3.16) < 0.1 and abs(pinched["rotation"] + 18.4) < 1.5
    assert abs(pinched["x"] - 800) <= 4 and abs(pinched["y"] - 80) <= 4, pinched
    same_place(y, cat, pinched)

    # in the middle of the board, selected: its turning handle is above its top
    place = {**pinched, "x": 800, "y": 600}
    del place["w"], place["h"]
    centred = _moved_by_therapist(room, cat, **place)["place"]
    y.evaluate(f"(id) => {{ {BOARD}.selected = id; }}", cat)
    turn = y.evaluate(
        "async (id) => { const items = await import('/static/js/items.js');"
        " const v = window.playroom.board, e = v.elements.get(id);"
        " return items.handles(v.context, e, v.placeOf(e), v.fit.unit).turn; }",
        cat,
    )
    # a press 15 px beside the handle still takes it (a target 44 px across), and turns the
    # item about its centre as far as the finger goes round it
    hx, hy = _client(y, *turn)
    off = (hx + 15, hy)
    cx, cy = centred["x"], centred["y"]
    bx, by = y.evaluate(f"([x, y]) => {BOARD}.boardPoint(x, y)", list(off))
    radius = ((bx - cx) ** 2 + (by - cy) ** 2) ** 0.5
    _finger(y, _between(off, _client(y, cx + radius, cy), 8))
    turned = _arrived(t, cat, f"e.place.rotation !== {centred['rotation']}")["place"]
    went = -math.degrees(math.atan2(by - cy, bx - cx))  # from where it was pressed to 3 o'clock
    assert abs(turned["scale"] - centred["scale"]) < 0.01
    assert abs(turned["rotation"] - (centred["rotation"] + went)) < 3, (turned, went)
    _shot(y, "young-turned")


def test_text_put_down_on_the_phone_on_its_side_is_where_the_finger_was(room: Room) -> None:
    t, y = room.therapist, room.young
    _resize(y, 844, 390)
    before = _count(t, "text")
    _tool(y, "text")
    y.evaluate(f"() => {{ {BOARD}.textSize = 48; }}")
    y.touchscreen.tap(*_client(y, 500, 900))
    box = y.get_by_label("Text to put on the board")
    box.fill("Hi")
    box.press("Enter")
    text = _newest(t, "text", before)
    assert text["data"]["text"] == "Hi"
    assert abs(text["place"]["x"] - 500) <= 5 and abs(text["place"]["y"] - 900) <= 5, text
    _tool(y, "draw")
    _resize(y, 390, 844)
