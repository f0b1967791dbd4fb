"""Key rotation re-encrypts every sealed value while a server keeps using the data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from media.compaction import dump_board
from server.appkeys import ACCOUNTS, DATABASE, KEYRING
from server.board.saving import read_snapshot
from server.crypto.keys import KeyRing, read_key_file
from server.crypto.rotation import encrypted_columns, reencrypt_pass, rotate
from server.storage.models import User
from server.storage.session_models import BoardSnapshot
from tests.conftest import Staff, make_staff, sign_in
from tests.factories import therapist_view
from tests.fill import fill_client


async def _key_ids(app: web.Application) -> set[int]:
    ids = set()
    async with app[DATABASE].session() as session:
        for row in (await session.execute(sa.select(User))).scalars():
            for blob in (row.username_enc, row.display_name_enc, row.totp_secret_enc):
                if blob is not None:
                    ids.add(KeyRing.key_id_of(blob))
    return ids


@pytest.mark.hazard("HZ-12")
async def test_rotation_reencrypts_everything_and_the_server_keeps_working(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    others = [await make_staff(app, f"person{i}") for i in range(7)]
    async with app[DATABASE].read() as session:  # these, the therapist and their supervisor
        users = list(await session.scalars(sa.select(User)))
    people = len(users)
    sealed = sum(
        blob is not None
        for u in users
        for blob in (u.username_enc, u.display_name_enc, u.totp_secret_enc)
    )
    assert await _key_ids(app) == {1}
    # rotation runs as its own process would: its own ring read from the key file
    path = app[KEYRING].path
    assert path is not None
    rotator = KeyRing(read_key_file(path), path)
    report = await rotate(app[DATABASE], rotator, batch_size=3)
    assert report.new_key_id == 2
    assert report.reencrypted["users.username_enc"] == people
    assert report.total == sealed  # usernames, display names, second factors
    assert await _key_ids(app) == {2}
    # the running server reads the new key from the file and signs people in as before
    await sign_in(client, therapist)
    assert (await app[ACCOUNTS].find(others[3].username)).display_name == "Person3"
    assert app[KEYRING].active_id == 2
    assert set(read_key_file(path).data_keys) == {1, 2}  # old keys kept for backups


async def test_second_pass_finds_nothing_left(app: web.Application, client: TestClient) -> None:
    await make_staff(app, "solo")
    path = app[KEYRING].path
    assert path is not None
    rotator = KeyRing(read_key_file(path), path)
    await rotate(app[DATABASE], rotator)
    counts = await reencrypt_pass(app[DATABASE], rotator)
    assert sum(counts.values()) == 0


def test_every_personal_column_is_registered() -> None:
    names = {f"{t.name}.{c.name}" for t, c in encrypted_columns()}
    assert {"users.username_enc", "users.display_name_enc", "users.totp_secret_enc"} <= names
    assert {"board_ops.op_enc", "board_snapshots.state_enc"} <= names
    assert "chat_messages.text_enc" in names  # what was written in a session's chat


async def test_a_boards_stored_snapshot_is_sealed_again_and_still_loads(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    """The board's compacted snapshot is personal data like its operations: rotation finds
    it by its column's mark, seals it under the new key, and the board still loads from it."""
    staff_id = (await therapist_view(app, therapist.username)).id
    ids = await fill_client(app, staff_id, datetime.now(UTC) - timedelta(days=1))
    appointment_id = ids["appointments"][0]
    db, ring = app[DATABASE], app[KEYRING]
    before = await read_snapshot(db, ring, appointment_id)
    assert before is not None and before.seq == 1
    path = ring.path
    assert path is not None
    report = await rotate(db, KeyRing(read_key_file(path), path))
    assert report.reencrypted["board_snapshots.state_enc"] == 1
    assert report.reencrypted["board_ops.op_enc"] == 1
    async with db.read() as session:
        blob = await session.scalar(
            sa.select(BoardSnapshot.state_enc).where(BoardSnapshot.appointment_id == appointment_id)
        )
    assert blob is not None and KeyRing.key_id_of(blob) == 2
    ring.maybe_reload(force=True)
    after = await read_snapshot(db, ring, appointment_id)
    assert after is not None and dump_board(after) == dump_board(before)
