"""A supervisor observes a live session from the record page: everyone is told, the
observer sees and hears the session (sending nothing until they turn their microphone on,
which is announced too), and the therapist can ask them to leave."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import make_person, screenshot, serious_violations, sign_in_page
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


def test_a_supervisor_observes_and_is_asked_to_leave(
    browser: Browser, live_server: ServerProcess
) -> None:
    context, therapist, _ = therapist_page(browser, live_server, "odile")
    observer_person = make_person(live_server, "olu.sup", "supervisor")
    assert run_cli("supervise", "olu.sup", "odile", env=live_server.env).returncode == 0
    session = prepare(therapist, live_server, name="Kit")
    open_room(therapist, live_server, session)
    young = browser.new_context().new_page()
    walk_in(young, session.links["young_person"])
    yid, tid = my_id(young), my_id(therapist)
    admit(therapist, "Young person")
    assert frames_decoded(young, tid) > 0

    sup_context = browser.new_context(viewport={"width": 1100, "height": 800})
    supervisor = sup_context.new_page()
    sign_in_page(supervisor, live_server, observer_person)
    supervisor.goto(f"{live_server.url}/records/{session.id}")
    supervisor.get_by_role("link", name="Join as an announced observer").click()
    expect(supervisor.locator("#observe-status")).to_contain_text("You are observing")
    expect(young.locator("#observers")).to_contain_text("olu.sup (supervisor) is observing")
    expect(therapist.locator("#alerts")).to_contain_text("is observing this session")
    assert frames_decoded(supervisor, tid) > 0  # the observer sees both people
    assert frames_decoded(supervisor, yid) > 0
    screenshot(supervisor, "supervisor-observing")
    screenshot(young, "young-observed")
    assert serious_violations(supervisor) == []
    assert serious_violations(young) == []

    # turning the microphone on is announced too, and the others then hear the observer
    supervisor.get_by_role("button", name="Turn my microphone on").click()
    expect(young.locator("#observers")).to_contain_text("turned their microphone on")
    observer_id = my_id(supervisor)
    young.wait_for_function(
        "(id) => (window.playroom.mesh.peers.get(id)?.stream.getAudioTracks().length || 0) > 0",
        arg=observer_id,
    )
    therapist.get_by_role("button", name="Remove olu.sup").click()
    expect(supervisor.locator("#observe-status")).to_contain_text("asked you to leave")
    expect(young.locator("#observers")).to_have_text("")
    assert frames_decoded(young, tid) > 0  # the session itself goes on
    young.context.close()
    sup_context.close()
    context.close()
