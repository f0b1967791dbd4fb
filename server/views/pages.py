"""Rendering a page with what every page needs: the signed-in person and the CSRF token;
a family's page, in the family's language."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from server import __version__, i18n
from server.access.auth import csrf_token, current_user
from server.appkeys import SETTINGS


def language(request: web.Request, client_lang: str | None = None) -> str:
    """The language of a family page: picked on the page (``?lang=``), else the client's
    (set by the therapist), else the browser's (``i18n.negotiate``)."""
    return i18n.negotiate(
        request.headers.get("Accept-Language"), client_lang, request.query.get("lang")
    )


async def render(
    request: web.Request,
    template: str,
    *,
    http_status: int = 200,
    public: bool = False,
    client_lang: str | None = None,
    **context: Any,
) -> web.Response:
    """Render ``template``. Staff pages get the signed-in person and a CSRF token, in
    English; public pages (``public=True``: a parent's or a young person's link) set no
    cookie at all and are in the family's language (``language``), with the translations of
    the page's scripts (``strings``)."""
    lang = i18n.DEFAULT
    if public:
        lang = language(request, client_lang)
        context.update(user=None, csrf_token="")
        context["page_lang"] = i18n.Page(lang)
        context["strings"] = i18n.script_strings(lang)
    else:
        context.setdefault("user", await current_user(request))
        context["csrf_token"] = await csrf_token(request)
    context["version"] = __version__
    context["test_hooks"] = request.app[SETTINGS].test_hooks  # see _testhooks.html
    with i18n.using(lang):  # the page renders here, in one go: nothing else runs meanwhile
        response = aiohttp_jinja2.render_template(template, request, context, status=http_status)
    response.headers["Content-Language"] = i18n.TAGS[lang]
    return response
