"""The Chromium side of the live latency benchmark (``bench_live.py``): a therapist's page and
a young person's in one room with their peer ``live`` channel open, the timing probe
(``live_probe.js``) in both, a check that both pages keep one clock, and a hand on the young
person's page: real mouse input (``page.mouse``, through Chromium's own input pipeline) that
drags a sticker or draws strokes, one movement a display frame, while the other page draws it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.session_flow import LIVE, OPEN_CHANNELS, live_room
from tests.helpers import ServerProcess

BOARD = "window.playroom.board"
PROBE = Path(__file__).with_name("live_probe.js")
PACE = 1 / 60  # a movement a display frame, as a hand moving steadily
STEP = 2.0  # px between movements: each lands on a new place of the board
STROKE_POINTS = 100  # a stroke, then the pen lifts and the next begins
CHECK_EVERY = 30  # movements between looks at how many the other page has drawn
Kind = Literal["move", "stroke"]
Action = tuple[str, float, float]  # ("down" | "move" | "up", client x, client y)


@dataclass
class Pair:
    """The hand's page (the young person's), the watching page (the therapist's), and the
    sticker the hand drags."""

    hand: Page
    watcher: Page
    item: str
    contexts: list[BrowserContext]

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def enter(browser: Browser, server: ServerProcess) -> Pair:
    """A session in Chromium: the therapist opens the room, the young person walks in and is
    admitted, both boards open and the peer ``live`` channel between them open; a sticker on
    the board; the probe in both pages."""
    room = live_room(browser, server, "bench-live", "Bench live")
    therapist, young = room.therapist, room.young
    item = str(therapist.evaluate(f"() => {{ {BOARD}.place('dog'); return {BOARD}.wanted; }}"))
    for page in (therapist, young):
        page.wait_for_function(f"(id) => {BOARD}.elements.has(id)", arg=item, timeout=15000)
    script = PROBE.read_text().strip().rstrip(";")
    for page in (therapist, young):
        assert page.evaluate(script) is True
    return Pair(young, therapist, item, room.contexts[::-1])


def clock_offset(page: Page, reads: int = 25) -> tuple[float, float]:
    """How far ``page``'s clock (``performance.timeOrigin + performance.now()``) is from this
    process's ``time.time()``, in ms, from the read with the shortest round trip; and half
    that round trip, the most the figure can be off by."""
    best = (math.inf, 0.0)
    for _ in range(reads):
        before = time.time() * 1000
        theirs = float(page.evaluate("() => performance.timeOrigin + performance.now()"))
        after = time.time() * 1000
        if after - before < best[0]:
            best = (after - before, theirs - (before + after) / 2)
    return best[1], best[0] / 2


def close_channels(pair: Pair) -> None:
    """No peer channel any more, on either page: live movement goes through the server, as
    it does by itself where a channel is not open."""
    for page in (pair.hand, pair.watcher):
        page.evaluate(f"() => {LIVE}.closeChannels()")
    for page in (pair.hand, pair.watcher):
        page.wait_for_function(f"() => ({OPEN_CHANNELS})() === 0", timeout=5000)


def hide_self(pair: Pair, hidden: bool) -> None:
    """Each page's own "Hide my picture" control: its self-view tile hidden (or shown again),
    so that the page shows one video, the other person's, instead of two."""
    press = (
        "(hidden) => { const b = document.getElementById('hide-self');"
        " if ((b.getAttribute('aria-pressed') === 'true') !== hidden) b.click(); }"
    )
    for page in (pair.hand, pair.watcher):
        page.evaluate(press, hidden)
        page.wait_for_function(
            "(hidden) => document.querySelector('.tile.self').hidden === hidden", arg=hidden
        )


def take(page: Page) -> dict[str, Any]:
    """What the probe noted in ``page`` since the last take."""
    return dict(page.evaluate("() => window.liveProbe.take()"))


def _rect(page: Page) -> tuple[float, float, float, float]:
    """The board's extent on the page (the canvas around it may be larger: a margin)."""
    left, top, width, height = page.evaluate(
        "() => { const r = window.playroom.board.boardBox();"
        " return [r.left, r.top, r.width, r.height]; }"
    )
    return float(left), float(top), float(width), float(height)


def _drag_path(page: Page, item: str) -> Iterator[Action]:
    """Down on the item, then to and fro across the middle of the board, a little lower each
    way, so that no two movements put it on the same place."""
    left, top, width, height = _rect(page)
    place = f"(id) => {{ const p = {BOARD}.elements.get(id).place; return [p.x, p.y]; }}"
    x, y = page.evaluate(place, item)
    cx, cy = left + float(x) * width / 1600, top + float(y) * height / 1200
    yield "down", cx, cy
    low, high, step = left + 0.15 * width, left + 0.85 * width, STEP
    cx = min(max(cx, low), high)
    while True:
        if not low <= cx + step <= high:
            step, cy = -step, cy + 3
        cx += step
        yield "move", cx, cy


def _stroke_path(page: Page) -> Iterator[Action]:
    """Strokes of ``STROKE_POINTS`` points left to right, each on a row of its own."""
    left, top, width, height = _rect(page)
    row = 0
    while True:
        x, y = left + 0.15 * width, top + (0.2 + 0.6 * ((row * 37) % 100) / 100) * height
        yield "down", x, y
        for _ in range(STROKE_POINTS - 1):
            x += STEP
            yield "move", x, y
        yield "up", x, y
        row += 1


def drive(pair: Pair, kind: Kind, samples: int, until: float) -> float:
    """Move the hand, a movement every ``PACE``, until the watching page has drawn
    ``samples`` updates of ``kind`` or ``time.monotonic()`` reaches ``until``; returns how
    long it moved, in seconds."""
    page, mouse = pair.hand, pair.hand.mouse
    tool = "select" if kind == "move" else "draw"
    page.evaluate(f"(tool) => {{ {BOARD}.tool = tool; }}", tool)
    path = _drag_path(page, pair.item) if kind == "move" else _stroke_path(page)
    prefix = "m " if kind == "move" else "p "
    drawn = "(p) => Object.keys(window.liveProbe.t.drawn).filter((k) => k.startsWith(p)).length"
    started = beat = time.monotonic()
    down = False
    for n, (action, x, y) in enumerate(path):
        if action == "down":
            mouse.move(x, y)
            mouse.down()
        elif action == "move":
            mouse.move(x, y)
        else:
            mouse.up()
        down = action != "up"
        if n % CHECK_EVERY == 0 and (
            time.monotonic() >= until or int(pair.watcher.evaluate(drawn, prefix)) >= samples
        ):
            break
        beat = max(beat + PACE, time.monotonic() - PACE)  # late: no burst to catch up
        time.sleep(max(0.0, beat - time.monotonic()))
    if down:
        mouse.up()  # the drop (or the pen lifted): the board gets the finished thing
    return time.monotonic() - started
