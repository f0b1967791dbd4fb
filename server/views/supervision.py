"""The supervisor's sign-off queue, and the therapist's pre-session checks for the day."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.access.auth import staff_only
from server.appkeys import CATALOGUE, GATEKEEPER
from server.care.checklists import Kind
from server.exceptions import PlayroomError
from server.storage.models import Role
from server.views.common import form, json_body, staff
from server.views.pages import render

routes = web.RouteTableDef()


class SignOffIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    revision: int = Field(ge=1)
    comment: str = Field(min_length=1, max_length=2000)


class DailyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: dict[str, str] = Field(max_length=50)


@routes.get("/sign-offs", name="sign_offs")
@staff_only(Role.SUPERVISOR)
async def queue_page(request: web.Request) -> web.StreamResponse:
    return await _queue(request)


async def _queue(request: web.Request, status: int = 200, error: str | None = None) -> web.Response:
    user = await staff(request)
    gatekeeper = request.app[GATEKEEPER]
    entries = await gatekeeper.queue(user)
    therapists = {e.therapist_id for e in entries}  # each name read once, not once an entry
    names = {t: await gatekeeper.staff_name(t) for t in therapists}
    return await render(
        request,
        "sign_offs.html",
        http_status=status,
        entries=entries,
        names=names,
        checklist=request.app[CATALOGUE][Kind.SUITABILITY],
        error=error,
        done=request.query.get("done"),
    )


@routes.post("/sign-offs/{client}")
@staff_only(Role.SUPERVISOR)
async def sign_off_submit(request: web.Request) -> web.StreamResponse:
    values = await form(request)
    try:
        revision = int(values.get("revision", "0"))
        await request.app[GATEKEEPER].sign_off(
            await staff(request), request.match_info["client"], revision, values.get("comment", "")
        )
    except (PlayroomError, ValueError) as exc:
        return await _queue(request, 400, str(exc))
    raise web.HTTPSeeOther("/sign-offs?done=1")


@routes.post("/api/clients/{client}/sign-offs")
@staff_only(Role.SUPERVISOR)
async def api_sign_off(request: web.Request) -> web.StreamResponse:
    data = await json_body(request, SignOffIn)
    view = await request.app[GATEKEEPER].sign_off(
        await staff(request), request.match_info["client"], data.revision, data.comment
    )
    return web.json_response(
        {"revision": view.revision, "at": view.created_at.isoformat()}, status=201
    )


@routes.get("/escalations", name="escalations")
@staff_only(Role.SUPERVISOR)
async def escalations_page(request: web.Request) -> web.StreamResponse:
    """Live escalations of the supervisor's team (pushed over the WebSocket)."""
    return await render(request, "escalations.html")


@routes.get("/checks/today", name="checks")
@staff_only(Role.THERAPIST)
async def checks_page(request: web.Request) -> web.StreamResponse:
    user = await staff(request)
    answers = await request.app[GATEKEEPER].daily(user.id)
    return await render(
        request,
        "checks.html",
        checklist=request.app[CATALOGUE][Kind.PRE_SESSION],
        answers=answers or {},
        done=answers is not None,
        error=None,
    )


@routes.post("/checks/today")
@staff_only(Role.THERAPIST)
async def checks_submit(request: web.Request) -> web.StreamResponse:
    values = await form(request)
    answers = {k[7:]: v for k, v in values.items() if k.startswith("answer:")}
    try:
        await request.app[GATEKEEPER].save_daily(await staff(request), answers)
    except PlayroomError as exc:
        return await render(
            request,
            "checks.html",
            http_status=400,
            checklist=request.app[CATALOGUE][Kind.PRE_SESSION],
            answers=answers,
            done=False,
            error=str(exc),
        )
    raise web.HTTPSeeOther("/")


@routes.put("/api/checks/today")
@staff_only(Role.THERAPIST)
async def api_checks(request: web.Request) -> web.StreamResponse:
    data = await json_body(request, DailyIn)
    await request.app[GATEKEEPER].save_daily(await staff(request), data.answers)
    return web.json_response({"saved": True})
