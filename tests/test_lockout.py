"""Waits after failed sign-ins, per username and address: they tell no one which usernames
exist, a stranger's failures never keep a therapist out from elsewhere, the waits grow from
one address, attempts sent at once are counted in turn, and an administrator unlocks."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.access.accounts import Accounts
from server.access.lockout import network_of, wait_after
from server.app import create_app
from server.appkeys import ACCOUNTS, DATABASE, KEYRING, RETENTION
from server.exceptions import AuthError, SignInDelayed
from server.settings import Settings
from server.storage.db import utcnow
from server.storage.models import SignInFailure
from tests.conftest import PASSWORD, Staff, csrf_from, make_staff, sign_in
from tests.helpers import cli_env, run_cli

STRANGER, OWN = "203.0.113.7", "198.51.100.20"
_ALERT = re.compile(r'id="error-summary">(.*?)</div>', re.S)


def _alert(html: str) -> str:
    match = _ALERT.search(html)
    assert match, "no error on the page"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def _count_argon2(monkeypatch: pytest.MonkeyPatch, accounts: Accounts) -> list[str]:
    """Every password hash verified (the dummy one included), in order."""
    seen: list[str] = []
    verify: Callable[[str, str], bool] = accounts._verify

    def counted(password_hash: str, password: str) -> bool:
        seen.append(password_hash)
        return verify(password_hash, password)

    monkeypatch.setattr(accounts, "_verify", counted)
    return seen


class Clock:
    """The lockout's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def after(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def _waits(app: web.Application, username: str) -> list[float]:
    """How long each address must still wait for ``username``, by the lockout's own rows."""
    index = app[KEYRING].blind_index(username)
    async with app[DATABASE].session() as session:
        rows = await session.scalars(
            sa.select(SignInFailure).where(SignInFailure.login_index == index)
        )
        return [
            (r.wait_until - r.last_failed_at).total_seconds() if r.wait_until else 0.0 for r in rows
        ]


async def test_an_unknown_username_is_answered_exactly_as_an_existing_one(
    settings: Settings, aiohttp_client, therapist: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(settings.model_copy(update={"login_max_failures": 2})))
    hashes = _count_argon2(monkeypatch, client.app[ACCOUNTS])
    client.app[ACCOUNTS].lockout.clock = Clock()  # time stands still: no wait runs out
    token = csrf_from(await (await client.get("/signin")).text())
    answers: dict[str, list[tuple[int, str]]] = {}
    verified: dict[str, int] = {}
    for username in (therapist.username, "no.such.person"):
        before = len(hashes)
        answers[username] = []
        for _ in range(6):
            resp = await client.post(
                "/signin",
                data={"username": username, "password": "not it at all", "csrf_token": token},
            )
            answers[username].append((resp.status, _alert(await resp.text())))
        verified[username] = len(hashes) - before
    assert answers[therapist.username] == answers["no.such.person"]
    statuses = [status for status, _ in answers["no.such.person"]]
    assert statuses == [401, 401, 429, 429, 429, 429]
    assert "do not match an account" in answers["no.such.person"][0][1]
    assert (
        "Too many attempts to sign in with this username from here"
        in (answers["no.such.person"][2][1])
    )
    assert "locked" not in str(answers)
    # the same work for each: one Argon2 verification a counted attempt, none while waiting
    assert verified == {therapist.username: 2, "no.such.person": 2}


async def test_a_strangers_fifty_tries_do_not_stop_the_therapist_signing_in_elsewhere(
    settings: Settings, aiohttp_client, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings.model_copy(update={"trusted_proxies": ["127.0.0.0/8"]}))
    stranger = await aiohttp_client(app, headers={"X-Forwarded-For": STRANGER})
    app[ACCOUNTS].lockout.clock = Clock()  # time stands still: the stranger's wait never ends
    token = csrf_from(await (await stranger.get("/signin")).text())
    statuses = []
    for _ in range(50):
        resp = await stranger.post(
            "/signin",
            data={"username": therapist.username, "password": "guess!", "csrf_token": token},
        )
        statuses.append(resp.status)
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    # the right password from the stranger's address waits too ...
    resp = await stranger.post(
        "/signin",
        data={"username": therapist.username, "password": PASSWORD, "csrf_token": token},
    )
    assert resp.status == 429
    # ... while the therapist, at their own address, signs in as ever
    own = await aiohttp_client(stranger.server, headers={"X-Forwarded-For": OWN})
    await sign_in(own, therapist)
    assert (await own.get("/api/me")).status == 200


async def test_waits_grow_from_one_address(app: web.Application, client: TestClient) -> None:
    staff = await make_staff(app, "grow")
    accounts = app[ACCOUNTS]
    clock = Clock()
    accounts.lockout.clock = clock
    waits = []
    for _ in range(12):
        with pytest.raises(AuthError, match="do not match"):
            await accounts.check_password("grow", "wrong password", STRANGER)
        [wait] = await _waits(app, "grow")
        waits.append(wait)
        if wait:
            with pytest.raises(SignInDelayed):  # even the right password, while it waits
                await accounts.check_password("grow", PASSWORD, STRANGER)
            clock.after(wait - 0.01)
            with pytest.raises(SignInDelayed, match="Try again in 1 second"):
                await accounts.check_password("grow", PASSWORD, STRANGER)
            clock.after(0.01)
    assert waits == [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128]
    assert wait_after(30, 5, 900) == 900  # never longer than PLAYROOM_LOGIN_LOCK_SECONDS
    # once the wait is over, the right password and code sign in, and the count goes
    user = await accounts.check_password("grow", PASSWORD, STRANGER)
    await accounts.verify_totp(user.id, staff.code(), address=STRANGER)
    assert await _waits(app, "grow") == []


async def test_attempts_sent_at_once_are_counted_one_after_another(
    app: web.Application, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_staff(app, "rush")
    accounts = app[ACCOUNTS]
    hashes = _count_argon2(monkeypatch, accounts)
    accounts.lockout.clock = Clock()
    results = await asyncio.gather(
        *(accounts.check_password("rush", "wrong password", STRANGER) for _ in range(20)),
        return_exceptions=True,
    )
    delayed = [r for r in results if isinstance(r, SignInDelayed)]
    assert len(hashes) == accounts.max_failures == 20 - len(delayed)
    assert all(isinstance(r, AuthError) for r in results)


async def test_knowing_the_password_does_not_clear_wrong_codes(
    app: web.Application, client: TestClient
) -> None:
    staff = await make_staff(app, "halfway")
    accounts = app[ACCOUNTS]
    accounts.lockout.free = 2
    user = await accounts.check_password("halfway", PASSWORD, STRANGER)
    with pytest.raises(AuthError, match="not right"):
        await accounts.verify_totp(user.id, "000000", address=STRANGER)
    await accounts.check_password("halfway", PASSWORD, STRANGER)  # takes back its own count
    with pytest.raises(AuthError, match="not right"):
        await accounts.verify_totp(user.id, "000000", address=STRANGER)
    with pytest.raises(SignInDelayed):  # two wrong codes: the right one must wait
        await accounts.verify_totp(user.id, staff.code(), address=STRANGER)


async def test_ipv6_addresses_count_by_their_64(app: web.Application, client: TestClient) -> None:
    assert network_of("2001:db8:0:0:aaaa::1") == "2001:db8::/64"
    assert network_of("::ffff:192.0.2.1") == "192.0.2.1"
    assert network_of("192.0.2.1") == "192.0.2.1" and network_of("-") == "-"
    await make_staff(app, "six")
    accounts = app[ACCOUNTS]
    for host in range(1, 6):  # five addresses of one /64: one count
        with pytest.raises(AuthError, match="do not match"):
            await accounts.check_password("six", "wrong password", f"2001:db8::{host}")
    with pytest.raises(SignInDelayed):
        await accounts.check_password("six", PASSWORD, "2001:db8::99")
    assert (await accounts.check_password("six", PASSWORD, "2001:db8:0:1::1")).username == "six"


async def test_an_administrator_unlocks_a_username(
    app: web.Application, client: TestClient, settings: Settings
) -> None:
    """A stranger on the clinic's own address (one network, one address to the server) has
    made the therapist wait there; the administrator's unlock clears it at once."""
    await make_staff(app, "shared.desk")
    accounts = app[ACCOUNTS]
    for _ in range(accounts.max_failures):
        with pytest.raises(AuthError, match="do not match"):
            await accounts.check_password("shared.desk", "wrong password", STRANGER)
    with pytest.raises(SignInDelayed):
        await accounts.check_password("shared.desk", PASSWORD, STRANGER)
    env = cli_env(settings.data_dir, settings.database_url)
    done = await asyncio.to_thread(run_cli, "unlock", "Shared.Desk", env=env)
    assert done.returncode == 0, done.stderr
    assert "Cleared failed sign-ins for 'Shared.Desk' from 1 address(es)." in done.stdout
    assert (await accounts.check_password("shared.desk", PASSWORD, STRANGER)).username
    nobody = await asyncio.to_thread(run_cli, "unlock", "nobody", env=env)
    assert nobody.returncode == 0  # the same words for a username with no account
    assert "Cleared failed sign-ins for 'nobody' from 0 address(es)." in nobody.stdout


async def test_failures_are_forgotten_a_day_after_the_last(
    app: web.Application, client: TestClient
) -> None:
    accounts = app[ACCOUNTS]
    for username in ("kept.a.while", "no.account.here"):
        with pytest.raises(AuthError, match="do not match"):
            await accounts.check_password(username, "wrong password", STRANGER)
    assert "sign_in_failures" not in await app[RETENTION].purge()  # not yet a day
    later = utcnow() + timedelta(days=1, minutes=1)
    assert (await app[RETENTION].purge(now=later)).get("sign_in_failures") == 2
    assert await _waits(app, "kept.a.while") == []
