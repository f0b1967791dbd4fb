"""Each page sends less to each person as the room grows (``web/static/js/budget.js``): real
pages in one room, a parent and then a supervisor coming in and the supervisor going again,
each page's video senders read after each change; "Use less data" (``poorlink.js``) lowers
them further, and the lower of the two limits wins each way."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import make_person, sign_in_page
from tests.browser.session_flow import (
    admit,
    frames_decoded,
    my_id,
    open_room,
    prepare,
    therapist_page,
    walk_in,
)
from tests.helpers import ServerProcess, run_cli

pytestmark = pytest.mark.browser

# each of a page's video senders as [scaleResolutionDownBy, maxFramerate, maxBitrate]
SENDERS = (
    "() => [...window.playroom.mesh.peers.values()].flatMap((link) => link.pc.getSenders())"
    ".filter((s) => s.track?.kind === 'video').map((s) => {"
    " const e = s.getParameters().encodings[0] || {};"
    " return [e.scaleResolutionDownBy ?? 1, e.maxFramerate ?? null, e.maxBitrate ?? null]; })"
)
# what budget.js says for 1, 2 and 3 people sent to (640 x 480 from the fake camera)
ONE = [1, 30, 1_000_000]
TWO = [1, 30, 700_000]
THREE = [1.25, 24, 466_667]
LESS_DATA = [4, 8, 100_000]  # poorlink.js's lowest step
# whether every video the page sends goes out at most 512 pixels wide, from the last reading
# of getStats (each poll starts the next: a predicate's promise is not waited for)
WIDTHS = (
    "() => { const links = [...window.playroom.mesh.peers.values()];"
    " Promise.all(links.map((l) => l.pc.getStats())).then((all) => {"
    "  window.sentWidths = all.flatMap((stats) => [...stats.values()].filter((r) =>"
    "   r.type === 'outbound-rtp' && r.kind === 'video').map((r) => r.frameWidth || 0)); });"
    " const w = window.sentWidths || [];"
    " return w.length === 3 && w.every((x) => x > 0 && x <= 512); }"
)


def sends(page: Page, want: list[Any], people: int) -> None:
    """Wait until every video sender of ``page`` (one a person) is limited to ``want``."""
    try:
        page.wait_for_function(
            f"([want, people]) => {{ const all = ({SENDERS})();"
            " return all.length === people"
            " && all.every((p) => p.every((v, i) => v === want[i])); }",
            arg=[want, people],
            timeout=15000,
        )
    except Exception as error:
        raise AssertionError(f"sending {page.evaluate(SENDERS)}, not {want} x{people}") from error


def test_each_page_sends_less_to_each_as_the_room_grows(
    browser: Browser, live_server: ServerProcess
) -> None:
    context, therapist, _ = therapist_page(browser, live_server, "bea")
    observer = make_person(live_server, "bea.observer", "supervisor")
    assert run_cli("supervise", "bea.observer", "bea", env=live_server.env).returncode == 0
    session = prepare(therapist, live_server, name="Lark")
    open_room(therapist, live_server, session)
    family = {}
    for role in ("young_person", "parent"):
        family[role] = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
        walk_in(family[role], session.links[role])
    young, parent = family["young_person"], family["parent"]
    tid = my_id(therapist)
    admit(therapist, "Young person")
    assert frames_decoded(young, tid) > 0
    for page in (therapist, young):
        sends(page, ONE, 1)

    admit(therapist, "Parent or carer")
    for page in (therapist, young, parent):
        sends(page, TWO, 2)

    # a supervisor observes: one more person each page sends to, though they send nothing
    watching = browser.new_context(viewport={"width": 1100, "height": 800}).new_page()
    sign_in_page(watching, live_server, observer)
    watching.goto(f"{live_server.url}/records/{session.id}")
    watching.get_by_role("link", name="Join as an announced observer").click()
    # a fourth page, loading its modules while three others encode video on two cores: on
    # a slow machine its way in alone took 7 s (as long as the senders' own waits allow)
    expect(watching.locator("#observe-status")).to_contain_text("You are observing", timeout=15000)
    for page in (therapist, young, parent):
        sends(page, THREE, 3)
    assert watching.evaluate(SENDERS) == []
    # and the encoder follows: the therapist's video goes out at most 512 pixels wide
    therapist.wait_for_function(WIDTHS, polling=250, timeout=20000)

    # "Use less data" is lower than the room's budget every way: it wins
    less = therapist.locator("#less-data")
    less.click()
    sends(therapist, LESS_DATA, 3)
    less.click()
    sends(therapist, THREE, 3)

    # the supervisor goes: back to two people each
    watching.get_by_role("button", name="Stop observing").click()
    expect(watching.locator("#observe-status")).to_contain_text("You stopped observing")
    for page in (therapist, young, parent):
        sends(page, TWO, 2)
    for page in (young, parent, watching):
        page.context.close()
    context.close()


def test_the_budget_and_a_cap_combine_each_way_the_lower(
    page: Page, live_server: ServerProcess
) -> None:
    """budget.js on its own, in the page's own JavaScript: the upload stays within the budget
    at every size of room, a share is budgeted too, and where the budget is lower in one way
    and a poor connection's cap in another, each way takes the lower."""
    page.goto(live_server.url + "/signin")
    got = page.evaluate(
        "async () => { const b = await import('/static/js/budget.js');"
        " const sizes = [1, 2, 3, 4, 5].map((n) => [n, b.budgetFor(n)]);"
        " return { total: b.TOTAL_BITS, sizes,"
        "  sharing: b.budgetFor(2, true),"
        "  mixed: b.lower(b.budgetFor(3).camera, { scale: 2, fps: 30, bitrate: null }),"
        "  cap: b.lower(b.budgetFor(5).camera, { scale: 1, fps: 8, bitrate: 250000 }) }; }"
    )
    for people, budget in got["sizes"]:
        camera = budget["camera"]
        assert camera["bitrate"] * people <= got["total"] + people, (people, camera)
        assert camera["bitrate"] <= 1_000_000
    scales = [b["camera"]["scale"] for _, b in got["sizes"]]
    rates = [b["camera"]["fps"] for _, b in got["sizes"]]
    assert scales == sorted(scales) and rates == sorted(rates, reverse=True)
    assert scales[:2] == [1, 1] and rates[:2] == [30, 30]  # two people: full size and rate
    sharing = got["sharing"]
    sent = 2 * (sharing["camera"]["bitrate"] + sharing["share"]["bitrate"])
    assert sent <= got["total"] + 4 and sharing["share"]["scale"] == 1
    assert got["mixed"] == {"scale": 2, "fps": 24, "bitrate": 466_667}
    assert got["cap"] == {"scale": 2, "fps": 8, "bitrate": 250_000}
