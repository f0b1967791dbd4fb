"""Live movement in Chromium, a therapist's page and a young person's in one room: a sticker
dragged on one page is seen moving on the other while the drag is still going on, over the
peer channel between them, and again through the server once that channel is closed; a
forged live move (of a locked item, of one that does not exist, off the board) moves
nothing on the other page, whichever way it comes; an observer's connections carry no live
channel.

What the other page shows of a hand is the board view's drawing of it (its ``live`` map, set
by ``showLive``); which way it came, the page's live counts (``signalling.live.counts``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import make_person, sign_in_page
from tests.browser.session_flow import LIVE, OPEN_CHANNELS, frames_decoded, live_room, my_id
from tests.browser.session_flow import LiveRoom as Room
from tests.helpers import ServerProcess, run_cli

pytestmark = pytest.mark.browser
BOARD = "window.playroom.board"
# where the other page draws an item in someone's hand now (null: in nobody's)
SHOWN = f"(id) => {{ const s = {BOARD}.live.get(id); return s && s.place ? s.place.x : null; }}"
CLIENT = f"([x, y]) => {BOARD}.clientPoint(x, y)"  # a board point, in CSS pixels


@pytest.fixture(scope="module")
def room(browser: Browser, live_server: ServerProcess) -> Iterator[Room]:
    """One session for the module, both pages on the board and their live channel open."""
    room = live_room(browser, live_server, "lena", "Robin")
    yield room
    for c in room.contexts[::-1]:
        c.close()


def _put(page: Page, name: str) -> str:
    """The id of a sticker ``page`` places (on its way to the board)."""
    return str(page.evaluate(f"() => {{ {BOARD}.place({name!r}); return {BOARD}.wanted; }}"))


def _place(page: Page, item: str, check: str = "true") -> dict[str, Any]:
    """The item's committed place on ``page``, once it is there and ``check`` (JS of ``e``)
    holds."""
    page.wait_for_function(
        f"(id) => {{ const e = {BOARD}.elements.get(id); return e && ({check}); }}",
        arg=item,
        timeout=15000,
    )
    return dict(page.evaluate(f"(id) => {BOARD}.elements.get(id).place", item))


def _counts(page: Page) -> dict[str, Any]:
    return dict(page.evaluate(f"() => JSON.parse(JSON.stringify({LIVE}.counts))"))


def _client(page: Page, x: float, y: float) -> tuple[float, float]:
    cx, cy = page.evaluate(CLIENT, [x, y])
    return float(cx), float(cy)


def _drag_watched(mover: Page, watcher: Page, item: str) -> list[float]:
    """Drag ``item`` 300 board units to the right on ``mover``, in steps; after each step,
    wait until ``watcher`` draws it somewhere new while the button is still down. Returns
    the places seen there during the drag; the drop comes after."""
    mover.evaluate(f"() => {{ {BOARD}.tool = 'select'; }}")
    start = _place(mover, item)
    x0, y0 = _client(mover, start["x"], start["y"])
    x1, _ = _client(mover, start["x"] + 300, start["y"])
    mover.mouse.move(x0, y0)
    mover.mouse.down()
    seen: list[float] = []
    for step in range(1, 7):
        mover.mouse.move(x0 + (x1 - x0) * step / 6, y0, steps=3)
        watcher.wait_for_function(
            f"([id, before]) => {{ const x = ({SHOWN})(id); return x !== null && x !== before; }}",
            arg=[item, seen[-1] if seen else None],
            timeout=5000,
        )
        seen.append(float(watcher.evaluate(SHOWN, item)))
    mover.mouse.up()
    return seen


def test_a_drag_is_seen_moving_on_the_other_page_over_the_peer_channel(room: Room) -> None:
    t, y = room.therapist, room.young
    dog = _put(t, "dog")
    start = _place(y, dog)
    before = {"t": _counts(t), "y": _counts(y)}
    seen = _drag_watched(y, t, dog)
    # at least two places between the start and the drop, seen while the hand was down
    between = {x for x in seen if start["x"] < x < start["x"] + 300}
    assert len(between) >= 2, (start, seen)
    dropped = _place(t, dog, f"e.place.x !== {start['x']}")
    assert abs(dropped["x"] - (start["x"] + 300)) < 2
    after = {"t": _counts(t), "y": _counts(y)}
    assert after["t"]["heard"]["peer"] > before["t"]["heard"]["peer"]
    assert after["t"]["heard"]["server"] == before["t"]["heard"]["server"]
    assert after["y"]["sent"]["server"] == before["y"]["sent"]["server"]  # nothing by the server


@pytest.mark.hazard("HZ-18")
def test_a_forged_live_move_of_a_locked_item_moves_nothing(room: Room) -> None:
    """The young person's page sends what its board would never send: moves of an item the
    therapist locked, of an item that does not exist and off the board, over the peer channel
    and through the server. The therapist's page draws none of them; a move of an item that
    is free, sent the same ways, it draws."""
    t, y = room.therapist, room.young
    sun, ball = _put(t, "sun"), _put(t, "ball")
    _place(t, sun)
    _place(t, ball)
    t.evaluate(f"(id) => {{ {BOARD}.selected = id; {BOARD}.lockSelected(true); }}", sun)
    locked = _place(y, sun, "e.locked")
    _place(y, ball)
    therapist_id = str(t.evaluate("window.playroom.myId"))
    dropped = _counts(t)["dropped"]
    forged = [
        {"kind": "move", "id": sun, "x": 40, "y": 40, "rotation": 0, "scale": 1},
        {"kind": "move", "id": "k-nothing-here", "x": 40, "y": 40, "rotation": 0, "scale": 1},
        {"kind": "move", "id": sun, "x": 40, "y": 40, "rotation": 0, "scale": 1, "by": "me"},
        {"kind": "move", "id": ball, "x": 99999, "y": 40, "rotation": 0, "scale": 1},
        {"kind": "move", "id": ball, "x": 40, "y": 40, "rotation": 0, "scale": 1, "w": 3},
    ]
    # over the peer channel: each as the page's own would go, a frame apart
    for update in forged:
        y.evaluate(f"(u) => {LIVE}.send(u)", update)
        y.wait_for_timeout(50)
    # and through the server, as a page with no channel would send them (the server itself
    # refuses the others: a field no move has, a place off the board)
    for update in forged[:2]:
        y.evaluate(
            "([to, u]) => window.playroom.signalling.send({type: 'live', to: [to], messages: [u]})",
            [therapist_id, update],
        )
    t.wait_for_function(f"(n) => {LIVE}.counts.dropped >= n", arg=dropped + 7, timeout=5000)
    assert t.evaluate(SHOWN, sun) is None and t.evaluate(SHOWN, "k-nothing-here") is None
    assert t.evaluate(SHOWN, ball) is None
    assert _place(t, sun) == locked
    # the same ways, a move of the free item is drawn
    free = {"kind": "move", "id": ball, "x": 55, "y": 66, "rotation": 0, "scale": 1}
    y.evaluate(f"(u) => {LIVE}.send(u)", free)
    t.wait_for_function(f"(id) => ({SHOWN})(id) === 55", arg=ball, timeout=5000)
    y.evaluate(
        "([to, u]) => window.playroom.signalling.send({type: 'live', to: [to], messages: [u]})",
        [therapist_id, {**free, "x": 77}],
    )
    t.wait_for_function(f"(id) => ({SHOWN})(id) === 77", arg=ball, timeout=5000)


def test_an_observers_connections_carry_no_live_channel(
    room: Room, browser: Browser, live_server: ServerProcess
) -> None:
    t, y = room.therapist, room.young
    person = make_person(live_server, "lior.sup", "supervisor")
    assert run_cli("supervise", "lior.sup", "lena", env=live_server.env).returncode == 0
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    sup = context.new_page()
    sign_in_page(sup, live_server, person)
    sup.goto(f"{live_server.url}/records/{room.session.id}")
    sup.get_by_role("link", name="Join as an announced observer").click()
    expect(sup.locator("#observe-status")).to_contain_text("You are observing")
    tid, yid, sid = my_id(t), my_id(y), my_id(sup)
    assert frames_decoded(sup, tid) > 0 and frames_decoded(sup, yid) > 0  # connected
    has_data = (
        "(id) => { const pc = window.playroom.mesh.peers.get(id).pc;"
        " return [pc.localDescription, pc.remoteDescription]"
        ".some((d) => /^m=application /m.test(d?.sdp || '')); }"
    )
    for page, other in ((t, sid), (y, sid), (sup, tid), (sup, yid)):
        assert page.evaluate(has_data, other) is False
        assert page.evaluate(f"(id) => {LIVE}.links.has(id)", other) is False
    assert t.evaluate(has_data, yid) is True  # between the two in the room, one
    assert t.evaluate(f"() => ({OPEN_CHANNELS})()") == 1
    sup.get_by_role("button", name="Stop observing").click()
    t.wait_for_function("(id) => !window.playroom.mesh.peers.has(id)", arg=sid, timeout=10000)
    context.close()


def test_with_the_peer_channel_closed_a_drag_is_seen_moving_through_the_server(
    room: Room,
) -> None:
    """The last test of the module: the channels stay closed."""
    t, y = room.therapist, room.young
    y.evaluate(f"() => {LIVE}.closeChannels()")
    t.evaluate(f"() => {LIVE}.closeChannels()")
    for page in (t, y):
        page.wait_for_function(f"() => ({OPEN_CHANNELS})() === 0", timeout=5000)
    cat = _put(y, "cat")
    start = _place(t, cat)
    before = {"t": _counts(t), "y": _counts(y)}
    seen = _drag_watched(t, y, cat)  # the therapist drags, this time
    between = {x for x in seen if start["x"] < x < start["x"] + 300}
    assert len(between) >= 2, (start, seen)
    dropped = _place(y, cat, f"e.place.x !== {start['x']}")
    assert abs(dropped["x"] - (start["x"] + 300)) < 2
    after = {"t": _counts(t), "y": _counts(y)}
    assert after["y"]["heard"]["server"] > before["y"]["heard"]["server"]
    assert after["y"]["heard"]["peer"] == before["y"]["heard"]["peer"]
    assert after["t"]["sent"]["peer"] == before["t"]["sent"]["peer"]
