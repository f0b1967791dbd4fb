"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from server.appkeys import DATABASE, HUB

routes = web.RouteTableDef()
log = logging.getLogger(__name__)


@routes.get("/healthz", name="healthz")
async def healthz(request: web.Request) -> web.StreamResponse:
    """The process is up and answering."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz", name="readyz")
async def readyz(request: web.Request) -> web.StreamResponse:
    """The process can serve: the database answers."""
    try:
        await request.app[DATABASE].ping()
    except (SQLAlchemyError, OSError) as exc:
        log.warning("database not reachable", extra={"event": type(exc).__name__})
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    if not await request.app[HUB].bus.ping():  # with several nodes, Redis too
        body = {"status": "unavailable", "database": "ok", "bus": "unreachable"}
        return web.json_response(body, status=503)
    return web.json_response({"status": "ok", "database": "ok"})
