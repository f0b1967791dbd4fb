"""The signalling WebSocket (``/ws``): authenticated, bounded in size and rate; a bad
message is answered with an error frame and the connection stays up."""

from __future__ import annotations

import logging

from aiohttp import WSMsgType, web

from server.appkeys import SCHEDULE
from server.auth import current_user
from server.exceptions import PlayroomError
from server.protocol import (
    MAX_MESSAGE_BYTES,
    Error,
    Incoming,
    OpenRoom,
    Ping,
    Pong,
    ProtocolError,
    RoomOpened,
    dump_message,
    parse_message,
)
from server.ratelimit import RateLimiter
from server.schedule import GateClosed

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
RATE_PER_SECOND = 50


@routes.get("/ws", name="ws")
async def websocket(request: web.Request) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise web.HTTPForbidden()  # another site's page cannot use this browser's cookie
    user = await current_user(request)
    if user is None:
        raise web.HTTPUnauthorized()
    ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, heartbeat=15)
    await ws.prepare(request)
    limiter = RateLimiter(RATE_PER_SECOND, 1, burst=RATE_PER_SECOND, max_keys=1)
    async for frame in ws:
        if frame.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            continue
        if not limiter.allow("self"):
            await ws.send_str(
                dump_message(Error(code="rate_limited", message="Too many messages; slow down."))
            )
            continue
        try:
            message = parse_message(frame.data)
            reply = await handle(request, message)
        except GateClosed as exc:
            reply = Error(code="gate_closed", message=str(exc), detail=exc.result.as_dict())
        except ProtocolError as exc:
            reply = Error(code=exc.code, message=str(exc))
        except PlayroomError as exc:
            reply = Error(code="refused", message=str(exc))
        await ws.send_str(dump_message(reply))
    if ws.exception() is not None:
        log.info("websocket closed with an error", extra={"event": type(ws.exception()).__name__})
    return ws


async def handle(request: web.Request, message: Incoming) -> Error | RoomOpened | Pong:
    user = await current_user(request)
    assert user is not None
    match message:
        case OpenRoom():
            appointment = await request.app[SCHEDULE].open_room(user, message.session)
            return RoomOpened(session=appointment.id)
        case Ping():
            return Pong(n=message.n)
