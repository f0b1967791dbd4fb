"""A client's record keeping: the discharge, a hold, how long the record is kept, and the
subject-access export (everything held about the client, as one JSON download)."""

from __future__ import annotations

import json

from aiohttp import web

from server.access.auth import staff_only
from server.appkeys import CLIENTS, DISCHARGES, EXPORTS
from server.audit.sessionlog import staff_actor
from server.storage.models import Role
from server.views.common import form, staff
from server.views.pages import render

routes = web.RouteTableDef()


@routes.get("/clients/{id}/keeping", name="keeping")
@staff_only(Role.THERAPIST, Role.SUPERVISOR)
async def keeping_page(request: web.Request) -> web.StreamResponse:
    user = await staff(request)
    client = await request.app[CLIENTS].get(user, request.match_info["id"])
    keeping = await request.app[DISCHARGES].view(user, client.id)
    return await render(request, "keeping.html", client=client, keeping=keeping)


@routes.post("/clients/{id}/discharge")
@staff_only(Role.THERAPIST)
async def discharge(request: web.Request) -> web.StreamResponse:
    values = await form(request)
    client_id = request.match_info["id"]
    await request.app[DISCHARGES].discharge(
        await staff(request), client_id, values.get("discharged") == "yes"
    )
    raise web.HTTPSeeOther(f"/clients/{client_id}/keeping")


@routes.post("/clients/{id}/hold")
@staff_only(Role.THERAPIST)
async def hold(request: web.Request) -> web.StreamResponse:
    values = await form(request)
    client_id = request.match_info["id"]
    await request.app[DISCHARGES].hold(await staff(request), client_id, values.get("held") == "yes")
    raise web.HTTPSeeOther(f"/clients/{client_id}/keeping")


@routes.get("/clients/{id}/export", name="client_export")
@staff_only(Role.THERAPIST)
async def export(request: web.Request) -> web.StreamResponse:
    """Everything held about the client, for a subject access request (named worker only);
    the export is recorded in the client's log."""
    user = await staff(request)
    client = await request.app[CLIENTS].get(user, request.match_info["id"], write=True)
    document = await request.app[EXPORTS].client(client.id, staff_actor(user.id))
    return web.Response(
        text=json.dumps(document, indent=2, ensure_ascii=False),
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="client-{client.id}.json"'},
    )
