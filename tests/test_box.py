"""The child's box: boards and pictures kept per client, exported, reopened next time."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient
from PIL import Image

from tests.conftest import make_staff, sign_in
from tests.scenes import Scene, enter, schedule_session, stroke
from tests.test_images import _jpeg_with_gps


async def _fill(scene: Scene) -> None:
    t, y = scene.therapist, scene.young
    for op in stroke("t-1", 900):
        t.draw(op)
    t.draw({"op": "sticker", "id": "t-sun", "name": "sun", "x": 1200, "y": 100})
    y.draw(
        {
            "op": "text",
            "id": "y-hi",
            "x": 900,
            "y": 700,
            "text": "me",
            "colour": "#c81e1e",
            "size": 60,
        }
    )
    await y.share("photo", _jpeg_with_gps())
    await t.wait_for(lambda: any(e["kind"] == "picture" for e in t.board.elements.values()))


async def test_the_box_keeps_and_exports_the_board(
    app: web.Application, client: TestClient, aiohttp_client, scene: Scene
) -> None:  # type: ignore[no-untyped-def]
    await _fill(scene)
    cid = await _client_id(client, scene)
    page = await (await client.get(f"/clients/{cid}/box")).text()
    assert "1 pictures shared" in page and "Export as PNG" in page
    resp = await client.get(f"/clients/{cid}/box/{scene.session}/board.png")
    assert resp.status == 200 and resp.content_type == "image/png"
    image = Image.open(io.BytesIO(await resp.read())).convert("RGB")
    assert image.size == (1600, 1200)
    assert image.getpixel((1200 + 80, 100 + 80)) != (255, 255, 255)  # the sun sticker
    assert image.getpixel((910, 110)) != (255, 255, 255)  # the stroke
    # another therapist sees nothing of it
    other = await make_staff(app, "other")
    second = await aiohttp_client(client.server)
    await sign_in(second, other)
    for path in (f"/clients/{cid}/box", f"/clients/{cid}/box/{scene.session}/board.png"):
        assert (await second.get(path)).status == 403


async def test_a_board_reopens_in_the_next_session(
    app: web.Application, client: TestClient, aiohttp_client, scene: Scene
) -> None:  # type: ignore[no-untyped-def]
    await _fill(scene)
    cid = await _client_id(client, scene)
    token = await _csrf(client)
    later = await schedule_session(client, token, cid, start_in=timedelta(minutes=3))
    resp = await client.post(
        f"/sessions/{later['id']}/board/reopen",
        data={"source": scene.session, "csrf_token": token},
        allow_redirects=False,
    )
    assert resp.status == 303
    await asyncio.gather(scene.therapist.close(), scene.young.close())
    next_token = later["join_links"][0]["url"].rsplit("/join/", 1)[1]
    t, y = await enter(aiohttp_client, client, later["id"], next_token)
    kinds = sorted(e["kind"] for e in y.board.elements.values() if e["visible"])
    assert kinds == ["picture", "sticker", "stroke", "text"]
    await y.wait_for(lambda: len(y.objects) == 1)  # the picture travels with the board
    await asyncio.gather(t.close(), y.close())


async def _client_id(client: TestClient, scene: Scene) -> str:
    clients = await (await client.get("/api/clients")).json()
    return str(clients["clients"][0]["id"])


async def _csrf(client: TestClient) -> str:
    from tests.conftest import csrf_from

    return csrf_from(await (await client.get("/")).text())
