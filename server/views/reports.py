"""Aggregate reports for supervisors (their team) and administrators (the service)."""

from __future__ import annotations

from aiohttp import web

from server.access.auth import staff_only
from server.appkeys import REPORTS
from server.records.reports import SMALL
from server.storage.models import Role
from server.views.common import staff
from server.views.pages import render

routes = web.RouteTableDef()


@routes.get("/reports", name="reports")
@staff_only(Role.SUPERVISOR, Role.ADMIN)
async def reports_page(request: web.Request) -> web.StreamResponse:
    report = await request.app[REPORTS].build(await staff(request))
    return await render(request, "reports.html", report=report, small=SMALL)
