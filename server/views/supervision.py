"""Sign-offs (the therapist asks; the supervisor signs off or sends back with a comment),
the supervisor's live escalations and their shift button, and the therapist's pre-session
checks for the day."""

from __future__ import annotations

import contextlib
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.access.auth import staff_only
from server.appkeys import CATALOGUE, CLIENTS, GATEKEEPER, ROTA, SIGN_OFF_REQUESTS
from server.care.checklists import Kind
from server.exceptions import PlayroomError
from server.storage.ids import is_id
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


async def _queue(
    request: web.Request,
    status: int = 200,
    error: str | None = None,
    failed: tuple[str, str] | None = None,
) -> web.Response:
    """The supervisor's sign-offs; ``failed``: the client whose form was refused (with
    ``error``), and the comment typed into it, shown again in that form."""
    user = await staff(request)
    queue = await request.app[SIGN_OFF_REQUESTS].queue(user)
    gatekeeper = request.app[GATEKEEPER]
    entries = [e for e, _ in queue.waiting] + [e for e, _ in queue.sent_back]
    therapists = {e.therapist_id for e in entries}  # each name read once, not once an entry
    names = {t: await gatekeeper.staff_name(t) for t in therapists}
    done = request.query.get("done")
    done_name = ""
    if done in ("signed", "sent_back") and is_id(request.query.get("client", "")):
        with contextlib.suppress(PlayroomError):  # a client no longer theirs names nobody
            done_name = (await request.app[CLIENTS].get(user, request.query["client"])).display_name
    return await render(
        request,
        "sign_offs.html",
        http_status=status,
        queue=queue,
        names=names,
        checklist=request.app[CATALOGUE][Kind.SUITABILITY],
        error=error,
        failed=failed,
        # a refused form shows its error beside its comment; otherwise at the top
        in_form=failed is not None and any(e.client.id == failed[0] for e, _ in queue.waiting),
        done=done if done in ("signed", "sent_back") else None,
        done_name=done_name,
    )


@routes.post("/sign-offs/{client}")
@staff_only(Role.SUPERVISOR)
async def sign_off_submit(request: web.Request) -> web.StreamResponse:
    """Sign off the answers, or send them back to the therapist: one comment, two buttons."""
    values = await form(request)
    client_id = request.match_info["client"]
    comment = values.get("comment", "")
    user = await staff(request)
    try:
        revision = int(values.get("revision", "0"))
        if values.get("action") == "send_back":
            await request.app[SIGN_OFF_REQUESTS].send_back(user, client_id, revision, comment)
            done = "sent_back"
        else:
            await request.app[GATEKEEPER].sign_off(user, client_id, revision, comment)
            done = "signed"
    except ValueError:
        return await _queue(request, 400, "Reload the page and try again.", (client_id, comment))
    except PlayroomError as exc:
        return await _queue(request, exc.status, str(exc), (client_id, comment))
    raise web.HTTPSeeOther("/sign-offs?" + urlencode({"done": done, "client": client_id}))


@routes.post("/clients/{client}/sign-off-request")
@staff_only(Role.THERAPIST)
async def ask_for_sign_off(request: web.Request) -> web.StreamResponse:
    """The therapist asks their supervisors to sign off the client's current answers."""
    values = await form(request)
    client_id = request.match_info["client"]
    try:
        await request.app[SIGN_OFF_REQUESTS].ask(
            await staff(request), client_id, values.get("note", "")
        )
    except PlayroomError as exc:
        if exc.status != 400:
            raise
        # nothing waits now (a supervisor got there first): the page says where it stands
        raise web.HTTPSeeOther(f"/clients/{client_id}?sign_off=nothing#sign-off") from None
    raise web.HTTPSeeOther(f"/clients/{client_id}?sign_off=asked#sign-off")


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


@routes.post("/shift")
@staff_only(Role.SUPERVISOR)
async def shift_submit(request: web.Request) -> web.StreamResponse:
    """The button on the supervisor's home page: on shift, or off, until the weekly pattern
    next changes (``care/rota.py``)."""
    values = await form(request)
    await request.app[ROTA].press((await staff(request)).id, values.get("on") == "yes")
    raise web.HTTPSeeOther("/#shift")


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
        next=local_path(request.query.get("next", "")),
    )


@routes.post("/checks/today")
@staff_only(Role.THERAPIST)
async def checks_submit(request: web.Request) -> web.StreamResponse:
    values = await form(request)
    answers = {k[7:]: v for k, v in values.items() if k.startswith("answer:")}
    back = local_path(values.get("next", ""))
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
            next=back,
        )
    raise web.HTTPSeeOther(back or "/")


def local_path(target: str) -> str:
    """``target`` when it is a path on this site (``/sessions/…/room``, ``/clients/…``),
    else empty: never another site (``https://…``, ``//host``, ``/\\host``), so a link
    cannot send the therapist away after saving."""
    if not target.startswith("/") or target.startswith("//") or len(target) > 500:
        return ""
    if any(c == "\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return ""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return ""
    return target


@routes.put("/api/checks/today")
@staff_only(Role.THERAPIST)
async def api_checks(request: web.Request) -> web.StreamResponse:
    data = await json_body(request, DailyIn)
    await request.app[GATEKEEPER].save_daily(await staff(request), data.answers)
    return web.json_response({"saved": True})
