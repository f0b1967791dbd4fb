"""The signed-in home page for each staff role, and the account API."""

from __future__ import annotations

from aiohttp import web

from server.appkeys import ACCOUNTS
from server.auth import current_user, staff_only
from server.models import Role
from server.pages import render

routes = web.RouteTableDef()


@routes.get("/", name="home")
@staff_only()
async def home(request: web.Request) -> web.StreamResponse:
    user = await current_user(request)
    assert user is not None
    supervisees = []
    if user.role is Role.SUPERVISOR:
        supervisees = await request.app[ACCOUNTS].supervisees(user.id)
    return await render(request, f"home_{user.role.value}.html", supervisees=supervisees)


@routes.get("/api/me", name="api_me")
@staff_only()
async def me(request: web.Request) -> web.StreamResponse:
    user = await current_user(request)
    assert user is not None
    return web.json_response(
        {"id": user.id, "username": user.username, "name": user.display_name, "role": user.role}
    )
