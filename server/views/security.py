"""Response headers, error pages and the error frame of the JSON API."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from server.appkeys import SETTINGS
from server.exceptions import PlayroomError
from server.views.pages import render

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
_NO_DEVICES = "camera=(), microphone=(), geolocation=(), display-capture=(), usb=(), payment=()"
# a room's pages: the camera and microphone, and sharing a screen (``web/static/js/share.js``)
_MEDIA = (
    "camera=(self), microphone=(self), geolocation=(), display-capture=(self), usb=(), payment=()"
)


def media_page(handler: Handler) -> Handler:
    """Mark a page that may use the camera and microphone, and share a screen."""
    handler.media_page = True  # type: ignore[attr-defined]
    return handler


def wants_json(request: web.Request) -> bool:
    if request.path.startswith("/api/"):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Strict headers on every response, error responses included."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _apply_headers(request, exc, handler)
        raise
    _apply_headers(request, response, handler)
    return response


def _apply_headers(request: web.Request, response: web.StreamResponse, handler: Handler) -> None:
    if response.prepared:
        return
    h = response.headers
    h["Content-Security-Policy"] = CSP
    h["Referrer-Policy"] = "no-referrer"
    h["X-Content-Type-Options"] = "nosniff"
    h["X-Frame-Options"] = "DENY"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Cross-Origin-Resource-Policy"] = "same-origin"
    route_handler = request.match_info.handler  # the view, not the next middleware
    h["Permissions-Policy"] = _MEDIA if getattr(route_handler, "media_page", False) else _NO_DEVICES
    if not request.path.startswith(("/static/", "/stickers/")):
        h["Cache-Control"] = "no-store"
    if request.secure or request.app[SETTINGS].tls:
        h["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn errors into a clear page or a JSON error frame; never leak internals."""
    try:
        return await handler(request)
    except PlayroomError as exc:
        return await error_response(request, exc.status, str(exc), exc.code)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status >= 500:
            log.error("server error", extra={"status": exc.status, "route": _route(request)})
        return await error_response(request, exc.status, _MESSAGES.get(exc.status, exc.reason))
    except Exception:
        log.exception("unhandled error", extra={"route": _route(request)})
        return await error_response(request, 500, _MESSAGES[500])


# the code of an error that is not one of the exception tree's, by its status
_CODES = {
    400: "bad_request",
    401: "auth",
    403: "forbidden",
    404: "not_found",
    405: "not_allowed",
    413: "too_large",
    429: "rate_limited",
    500: "server_error",
    503: "unavailable",
}
_MESSAGES = {
    400: "The request could not be understood.",
    403: "You do not have access to that.",
    404: "There is no page at this address.",
    405: "That action is not allowed here.",
    413: "That was too large to send. Nothing was saved.",
    429: "Too many attempts. Please wait a little and try again.",
    500: "Something went wrong on our side. Please try again.",
    503: "The service cannot save anything right now. Nothing was changed.",
}


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "-"


async def error_response(
    request: web.Request, status: int, message: str, code: str | None = None
) -> web.Response:
    """The error as a page, or as the JSON API's error frame (``apibodies.Error``)."""
    if wants_json(request):
        code = code or _CODES.get(status, "refused" if status < 500 else "server_error")
        problem = {"status": status, "code": code, "message": message}
        return web.json_response({"error": problem}, status=status)
    # no account lookup on an error page: the error may be the database itself
    return await render(
        request, "error.html", http_status=status, user=None, status=status, message=message
    )
