"""Driving a live session in Chromium: shared by the browser tests and the join-time benchmark."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    expect,
)

from server.care.checklists import Kind, load_catalogue
from tests.browser.conftest import Person, csrf, make_person, sign_in_page
from tests.factories import safe_answer, safe_answers
from tests.helpers import ServerProcess, supervise_by_cli


@dataclass
class Session:
    id: str
    links: dict[str, str]  # role -> join URL


def prepare(
    page: Page, server: ServerProcess, name: str = "Sky", *, relay_only: bool = False
) -> Session:
    """Through the API, as the pages would: a client whose gate is open, and a session
    starting in a minute with links for the young person and a parent (``relay_only``: its
    media relayed through TURN)."""
    client_id = ready_client(page, server, name)
    headers = {"X-CSRF-Token": csrf(page)}
    starts = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    made = page.request.post(
        f"{server.url}/api/clients/{client_id}/sessions",
        data={"starts_at": starts, "parent_link": True, "relay_only": relay_only},
        headers=headers,
    ).json()
    return Session(made["id"], {link["role"]: link["url"] for link in made["join_links"]})


def ready_client(page: Page, server: ServerProcess, name: str) -> str:
    """Through the API: a client whose gate is open (checklist, plan, consent, and the
    therapist's checks for the day); returns its id."""
    catalogue = load_catalogue()
    headers = {"X-CSRF-Token": csrf(page)}
    api = server.url + "/api"
    client = page.request.post(
        f"{api}/clients", data={"display_name": name, "age_band": "14-15"}, headers=headers
    ).json()
    for kind, body in (
        ("suitability", safe_answers(catalogue[Kind.SUITABILITY])),
        ("disconnection-plan", safe_answers(catalogue[Kind.DISCONNECTION_PLAN])),
    ):
        assert page.request.put(
            f"{api}/clients/{client['id']}/checklists/{kind}",
            data={"answers": body},
            headers=headers,
        ).ok
    daily = {i.id: safe_answer(i) for i in catalogue[Kind.PRE_SESSION].items() if i.answerable}
    assert page.request.put(f"{api}/checks/today", data={"answers": daily}, headers=headers).ok
    give_consent(page, server, client["id"])
    return str(client["id"])


def give_consent(page: Page, server: ServerProcess, client_id: str) -> None:
    """A parent gives consent through the client's consent link, with an emergency
    contact, as the consent page's form would send it (the link made through the API)."""
    consent_url = page.request.post(
        f"{server.url}/api/clients/{client_id}/consent-links",
        headers={"X-CSRF-Token": csrf(page)},
    ).json()["url"]
    form = {
        "decision": "given",
        "typed_name": "Pat Parent",
        "relationship": "mum",
        "signed_on": datetime.now(UTC).date().isoformat(),
        "contact1_name": "Pat Parent",
        "contact1_relationship": "mum",
        "contact1_phone": "07700 900456",
    }
    for item in load_catalogue()[Kind.CONSENT].items():
        if item.answerable:
            form[f"confirm:{item.id}"] = "yes"
    assert "saved" in page.request.post(consent_url, form=form).text()


def therapist_page(
    browser: Browser, server: ServerProcess, username: str
) -> tuple[BrowserContext, Page, Person]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    person = make_person(server, username, "therapist")
    supervise_by_cli(server.env, username, person.password)  # no room opens without one
    sign_in_page(page, server, person)
    return context, page, person


# what the therapist's page had done when its room did not open in time: where it is, and
# its state (``window.playroom`` is set only once every module of the page has loaded)
OPENING = """() => ({
  at: location.pathname,
  title: document.title,
  ready: document.readyState,
  status: document.getElementById('status')?.textContent ?? null,
  hooks: window.playroom !== undefined,
  camera: document.getElementById('self-video')?.srcObject != null,
  socket: window.playroom?.signalling?.ws?.readyState ?? null,
  connectingFor: Date.now() - (window.playroom?.signalling?.connectingSince ?? Date.now()),
  reconnects: window.playroom?.signalling?.reconnects ?? null,
  scripts: performance.getEntriesByType('resource')
    .filter((r) => r.initiatorType === 'script' || r.name.endsWith('.js'))
    .map((r) => `${r.name.split('/').pop()} ${r.responseStatus} ${Math.round(r.duration)}ms`),
})"""
LATE_S = 30  # how long a failed opening is watched further, to say whether it came late


def open_room(page: Page, server: ServerProcess, session: Session) -> None:
    """The therapist opens the room. Should it not open in time, the failure says how far the
    page got (where it is, its modules, its camera, its socket), what it logged, the requests
    that failed or were refused, what the server logged, and whether the room opened later
    (and when): a slow start and a stuck one fail alike, and say which they were."""
    said: list[str] = []

    def heard(message: ConsoleMessage) -> None:
        said.append(f"{message.type}: {message.text}")

    def failed(request: Request) -> None:
        said.append(f"request failed: {request.url} {request.failure}")

    def answered(response: Response) -> None:
        if response.status >= 400:
            said.append(f"answered {response.status}: {response.url}")

    page.on("console", heard)
    page.on("requestfailed", failed)
    page.on("response", answered)
    began = time.monotonic()
    try:
        page.goto(f"{server.url}/sessions/{session.id}/room")
        expect(page.locator("#status")).to_contain_text("The room is open")
    except AssertionError as exc:
        state = page.evaluate(OPENING)
        log = server.stderr().splitlines()[-15:]
        try:
            expect(page.locator("#status")).to_contain_text(
                "The room is open", timeout=LATE_S * 1000
            )
            late = f"it opened {time.monotonic() - began:.1f} s after the page was asked for"
        except AssertionError:
            late = f"it had not opened {time.monotonic() - began:.1f} s after"
        raise AssertionError(
            f"{exc}\npage: {state}\n{late}\nconsole and requests: {said}\nserver: {log}"
        ) from exc
    finally:  # a page opened again listens once
        page.remove_listener("console", heard)
        page.remove_listener("requestfailed", failed)
        page.remove_listener("response", answered)


def walk_in(page: Page, url: str, on_step=None) -> None:  # type: ignore[no-untyped-def]
    """The young person's way in: contract, privacy check, device check, waiting room."""
    page.goto(url)
    expect(page.get_by_role("heading", name="Hello! Before your session")).to_be_visible()
    if on_step:
        on_step("contract")
    page.get_by_role("button", name="I've read this. Next").click()
    form = page.locator("#checks-form")
    for group in form.locator("fieldset").all():
        group.locator('input[type="radio"]').first.check()
    if on_step:
        on_step("checks")
    form.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Check your camera and microphone")).to_be_visible()
    page.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
    if on_step:
        on_step("device")
    page.get_by_role("button", name="Join the waiting room").click()
    expect(page.get_by_role("heading", name="You're in the waiting room")).to_be_visible()
    if on_step:
        on_step("waiting")


def my_id(page: Page) -> str:
    page.wait_for_function("() => window.playroom && window.playroom.myId")
    return str(page.evaluate("window.playroom.myId"))


def admit(therapist: Page, name: str) -> float:
    """Click Admit; returns the click time (ms since the epoch)."""
    therapist.get_by_role("button", name=f"Admit {name}").first.click()
    return float(therapist.evaluate("Object.values(window.playroom.admittedAt).pop()"))


def first_frame_from(page: Page, peer_id: str, timeout: float = 30.0) -> float:
    """When ``page`` showed the first decoded frame of ``peer_id``'s video (ms since epoch)."""
    page.wait_for_function(
        "(id) => window.playroom.firstFrame[id] !== undefined", arg=peer_id, timeout=timeout * 1000
    )
    return float(page.evaluate("(id) => window.playroom.firstFrame[id]", peer_id))


def frames_decoded(page: Page, peer_id: str) -> int:
    """``framesDecoded`` of the video from ``peer_id`` (from getStats, refreshed by the page
    every second), once it is above 0."""
    read = "(id) => (window.playroom.quality[id] || {}).framesDecoded || 0"
    page.wait_for_function(f"(id) => ({read})(id) > 0", arg=peer_id, timeout=30000)
    return int(page.evaluate(read, peer_id))


LIVE = "window.playroom.signalling.live"
# how many of a page's peer ``live`` channels are open
OPEN_CHANNELS = (
    f"() => [...{LIVE}.links.values()].filter((k) => k.channel?.readyState === 'open').length"
)


@dataclass
class LiveRoom:
    """A session in Chromium with both pages on the board and the peer live channel open."""

    therapist: Page
    young: Page
    contexts: list[BrowserContext]
    session: Session


def live_room(browser: Browser, server: ServerProcess, username: str, name: str) -> LiveRoom:
    """The therapist ``username`` opens a room for client ``name``; the young person walks in
    and is admitted; both boards open, and the peer ``live`` channel between them."""
    context, therapist, _ = therapist_page(browser, server, username)
    session = prepare(therapist, server, name=name)
    open_room(therapist, server, session)
    young_context = browser.new_context(viewport={"width": 1100, "height": 900})
    young = young_context.new_page()
    walk_in(young, session.links["young_person"])
    my_id(young)
    admit(therapist, "Young person")
    board = "window.playroom.board"
    for page in (therapist, young):
        page.wait_for_function(f"() => {board} && {board}.snapshots.length > 0", timeout=30000)
        page.wait_for_function(f"() => ({OPEN_CHANNELS})() === 1", timeout=30000)
        page.locator("#board").scroll_into_view_if_needed()
    return LiveRoom(therapist, young, [context, young_context], session)


def pinch(page: Page, cx: float, cy: float, *, upright: bool = False) -> None:
    """Two fingers on ``page`` around (cx, cy) (CSS pixels), through the DevTools protocol:
    30 px apart, then drawn out to three times as far while turning by atan(15 / 45), and
    lifted. The fingers lie side by side, or one above the other when ``upright``."""
    cdp = page.context.new_cdp_session(page)

    def touch(kind: str, spread: float, tilt: float) -> None:
        across, along = (tilt, spread) if upright else (spread, tilt)
        points = (
            []
            if kind == "touchEnd"
            else [
                {"x": cx - across, "y": cy - along, "id": 1},
                {"x": cx + across, "y": cy + along, "id": 2},
            ]
        )
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", 15, 0)
    for step in range(1, 11):
        touch("touchMove", 15 + step * 3, step * 1.5)  # fingers apart, and turning
    touch("touchEnd", 0, 0)
    cdp.detach()


def same_place(page: Page, element_id: str, place: dict[str, object]) -> None:
    """Wait until the board on ``page`` holds ``element_id`` at ``place``, as the server
    sent it. Each page gets a change on its own link: one page having it says nothing of
    when the other will."""
    try:
        page.wait_for_function(
            "([id, want]) => { const e = window.playroom.board.elements.get(id);"
            " return e && Object.entries(want).every(([k, v]) => e.place[k] === v); }",
            arg=[element_id, place],
            timeout=15000,
        )
    except Exception as error:
        held = page.evaluate(
            "(id) => window.playroom.board.elements.get(id)?.place ?? null", element_id
        )
        raise AssertionError(f"{element_id} is at {held}, not {place}") from error


def no_sideways_scroll(page: Page, *, bar: bool = True) -> None:
    """Neither the page nor, with ``bar``, the bar above the board of a room's page (a fixed
    screen, which the page's own width does not show) is wider than the window."""
    viewport = page.evaluate("() => window.innerWidth")
    parts = ["document.documentElement"]
    if bar:
        parts.append("document.querySelector('#step-room .room-top')")
    for part in parts:
        width = page.evaluate(f"() => {part}.scrollWidth")
        assert width <= viewport, f"{part}: {width} px wide in a {viewport} px window"
