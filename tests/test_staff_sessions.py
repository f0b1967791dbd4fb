"""Staff sessions kept on the server: the cookie names a session and carries nothing of the
account; "Where you are signed in" lists and ends them; expiry, last seen and the purge; and
every open staff socket closes within a second of its session ending, on every node."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import timedelta

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet

from server.access.devices import describe
from server.access.sessions import token_hash
from server.app import create_app
from server.appkeys import ACCOUNTS, DATABASE, KEYRING, RETENTION, SETTINGS, STAFF_SESSIONS
from server.edge.staffsockets import SIGNED_OUT
from server.settings import Settings
from server.storage.db import utcnow
from server.storage.models import StaffSession
from tests.conftest import Staff, csrf_from, sign_in
from tests.helpers import cli_env, run_cli

ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
WINDOWS_FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


def test_a_device_is_named_coarsely() -> None:
    assert describe(ANDROID) == "Chrome on Android"
    assert describe(WINDOWS_FIREFOX) == "Firefox on Windows"
    assert describe(IPHONE) == "Safari on iPhone"
    edge = "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
    assert describe(edge) == "Edge on Windows"
    mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Version/18.1 Safari/605.1.15"
    assert describe(mac) == "Safari on macOS"
    assert describe("Python/3.11 aiohttp/3.14") == "Unknown device"
    assert describe(None) == "Unknown device"
    assert describe("x" * 10_000 + " Firefox/1") == "Unknown device"  # only the start is read


async def _device(aiohttp_client, client: TestClient, agent: str) -> TestClient:  # type: ignore[no-untyped-def]
    """Another browser on the same server, saying it is ``agent``."""
    other = await aiohttp_client(client.server, headers={"User-Agent": agent})
    return other  # type: ignore[no-any-return]


def _cookie(client: TestClient) -> str:
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))["playroom_staff"].value


async def test_the_cookie_names_a_session_and_the_server_keeps_only_its_hash(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    await sign_in(client, therapist)
    fernet = Fernet(base64.urlsafe_b64encode(app[KEYRING].material.cookie_key))
    inside = json.loads(fernet.decrypt(_cookie(client).encode()))["session"]
    assert set(inside) == {"sid", "csrf_token"}  # no account id, no role, no epoch
    user = await app[ACCOUNTS].find(therapist.username)
    async with app[DATABASE].session() as session:
        [row] = await session.scalars(sa.select(StaffSession))
    assert row.user_id == user.id and row.token_hash == token_hash(inside["sid"])
    assert inside["sid"] not in {row.id, row.token_hash, row.device}
    assert row.expires_at - row.created_at == timedelta(seconds=app[SETTINGS].session_max_age)


async def test_where_you_are_signed_in_lists_sessions_and_ends_another(
    app: web.Application, client: TestClient, aiohttp_client, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    laptop = await _device(aiohttp_client, client, WINDOWS_FIREFOX)
    phone = await _device(aiohttp_client, client, ANDROID)
    await sign_in(phone, therapist)
    await sign_in(laptop, therapist)
    home = await (await laptop.get("/")).text()
    assert 'href="/account/sign-ins"' in home
    page = await (await laptop.get("/account/sign-ins")).text()
    assert "Where you are signed in" in page
    assert "Firefox on Windows" in page and "Chrome on Android" in page
    assert page.count("This device") == 1
    assert page.index("Firefox on Windows") < page.index("This device") < page.index("Chrome")
    user = await app[ACCOUNTS].find(therapist.username)
    signed_in = {s.device: s.id for s in await app[STAFF_SESSIONS].of(user.id)}
    phone_id = signed_in["Chrome on Android"]
    # without the form's token nothing ends
    resp = await laptop.post(f"/account/sign-ins/{phone_id}/end", data={"csrf_token": "forged"})
    assert resp.status == 403
    assert (await phone.get("/api/me")).status == 200
    resp = await laptop.post(
        f"/account/sign-ins/{phone_id}/end",
        data={"csrf_token": csrf_from(page)},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == "/account/sign-ins"
    assert (await phone.get("/api/me")).status == 401
    assert (await laptop.get("/api/me")).status == 200  # this device stays signed in
    page = await (await laptop.get("/account/sign-ins")).text()
    assert "Chrome on Android" not in page
    # ending this device's own session is a sign-out
    resp = await laptop.post(
        f"/account/sign-ins/{signed_in['Firefox on Windows']}/end",
        data={"csrf_token": csrf_from(page)},
        allow_redirects=False,
    )
    assert resp.headers["Location"] == "/signin"
    assert (await laptop.get("/api/me")).status == 401


async def test_no_one_ends_another_persons_session(
    app: web.Application, client: TestClient, aiohttp_client, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_staff

    other = await make_staff(app, "therapist.two")
    theirs = await _device(aiohttp_client, client, ANDROID)
    await sign_in(theirs, other)
    csrf = await sign_in(client, therapist)
    their_id = (await app[STAFF_SESSIONS].of((await app[ACCOUNTS].find("therapist.two")).id))[0].id
    resp = await client.post(
        f"/account/sign-ins/{their_id}/end", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert resp.status == 303
    assert (await theirs.get("/api/me")).status == 200
    assert "Chrome on Android" not in await (await client.get("/account/sign-ins")).text()


async def test_an_expired_session_is_refused_and_purged(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    await sign_in(client, therapist)
    async with app[DATABASE].session() as session:
        await session.execute(
            sa.update(StaffSession).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await client.get("/api/me")).status == 401
    counts = await app[RETENTION].purge()
    assert counts.get("staff_sessions") == 1


async def test_signing_in_deletes_that_persons_expired_sessions(
    app: web.Application, client: TestClient, aiohttp_client, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    await sign_in(client, therapist)
    async with app[DATABASE].session() as session:
        await session.execute(
            sa.update(StaffSession).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    await sign_in(await aiohttp_client(client.server), therapist)
    async with app[DATABASE].session() as session:
        assert len(list(await session.scalars(sa.select(StaffSession)))) == 1


async def test_last_seen_moves_on_at_most_once_a_minute(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    await sign_in(client, therapist)

    async def seen_ago(seconds: float | None = None) -> timedelta:
        async with app[DATABASE].session() as session:
            if seconds is not None:
                at = utcnow() - timedelta(seconds=seconds)
                await session.execute(sa.update(StaffSession).values(last_seen_at=at))
            row = await session.scalar(sa.select(StaffSession))
            assert row is not None
            return utcnow() - row.last_seen_at

    await seen_ago(30)
    assert (await client.get("/api/me")).status == 200
    assert await seen_ago() >= timedelta(seconds=29)  # not written: within the minute
    await seen_ago(120)
    assert (await client.get("/api/me")).status == 200
    assert await seen_ago() < timedelta(seconds=5)


async def _closed_within(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> float:
    """How long the server took to close ``ws`` with ``SIGNED_OUT``; fails after ``seconds``."""
    start = time.monotonic()
    async with asyncio.timeout(seconds):
        message = await ws.receive()
        while message.type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            message = await ws.receive()
    # the close frame's code (the client's own ``close_code`` may say 1006 instead, when its
    # answering close frame meets a transport the server has already closed)
    code = message.data if message.type is aiohttp.WSMsgType.CLOSE else ws.close_code
    assert code == SIGNED_OUT
    return time.monotonic() - start


async def _still_open(ws: aiohttp.ClientWebSocketResponse) -> bool:
    await ws.send_json({"v": 1, "type": "ping", "n": 1})
    reply = await asyncio.wait_for(ws.receive_json(), 5)
    return reply["type"] == "pong"


async def test_sockets_close_within_a_second_of_their_session_ending_on_any_node(
    settings: Settings, client: TestClient, aiohttp_client, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    """The phone signed in on another node (a second app on the same database) has a room
    or dashboard socket open there; the laptop, on the first node, ends the phone's session,
    then signs out everywhere. Each socket closes within a second, with 4401."""
    assert settings.session_check_seconds <= 0.5  # the default: no test setting shortens it
    node_b = await aiohttp_client(create_app(settings))
    phone = await aiohttp_client(node_b.server, headers={"User-Agent": ANDROID})
    tablet = await aiohttp_client(node_b.server, headers={"User-Agent": IPHONE})
    await sign_in(phone, therapist)
    await sign_in(tablet, therapist)
    csrf = await sign_in(client, therapist)
    phone_ws, tablet_ws = await phone.ws_connect("/ws"), await tablet.ws_connect("/ws")
    here_ws = await client.ws_connect("/ws")
    assert await _still_open(phone_ws) and await _still_open(tablet_ws)
    user = await client.app[ACCOUNTS].find(therapist.username)
    phone_id = next(
        s.id for s in await client.app[STAFF_SESSIONS].of(user.id) if "Android" in s.device
    )
    await client.post(f"/account/sign-ins/{phone_id}/end", data={"csrf_token": csrf})
    await _closed_within(phone_ws, 1.0)
    assert await _still_open(tablet_ws) and await _still_open(here_ws)  # only that one
    await client.post("/signout/everywhere", data={"csrf_token": csrf})
    await asyncio.gather(_closed_within(tablet_ws, 1.0), _closed_within(here_ws, 1.0))
    assert (await tablet.get("/api/me")).status == 401


async def test_a_plain_sign_out_closes_that_sessions_sockets(
    client: TestClient, aiohttp_client, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    csrf = await sign_in(client, therapist)
    copy = await aiohttp_client(client.server)
    copy.session.cookie_jar.update_cookies({"playroom_staff": _cookie(client)})
    copied_ws = await copy.ws_connect("/ws")
    assert await _still_open(copied_ws)
    await client.post("/signout", data={"csrf_token": csrf})
    await _closed_within(copied_ws, 1.0)


async def test_disabling_an_account_closes_its_sockets(
    settings: Settings, client: TestClient, therapist: Staff
) -> None:
    await sign_in(client, therapist)
    ws = await client.ws_connect("/ws")
    assert await _still_open(ws)
    env = cli_env(settings.data_dir, settings.database_url)
    done = await asyncio.to_thread(run_cli, "disable-user", therapist.username, env=env)
    assert done.returncode == 0, done.stderr
    await _closed_within(ws, 1.0)
    assert (await client.get("/api/me")).status == 401
