"""Who can come into one room, for ``bench_mesh.py``: a list of "how to bring the next page
in", one function a page, each given the room so far and returning the page it brought in.

Each page is a Chromium of its own (so each person's renderer, encoders and fake camera are
their own, as on separate devices) with a fake camera and microphone. Today's roles: the
therapist, who opens the room; the young person and a parent or carer, each through their
own join link (one device at a time a link); and supervisors, as announced observers, who
send nothing. A new way in (a guest's link, a group's second young person) is one more
function in ``ROSTER``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from playwright.sync_api import Browser, Page, Playwright, expect

from tests.browser.conftest import CHROMIUM, FLAGS, Person, make_person, sign_in_page
from tests.browser.session_flow import Session, admit, my_id, open_room, prepare, walk_in
from tests.conftest import PASSWORD
from tests.helpers import ServerProcess, run_cli

VIEWPORT = {"width": 1280, "height": 800}


@dataclass
class Member:
    """One page in the room: its person's role and id, its own Chromium, and whether the
    others should see its video."""

    role: str
    page: Page
    browser: Browser
    id: str
    sends: bool


@dataclass
class Room:
    """The room being filled, on ``server``; ``session`` once the therapist made it."""

    playwright: Playwright
    server: ServerProcess
    members: list[Member] = field(default_factory=list)
    session: Session | None = None

    @property
    def therapist(self) -> Page:
        return next(m.page for m in self.members if m.role == "therapist")

    def chromium(self) -> tuple[Browser, Page]:
        """A Chromium of its own with one page."""
        browser = self.playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        return browser, page

    def close(self) -> None:
        for member in self.members:
            member.browser.close()


Joiner = Callable[[Room], Member]


def therapist(room: Room) -> Member:
    """The therapist ``bench`` (made by ``bench_server``) signs in, makes a client whose gate
    is open and a session with a parent's link, and opens the room."""
    browser, page = room.chromium()
    sign_in_page(page, room.server, Person("bench", PASSWORD))
    room.session = prepare(page, room.server, name="Bench room")
    open_room(page, room.server, room.session)
    return Member("therapist", page, browser, my_id(page), sends=True)


def _by_link(role: str, shown_as: str) -> Joiner:
    def join(room: Room) -> Member:
        assert room.session is not None, "the therapist comes first"
        browser, page = room.chromium()
        walk_in(page, room.session.links[role])
        member = Member(role, page, browser, my_id(page), sends=True)
        admit(room.therapist, shown_as)
        return member

    join.__name__ = role
    join.__doc__ = f"Through the session's {role} link, admitted by the therapist."
    return join


young_person = _by_link("young_person", "Young person")
parent = _by_link("parent", "Parent or carer")


def observer(room: Room) -> Member:
    """A supervisor of the therapist (an account of their own, made now) observes, announced,
    camera and microphone off."""
    assert room.session is not None, "the therapist comes first"
    username = f"bench.observer{sum(m.role == 'observer' for m in room.members) + 1}"
    person = make_person(room.server, username, "supervisor")
    linked = run_cli("supervise", username, "bench", env=room.server.env)
    assert linked.returncode == 0, linked.stderr
    browser, page = room.chromium()
    sign_in_page(page, room.server, person)
    page.goto(f"{room.server.url}/records/{room.session.id}")
    page.get_by_role("link", name="Join as an announced observer").click()
    expect(page.locator("#observe-status")).to_contain_text("You are observing")
    return Member("observer", page, browser, my_id(page), sends=False)


# the next page in, in order; a room of n pages takes the first n
ROSTER: list[Joiner] = [therapist, young_person, parent, observer, observer, observer]


def fill(room: Room, size: int, roster: list[Joiner] = ROSTER) -> str | None:
    """Bring pages in until the room holds ``size`` or the roster ends; returns why it
    stopped short (None when it did not)."""
    for join in roster[:size]:
        try:
            room.members.append(join(room))
        except Exception as error:  # a refusal is a figure of the benchmark, not its end
            return f"{join.__name__}: {type(error).__name__}: {str(error)[:200]}"
    if len(room.members) < size:
        return f"the roster brings in {len(roster)} pages today"
    return None
