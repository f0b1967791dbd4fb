"""Subject access: the export holds every table's rows about the client, sealed fields
opened, and nothing of another client; every export is recorded in the client's log."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import EXPORTS, SESSION_LOG
from server.audit.sessionlog import client_stream
from server.storage import session_models  # noqa: F401 - its tables join Base.metadata
from server.storage.models import Base, Role
from tests.conftest import Staff, make_staff, sign_in
from tests.factories import therapist_view
from tests.fill import CLIENT_TABLES, PICTURE, fill_client
from tests.helpers import cli_env, run_cli

# about staff, never a client: accounts, who supervises whom, shifts, daily checks, where
# each is signed in, and failed sign-ins (by username and address)
STAFF_TABLES = {
    "users",
    "supervision",
    "shifts",
    "daily_checks",
    "staff_sessions",
    "sign_in_failures",
}


async def _two_clients(
    app: web.Application, therapist: Staff
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    staff_id = (await therapist_view(app, therapist.username)).id
    when = datetime.now(UTC) - timedelta(days=3)
    mine = await fill_client(app, staff_id, when, name="Robin", age_band="9-11")
    other = await fill_client(app, staff_id, when, name="Alex", age_band="12-13")
    return mine, other


def _check(document: dict, mine: dict[str, list[str]], other: dict[str, list[str]]) -> None:  # type: ignore[type-arg]
    tables = document["tables"]
    # a board's stored snapshot is a copy of what its operations make: left out on purpose
    assert set(tables) == CLIENT_TABLES - {"board_snapshots"}
    for table, wanted in mine.items():
        if table == "board_snapshots":
            continue
        key = {
            "places": "token_hash",
            "escalation_repeats": "escalation_id",
            "group_members": "group_id",
        }.get(table, "id")
        found = {row[key] for row in tables[table]}
        assert set(wanted) <= found, table
    text = json.dumps(document)
    for table, ids in other.items():
        for row_id in ids:
            assert row_id not in text, f"{table} row of another client"
    assert "Alex" not in text
    # sealed fields are opened
    client = tables["clients"][0]
    assert client["display_name"] == "Robin" and client["notes"] == "notes about Robin"
    assert tables["consents"][0]["details"]["contacts"][0]["phone"] == "07700 900456"
    assert tables["client_contacts"][0]["parent_email"] == "robin.parent@example.org"
    assert tables["outbox"][0]["status"] == "sent"
    assert tables["join_checks"][0]["answers"] == {"where": "Robin's bedroom"}
    assert tables["guests"][0]["name"] == "Robin's interpreter Sam"
    assert tables["guests"][0]["role"] == "interpreter"
    assert tables["checklist_responses"][0]["answers"]["q"]["answer"] == "yes"
    assert tables["reflections"][0]["text"] == "Robin drew a sun"
    assert tables["appointments"][0]["hours_rationale"] == "Robin can only come after school"
    assert tables["series"][0]["id"] == tables["appointments"][0]["series_id"]
    assert base64.b64decode(tables["shared_objects"][0]["data"]) == PICTURE
    assert tables["board_ops"][0]["op"]["op"] == "sticker"
    said = tables["chat_messages"][0]
    assert said["text"] == "Robin wrote: can we talk about school"
    assert (said["author_role"], said["to_role"]) == ("young_person", "therapist")
    board = document["boards"][mine["appointments"][0]]
    assert [e["kind"] for e in board] == ["sticker"]
    assert all("salt" not in row["details"] for row in tables["log_entries"])
    assert document["staff"]


async def test_the_export_holds_everything_about_one_client_and_nothing_else(
    app: web.Application, client: TestClient, therapist: Staff, aiohttp_client
) -> None:  # type: ignore[no-untyped-def]
    mine, other = await _two_clients(app, therapist)
    await sign_in(client, therapist)
    page = await client.get(f"/clients/{mine['clients'][0]}")
    assert f'action="/clients/{mine["clients"][0]}/export"' in await page.text()
    resp = await client.get(f"/clients/{mine['clients'][0]}/export")
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    document = json.loads(await resp.text())
    _check(document, mine, other)
    # the export is in the client's log, and the log still verifies
    entries = await app[SESSION_LOG].entries(client_stream(mine["clients"][0]))
    assert entries[-1].kind == "record.exported"
    assert (await app[SESSION_LOG].verify(client_stream(mine["clients"][0]))).intact
    # the export itself shows it was exported
    kinds = [row["kind"] for row in document["tables"]["log_entries"]]
    assert "record.exported" in kinds
    # only the named worker exports
    for username, role in (("someone.else", Role.THERAPIST), ("a.supervisor", Role.SUPERVISOR)):
        stranger = await make_staff(app, username, role)
        browser = await aiohttp_client(client.server)
        await sign_in(browser, stranger)
        refused = await browser.get(f"/clients/{mine['clients'][0]}/export")
        assert refused.status == 403


async def test_export_client_from_the_command_line(
    app: web.Application, client: TestClient, therapist: Staff, settings
) -> None:  # type: ignore[no-untyped-def]
    mine, other = await _two_clients(app, therapist)
    out = settings.data_dir / "export.json"
    env = cli_env(settings.data_dir, settings.database_url)
    done = run_cli("export-client", mine["clients"][0], "--output", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    _check(json.loads(out.read_text()), mine, other)
    entries = await app[SESSION_LOG].entries(client_stream(mine["clients"][0]))
    assert (entries[-1].kind, entries[-1].actor) == ("record.exported", "system")
    missing = run_cli("export-client", "nosuchclient", env=env)
    assert missing.returncode == 2 and "no such client" in missing.stderr


async def test_the_export_service_refuses_an_unknown_client(
    app: web.Application, client: TestClient
) -> None:
    try:
        await app[EXPORTS].client("0" * 32, "system")
    except Exception as exc:  # noqa: BLE001
        assert "no such client" in str(exc)
    else:
        raise AssertionError("exported a client that does not exist")


def test_every_table_is_either_about_a_client_or_about_staff() -> None:
    """A new table must be added to ``CLIENT_MODELS`` (what the export shows and retention
    deletes) or named as staff-only."""
    assert CLIENT_TABLES | STAFF_TABLES == set(Base.metadata.tables)
    assert not CLIENT_TABLES & STAFF_TABLES
