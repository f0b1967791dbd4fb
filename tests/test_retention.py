"""Retention: data past its period is deleted, data within it is kept, a purge never breaks
the verification of a log that is kept, and a dry run deletes nothing. On SQLite and
PostgreSQL (the ``settings`` fixture runs each test on both)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.appkeys import DATABASE, KEYRING, RETENTION, SESSION_LOG
from server.audit.sessionlog import client_stream, session_stream, views_stream
from server.crypto.sealed import seal
from server.records.retention import ERASED, Policy, Retention, keep_until
from server.storage.db import utcnow
from server.storage.models import Client, Role, StaffSession, User
from tests.conftest import Staff, csrf_from, make_staff, sign_in
from tests.factories import new_client, therapist_view
from tests.fill import CLIENT_TABLES, fill_client, remaining
from tests.helpers import cli_env, run_cli

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_a_child_record_is_kept_until_25_or_26_if_17_at_the_end() -> None:
    policy = Policy(min_years=8)
    born = date(2005, 6, 1)
    # 10 at the end: until the 25th birthday (15 years on)
    assert keep_until(policy, date(2015, 7, 1), born, None, date(2014, 1, 1)) == date(2030, 6, 1)
    # 17 at the end: the 26th birthday
    assert keep_until(policy, date(2022, 7, 1), born, None, date(2021, 1, 1)) == date(2031, 6, 1)
    # 16 at the end: the 25th birthday is 9 years on
    assert keep_until(policy, date(2021, 7, 1), born, None, date(2021, 1, 1)) == date(2030, 6, 1)
    # an adult (18 to 25): at least 8 years after the end
    assert keep_until(policy, date(2024, 3, 1), None, "18-25", date(2023, 1, 1)) == date(2032, 3, 1)
    # an age band: the youngest they can have been (14 when the record was made in 2020)
    assert keep_until(policy, date(2021, 1, 1), None, "14-15", date(2020, 5, 1)) == date(2031, 5, 1)
    # by default, as mental health records: never sooner than 20 years after the end
    assert Policy().min_years == 20
    assert keep_until(Policy(), date(2015, 7, 1), born, None, date(2014, 1, 1)) == date(2035, 7, 1)


async def _people(app: web.Application) -> tuple[str, Staff]:
    staff = await make_staff(app, "therapist.keep")
    return (await therapist_view(app, staff.username)).id, staff


async def test_a_record_past_its_period_goes_whole_and_one_within_it_stays(
    app: web.Application, client: TestClient
) -> None:
    staff_id, _ = await _people(app)
    # born 1990, seen and discharged at 10: kept until 2020 (20 years on): past
    old = await fill_client(
        app,
        staff_id,
        datetime(2000, 3, 1, tzinfo=UTC),
        born=date(1990, 1, 1),
        discharged=datetime(2000, 4, 1, tzinfo=UTC),
    )
    # born 2010, seen at 10: kept until 2040
    kept = await fill_client(
        app, staff_id, datetime(2020, 3, 1, tzinfo=UTC), born=date(2010, 1, 1), name="Kit"
    )
    # on hold: kept whatever its period
    held = await fill_client(app, staff_id, datetime(2009, 3, 1, tzinfo=UTC), age_band="9-11")
    async with app[DATABASE].session() as session:
        row = await session.get(Client, held["clients"][0])
        assert row is not None
        row.retention_hold = True

    counts = await app[RETENTION].purge(now=NOW)

    assert counts["clients"] == 1
    gone = await remaining(app, old)
    assert all(not found for found in gone.values()), gone
    for table in CLIENT_TABLES:
        assert counts[table] >= len(old[table]), table
    left = await remaining(app, kept)
    # the pre-join answer, the place and the join link are past their own short periods
    for table, wanted in kept.items():
        if table in ("join_checks", "places"):
            assert not left[table]
        elif table == "links":
            assert len(left[table]) == 1  # the consent link: its consent names it
        else:
            assert left[table] == set(wanted), table
    assert all(found for found in (await remaining(app, held)).values())
    # every log that is kept still verifies; the deleted ones are gone whole
    log = app[SESSION_LOG]
    appointment = kept["appointments"][0]
    for stream in (
        session_stream(appointment),
        views_stream(appointment),
        client_stream(kept["clients"][0]),
    ):
        report = await log.verify(stream)
        assert report.intact and report.entries == 2 and report.checkpoints == 1, stream
    gone_report = await log.verify(session_stream(old["appointments"][0]))
    assert gone_report.entries == 0 and gone_report.checkpoints == 0 and gone_report.intact


async def test_pre_join_answers_go_after_a_week_unless_a_concern_is_open(
    app: web.Application, client: TestClient
) -> None:
    staff_id, _ = await _people(app)
    eight_days = await fill_client(app, staff_id, NOW - timedelta(days=8))
    two_days = await fill_client(app, staff_id, NOW - timedelta(days=2))
    concern = await fill_client(app, staff_id, NOW - timedelta(days=8), escalation_status="open")

    counts = await app[RETENTION].purge(now=NOW)

    assert counts == {"join_checks": 1}
    assert not (await remaining(app, eight_days))["join_checks"]
    assert (await remaining(app, two_days))["join_checks"]
    assert (await remaining(app, concern))["join_checks"]


async def test_dead_links_go_after_their_period(app: web.Application, client: TestClient) -> None:
    staff_id, _ = await _people(app)
    recent = await fill_client(app, staff_id, NOW - timedelta(days=20))
    old = await fill_client(app, staff_id, NOW - timedelta(days=45))
    await app[RETENTION].purge(now=NOW)
    # 20 days: the withdrawn join and guest links are within their 30 days
    assert len((await remaining(app, recent))["links"]) == 3
    # 45 days: the join and guest links (and the pre-join answer and place) have gone; the
    # consent link stays with the consent given through it, and the guest's invitation (who
    # was invited, on what agreement) with the record
    left = await remaining(app, old)
    assert len(left["links"]) == 1 and not left["join_checks"] and not left["places"]
    assert left["consents"] and left["appointments"] and left["guests"]


async def test_a_dry_run_deletes_nothing_and_counts_what_a_purge_deletes(
    app: web.Application, client: TestClient
) -> None:
    staff_id, _ = await _people(app)
    old = await fill_client(app, staff_id, datetime(1998, 1, 1, tzinfo=UTC), age_band="16-17")
    would = await app[RETENTION].purge(dry_run=True, now=NOW)
    assert would["clients"] == 1
    assert all(found for found in (await remaining(app, old)).values())
    assert await app[RETENTION].purge(now=NOW) == would
    assert not any((await remaining(app, old)).values())


async def test_boards_pictures_and_scenes_go_after_discharge_only_when_set(
    app: web.Application, client: TestClient
) -> None:
    staff_id, _ = await _people(app)
    then = NOW - timedelta(days=60)
    ids = await fill_client(app, staff_id, then, discharged=then + timedelta(days=1))
    await app[RETENTION].purge(now=NOW)
    assert (await remaining(app, ids))["board_ops"]  # by default the box stays with the record
    short = Retention(app[DATABASE], app[KEYRING], Policy(box_days=30))
    counts = await short.purge(now=NOW)
    assert counts == {"board_ops": 1, "board_snapshots": 1, "scenes": 1, "shared_objects": 1}
    left = await remaining(app, ids)
    assert not left["board_ops"] and not left["shared_objects"] and not left["scenes"]
    assert not left["board_snapshots"]  # the board's copy goes with its operations
    assert left["clients"] and left["reflections"] and left["log_entries"]


async def test_a_disabled_staff_account_is_erased_then_deleted(
    app: web.Application, client: TestClient
) -> None:
    named_id, _ = await _people(app)
    await fill_client(app, named_id, NOW - timedelta(days=400))
    await make_staff(app, "left.long.ago", Role.SUPERVISOR)
    gone_id = (await therapist_view(app, "left.long.ago")).id
    async with app[DATABASE].session() as session:
        for user in await session.scalars(sa.select(User)):
            user.disabled = True
            seal(app[KEYRING], user, "email_enc", "someone@example.org")
    retention = app[RETENTION]
    first = await retention.purge(now=NOW)  # the clock starts now
    assert "users" not in first and "staff_erased" not in first
    later = NOW + timedelta(days=366)
    assert await retention.purge(now=later) == {"staff_erased": 1, "users": 1}
    async with app[DATABASE].session() as session:
        assert await session.get(User, gone_id) is None
        named = await session.get(User, named_id)
        assert named is not None  # the record still names them: the account row stays
        assert named.password_hash == ERASED and named.email_enc is None
        assert named.totp_secret_enc is None
    assert await retention.purge(now=later) == {}


async def test_disable_user_starts_the_clock_of_an_account(
    app: web.Application, client: TestClient, settings
) -> None:  # type: ignore[no-untyped-def]
    await sign_in(client, await make_staff(app, "leaving.soon"))
    env = cli_env(settings.data_dir, settings.database_url)
    done = run_cli("disable-user", "Leaving.Soon", env=env)
    assert done.returncode == 0, done.stderr
    async with app[DATABASE].session() as session:
        user = await session.scalar(sa.select(User))
        assert user is not None and user.disabled and user.disabled_at is not None
        assert not list(await session.scalars(sa.select(StaffSession)))  # its sign-ins ended
    assert (await client.get("/api/me")).status == 401
    assert run_cli("disable-user", "nobody", env=env).returncode == 2


async def test_purge_and_its_dry_run_from_the_command_line(
    app: web.Application, client: TestClient, settings
) -> None:  # type: ignore[no-untyped-def]
    staff_id, _ = await _people(app)
    old = await fill_client(app, staff_id, datetime(1995, 1, 1, tzinfo=UTC), age_band="5-8")
    env = cli_env(settings.data_dir, settings.database_url)
    dry = run_cli("purge", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "Would delete 1 from clients" in dry.stdout
    assert all(found for found in (await remaining(app, old)).values())
    done = run_cli("purge", env=env)
    assert done.returncode == 0, done.stderr
    assert "Deleted 1 from clients" in done.stdout
    assert "retention purge" in done.stderr and "Robin" not in done.stderr
    assert not any((await remaining(app, old)).values())


async def test_the_app_purges_by_itself(
    app: web.Application, client: TestClient, settings, aiohttp_client
) -> None:  # type: ignore[no-untyped-def]
    staff_id, _ = await _people(app)
    old = await fill_client(app, staff_id, datetime(1995, 1, 1, tzinfo=UTC), age_band="5-8")
    # a second server on the same database, purging every 0.1 s
    await aiohttp_client(create_app(settings.model_copy(update={"purge_interval_seconds": 0.1})))
    for _ in range(100):
        if not any((await remaining(app, old)).values()):
            break
        await asyncio.sleep(0.1)
    assert not any((await remaining(app, old)).values())


async def test_the_named_worker_discharges_and_holds_a_record(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    await sign_in(client, therapist)
    user = await therapist_view(app, therapist.username)
    young = await new_client(app, user, age_band=None, date_of_birth="2012-05-01")
    page = await (await client.get(f"/clients/{young.id}/keeping")).text()
    # 20 years after the end of treatment (today), later than the 25th birthday
    assert "Not discharged" in page and f"{utcnow().year + 20}-" in page
    token = csrf_from(page)
    for url, field, value in (
        ("discharge", "discharged", "yes"),
        ("hold", "held", "yes"),
    ):
        resp = await client.post(
            f"/clients/{young.id}/{url}", data={field: value, "csrf_token": token}
        )
        assert resp.status == 200
    page = await (await client.get(f"/clients/{young.id}/keeping")).text()
    assert "Discharged on" in page and "On hold" in page
    kinds = [e.kind for e in await app[SESSION_LOG].entries(client_stream(young.id))]
    assert kinds == ["client.discharged", "retention.held"]
    keeping = await app[RETENTION].keeping(young.id)
    assert keeping is not None and keeping.keep_until is None
