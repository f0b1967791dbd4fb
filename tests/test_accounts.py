"""Staff accounts on each database: passwords, waits after failures, TOTP and its replay,
supervision."""

from __future__ import annotations

import time

import pyotp
import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.access.accounts import Accounts
from server.appkeys import ACCOUNTS, DATABASE
from server.exceptions import AuthError, PlayroomError, SignInDelayed
from server.storage.models import Role, User
from tests.conftest import PASSWORD, make_staff
from tests.totp import MARGIN, code_at, next_step, wait_for


async def test_password_checked_and_wrong_one_refused(
    app: web.Application, client: TestClient
) -> None:
    staff = await make_staff(app, "kim")
    accounts = app[ACCOUNTS]
    user = await accounts.check_password("KIM", PASSWORD)  # usernames ignore case
    assert user.username == "kim" and user.role is Role.THERAPIST
    with pytest.raises(AuthError, match="do not match"):
        await accounts.check_password("kim", "wrong password!!")
    with pytest.raises(AuthError, match="do not match"):
        await accounts.check_password("nobody", PASSWORD)
    assert staff.password == PASSWORD


async def test_short_password_and_duplicate_username_refused(
    app: web.Application, client: TestClient
) -> None:
    accounts = app[ACCOUNTS]
    with pytest.raises(PlayroomError, match="at least 12"):
        await accounts.create("a", "A", Role.THERAPIST, "short")
    await make_staff(app, "dup")
    with pytest.raises(PlayroomError, match="already taken"):
        await accounts.create("DUP", "Other", Role.THERAPIST, PASSWORD)


async def test_repeated_failures_make_that_address_wait_not_the_account(
    app: web.Application, client: TestClient
) -> None:
    await make_staff(app, "locky")
    accounts = app[ACCOUNTS]
    for _ in range(accounts.max_failures):
        with pytest.raises(AuthError, match="do not match"):
            await accounts.check_password("locky", "not the password", "203.0.113.7")
    with pytest.raises(SignInDelayed, match="Try again in 1 second"):
        await accounts.check_password("locky", PASSWORD, "203.0.113.7")  # even the right one
    user = await accounts.check_password("locky", PASSWORD, "198.51.100.20")  # elsewhere
    assert user.username == "locky"


async def test_totp_code_works_once(app: web.Application, client: TestClient) -> None:
    staff = await make_staff(app, "otp")
    accounts = app[ACCOUNTS]
    user = await accounts.find("otp")
    now = time.time()
    code = pyotp.TOTP(staff.secret).at(now)
    await accounts.verify_totp(user.id, code, now)
    with pytest.raises(AuthError, match="already been used"):
        await accounts.verify_totp(user.id, code, now)
    with pytest.raises(AuthError):
        await accounts.verify_totp(user.id, "12345x", now)
    older = pyotp.TOTP(staff.secret).at(now - 30)
    with pytest.raises(AuthError):  # an earlier code than one used is a replay too
        await accounts.verify_totp(user.id, older, now)
    await accounts.verify_totp(user.id, pyotp.TOTP(staff.secret).at(now + 30), now)


async def test_enrolment_makes_a_secret_once(app: web.Application, client: TestClient) -> None:
    accounts = app[ACCOUNTS]
    user, secret = await accounts.create("new", "New", Role.SUPERVISOR, PASSWORD)
    assert secret is None and not user.totp_enrolled
    first = await accounts.enrolment_secret(user.id)
    assert await accounts.enrolment_secret(user.id) == first
    enrolled = await accounts.verify_totp(user.id, pyotp.TOTP(first).now())
    assert enrolled.totp_enrolled
    with pytest.raises(PlayroomError, match="already has"):
        await accounts.enrolment_secret(user.id)


async def test_the_service_hashes_passwords_at_argon2ids_full_cost(
    app: web.Application, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tests' own accounts hash at Argon2's lowest cost (``conftest.py``); the service's
    hash at RFC 9106's second recommended setting: 64 MiB, three passes, four lanes."""
    monkeypatch.undo()
    accounts = Accounts(app[DATABASE], app[ACCOUNTS].ring)
    await accounts.create("full.cost", "Full Cost", Role.THERAPIST, PASSWORD)
    async with app[DATABASE].session() as session:
        row = (await session.execute(sa.select(User))).scalar_one()
    assert row.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert (await accounts.check_password("full.cost", PASSWORD)).username == "full.cost"


@pytest.mark.hazard("HZ-12")
async def test_personal_fields_are_not_stored_in_clear(
    app: web.Application, client: TestClient
) -> None:
    staff = await make_staff(app, "visible.name")
    async with app[DATABASE].session() as session:
        row = (await session.execute(sa.select(User))).scalar_one()
    raw = b"".join([row.username_enc, row.display_name_enc, row.totp_secret_enc or b""])
    assert b"visible" not in raw and staff.secret.encode() not in raw
    assert "visible" not in row.login_index and "argon2id" in row.password_hash


async def test_supervision_links_only_supervisor_to_therapist(
    app: web.Application, client: TestClient
) -> None:
    await make_staff(app, "sup", Role.SUPERVISOR)
    await make_staff(app, "ther")
    accounts = app[ACCOUNTS]
    await accounts.supervise("sup", "ther")
    await accounts.supervise("sup", "ther")  # idempotent
    sup = await accounts.find("sup")
    assert [p.username for p in await accounts.supervisees(sup.id)] == ["ther"]
    with pytest.raises(PlayroomError, match="must be a supervisor"):
        await accounts.supervise("ther", "sup")


def test_a_test_code_chosen_just_before_a_boundary_is_still_good_after_it() -> None:
    """The tests' own codes (``tests/totp.py``): a code chosen up to MARGIN seconds before
    the server checks it is accepted, whichever side of a 30 s boundary the check falls."""
    secret = pyotp.random_base32()

    def good(step: int, now: float) -> bool:
        code = code_at(secret, step)
        checks = (now, now + MARGIN - 0.01)
        return all(Accounts._matching_step(secret, code, t) == step for t in checks)

    for now in (2995.1, 2999.9, 3000.1, 3015.0, 3029.99):  # a first sign-in
        assert good(next_step(0, now), now)
    assert not good(int(2999.9 // 30) - 1, 2999.9)  # the step before, just before a boundary
    last = 0
    for now in (2999.9, 3000.1, 3029.99, 3031.0):  # signing in again: each code once
        step = next_step(last, now)
        assert step > last and good(step, now)
        last = step


def test_a_fourth_code_in_one_window_waits_for_the_next_window() -> None:
    """Three sign-ins use the window's three good steps (two, chosen near a boundary); the
    next waits until the server's clock takes it, instead of being refused."""
    secret = pyotp.random_base32()
    for now in (3010.0, 3027.0):  # mid-window, and within MARGIN of the boundary
        last, steps = 0, []
        for _ in range(4):
            last = next_step(last, now)
            steps.append((last, wait_for(last, now)))
        for step, wait in steps:
            code = code_at(secret, step)
            assert Accounts._matching_step(secret, code, now + wait) == step
        assert steps[-1][1] > 0  # the last had to wait for the next window
