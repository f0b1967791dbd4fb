"""Aggregate reports for supervisors (their team) and administrators (the service)."""

from __future__ import annotations

from aiohttp import web

from server.appkeys import REPORTS
from server.auth import staff_only
from server.models import Role
from server.pages import render
from server.reports import SMALL
from server.views.common import staff

routes = web.RouteTableDef()


@routes.get("/reports", name="reports")
@staff_only(Role.SUPERVISOR, Role.ADMIN)
async def reports_page(request: web.Request) -> web.StreamResponse:
    report = await request.app[REPORTS].build(await staff(request))
    return await render(request, "reports.html", report=report, small=SMALL)
