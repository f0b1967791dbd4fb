"""Session records: the list a supervisor (or therapist) may see, each session's timeline,
the log's verification, and the export as JSON and as a printable page.

"Verify the log" is a form POST (it is logged as a look of its own) answered with a redirect
to the record's page, which shows the verification: Back and reload come to a page got by
GET, never to a form sent again."""

from __future__ import annotations

import json
from datetime import date

from aiohttp import web

from server.access.auth import staff_only
from server.appkeys import CLIENTS, GATEKEEPER, RECORDS, SESSION_LOG
from server.audit.sessionlog import Report, session_stream
from server.records.sessions import FLAGS, Filters, Record, export
from server.storage.models import Role
from server.views.common import staff
from server.views.pages import render
from server.views.security import media_page

routes = web.RouteTableDef()
READERS = (Role.THERAPIST, Role.SUPERVISOR)


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _filters(request: web.Request) -> Filters:
    q = request.query
    flag = q.get("flag") or None
    return Filters(
        therapist=(q.get("therapist") or None),
        client=(q.get("client") or None),
        since=_day(q.get("since")),
        until=_day(q.get("until")),
        flag=flag if flag in FLAGS else None,
    )


@routes.get("/records", name="records")
@staff_only(*READERS)
async def records_page(request: web.Request) -> web.StreamResponse:
    user = await staff(request)
    records = request.app[RECORDS]
    filters = _filters(request)
    gatekeeper = request.app[GATEKEEPER]
    therapists = {t: await gatekeeper.staff_name(t) for t in await records.therapists_of(user)}
    clients = await request.app[CLIENTS].list_for(user)
    return await render(
        request,
        "records.html",
        rows=await records.sessions(user, filters),
        filters=filters,
        therapists=therapists,
        clients=clients,
        flags=list(FLAGS),
    )


@routes.get("/records/{session}", name="record")
@staff_only(*READERS)
async def record_page(request: web.Request) -> web.StreamResponse:
    """The record; with ``?verified``, where "Verify the log" leads, its log's verification
    too. That is worked out afresh here, never carried in the address (which anyone could
    write), and the look is logged as a view: the verification asked for was logged by the
    POST."""
    user = await staff(request)
    record = await request.app[RECORDS].record(user, request.match_info["session"])
    report = None
    if "verified" in request.query:
        report = await request.app[SESSION_LOG].verify(session_stream(record.appointment.id))
    return await render(request, "record.html", record=record, report=report, printable=False)


@routes.post("/records/{session}/verify")
@staff_only(*READERS)
async def verify_submit(request: web.Request) -> web.StreamResponse:
    """Verify the log (logged as the look it is), then show it on the record's own page."""
    user = await staff(request)
    appointment_id = request.match_info["session"]
    await request.app[RECORDS].verify(user, appointment_id)
    raise web.HTTPSeeOther(f"/records/{appointment_id}?verified=1#verification")


async def _seen(request: web.Request, how: str) -> tuple[Record, Report]:
    """The record and its log's verification, the look logged as ``how``."""
    user = await staff(request)
    records = request.app[RECORDS]
    record = await records.record(user, request.match_info["session"], how=how)
    return record, await records.verify(user, request.match_info["session"])


@routes.get("/records/{session}/print")
@staff_only(*READERS)
async def record_print(request: web.Request) -> web.StreamResponse:
    record, report = await _seen(request, "printed")
    return await render(request, "record.html", record=record, report=report, printable=True)


@routes.get("/records/{session}/export.json")
@staff_only(*READERS)
async def record_export(request: web.Request) -> web.StreamResponse:
    record, report = await _seen(request, "exported")
    name = f"playroom-session-{record.appointment.id}.json"
    return web.Response(
        text=json.dumps(export(record, report), indent=2),
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@routes.get("/api/records/{session}/verify")
@staff_only(*READERS)
async def api_verify(request: web.Request) -> web.StreamResponse:
    report = await request.app[RECORDS].verify(await staff(request), request.match_info["session"])
    return web.json_response(report.as_dict())


@routes.get("/records/{session}/observe", name="observe")
@staff_only(Role.SUPERVISOR)
@media_page
async def observe_page(request: web.Request) -> web.StreamResponse:
    """Observe a running session (the WebSocket checks the plan's agreement)."""
    user = await staff(request)
    appointment = await request.app[RECORDS].appointment_for(user, request.match_info["session"])
    return await render(request, "observe.html", appointment=appointment)
