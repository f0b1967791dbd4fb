"""The pages' test hook (``window.playroom``, from ``testhooks.js``) is on only where a
server runs with ``test_hooks``: production pages never hand their state to page scripts."""

from __future__ import annotations

import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import ACCOUNTS
from server.settings import Settings
from server.storage.models import Role
from tests.conftest import Staff, make_staff, sign_in
from tests.factories import ready_client, therapist_view
from tests.helpers import ROOT
from tests.scenes import join_token, schedule_session

HOOK = "/static/js/testhooks.js"
SCRIPTS = ROOT / "web" / "static" / "js"


@pytest.fixture(params=[False, True], ids=["default", "test_hooks"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return settings.model_copy(update={"test_hooks": request.param})


def test_the_hook_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLAYROOM_TEST_HOOKS", raising=False)
    assert Settings().test_hooks is False
    monkeypatch.setenv("PLAYROOM_TEST_HOOKS", "true")
    assert Settings().test_hooks is True


def test_only_the_hook_module_sets_the_global() -> None:
    setters = [
        path.name
        for path in SCRIPTS.glob("*.js")
        if re.search(r"window\.playroom\s*=", path.read_text())
    ]
    assert setters == ["testhooks.js"]


async def _pages(app: web.Application, aiohttp_client, client: TestClient, therapist: Staff):  # type: ignore[no-untyped-def]
    """The room, join and observe pages of one scheduled session, as their people see them."""
    csrf = await sign_in(client, therapist)
    kid = await ready_client(app, await therapist_view(app, therapist.username))
    made = await schedule_session(client, csrf, kid.id)
    supervisor = await make_staff(app, "sup", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("sup", therapist.username)
    watcher = await aiohttp_client(client.server)
    await sign_in(watcher, supervisor)
    young = await aiohttp_client(client.server)  # no cookies: a young person's browser
    return {
        "room": await client.get(f"/sessions/{made['id']}/room"),
        "join": await young.get(f"/join/{join_token(made)}"),
        "observe": await watcher.get(f"/records/{made['id']}/observe"),
    }


async def test_room_pages_load_the_hook_only_with_the_setting(
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    pages = await _pages(app, aiohttp_client, client, therapist)
    for name, resp in pages.items():
        assert resp.status == 200, (name, await resp.text())
        html = await resp.text()
        assert ("testhooks.js" in html) is settings.test_hooks, name
        assert "window.playroom" not in html, name  # never inline: the CSP forbids it
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"], name
        if settings.test_hooks:  # a same-origin module, before the page's own script
            hook = re.search(r'<script type="module" src="(/static/js/testhooks\.js[^"]*)"', html)
            assert hook is not None, name
            assert html.index(hook.group(1)) < html.index(f"/static/js/{_page_script(name)}")
            served = await client.get(hook.group(1))
            assert served.status == 200
            assert "window.playroom = state" in await served.text()


def _page_script(page: str) -> str:
    return {"room": "therapist.js", "join": "join.js", "observe": "observe.js"}[page]
