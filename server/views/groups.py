"""Groups from the pages and the JSON API: making a group of a therapist's clients, seeing
whether each member may join, scheduling the group's sessions, and a group session's page
with each member's join links, offered only while that member's own way in is open."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from server.access.auth import staff_only
from server.appkeys import CLIENTS, GROUPS, SERIES, SESSION_LOG, SETTINGS
from server.audit.sessionlog import staff_actor, views_stream
from server.care.groups import NewGroup
from server.care.rhythm import NewSession
from server.exceptions import NoPublicAddress, NoRelay, PlayroomError
from server.storage.models import Appointment, Role
from server.views.common import form, json_body, link_base, qr_data_uri, staff
from server.views.pages import render
from server.views.series import faults, session_fields  # as a client's sessions
from server.views.sessions import appointment_json

routes = web.RouteTableDef()


async def _render_groups(
    request: web.Request, http_status: int = 200, **extra: Any
) -> web.StreamResponse:
    user = await staff(request)
    return await render(
        request,
        "groups.html",
        http_status=http_status,
        groups=await request.app[GROUPS].list_for(user),
        clients=await request.app[CLIENTS].list_for(user),
        **{"values": {}, "errors": {}, **extra},
    )


@routes.get("/groups", name="groups")
@staff_only(Role.THERAPIST)
async def groups_page(request: web.Request) -> web.StreamResponse:
    return await _render_groups(request)


@routes.post("/groups")
@staff_only(Role.THERAPIST)
async def groups_submit(request: web.Request) -> web.StreamResponse:
    data = await request.post()
    values = {"name": str(data.get("name", ""))[:200]}
    members = [str(m) for m in data.getall("members", [])][:50]
    try:
        made = await request.app[GROUPS].create(
            await staff(request), NewGroup.model_validate({**values, "members": members})
        )
    except (ValidationError, PlayroomError) as exc:
        if isinstance(exc, PlayroomError) and exc.status != 400:
            raise  # someone else's client: 403 or 404, as everywhere
        errors = faults(exc)
        if "members" in errors:
            errors["members"] = "Choose 2 to 5 young people."
        if "name" in errors:
            errors["name"] = "Give the group a name of up to 60 characters."
        return await _render_groups(
            request, 400, values={**values, "members": members}, errors=errors
        )
    raise web.HTTPSeeOther(f"/groups/{made.id}")


async def _render_group(
    request: web.Request, http_status: int = 200, **extra: Any
) -> web.StreamResponse:
    user = await staff(request)
    groups = request.app[GROUPS]
    group_id = request.match_info["id"]
    return await render(
        request,
        "group.html",
        http_status=http_status,
        group=await groups.get(user, group_id),
        ready=await groups.ready(user, group_id),
        sessions=await groups.sessions(user, group_id),
        hours=request.app[SERIES].hours,
        settings=request.app[SETTINGS],
        **{"values": {}, "errors": {}, **extra},
    )


@routes.get("/groups/{id}", name="group")
@staff_only(Role.THERAPIST)
async def group_page(request: web.Request) -> web.StreamResponse:
    return await _render_group(request)


@routes.post("/groups/{id}/sessions")
@staff_only(Role.THERAPIST)
async def group_schedule_submit(request: web.Request) -> web.StreamResponse:
    values = await form(request)
    user, group_id = await staff(request), request.match_info["id"]
    await request.app[GROUPS].get(user, group_id)  # theirs, before any fault is shown
    common = session_fields(values, request.app[SERIES].hours.zone)
    try:
        made = await request.app[GROUPS].schedule_session(
            user, group_id, NewSession.model_validate(common)
        )
    except (ValidationError, PlayroomError) as exc:
        if isinstance(exc, PlayroomError) and exc.status != 400:
            raise
        return await _render_group(request, 400, values=values, errors=faults(exc))
    raise web.HTTPSeeOther(f"/sessions/{made.id}")


async def group_session(
    request: web.Request, appointment: Appointment, http_status: int = 200, **extra: Any
) -> web.StreamResponse:
    """A group session's page: each member, whether they may join now and why not, and
    their links (offered only while their own way in is open); ``extra``: a cancellation
    sent back with its faults (``views/series.py``)."""
    user = await staff(request)
    groups = request.app[GROUPS]
    try:
        base: str | None = link_base(request)
        link_problem = None
    except NoPublicAddress as exc:
        base, link_problem = None, str(exc)
    members = []
    for entry in await groups.member_links(user, appointment):
        links = []
        for join in entry.links:
            offered = base is not None and entry.gate.is_open and join.link.revoked_at is None
            url = f"{base}/join/{join.token}" if offered else None
            links.append({"link": join.link, "url": url, "qr": qr_data_uri(url) if url else None})
        members.append({"member": entry.member, "gate": entry.gate, "links": links})
    series = request.app[SERIES]
    await request.app[SESSION_LOG].append(  # a look at the session's record, as any
        views_stream(appointment.id), "record.viewed", staff_actor(user.id), {"page": "session"}
    )
    return await render(
        request,
        "group_session.html",
        http_status=http_status,
        **{"values": {}, "errors": {}, **extra},
        cancel_reason=series.cancel_reason(appointment),
        appointment=appointment,
        group=await groups.get(user, appointment.group_id or ""),
        members=members,
        link_problem=link_problem,
        outside_hours=[line] if (line := series.outside(appointment)) else [],
        hours=series.hours,
        no_relay=str(NoRelay()) if groups.schedule.cannot_relay(appointment) else None,
        error=request.query.get("error"),
    )


# -- JSON API


@routes.post("/api/groups")
@staff_only(Role.THERAPIST)
async def api_create_group(request: web.Request) -> web.StreamResponse:
    data = await json_body(request, NewGroup)
    made = await request.app[GROUPS].create(await staff(request), data)
    return web.json_response(_group_json(made), status=201)


@routes.get("/api/groups/{id}")
@staff_only(Role.THERAPIST)
async def api_group(request: web.Request) -> web.StreamResponse:
    """The group and, for each member, whether they may join now and why not."""
    user = await staff(request)
    groups = request.app[GROUPS]
    group = await groups.get(user, request.match_info["id"])
    ready = await groups.ready(user, group.id)
    body = _group_json(group)
    body["members"] = [
        {
            "client_id": r.member.client_id,
            "name": r.member.name,
            "may_join": r.gate.is_open,
            "reasons": [x.as_dict() for x in r.gate.reasons],
        }
        for r in ready
    ]
    return web.json_response(body)


@routes.post("/api/groups/{id}/sessions")
@staff_only(Role.THERAPIST)
async def api_group_session(request: web.Request) -> web.StreamResponse:
    """One session of the group, with each member's join links (those whose way in is open
    now; the others' are made, and offered once it opens)."""
    data = await json_body(request, NewSession)
    base = link_base(request)
    user = await staff(request)
    groups = request.app[GROUPS]
    made = await groups.schedule_session(user, request.match_info["id"], data)
    body = appointment_json(made)
    body["join_links"] = [
        {
            "client_id": entry.member.client_id,
            "role": j.link.role,
            "url": f"{base}/join/{j.token}",
            "link_id": j.link.id,
        }
        for entry in await groups.member_links(user, made)
        if entry.gate.is_open
        for j in entry.links
        if j.link.revoked_at is None
    ]
    return web.json_response(body, status=201)


def _group_json(group: Any) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "members": [{"client_id": m.client_id, "name": m.name} for m in group.members],
    }
