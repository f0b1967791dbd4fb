"""The child's box: browse, export a board as PNG, see a picture, reopen a board."""

from __future__ import annotations

from aiohttp import web

from server.access.auth import staff_only
from server.appkeys import BOX, CLIENTS
from server.storage.models import Role
from server.views.common import form, staff
from server.views.pages import render

routes = web.RouteTableDef()


@routes.get("/clients/{id}/box", name="box")
@staff_only(Role.THERAPIST)
async def box_page(request: web.Request) -> web.StreamResponse:
    user = await staff(request)
    client = await request.app[CLIENTS].get(user, request.match_info["id"], write=True)
    entries = await request.app[BOX].entries(user, client.id)
    return await render(request, "box.html", client=client, entries=entries)


@routes.get("/clients/{id}/box/{appointment}/board.png", name="box_png")
@staff_only(Role.THERAPIST)
async def board_png(request: web.Request) -> web.StreamResponse:
    png = await request.app[BOX].png(
        await staff(request), request.match_info["id"], request.match_info["appointment"]
    )
    download = request.query.get("download") == "1"
    headers = {"Content-Disposition": "attachment; filename=board.png"} if download else {}
    return web.Response(body=png, content_type="image/png", headers=headers)


@routes.get("/clients/{id}/box/pictures/{object}", name="box_picture")
@staff_only(Role.THERAPIST)
async def picture(request: web.Request) -> web.StreamResponse:
    mime, data = await request.app[BOX].picture(
        await staff(request), request.match_info["id"], request.match_info["object"]
    )
    return web.Response(body=data, content_type=mime)


@routes.post("/sessions/{id}/board/reopen")
@staff_only(Role.THERAPIST)
async def reopen(request: web.Request) -> web.StreamResponse:
    values = await form(request)
    await request.app[BOX].reopen(
        await staff(request), request.match_info["id"], values.get("source", "")
    )
    raise web.HTTPSeeOther(f"/sessions/{request.match_info['id']}")
