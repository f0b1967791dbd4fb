"""A group in Chromium: the therapist makes a group of three young people and schedules its
session; two young people (on 390 px phones) and one's parent come in one by one, each
admitted by name, while the third, whose checklist now blocks their gate, is told kindly
that today's session cannot start. The therapist's pages show who may join and why not,
the room's media reach the therapist from each of the three, and the escalation asks whom
it is about. Every page passes axe; the young people's reflow at 320 px."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from server.care.checklists import Kind, load_catalogue
from tests.browser.conftest import csrf, screenshot, serious_violations
from tests.browser.session_flow import (
    Session,
    admit,
    first_frame_from,
    my_id,
    no_sideways_scroll,
    open_room,
    ready_client,
    therapist_page,
    walk_in,
)
from tests.factories import safe_answers
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser


def _tiles_on_screen(page: Page) -> None:
    """Every video of the group is wholly inside the window: none pushed off its edge."""
    edges = page.evaluate(
        "() => [...document.querySelectorAll('.stage .tile')].map((t) => {"
        " const r = t.getBoundingClientRect(); return [r.left, r.right, innerWidth]; })"
    )
    for left, right, width in edges:
        assert left >= 0 and right <= width, f"a video from {left} to {right} in {width} px"


def _block(therapist: Page, server: ServerProcess, client_id: str) -> None:
    """The checklist revised so that it blocks the gate (an answer that blocks)."""
    checklist = load_catalogue()[Kind.SUITABILITY]
    answers = safe_answers(checklist)
    item = next(i for i in checklist.items() if i.answerable and i.blocking)
    answers[item.id] = {"answer": item.blocking[0], "rationale": ""}
    assert therapist.request.put(
        f"{server.url}/api/clients/{client_id}/checklists/suitability",
        data={"answers": answers},
        headers={"X-CSRF-Token": csrf(therapist)},
    ).ok


@pytest.mark.hazard("HZ-33")
def test_a_group_comes_in_one_by_one_each_through_their_own_gate(
    browser: Browser, live_server: ServerProcess
) -> None:
    context, therapist, _ = therapist_page(browser, live_server, "gwen")
    members = {name: ready_client(therapist, live_server, name) for name in ("Ash", "Bo", "Cal")}
    headers = {"X-CSRF-Token": csrf(therapist)}
    group = therapist.request.post(
        f"{live_server.url}/api/groups",
        data={"name": "Thursday group", "members": list(members.values())},
        headers=headers,
    ).json()
    starts = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    made = therapist.request.post(
        f"{live_server.url}/api/groups/{group['id']}/sessions",
        data={"starts_at": starts, "parent_link": True},
        headers=headers,
    ).json()
    links = {(j["client_id"], j["role"]): j["url"] for j in made["join_links"]}
    assert len(links) == 6  # every member's gate was open: theirs and their parent's
    _block(therapist, live_server, members["Cal"])  # then Cal's checklist is revised

    therapist.goto(f"{live_server.url}/groups/{group['id']}")
    ready = therapist.locator("#members")
    expect(ready.locator(f'[data-member="{members["Ash"]}"]')).to_contain_text("May join")
    expect(ready.locator(f'[data-member="{members["Cal"]}"]')).to_contain_text("Cannot join yet")
    screenshot(therapist, "group-members")
    assert serious_violations(therapist) == []
    therapist.goto(f"{live_server.url}/sessions/{made['id']}")
    expect(therapist.locator(f'[data-member="{members["Cal"]}"]')).to_contain_text(
        "No link to send yet"
    )
    expect(therapist.get_by_role("button", name="Copy link")).to_have_count(4)
    assert serious_violations(therapist) == []

    open_room(therapist, live_server, Session(made["id"], {}))
    pages: dict[str, Page] = {}
    for who, (member, role), size in (
        ("Ash", (members["Ash"], "young_person"), (390, 844)),
        ("Bo", (members["Bo"], "young_person"), (390, 844)),
        ("Parent or carer of Ash", (members["Ash"], "parent"), (1100, 900)),
    ):
        page = browser.new_context(viewport={"width": size[0], "height": size[1]}).new_page()
        walk_in(page, links[(member, role)])
        my_id(page)
        admit(therapist, who)  # one by one, each by name
        expect(page.locator("#step-room")).to_be_visible()
        pages[who] = page
    # Cal's link, from Cal's own phone: refused by Cal's gate, kindly, nothing asked
    cal = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    cal.goto(links[(members["Cal"], "young_person")])
    expect(cal.get_by_text("Today's session cannot start")).to_be_visible()
    assert cal.locator('input[name="where.place"]').count() == 0
    screenshot(cal, "group-refused-by-own-gate")
    assert serious_violations(cal) == []
    # the therapist sees and hears each of the three
    for page in pages.values():
        first_frame_from(therapist, my_id(page), timeout=60)
    escalate_about = therapist.locator("#escalate-about option")
    expect(escalate_about).to_have_count(2)
    assert sorted(escalate_about.all_inner_texts()) == ["Ash", "Bo"]
    screenshot(therapist, "group-room-therapist")
    assert serious_violations(therapist) == []
    ash = pages["Ash"]
    expect(ash.locator(".stage .tile")).to_have_count(4)  # three others and their own
    _tiles_on_screen(ash)
    screenshot(ash, "group-room-young-390")
    assert serious_violations(ash) == []
    ash.set_viewport_size({"width": 320, "height": 640})
    no_sideways_scroll(ash, bar=False)
    _tiles_on_screen(ash)
    for page in (*pages.values(), cal):
        page.context.close()
    context.close()
