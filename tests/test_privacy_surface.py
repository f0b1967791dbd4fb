"""Nothing reads the device's location (the young person says where they are), and nothing
third-party is loaded: no script, style, font or picture from elsewhere, on any page."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import CLIENTS
from tests.conftest import Staff, sign_in
from tests.factories import new_client, therapist_view

WEB = Path(__file__).resolve().parent.parent / "web"
# a tag that loads something (not <a href>, which only goes somewhere when followed)
_LOADS_FROM_ELSEWHERE = re.compile(
    r"<(?:script|link|img|iframe|source|video|audio|object|embed|track|image|use)\b[^>]*?"
    r"\b(?:src|href|srcset|data|poster)\s*=\s*[\"']?\s*(?:https?:)?//",
    re.IGNORECASE,
)
_CSS_FROM_ELSEWHERE = re.compile(r"(?:@import|url\()\s*[\"']?\s*(?:https?:)?//", re.IGNORECASE)
_JS_FROM_ELSEWHERE = re.compile(r"""(?:import|from|fetch\(|src\s*=)\s*[("'`]\s*(?:https?:)?//""")


def test_no_script_reads_the_location() -> None:
    scripts = sorted((WEB / "static" / "js").rglob("*.js"))
    assert scripts
    for script in scripts:
        text = script.read_text()
        assert "geolocation" not in text.lower(), script.name
        assert not _JS_FROM_ELSEWHERE.search(text), script.name


def test_templates_and_styles_load_nothing_from_elsewhere() -> None:
    templates = sorted((WEB / "templates").rglob("*.html"))
    assert templates
    for template in templates:
        text = template.read_text()
        assert not _LOADS_FROM_ELSEWHERE.search(text), template.name
        assert not _CSS_FROM_ELSEWHERE.search(text), template.name
        assert "geolocation" not in text.lower(), template.name
    for sheet in sorted((WEB / "static").rglob("*.css")):
        assert not _CSS_FROM_ELSEWHERE.search(sheet.read_text()), sheet.name


def test_the_check_catches_what_it_is_for() -> None:
    assert _LOADS_FROM_ELSEWHERE.search('<script src="https://cdn.example.org/x.js">')
    assert _LOADS_FROM_ELSEWHERE.search("<link rel=stylesheet href=//fonts.example.org/css>")
    assert not _LOADS_FROM_ELSEWHERE.search('<a href="https://www.nspcc.org.uk/">NSPCC</a>')
    assert _CSS_FROM_ELSEWHERE.search("@import url('https://fonts.example.org/a.css');")
    assert _JS_FROM_ELSEWHERE.search('import x from "https://cdn.example.org/x.js"')


def _paths(app: web.Application, ids: str) -> list[str]:
    paths = set()
    for route in app.router.routes():
        if route.method not in ("GET", "*"):
            continue
        info = route.resource.get_info() if route.resource else {}
        if "formatter" in info:
            paths.add(re.sub(r"\{[^}]+\}", ids, info["formatter"]))
        elif "path" in info:
            paths.add(info["path"])
        elif "prefix" in info:  # the static files
            paths.add(info["prefix"] + "/js/join.js")
    return sorted(paths)


async def test_every_page_denies_geolocation_and_loads_nothing_from_elsewhere(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    anonymous = [(p, await client.get(p, allow_redirects=False)) for p in _paths(app, "0" * 32)]
    await sign_in(client, therapist)
    user = await therapist_view(app, therapist.username)
    real = await new_client(app, user)
    assert (await app[CLIENTS].get(user, real.id)).id == real.id
    signed_in = [(p, await client.get(p)) for p in _paths(app, real.id)]
    checked = 0
    for path, resp in anonymous + signed_in:
        policy = resp.headers.get("Permissions-Policy", "")
        assert "geolocation=()" in policy, (path, resp.status, policy)
        if resp.content_type == "text/html":
            body = await resp.text()
            assert not _LOADS_FROM_ELSEWHERE.search(body), path
            assert not _CSS_FROM_ELSEWHERE.search(body), path
            checked += resp.status == 200
    assert checked >= 5  # real pages were rendered, not only errors
