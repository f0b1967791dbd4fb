"""Sign-in through the pages, CSRF, sign-out everywhere, and the HTTP edge."""

from __future__ import annotations

import pyotp
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.appkeys import ACCOUNTS, SETTINGS
from server.settings import Settings
from server.storage.models import Role
from tests.conftest import PASSWORD, Staff, csrf_from, make_staff, sign_in


async def test_full_sign_in_lands_on_the_therapist_home(
    client: TestClient, therapist: Staff
) -> None:
    await sign_in(client, therapist)
    home = await client.get("/")
    assert "Hello, Therapist.One" in await home.text()
    me = await (await client.get("/api/me")).json()
    assert me["role"] == "therapist" and me["username"] == "therapist.one"


async def test_first_sign_in_enrols_a_second_factor(
    app: web.Application, client: TestClient
) -> None:
    await app[ACCOUNTS].create("fresh", "Fresh Person", Role.SUPERVISOR, PASSWORD)
    page = await client.get("/signin")
    resp = await client.post(
        "/signin",
        data={
            "username": "fresh",
            "password": PASSWORD,
            "csrf_token": csrf_from(await page.text()),
        },
        allow_redirects=False,
    )
    assert resp.headers["Location"] == "/signin/enrol"
    enrol = await (await client.get("/signin/enrol")).text()
    assert 'src="data:image/svg+xml;base64,' in enrol
    secret = enrol.split('id="totp-secret">')[1].split("<")[0].replace(" ", "")
    resp = await client.post(
        "/signin/enrol",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(enrol)},
        allow_redirects=False,
    )
    assert resp.status == 303
    assert "Therapists you supervise" in await (await client.get("/")).text()


async def test_wrong_password_is_refused_with_a_clear_message(
    client: TestClient, therapist: Staff
) -> None:
    page = await client.get("/signin")
    resp = await client.post(
        "/signin",
        data={
            "username": therapist.username,
            "password": "nope",
            "csrf_token": csrf_from(await page.text()),
        },
    )
    assert resp.status == 401
    assert "do not match an account" in await resp.text()
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_wrong_and_replayed_codes_are_refused(client: TestClient, therapist: Staff) -> None:
    await sign_in(client, therapist)
    used = pyotp.TOTP(therapist.secret).at(therapist._step * 30)
    client.session.cookie_jar.clear()
    page = await client.get("/signin")
    await client.post(
        "/signin",
        data={
            "username": therapist.username,
            "password": PASSWORD,
            "csrf_token": csrf_from(await page.text()),
        },
    )
    page = await client.get("/signin/code")
    token = csrf_from(await page.text())
    for code in (used, "000000"):
        resp = await client.post("/signin/code", data={"code": code, "csrf_token": token})
        assert resp.status == 401
        assert "already been used" in await resp.text()


async def test_state_changing_request_without_csrf_token_is_refused(
    client: TestClient, therapist: Staff
) -> None:
    page = await client.get("/signin")
    assert page.status == 200
    resp = await client.post("/signin", data={"username": therapist.username, "password": PASSWORD})
    assert resp.status == 403
    assert "did not come from Playroom" in await resp.text()
    token = await sign_in(client, therapist)
    resp = await client.post("/signout/everywhere", data={"csrf_token": "forged"})
    assert resp.status == 403
    assert (await client.get("/api/me")).status == 200  # still signed in: nothing happened
    assert token


async def test_sign_out_everywhere_ends_other_devices(
    app: web.Application,
    client: TestClient,
    aiohttp_client,
    therapist: Staff,  # type: ignore[no-untyped-def]
) -> None:
    laptop, phone = client, await aiohttp_client(client.server)
    token = await sign_in(laptop, therapist)
    await sign_in(phone, therapist)
    resp = await laptop.post(
        "/signout/everywhere", data={"csrf_token": token}, allow_redirects=False
    )
    assert resp.status == 303
    assert (await phone.get("/api/me")).status == 401
    assert (await laptop.get("/api/me")).status == 401


async def test_sign_in_is_rate_limited_per_address(settings: Settings, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(
        create_app(settings.model_copy(update={"login_rate_per_minute": 3}))
    )
    page = await client.get("/signin")
    token = csrf_from(await page.text())
    statuses = []
    for _ in range(5):
        resp = await client.post(
            "/signin", data={"username": "x", "password": "y", "csrf_token": token}
        )
        statuses.append(resp.status)
    assert statuses == [401, 401, 401, 429, 429]


async def test_oversized_body_is_refused(client: TestClient, app: web.Application) -> None:
    page = await client.get("/signin")
    big = "x" * (app[SETTINGS].max_body_bytes + 1)
    resp = await client.post(
        "/signin",
        data={"username": big, "password": "p", "csrf_token": csrf_from(await page.text())},
    )
    assert resp.status == 413
    assert "too large" in await resp.text()


async def test_unknown_route_gets_a_page_or_a_json_error(client: TestClient) -> None:
    resp = await client.get("/no/such/page")
    assert resp.status == 404 and "Page not found" in await resp.text()
    resp = await client.get("/api/nothing")
    assert resp.status == 404
    assert (await resp.json())["error"]["status"] == 404


async def test_every_response_has_strict_headers(client: TestClient) -> None:
    for path in ("/signin", "/healthz", "/nowhere"):
        resp = await client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert "camera=()" in resp.headers["Permissions-Policy"]
        assert "Strict-Transport-Security" not in resp.headers  # plain HTTP on localhost


async def test_probes_touch_no_session(client: TestClient) -> None:
    resp = await client.get("/healthz")
    assert (await resp.json())["status"] == "ok" and "Set-Cookie" not in resp.headers
    resp = await client.get("/readyz")
    assert (await resp.json())["database"] == "ok"


async def test_api_needs_a_signed_in_user(client: TestClient) -> None:
    resp = await client.get("/api/me")
    assert resp.status == 401
    assert (await resp.json())["error"]["status"] == 401


async def test_supervisor_home_lists_supervisees(app: web.Application, client: TestClient) -> None:
    sup = await make_staff(app, "sup", Role.SUPERVISOR)
    await make_staff(app, "ther")
    await app[ACCOUNTS].supervise("sup", "ther")
    await sign_in(client, sup)
    assert "<li>Ther</li>" in await (await client.get("/")).text()


def _staff_cookie(client: TestClient) -> str:
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))["playroom_staff"].value


async def _with_cookie(aiohttp_client, client: TestClient, value: str) -> TestClient:  # type: ignore[no-untyped-def]
    other = await aiohttp_client(client.server)  # another device
    other.session.cookie_jar.update_cookies({"playroom_staff": value})
    return other  # type: ignore[no-any-return]


async def test_forged_expired_and_replayed_staff_cookies_are_refused(
    app: web.Application, client: TestClient, aiohttp_client, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    import base64
    import json
    import secrets
    import time

    from cryptography.fernet import Fernet

    from server.appkeys import KEYRING, STAFF_SESSIONS

    csrf = await sign_in(client, therapist)
    real = _staff_cookie(client)
    fernet = Fernet(base64.urlsafe_b64encode(app[KEYRING].material.cookie_key))
    payload = fernet.decrypt(real.encode())
    max_age = app[SETTINGS].session_max_age
    user_id = (await app[ACCOUNTS].find(therapist.username)).id
    sessions = await app[STAFF_SESSIONS].of(user_id)
    stranger = Fernet(Fernet.generate_key())
    invented = json.loads(payload)
    invented["session"]["sid"] = secrets.token_urlsafe(32)  # a session never started
    cases = {
        "one character changed": real[:-5] + ("A" if real[-5] != "A" else "B") + real[-4:],
        "another key": stranger.encrypt(payload).decode(),
        "expired": fernet.encrypt_at_time(payload, int(time.time()) - max_age - 60).decode(),
        "garbage": "not-a-cookie",
        "a session never started": fernet.encrypt(json.dumps(invented).encode()).decode(),
    }
    for what, value in cases.items():
        other = await _with_cookie(aiohttp_client, client, value)
        resp = await other.get("/api/me")
        assert resp.status == 401, what
        assert (await resp.json())["error"]["status"] == 401
    assert await app[STAFF_SESSIONS].of(user_id) == sessions
    assert (await client.get("/api/me")).status == 200  # nothing changed for the real one
    # the real cookie replayed on another device works until "sign out everywhere" ...
    copy = await _with_cookie(aiohttp_client, client, real)
    assert (await copy.get("/api/me")).status == 200
    resp = await client.post(
        "/signout/everywhere", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert resp.status == 303
    # ... and not after it, on any device
    for device in (copy, await _with_cookie(aiohttp_client, client, real)):
        assert (await device.get("/api/me")).status == 401


async def test_a_therapists_cookie_opens_no_supervisor_or_admin_page(
    client: TestClient, therapist: Staff
) -> None:
    csrf = await sign_in(client, therapist)
    for path in ("/sign-offs", "/ops/status"):
        assert (await client.get(path)).status == 403, path
    resp = await client.post(
        "/api/clients/0123456789abcdef0123456789abcdef/sign-offs",
        json={},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status == 403
    assert (await client.get("/api/me")).status == 200  # still signed in, as a therapist


async def test_a_copied_cookie_stops_working_at_a_plain_sign_out(
    client: TestClient, aiohttp_client, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    csrf = await sign_in(client, therapist)
    copy = await _with_cookie(aiohttp_client, client, _staff_cookie(client))
    resp = await client.post("/signout", data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 303
    assert (await client.get("/api/me")).status == 401
    assert (await copy.get("/api/me")).status == 401
