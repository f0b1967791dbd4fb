"""The sand tray's library of miniatures (``media/miniatures.py``) for pages, and the about
page that credits it.

Public, like the about page: a young person has no account, and the catalogue holds nothing
about anyone. The pictures are long-cached under the library's revision (``?v=``); each is
served with a policy of its own, under which an SVG opened by itself can run nothing.
"""

from __future__ import annotations

from functools import cache

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from media import miniatures
from server.appkeys import SETTINGS
from server.views.pages import render

routes = web.RouteTableDef()

# an SVG opened by itself (not as an <img>) runs nothing and loads nothing
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox"
YEAR = 365 * 24 * 3600
DAY = 24 * 3600
MAX_NAME = 64


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShelfOut(_Out):
    """One shelf: its miniatures as ``[name, label]``, in order; ``short`` (a word of
    ``label``) and ``icon`` (a miniature's name) for its tab."""

    id: str
    label: str
    short: str
    icon: str
    items: list[tuple[str, str]]


class Catalogue(_Out):
    """Every shelf, without the pictures: ``image`` is the URL of one, ``{name}`` replaced."""

    version: str
    image: str
    shelves: list[ShelfOut]


class Found(_Out):
    """A search's results as ``[name, label]``, best first; at most ``limit``."""

    query: str
    limit: int
    items: list[tuple[str, str]]


@cache
def catalogue_body() -> bytes:
    """The catalogue as sent, built once."""
    revision = miniatures.revision()
    return (
        Catalogue(
            version=revision,
            image=f"/miniatures/{{name}}.svg?v={revision}",
            shelves=[
                ShelfOut(
                    id=shelf.id,
                    label=shelf.label,
                    short=shelf.short,
                    icon=shelf.icon,
                    items=[(name, miniatures.label(name)) for name in shelf.names],
                )
                for shelf in miniatures.shelves()
            ],
        )
        .model_dump_json()
        .encode()
    )


@routes.get("/miniatures/catalogue.json", name="miniatures_catalogue")
async def catalogue(request: web.Request) -> web.StreamResponse:
    """Every shelf with its miniatures' names and labels (about 100 KB, compressed)."""
    response = web.Response(body=catalogue_body(), content_type="application/json")
    response.enable_compression()
    return response


@routes.get("/miniatures/search", name="miniatures_search")
async def search(request: web.Request) -> web.StreamResponse:
    """``?q=`` words of a name, label or shelf; ``&limit=`` (1 to 60, the default 60)."""
    query = request.query.get("q", "")[: miniatures.MAX_QUERY]
    try:
        limit = int(request.query.get("limit", miniatures.SEARCH_LIMIT))
    except ValueError:
        raise web.HTTPBadRequest() from None
    if not 1 <= limit <= miniatures.SEARCH_LIMIT:
        raise web.HTTPBadRequest()
    names = miniatures.search(query, limit)
    found = Found(query=query, limit=limit, items=[(n, miniatures.label(n)) for n in names])
    return web.Response(body=found.model_dump_json().encode(), content_type="application/json")


@routes.get("/miniatures/{name:[a-z0-9-]+}.svg", name="miniature")
async def miniature(request: web.Request) -> web.StreamResponse:
    """One miniature as SVG: cached for a year when asked for at the current revision
    (``?v=``, as the catalogue gives it), for a day otherwise."""
    name = request.match_info["name"]
    if len(name) > MAX_NAME or not miniatures.exists(name):
        raise web.HTTPNotFound()
    try:
        document = miniatures.svg(name)
    except KeyError:
        raise web.HTTPNotFound() from None
    current = request.query.get("v") == miniatures.revision()
    body = document.encode()
    response = web.StreamResponse(
        headers={
            "Content-Type": "image/svg+xml",
            "Cache-Control": f"public, max-age={YEAR}, immutable"
            if current
            else f"public, max-age={DAY}",
            "Content-Security-Policy": SVG_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Cross-Origin-Resource-Policy": "same-origin",
            "Referrer-Policy": "no-referrer",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
        },
    )
    if request.secure or request.app[SETTINGS].tls:
        response.headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    response.content_length = len(body)
    # sent from here, as a stream: the app's page headers (its CSP, no-store) and the session
    # cookie leave a response already sent as it is
    await response.prepare(request)
    if request.method != "HEAD":
        await response.write(body)
    await response.write_eof()
    return response


@routes.get("/about", name="about")
async def about(request: web.Request) -> web.StreamResponse:
    """What Playroom is, its licence, and the open work it is made with."""
    return await render(
        request,
        "about.html",
        public=True,
        miniatures_version=miniatures.library().version,
        miniatures_count=len(miniatures.library().labels),
        package=miniatures.PACKAGE,
    )
