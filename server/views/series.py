"""Scheduling one session or a series from the client's page, moving and cancelling from
the session's page, and the same through the JSON API. A form with faults comes back with
each fault beside its field, in plain words, and what was typed kept."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.access.auth import staff_only
from server.appkeys import SCHEDULE, SERIES
from server.care.rhythm import Cancel, Move, NewSeries, NewSession
from server.exceptions import NoPublicAddress, PlayroomError
from server.nodes.relay import RELAY
from server.storage.models import Appointment, Role
from server.views.clients import render_client
from server.views.common import form, json_body, link_base, staff
from server.views.sessions import render_session, with_links

routes = web.RouteTableDef()

# the fields a fault of the service belongs beside
_FIELD_OF = {"rationale_needed": "rationale", "in_the_past": "starts_at", "no_change": "starts_at"}
# plain words for pydantic's faults of type, by field
_PLAIN = {
    "starts_at": "Give the day and time it starts.",
    "minutes": "Give a length from 10 to 180 minutes.",
    "count": "Give the number of sessions as a whole number from 2 to 52.",
    "until": "Give the date of the last session.",
    "reason": "Say why the session is cancelled (up to 2000 characters).",
    "rationale": "Keep the reason to 2000 characters.",
}


def faults(exc: ValidationError | PlayroomError) -> dict[str, str]:
    """Each fault beside its field (``form`` for one that belongs to none)."""
    if isinstance(exc, PlayroomError):
        return {_FIELD_OF.get(exc.code, "form"): str(exc)}
    out: dict[str, str] = {}
    for error in exc.errors():
        where = str(error["loc"][0]) if error["loc"] else "form"
        if error["type"] == "value_error":  # our own words, from the model's checks
            text = str(error["msg"]).removeprefix("Value error, ")
            out.setdefault(where, text[:1].upper() + text[1:] + ".")
        else:
            out.setdefault(where, _PLAIN.get(where, "Check this field."))
    return out


def session_fields(values: dict[str, str], zone: ZoneInfo) -> dict[str, Any]:
    """What the scheduling form gives for one session (or a series' sessions), as
    ``NewSession`` takes it: the start read in the service's time zone."""
    return {
        "starts_at": _local(values.get("starts_at", ""), zone),
        "minutes": values.get("minutes") or "50",
        "relay_only": values.get("relay_only") == "yes",
        "parent_link": values.get("parent_link") == "yes",
        "rationale": values.get("rationale", ""),
    }


def _local(text: str, zone: ZoneInfo) -> datetime | str:
    """A ``datetime-local`` field's value, read in the service's time zone."""
    try:
        return datetime.fromisoformat(text).replace(tzinfo=zone)
    except ValueError:
        return text  # pydantic names the field and the problem


def _check(model: type[BaseModel], data: dict[str, Any]) -> Any:
    return model.model_validate(data)


# -- pages


@routes.post("/clients/{id}/sessions")
@staff_only(Role.THERAPIST)
async def schedule_submit(request: web.Request) -> web.StreamResponse:
    """One session, or a weekly or fortnightly series, from the client's page."""
    values = await form(request)
    user, client_id = await staff(request), request.match_info["id"]
    series = request.app[SERIES]
    common = session_fields(values, series.hours.zone)
    repeat = values.get("repeat", "none")
    try:
        if repeat in ("1", "2"):
            data = _check(
                NewSeries,
                {
                    **common,
                    "every_weeks": int(repeat),
                    "count": values.get("count") or None,
                    "until": values.get("until") or None,
                },
            )
            _, rows = await series.schedule_series(user, client_id, data, _base_or_none(request))
            raise web.HTTPSeeOther(f"/clients/{client_id}?scheduled={len(rows)}#sessions")
        one = await series.schedule_one(
            user, client_id, _check(NewSession, common), _base_or_none(request)
        )
    except (ValidationError, PlayroomError) as exc:
        if isinstance(exc, PlayroomError) and exc.status != 400:
            raise  # someone else's client: 403 or 404, as everywhere
        return await render_client(request, 400, values=values, errors=faults(exc))
    raise web.HTTPSeeOther(f"/sessions/{one.id}")


@routes.post("/sessions/{id}/move")
@staff_only(Role.THERAPIST)
async def move_submit(request: web.Request) -> web.StreamResponse:
    values = await form(request)
    user, session_id = await staff(request), request.match_info["id"]
    series = request.app[SERIES]
    await request.app[SCHEDULE].get(user, session_id)  # theirs, before any fault is shown
    try:
        data = _check(
            Move,
            {
                "starts_at": _local(values.get("starts_at", ""), series.hours.zone),
                "with_rest": values.get("scope") == "rest",
                "rationale": values.get("rationale", ""),
            },
        )
        await series.move(user, session_id, data, _base_or_none(request))
    except (ValidationError, PlayroomError) as exc:
        if isinstance(exc, PlayroomError) and exc.status != 400:
            raise
        return await render_session(request, 400, values=values, errors=faults(exc), form="move")
    raise web.HTTPSeeOther(f"/sessions/{session_id}?moved=1")


@routes.post("/sessions/{id}/cancel")
@staff_only(Role.THERAPIST)
async def cancel_submit(request: web.Request) -> web.StreamResponse:
    values = await form(request)
    user, session_id = await staff(request), request.match_info["id"]
    await request.app[SCHEDULE].get(user, session_id)
    try:
        data = _check(
            Cancel, {"reason": values.get("reason", ""), "with_rest": values.get("scope") == "rest"}
        )
        cancelled = await request.app[SERIES].cancel(user, session_id, data, _base_or_none(request))
    except (ValidationError, PlayroomError) as exc:
        if isinstance(exc, PlayroomError) and exc.status != 400:
            raise
        return await render_session(request, 400, values=values, errors=faults(exc), form="cancel")
    await _close_rooms(request, cancelled)
    raise web.HTTPSeeOther(f"/sessions/{session_id}")


def _base_or_none(request: web.Request) -> str | None:
    """What links start with, or None where this server makes none (the session page says
    why; a message that needs one waits, saying so)."""
    try:
        return link_base(request)
    except NoPublicAddress:
        return None


async def _close_rooms(request: web.Request, cancelled: list[Appointment]) -> None:
    """Whoever waits in a cancelled session's room is told it has ended."""
    for a in cancelled:
        await request.app[RELAY].at_home(a.id, "end_room")


# -- JSON API


@routes.post("/api/clients/{id}/series")
@staff_only(Role.THERAPIST)
async def api_series(request: web.Request) -> web.StreamResponse:
    data = await json_body(request, NewSeries)
    base = link_base(request)  # its links are in the answer: without an address, nothing is made
    user = await staff(request)
    made, rows = await request.app[SERIES].schedule_series(
        user, request.match_info["id"], data, base
    )
    return web.json_response(
        {
            "id": made.id,
            "every_weeks": made.every_weeks,
            "sessions": [await with_links(request, user, a, base) for a in rows],
        },
        status=201,
    )


@routes.post("/api/sessions/{id}/move")
@staff_only(Role.THERAPIST)
async def api_move(request: web.Request) -> web.StreamResponse:
    data = await json_body(request, Move)
    base = link_base(request)
    user = await staff(request)
    moved = await request.app[SERIES].move(user, request.match_info["id"], data, base)
    return web.json_response(
        {"sessions": [await with_links(request, user, a, base) for a in moved]}
    )


@routes.post("/api/sessions/{id}/cancel")
@staff_only(Role.THERAPIST)
async def api_cancel(request: web.Request) -> web.StreamResponse:
    data = await json_body(request, Cancel)
    cancelled = await request.app[SERIES].cancel(
        await staff(request), request.match_info["id"], data, _base_or_none(request)
    )
    await _close_rooms(request, cancelled)
    return web.json_response({"sessions": [{"id": a.id, "status": a.status} for a in cancelled]})
