"""Rendering a page with what every page needs: the signed-in person and the CSRF token."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from server import __version__
from server.access.auth import csrf_token, current_user
from server.appkeys import SETTINGS


async def render(
    request: web.Request,
    template: str,
    *,
    http_status: int = 200,
    public: bool = False,
    **context: Any,
) -> web.Response:
    """Render ``template``. Staff pages get the signed-in person and a CSRF token; public
    pages (``public=True``: a parent's or a young person's link) set no cookie at all."""
    if public:
        context.update(user=None, csrf_token="")
    else:
        context.setdefault("user", await current_user(request))
        context["csrf_token"] = await csrf_token(request)
    context["version"] = __version__
    context["test_hooks"] = request.app[SETTINGS].test_hooks  # see _testhooks.html
    return aiohttp_jinja2.render_template(template, request, context, status=http_status)
