import asyncio, gc
from aiohttp import web
from aiohttp.test_utils import TestClient
from tests.client import ProtocolPeer
from tests.scenes import Room, admitted

async def test_census(app: web.Application, aiohttp_client, client: TestClient, room: Room, backend: str) -> None:
    if backend != "sqlite":
        return
    old, joined = await admitted(aiohttp_client, client, room)
    await old.ws.close()
    await asyncio.sleep(0.5)
    browser = await aiohttp_client(client.server)
    new = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    await new.send({"type": "resume", "token": joined["resume"]})
    await new.expect("resumed")
    await asyncio.sleep(0.5)
    gc.collect()
    canc = [o for o in gc.get_objects() if isinstance(o, asyncio.Task) and o.cancelled()]
    print("cancelled", [t.get_coro().__qualname__ for t in canc])
    for t in canc:
        for r in gc.get_referrers(t):
            if r is canc: continue
            print("  ref", type(r), str(r)[:300])
            for r2 in gc.get_referrers(r)[:6]:
                if r2 is canc: continue
                print("     ref2", type(r2), str(r2)[:200])
