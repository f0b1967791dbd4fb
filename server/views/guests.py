"""Inviting a guest (an interpreter, a social worker, a teacher, another clinician) from the
session's page or the JSON API, withdrawing the invitation, and the guest's own page."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from server.access.auth import staff_only
from server.appkeys import GUESTS
from server.care.guests import GUEST_ROLES, NewGuest
from server.exceptions import SessionEnded, TokenError
from server.storage.db import utcnow
from server.storage.models import Role
from server.views.common import form, json_body, link_base, staff
from server.views.pages import render
from server.views.security import media_page
from server.views.sessions import render_session

routes = web.RouteTableDef()

# plain words for a field's fault of type, beside the field
_PLAIN = {
    "name": "Give the guest's name (up to 80 characters).",
    "role": "Choose the guest's role.",
    "young_person_agreed_on": "Give the date the young person agreed.",
    "parent_agreed_on": "Give the date the parent or carer agreed.",
}


def faults(exc: ValidationError) -> dict[str, str]:
    """Each fault beside its field; the agreement's own checks beside the parent's date
    when about it, else the young person's."""
    out: dict[str, str] = {}
    for error in exc.errors():
        where = str(error["loc"][0]) if error["loc"] else ""
        if error["type"] == "value_error":
            text = str(error["msg"]).removeprefix("Value error, ")
            where = where or ("parent_agreed_on" if "parent" in text else "young_person_agreed_on")
            out.setdefault(where, text[:1].upper() + text[1:] + ".")
        else:
            out.setdefault(where or "name", _PLAIN.get(where, "Check this field."))
    return out


@routes.post("/sessions/{id}/guests")
@staff_only(Role.THERAPIST)
async def invite_submit(request: web.Request) -> web.StreamResponse:
    values = await form(request)
    data = {
        "name": values.get("name", ""),
        "role": values.get("role", ""),
        "young_person_agreed_on": values.get("young_person_agreed_on") or None,
        "parent_needed": values.get("parent_needed") == "yes",
        "parent_agreed_on": values.get("parent_agreed_on") or None,
        "series": values.get("series") == "yes",
    }
    try:
        invitation = NewGuest.model_validate(data)
    except ValidationError as exc:
        return await render_session(request, 400, guest_values=values, guest_errors=faults(exc))
    link_base(request)  # a link that could not be shown is not made
    user = await staff(request)
    await request.app[GUESTS].invite(user, request.match_info["id"], invitation)
    raise web.HTTPSeeOther(f"/sessions/{request.match_info['id']}?guest=1#guests-heading")


@routes.post("/sessions/{id}/guests/{guest}/withdraw")
@staff_only(Role.THERAPIST)
async def withdraw_submit(request: web.Request) -> web.StreamResponse:
    await form(request)
    await request.app[GUESTS].withdraw(
        await staff(request), request.match_info["id"], request.match_info["guest"]
    )
    raise web.HTTPSeeOther(f"/sessions/{request.match_info['id']}#guests-heading")


@routes.post("/api/sessions/{id}/guests")
@staff_only(Role.THERAPIST)
async def api_invite(request: web.Request) -> web.StreamResponse:
    data = await json_body(request, NewGuest)
    base = link_base(request)
    user = await staff(request)
    made = await request.app[GUESTS].invite(user, request.match_info["id"], data)
    out: list[dict[str, Any]] = []
    for guest in made:
        views = await request.app[GUESTS].for_session(user, guest.appointment_id)
        view = next(v for v in views if v.guest.id == guest.id)
        out.append(
            {
                "id": guest.id,
                "session": guest.appointment_id,
                "role": guest.role,
                "url": f"{base}/guest/{view.token}" if view.token else None,
            }
        )
    return web.json_response({"guests": out}, status=201)


@routes.post("/api/sessions/{id}/guests/{guest}/withdraw")
@staff_only(Role.THERAPIST)
async def api_withdraw(request: web.Request) -> web.StreamResponse:
    guest = await request.app[GUESTS].withdraw(
        await staff(request), request.match_info["id"], request.match_info["guest"]
    )
    return web.json_response({"id": guest.id, "withdrawn": True})


@routes.get("/guest/{token}", name="guest")
@media_page
async def guest_page(request: web.Request) -> web.StreamResponse:
    """A guest's page: a camera and microphone check, the waiting room, the room. None of
    the young person's questions or answers: those are theirs and the therapist's."""
    try:
        guest, link, appointment = await request.app[GUESTS].by_token(request.match_info["token"])
    except TokenError as exc:
        return await render(
            request,
            "guest_over.html",
            http_status=exc.status if not isinstance(exc, SessionEnded) else 410,
            public=True,
            message=str(exc),
            over=isinstance(exc, SessionEnded),
        )
    zone = request.app[GUESTS].schedule.gatekeeper.zone
    return await render(
        request,
        "guest.html",
        public=True,
        name=request.app[GUESTS].name_of(guest),
        role_name=GUEST_ROLES.get(guest.role, guest.role),
        starts=appointment.starts_at.astimezone(zone),
        opens=link.not_before.astimezone(zone),
        too_early=utcnow() < link.not_before,
    )
