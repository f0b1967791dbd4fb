"""Behind a reverse proxy: sign-in attempts are counted against the person's own address
(only a trusted proxy's X-Forwarded-For is believed), and pages served from the public
address may open the WebSocket while other sites' pages may not."""

from __future__ import annotations

import pytest
from aiohttp import WSServerHandshakeError

from server.app import create_app
from server.settings import Settings
from tests.conftest import csrf_from


async def _attempts(client, forwarded_for: str, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    page = await client.get("/signin")
    token = csrf_from(await page.text())
    statuses = []
    for _ in range(count):
        resp = await client.post(
            "/signin",
            data={"username": "x", "password": "y", "csrf_token": token},
            headers={"X-Forwarded-For": forwarded_for},
        )
        statuses.append(resp.status)
    return statuses


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_trusted_proxy_names_the_address(settings: Settings, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    update = {"login_rate_per_minute": 2, "trusted_proxies": ["127.0.0.0/8"]}
    client = await aiohttp_client(create_app(settings.model_copy(update=update)))
    assert await _attempts(client, "203.0.113.7", 3) == [401, 401, 429]
    # someone else behind the same proxy has their own count; a forged hop to the left of
    # the one the proxy added changes nothing
    assert await _attempts(client, "198.51.100.4", 2) == [401, 401]
    assert await _attempts(client, "10.9.9.9, 203.0.113.7", 1) == [429]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_an_untrusted_header_is_ignored(settings: Settings, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(
        create_app(settings.model_copy(update={"login_rate_per_minute": 2}))
    )
    assert await _attempts(client, "203.0.113.7", 2) == [401, 401]
    assert await _attempts(client, "198.51.100.4", 1) == [429]  # the same address, really


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_pages_from_the_public_address_open_the_socket(
    settings: Settings, aiohttp_client
) -> None:  # type: ignore[no-untyped-def]
    public = "https://playroom.example.org"
    client = await aiohttp_client(create_app(settings.model_copy(update={"public_url": public})))
    async with client.ws_connect("/ws", headers={"Origin": public}) as ws:
        await ws.send_json({"v": 1, "type": "ping", "n": 7})
        assert (await ws.receive_json())["type"] == "pong"
    with pytest.raises(WSServerHandshakeError) as info:
        await client.ws_connect("/ws", headers={"Origin": "https://playroom.example.org.evil"})
    assert info.value.status == 403
