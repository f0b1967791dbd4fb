"""Staff sign-in state: the encrypted cookie naming a session kept on the server
(``sessions.py``), CSRF tokens, and access checks."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from functools import wraps

from aiohttp import web
from aiohttp_session import Session, get_session, new_session, session_middleware

from server.access.accounts import StaffView
from server.access.sessions import SignIn
from server.appkeys import COOKIE_STORAGE, STAFF_SESSIONS, STAFF_SOCKETS
from server.exceptions import Forbidden
from server.storage.models import Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_FIELD = "sid"  # the cookie's one key to the server's session
_USER: web.RequestKey[StaffView | None] = web.RequestKey("playroom_user")
_SIGN_IN: web.RequestKey[SignIn | None] = web.RequestKey("playroom_sign_in")
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@web.middleware
async def session_cookies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp-session's middleware, with the storage made when the keys are loaded."""
    inner = session_middleware(request.app[COOKIE_STORAGE])
    return await inner(request, handler)


async def csrf_token(request: web.Request) -> str:
    """The session's CSRF token, made on first use."""
    session = await get_session(request)
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def csrf_exempt(handler: Handler) -> Handler:
    """For endpoints authenticated by something other than the cookie (a link token)."""
    handler.csrf_exempt = True  # type: ignore[attr-defined]
    return handler


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every state-changing request carries the session's token, in a field or a header."""
    if request.method in _SAFE_METHODS or getattr(handler, "csrf_exempt", False):
        return await handler(request)
    session = await get_session(request)
    expected = session.get(CSRF_FIELD)
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not (isinstance(expected, str) and given and hmac.compare_digest(expected, given)):
        raise Forbidden(
            "This form has expired or did not come from Playroom. Reload the page and try again."
        )
    return await handler(request)


async def sign_in(request: web.Request, user: StaffView) -> None:
    """Start a fresh session for a fully authenticated user: a new row on the server, and a
    new cookie naming it (with a new CSRF token)."""
    token = await request.app[STAFF_SESSIONS].start(user.id, request.headers.get("User-Agent"))
    session = await new_session(request)
    session[SESSION_FIELD] = token
    session[CSRF_FIELD] = secrets.token_urlsafe(32)


async def sign_out(request: web.Request) -> None:
    """End this browser's session on the server (every copy of its cookie stops working,
    and its open sockets close), and clear the cookie."""
    session = await get_session(request)
    token = session.get(SESSION_FIELD)
    if isinstance(token, str):
        await request.app[STAFF_SESSIONS].end(token)
        request.app[STAFF_SOCKETS].check_now()
    session.invalidate()


async def current_user(request: web.Request) -> StaffView | None:
    """The signed-in staff member, or None. The cookie's session must still be live on the
    server: not signed out, not ended from another device, not expired, its account not
    disabled."""
    if _USER not in request:
        session = await get_session(request)
        await _load(request, session)
    return request[_USER]


async def current_sign_in(request: web.Request) -> SignIn | None:
    """The session this request's cookie names, while it is live."""
    await current_user(request)
    return request[_SIGN_IN]


async def _load(request: web.Request, session: Session) -> None:
    request[_USER] = request[_SIGN_IN] = None
    token = session.get(SESSION_FIELD)
    if not isinstance(token, str):
        return
    found = await request.app[STAFF_SESSIONS].find(token)
    if found is None:
        session.invalidate()
        return
    request[_USER], request[_SIGN_IN] = found.user, found.sign_in


def staff_only(*roles: Role) -> Callable[[Handler], Handler]:
    """Require a signed-in staff member (of one of ``roles``, when given). The roles stay on
    the handler as ``staff_roles``, where the API's description reads them."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            user = await current_user(request)
            if user is None:
                if request.path.startswith("/api/"):
                    raise web.HTTPUnauthorized()
                raise web.HTTPSeeOther("/signin")
            if roles and user.role not in roles:
                raise Forbidden("This page is for other staff roles.")
            return await handler(request)

        wrapper.staff_roles = roles or tuple(Role)  # type: ignore[attr-defined]
        return wrapper

    return decorate
