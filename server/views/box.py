"""The child's box: browse, export a board as PNG, see a picture, reopen a board; its scenes
(see one, export it, put it on a session's board), and the JSON API the room uses to save
the board as a scene and to put one back."""

from __future__ import annotations

from aiohttp import web

from server.access.auth import staff_only
from server.appkeys import BOX, CLIENTS, SCENES
from server.board.scenes import NewScene, SceneView
from server.storage.models import Role
from server.views.apibodies import Scene, SceneList, ScenePlaced
from server.views.common import form, json_body, staff
from server.views.pages import render

routes = web.RouteTableDef()


@routes.get("/clients/{id}/box", name="box")
@staff_only(Role.THERAPIST)
async def box_page(request: web.Request) -> web.StreamResponse:
    user = await staff(request)
    client = await request.app[CLIENTS].get(user, request.match_info["id"], write=True)
    entries = await request.app[BOX].entries(user, client.id)
    scenes = await request.app[SCENES].for_client(user, client.id)
    destinations = await request.app[SCENES].destinations(user, client.id) if scenes else []
    return await render(
        request,
        "box.html",
        client=client,
        entries=entries,
        scenes=scenes,
        destinations=destinations,
    )


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


# -- scenes, on the box's page


@routes.get("/clients/{id}/box/scenes/{scene}/thumbnail.png", name="box_scene_thumbnail")
@staff_only(Role.THERAPIST)
async def scene_thumbnail(request: web.Request) -> web.StreamResponse:
    png = await request.app[SCENES].thumbnail(
        await staff(request), request.match_info["id"], request.match_info["scene"]
    )
    return web.Response(body=png, content_type="image/png")


@routes.get("/clients/{id}/box/scenes/{scene}/scene.png", name="box_scene_png")
@staff_only(Role.THERAPIST)
async def scene_png(request: web.Request) -> web.StreamResponse:
    """The scene for the clinical record: always a download, and logged."""
    scene, png = await request.app[SCENES].png(
        await staff(request), request.match_info["id"], request.match_info["scene"]
    )
    name = f"scene-{scene.saved_at:%Y-%m-%d}.png"  # the date, not the scene's name
    headers = {"Content-Disposition": f"attachment; filename={name}"}
    return web.Response(body=png, content_type="image/png", headers=headers)


@routes.post("/clients/{id}/box/scenes/{scene}/reopen")
@staff_only(Role.THERAPIST)
async def scene_reopen(request: web.Request) -> web.StreamResponse:
    """The box's form: put the scene on the chosen session's board, then go to it."""
    values = await form(request)
    user = await staff(request)
    await request.app[CLIENTS].get(user, request.match_info["id"], write=True)
    target = values.get("session", "")
    await request.app[SCENES].reopen(user, target, request.match_info["scene"])
    raise web.HTTPSeeOther(f"/sessions/{target}")


# -- scenes, for the room's toolbar (JSON)


def scene_out(scene: SceneView) -> Scene:
    base = f"/clients/{scene.client_id}/box/scenes/{scene.id}"
    return Scene(
        id=scene.id,
        name=scene.name,
        session_id=scene.appointment_id,
        saved_at=scene.saved_at,
        thumbnail=f"{base}/thumbnail.png",
        png=f"{base}/scene.png",
    )


@routes.post("/api/sessions/{id}/scenes", name="api_scene_save")
@staff_only(Role.THERAPIST)
async def api_save_scene(request: web.Request) -> web.StreamResponse:
    """Save the session's board as it is now, as a named scene in the child's box."""
    new = await json_body(request, NewScene)
    scene = await request.app[SCENES].save(await staff(request), request.match_info["id"], new)
    return web.json_response(scene_out(scene).model_dump(mode="json"), status=201)


@routes.get("/api/sessions/{id}/scenes", name="api_scenes")
@staff_only(Role.THERAPIST)
async def api_scenes(request: web.Request) -> web.StreamResponse:
    """The scenes of the session's client, newest first: what the room can put back."""
    scenes = await request.app[SCENES].for_session(await staff(request), request.match_info["id"])
    listed = SceneList(scenes=[scene_out(s) for s in scenes])
    return web.json_response(listed.model_dump(mode="json"))


@routes.post("/api/sessions/{id}/scenes/{scene}/reopen", name="api_scene_reopen")
@staff_only(Role.THERAPIST)
async def api_reopen_scene(request: web.Request) -> web.StreamResponse:
    """Put a scene of the client's box on this session's board."""
    session_id = request.match_info["id"]
    placed = await request.app[SCENES].reopen(
        await staff(request), session_id, request.match_info["scene"]
    )
    return web.json_response(ScenePlaced(session_id=session_id, placed=placed).model_dump())
