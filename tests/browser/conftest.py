"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, and a live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.conftest import require
from tests.helpers import ROOT, ServerProcess, cli_env, make_account, migrate

CHROMIUM = os.environ.get("PLAYROOM_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """One Playwright per module: sync Playwright runs an event loop in this thread while it
    is open, which must be closed before the asyncio tests of other modules run."""
    require(Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One Chromium per module."""
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    tab = context.new_page()
    yield tab
    context.close()


def start_server(tmp_path_factory: pytest.TempPathFactory, name: str, **env: str) -> ServerProcess:
    """A real ``playroom serve`` on the embedded SQLite default, in a data folder of its own,
    migrated and answering, its pages exposing their state (``window.playroom``) to the
    tests; ``env`` adds settings."""
    env = {"PLAYROOM_TEST_HOOKS": "true", **env}
    settings = cli_env(tmp_path_factory.mktemp(name) / "data", **env)
    migrate(settings)
    server = ServerProcess(settings)
    server.wait_ready()
    return server


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory, "live")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server listening on every address, as a browser on a host of its own reaches it
    (``remote.py``), with the default heartbeat (a silent drop noticed within 2 s)."""
    server = start_server(
        tmp_path_factory,
        "open",
        PLAYROOM_HOST="0.0.0.0",  # noqa: S104 - reached from browsers on hosts of their own
    )
    yield server
    server.stop()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core WCAG 2.2 AA violations of serious or critical impact."""
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}})
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


class Person:
    """A staff account on the live server, signed in through the real pages."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password
        self.secret: str | None = None
        self.step = 0

    def code(self) -> str:
        from tests.totp import take

        assert self.secret is not None
        self.step, code = take(self.secret, self.step)
        return code


def make_person(
    server: ServerProcess, username: str, role: str, display_name: str | None = None
) -> Person:
    from tests.conftest import PASSWORD

    make_account(server.env, username, role, PASSWORD, display_name or "")
    return Person(username, PASSWORD)


def sign_in_page(page: Page, server: ServerProcess, person: Person) -> None:
    """Password, then enrolment (first time) or a code."""
    page.goto(server.url + "/signin")
    page.get_by_label("Username").fill(person.username)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Continue").click()
    if person.secret is None:
        page.wait_for_url("**/signin/enrol")
        person.secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        page.get_by_label("Type the 6-digit code").fill(person.code())
        page.get_by_role("button", name="Confirm and sign in").click()
    else:
        page.wait_for_url("**/signin/code")
        page.get_by_label("6-digit code").fill(person.code())
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/")


def csrf(page: Page) -> str:
    return page.locator('input[name="csrf_token"]').first.get_attribute("value") or ""
