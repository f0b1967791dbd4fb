"""The signed-in home page for each staff role, and the account API."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.access.auth import current_user, staff_only
from server.appkeys import (
    ACCOUNTS,
    CLIENTS,
    GATEKEEPER,
    GROUPS,
    RECORDS,
    ROTA,
    SCHEDULE,
    SIGN_OFF_REQUESTS,
)
from server.storage.models import Role
from server.views.pages import render

routes = web.RouteTableDef()


@routes.get("/", name="home")
@staff_only()
async def home(request: web.Request) -> web.StreamResponse:
    user = await current_user(request)
    assert user is not None
    context: dict[str, Any] = {}
    if user.role is Role.SUPERVISOR:
        context["supervisees"] = await request.app[ACCOUNTS].supervisees(user.id)
        context["sign_offs"] = await request.app[SIGN_OFF_REQUESTS].queue(user)
        context["flagged"] = await request.app[RECORDS].flagged_for(user)
        context["shift"] = await request.app[ROTA].shift(user.id)
    if user.role is Role.THERAPIST:
        context["today"] = await request.app[SCHEDULE].for_therapist_today(user)
        if context["today"]:  # each session named by its client, as the therapist knows them
            clients = await request.app[CLIENTS].list_for(user)
            context["names"] = {c.id: c.display_name for c in clients}
            for group in await request.app[GROUPS].list_for(user):  # a group's, by its name
                context["names"][group.id] = f"group {group.name}"
        context["daily_done"] = await request.app[GATEKEEPER].daily(user.id) is not None
        context["sent_back"] = await request.app[SIGN_OFF_REQUESTS].sent_back_to(user)
    return await render(request, f"home_{user.role.value}.html", **context)


@routes.get("/api/me", name="api_me")
@staff_only()
async def me(request: web.Request) -> web.StreamResponse:
    user = await current_user(request)
    assert user is not None
    return web.json_response(
        {"id": user.id, "username": user.username, "name": user.display_name, "role": user.role}
    )
