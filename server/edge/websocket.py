"""The signalling WebSocket (``/ws``). Authenticated by the staff cookie or a join link,
bounded in size and rate; a bad message is answered with an error frame and the connection
stays up. A staff socket closes when the sign-in it was opened with ends
(``staffsockets.py``). See ``docs/protocol.md``.

Bounds, in the order a frame meets them: a frame over ``MAX_MESSAGE_BYTES`` closes the
socket with 1009; past ``FRAMES_PER_SECOND`` frames are dropped unread, and the client is
told at most once a second; then every frame read counts against the connection's limit of
messages (``dispatch.py``).

A message that enters a room whose home is another node (``relay.py``) turns the socket into
an edge of that room: from then on its frames are forwarded there and run by the same
handlers (``serve_remote``)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSCloseCode, WSMsgType, web

from server.access.auth import current_sign_in, current_user
from server.access.proxy import own_origins
from server.access.ratelimit import RateLimiter
from server.appkeys import ACCOUNTS, BUSY, HUB, SETTINGS, STAFF_SOCKETS, WHITEBOARDS
from server.edge.connection import Connection
from server.edge.continuity import dropped
from server.edge.dispatch import dispatch, handle, read
from server.exceptions import PlayroomError
from server.live.hub import Socket
from server.live.protocol import MAX_MESSAGE_BYTES, frame_size
from server.live.replies import Error
from server.nodes.ends import MOVED, EdgeLink, RemoteSocket
from server.nodes.relay import RELAY

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
# every frame, before it is read: a flood is cut off here. Messages other than the board's
# have a lower limit of their own (``connection.py``); the board's is the board's (100 a second)
FRAMES_PER_SECOND = 200
# aiohttp's own bound, above the protocol's. A frame over MAX_MESSAGE_BYTES but within this
# is read whole and refused here, where closing completes the closing handshake: the client
# sees 1009 every time. aiohttp refuses a frame as it begins and drops the connection at once,
# while the client may still be sending, and that client may see a reset connection (1006)
# instead. (aiohttp's bound also refuses a plain frame of exactly its size, and lets a
# compressed one of that size through.)
READ_LIMIT = 4 * MAX_MESSAGE_BYTES
DROPPED = "Too many messages: some were dropped unread. Slow down."


async def _finish(app: web.Application, socket: Socket, connection: Connection) -> None:
    hub = app[HUB]
    hub.all.discard(socket)
    for watching in hub.watchers.values():
        watching.discard(socket)
    # the handler may be cancelled when the client vanishes: the others must still be told
    await asyncio.shield(dropped(connection))


async def _failed(socket: Socket) -> None:
    """A fault of the server's own while a frame was handled: logged, and the socket closed
    with 1011 (not simply cut, which says nothing of why), so that the page resumes as after
    a drop."""
    log.exception("signalling failed", extra={"event": "socket_failed"})
    await socket.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")


@routes.get("/ws", name="ws")
async def websocket(request: web.Request) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if origin is not None and origin not in own_origins(request):
        raise web.HTTPForbidden()  # another site's page cannot use this browser's cookie
    user = await current_user(request)
    sign_in = await current_sign_in(request)
    ws = web.WebSocketResponse(
        max_msg_size=READ_LIMIT, heartbeat=request.app[SETTINGS].heartbeat_seconds
    )
    try:
        await ws.prepare(request)
    except ConnectionError:  # the client went away during the handshake: nobody to serve
        return ws
    app, relay = request.app, request.app[RELAY]
    app[HUB].all.add(ws)
    if sign_in is not None:  # closed when that sign-in ends, on whichever node
        app[STAFF_SOCKETS].add(ws, sign_in.id)
    connection = Connection(app, ws, user)
    frames = RateLimiter(FRAMES_PER_SECOND, 1, burst=FRAMES_PER_SECOND, max_keys=1)
    told = RateLimiter(1, 1, max_keys=1)  # that frames were dropped: once a second at most
    edge: EdgeLink | None = None
    try:
        async for frame in ws:
            if frame.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            if frame_size(frame.data) > MAX_MESSAGE_BYTES:
                await ws.close(code=WSCloseCode.MESSAGE_TOO_BIG, message=b"message too big")
                break
            if not frames.allow("self"):
                # unread: a flood costs neither parsing nor an answer a frame
                if told.allow("self"):
                    await connection.reply(Error(code="rate_limited", message=DROPPED))
                continue
            text = frame.type is WSMsgType.TEXT
            data = frame.data if text else frame.data.decode("utf-8", "replace")
            if edge is None and connection.me is None:
                # it may enter a room at home on another node: read here, then routed
                message = await read(connection, data)
                if message is None:
                    continue
                try:
                    with app[BUSY].handling(ws):  # finding the room's home may take a while
                        edge = await relay.route(user.id if user else None, message, ws)
                except PlayroomError as exc:  # the room's home could not be found just now
                    await connection.reply(Error(id=message.id, code="refused", message=str(exc)))
                    continue
                if edge is None:
                    await handle(connection, message)
                    continue
            if edge is not None and not await relay.forward(edge, data):
                # the room's home is gone: the page resumes and finds its new home
                await ws.close(code=MOVED, message=b"the room moved")
                break
            if edge is None:
                await dispatch(connection, data)
    except ConnectionError:
        pass  # the client is gone while it was answered: a drop, like any other
    except Exception:
        await _failed(ws)
    finally:
        if sign_in is not None:
            app[STAFF_SOCKETS].discard(ws, sign_in.id)
        if edge is not None:
            await relay.edge_closed(edge)
        await _finish(app, ws, connection)
    return ws


async def serve_remote(app: web.Application, socket: RemoteSocket, user_id: str | None) -> None:
    """A socket held by another node, for a room at home here: the same handlers, in order."""
    user = await app[ACCOUNTS].get(user_id) if user_id else None
    connection = Connection(app, socket, user)
    app[HUB].all.add(socket)
    try:
        while (data := await socket.queue.get()) is not None:
            await dispatch(connection, data)
    except ConnectionError:
        pass
    except Exception:
        await _failed(socket)
    finally:
        await _finish(app, socket, connection)


async def close_all(app: web.Application) -> None:
    """At shutdown: this node's rooms are given up (their places stay kept for the restart),
    every socket is told to come back after a time of its own and closes with 1012
    (``Hub.close_all``), then every server peer closes. No socket is told ``working`` from
    then on: its last word is when to come back."""
    app[BUSY].stopped = True
    await app[RELAY].bus.release_all()
    await app[HUB].close_all()
    await app[WHITEBOARDS].close_all()
