"""The floor for the signalling benchmark: the least a relay can do. A bare aiohttp
WebSocket server that passes each text frame from one member of a pair to the other,
with no parsing, validation or state. Run: python -m tests.bench.floor_relay PORT"""

from __future__ import annotations

import sys

from aiohttp import WSMsgType, web

pairs: dict[str, list[web.WebSocketResponse]] = {}


async def relay(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    members = pairs.setdefault(request.match_info["pair"], [])
    members.append(ws)
    async for frame in ws:
        if frame.type is WSMsgType.TEXT:
            for other in members:
                if other is not ws and not other.closed:
                    await other.send_str(frame.data)
    members.remove(ws)
    return ws


if __name__ == "__main__":
    app = web.Application()
    app.router.add_get("/relay/{pair}", relay)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
