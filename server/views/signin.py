"""Sign-in pages: password, then a TOTP code (enrolled with a QR code on first sign-in);
signing out; and "Where you are signed in", where a person ends any of their sessions."""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp_session import get_session

from server.access.auth import current_sign_in, current_user, sign_in, sign_out, staff_only
from server.access.proxy import client_address
from server.appkeys import ACCOUNTS, LOGIN_LIMITER, STAFF_SESSIONS, STAFF_SOCKETS
from server.exceptions import AuthError, RateLimited
from server.views.common import qr_data_uri
from server.views.pages import render

PENDING_SECONDS = 300
routes = web.RouteTableDef()


def _limit(request: web.Request) -> None:
    if not request.app[LOGIN_LIMITER].allow(client_address(request)):
        raise RateLimited("Too many sign-in attempts from here. Please wait a minute.")


async def _pending(request: web.Request) -> str | None:
    session = await get_session(request)
    uid, since = session.get("pending"), session.get("pending_at", 0)
    if not isinstance(uid, str) or time.time() - float(since) > PENDING_SECONDS:
        return None
    return uid


@routes.get("/signin", name="signin")
async def signin_form(request: web.Request) -> web.StreamResponse:
    if await current_user(request) is not None:
        raise web.HTTPSeeOther("/")
    return await render(request, "signin.html")


@routes.post("/signin")
async def signin_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    try:
        _limit(request)
        user = await request.app[ACCOUNTS].check_password(
            username, password, client_address(request)
        )
    except (AuthError, RateLimited) as exc:
        return await render(
            request, "signin.html", http_status=exc.status, error=str(exc), username=username
        )
    session = await get_session(request)
    session.changed()
    session["pending"] = user.id
    session["pending_at"] = time.time()
    raise web.HTTPSeeOther("/signin/code" if user.totp_enrolled else "/signin/enrol")


@routes.get("/signin/code", name="signin_code")
async def code_form(request: web.Request) -> web.StreamResponse:
    if await _pending(request) is None:
        raise web.HTTPSeeOther("/signin")
    return await render(request, "signin_code.html")


@routes.post("/signin/code")
@routes.post("/signin/enrol")
async def code_submit(request: web.Request) -> web.StreamResponse:
    uid = await _pending(request)
    if uid is None:
        raise web.HTTPSeeOther("/signin")
    form = await request.post()
    enrolling = request.path.endswith("/enrol")
    try:
        _limit(request)
        code = str(form.get("code", ""))
        user = await request.app[ACCOUNTS].verify_totp(uid, code, address=client_address(request))
    except (AuthError, RateLimited) as exc:
        if enrolling:
            return await _enrol_page(request, uid, exc.status, str(exc))
        return await render(request, "signin_code.html", http_status=exc.status, error=str(exc))
    await sign_in(request, user)
    raise web.HTTPSeeOther("/")


@routes.get("/signin/enrol", name="signin_enrol")
async def enrol_form(request: web.Request) -> web.StreamResponse:
    uid = await _pending(request)
    if uid is None:
        raise web.HTTPSeeOther("/signin")
    return await _enrol_page(request, uid)


async def _enrol_page(
    request: web.Request, uid: str, status: int = 200, error: str | None = None
) -> web.Response:
    accounts = request.app[ACCOUNTS]
    secret = await accounts.enrolment_secret(uid)
    user = await accounts.get(uid)
    assert user is not None
    uri = accounts.provisioning_uri(user.username, secret)
    qr = qr_data_uri(uri)
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return await render(
        request, "signin_enrol.html", http_status=status, qr=qr, secret=grouped, error=error
    )


@routes.post("/signout", name="signout")
async def signout(request: web.Request) -> web.StreamResponse:
    await sign_out(request)
    raise web.HTTPSeeOther("/signin")


@routes.post("/signout/everywhere", name="signout_everywhere")
async def signout_everywhere(request: web.Request) -> web.StreamResponse:
    user = await current_user(request)
    if user is not None:
        await request.app[STAFF_SESSIONS].end_all(user.id)
        request.app[STAFF_SOCKETS].check_now()
    await sign_out(request)
    raise web.HTTPSeeOther("/signin")


@routes.get("/account/sign-ins", name="sign_ins")
@staff_only()
async def sign_ins(request: web.Request) -> web.StreamResponse:
    """Where you are signed in: each device, when it signed in and was last seen."""
    user, here = await current_user(request), await current_sign_in(request)
    assert user is not None and here is not None
    found = await request.app[STAFF_SESSIONS].of(user.id)
    return await render(request, "signins.html", sign_ins=found, here=here.id)


@routes.post("/account/sign-ins/{id}/end", name="sign_in_end")
@staff_only()
async def sign_in_end(request: web.Request) -> web.StreamResponse:
    """Sign out on one device: that session ends (its open rooms and dashboards close)."""
    user, here = await current_user(request), await current_sign_in(request)
    assert user is not None and here is not None
    target = request.match_info["id"]
    if target == here.id:
        await sign_out(request)
        raise web.HTTPSeeOther("/signin")
    await request.app[STAFF_SESSIONS].end_one(user.id, target)
    request.app[STAFF_SOCKETS].check_now()
    raise web.HTTPSeeOther("/account/sign-ins")
