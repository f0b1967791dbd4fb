"""Scenes: a board saved by name in the child's box, seen as a thumbnail, put on a later
session's board, exported as PNG; the named worker's only, sealed at rest, logged without its
name, deleted with the record and in its export. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient
from alembic import command
from PIL import Image

from server.appkeys import ACCOUNTS, DATABASE, RETENTION, SESSION_LOG, WHITEBOARDS
from server.audit.sessionlog import client_stream, session_stream
from server.storage.db import utcnow
from server.storage.migrate import alembic_config, upgrade
from server.storage.models import Role
from server.storage.session_models import Scene as SceneRow
from tests.conftest import (
    Staff,
    _create_run_database,
    _drop_run_database,
    csrf_from,
    make_staff,
    sign_in,
)
from tests.factories import new_client, therapist_view
from tests.scenes import Scene, enter, join_token, schedule_session, stroke
from tests.test_images import _jpeg_with_gps

NAME = "Lion family at the river"
WHITE, WATER = (255, 255, 255), (0x7F, 0xB6, 0xD9)


def _near(pixel: tuple[int, int, int], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 24 for a, b in zip(pixel, colour, strict=True))


async def _fill(room: Scene) -> None:
    """A stroke, a sticker and a text on the board, and a picture shared."""
    t, y = room.therapist, room.young
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
    await t.wait_for(lambda: _kinds(t.board.elements) == ["picture", "sticker", "stroke", "text"])


def _kinds(elements: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(e["kind"] for e in elements.values() if e["visible"])


async def _client_id(client: TestClient) -> str:
    return str((await (await client.get("/api/clients")).json())["clients"][0]["id"])


async def _save(client: TestClient, session: str, name: str = NAME) -> Any:
    token = csrf_from(await (await client.get("/")).text())
    return await client.post(
        f"/api/sessions/{session}/scenes", json={"name": name}, headers={"X-CSRF-Token": token}
    )


async def _rows(app: web.Application) -> list[Any]:
    async with app[DATABASE].session() as session:
        return list((await session.execute(sa.select(SceneRow.__table__))).all())


@pytest.mark.hazard("HZ-16")
async def test_a_scene_is_saved_listed_with_a_thumbnail_and_exported(
    app: web.Application, client: TestClient, scene: Scene
) -> None:
    await _fill(scene)
    scene.therapist.draw({"op": "background", "name": "water"})  # a tray of water
    await scene.young.wait_for(lambda: scene.young.board.settings["background"] == "water")
    cid = await _client_id(client)
    resp = await _save(client, scene.session)
    assert resp.status == 201, await resp.text()
    saved = await resp.json()
    assert saved["name"] == NAME and saved["session_id"] == scene.session
    # the box lists it by name, with its thumbnail and its export
    page = await (await client.get(f"/clients/{cid}/box")).text()
    assert NAME in page and saved["thumbnail"] in page and saved["png"] in page
    listed = await (await client.get(f"/api/sessions/{scene.session}/scenes")).json()
    assert [s["id"] for s in listed["scenes"]] == [saved["id"]]
    thumb = await client.get(saved["thumbnail"])
    assert thumb.status == 200 and thumb.content_type == "image/png"
    assert thumb.headers["Cache-Control"] == "no-store"
    small = Image.open(io.BytesIO(await thumb.read())).convert("RGB")
    assert small.size == (320, 240)
    assert small.getpixel((256, 36)) != WHITE  # the sun, a fifth of its place
    # the export: the board's size, a download, no-store, and logged
    export = await client.get(saved["png"])
    assert export.status == 200 and export.content_type == "image/png"
    assert export.headers["Content-Disposition"].startswith("attachment; filename=scene-")
    assert export.headers["Cache-Control"] == "no-store"
    image = Image.open(io.BytesIO(await export.read())).convert("RGB")
    assert image.size == (1600, 1200)
    assert image.getpixel((1280, 180)) != WHITE  # the sun
    assert image.getpixel((910, 110)) != WHITE  # the stroke
    # on its tray: where nothing was put, the water shows (its waves are lighter, its
    # ground is the tray's colour)
    ground = [image.getpixel((x, 1000)) for x in range(100, 600, 5)]
    assert sum(1 for p in ground if _near(p, WATER)) > len(ground) // 2
    log = app[SESSION_LOG]
    saving = [
        e for e in await log.entries(session_stream(scene.session)) if e.kind == "scene.saved"
    ]
    exporting = [e for e in await log.entries(client_stream(cid)) if e.kind == "scene.exported"]
    assert saving[0].details["scene"] == saved["id"] and saving[0].details["elements"] == 4
    assert exporting[0].details["scene"] == saved["id"]
    assert NAME not in json.dumps([e.details for e in saving + exporting])
    assert (await log.verify(client_stream(cid))).intact


@pytest.mark.hazard("HZ-16")
async def test_a_scene_reopens_in_a_later_session(
    app: web.Application, client: TestClient, aiohttp_client, scene: Scene
) -> None:  # type: ignore[no-untyped-def]
    await _fill(scene)
    scene.therapist.draw({"op": "background", "name": "sand"})
    await scene.young.wait_for(lambda: scene.young.board.settings["background"] == "sand")
    cid = await _client_id(client)
    saved = await (await _save(client, scene.session)).json()
    token = csrf_from(await (await client.get("/")).text())
    later = await schedule_session(client, token, cid, start_in=timedelta(minutes=3))
    # the box offers the later session, and puts the scene on its board
    page = await (await client.get(f"/clients/{cid}/box")).text()
    assert f'<option value="{later["id"]}">' in page
    resp = await client.post(
        f"/clients/{cid}/box/scenes/{saved['id']}/reopen",
        data={"session": later["id"], "csrf_token": token},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == f"/sessions/{later['id']}"
    await asyncio.gather(scene.therapist.close(), scene.young.close())
    t, y = await enter(aiohttp_client, client, later["id"], join_token(later))
    assert _kinds(y.board.elements) == ["picture", "sticker", "stroke", "text"]
    assert y.board.settings["background"] == "sand"  # on the tray it was made on
    sun = next(e for e in y.board.elements.values() if e["kind"] == "sticker")
    assert (sun["place"]["x"], sun["place"]["y"]) == (1280, 180)  # where it was left
    await y.wait_for(lambda: len(y.objects) == 1)  # the picture travels with the scene
    # from the room (the toolbar's call): again, live, under new ids
    resp = await client.post(
        f"/api/sessions/{later['id']}/scenes/{saved['id']}/reopen",
        headers={"X-CSRF-Token": token},
    )
    assert resp.status == 200 and await resp.json() == {"session_id": later["id"], "placed": 4}
    await y.wait_for(lambda: len(_kinds(y.board.elements)) == 8)
    entries = await app[SESSION_LOG].entries(session_stream(later["id"]))
    assert [e.details["scene"] for e in entries if e.kind == "scene.reopened"] == [saved["id"]] * 2
    # a board rebuilt from storage (the room is not held here) is saved as the room saw it
    await asyncio.gather(t.close(), y.close())
    app[WHITEBOARDS].forget(later["id"])
    again = await (await _save(client, later["id"], "Both rivers")).json()
    async with app[DATABASE].session() as session:
        row = await session.get(SceneRow, again["id"])
    assert row is not None
    entries = await app[SESSION_LOG].entries(session_stream(later["id"]))
    assert [e.details.get("elements") for e in entries if e.kind == "scene.saved"] == [8]


@pytest.mark.hazard("HZ-17")
async def test_only_the_named_worker_sees_or_uses_scenes(
    app: web.Application, client: TestClient, aiohttp_client, therapist: Staff, scene: Scene
) -> None:  # type: ignore[no-untyped-def]
    await _fill(scene)
    cid = await _client_id(client)
    saved = await (await _save(client, scene.session)).json()
    pages = [f"/clients/{cid}/box", saved["thumbnail"], saved["png"]]
    api = f"/api/sessions/{scene.session}/scenes"
    # another therapist, and the therapist's own supervisor: the box is the named worker's
    boss = await make_staff(app, "supervisor.one", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise(boss.username, therapist.username)
    for staff in (await make_staff(app, "other"), boss):
        browser = await aiohttp_client(client.server)
        token = await sign_in(browser, staff)
        h = {"X-CSRF-Token": token}
        for path in pages:
            assert (await browser.get(path)).status == 403, (staff.username, path)
        assert (await browser.get(api)).status == 403
        assert (await browser.post(api, json={"name": "mine"}, headers=h)).status == 403
        reopened = await browser.post(f"{api}/{saved['id']}/reopen", headers=h)
        assert reopened.status == 403
        form = {"session": scene.session, "csrf_token": token}
        posted = await browser.post(f"/clients/{cid}/box/scenes/{saved['id']}/reopen", data=form)
        assert posted.status == 403
    # the young person's browser, which holds a join link and no account
    young = await aiohttp_client(client.server)
    assert (await young.get(f"/join/{scene.token}")).status == 200
    for path in pages:
        refused = await young.get(path, allow_redirects=False)
        assert refused.status == 303 and refused.headers["Location"] == "/signin", path
    assert (await young.get(api)).status == 401
    assert (await young.post(api, json={"name": "mine"})).status == 403  # no CSRF token
    # the named worker without the CSRF token
    assert (await client.post(api, json={"name": "mine"})).status == 403
    assert len(await _rows(app)) == 1


async def test_a_name_of_10_kb_or_none_is_refused_clearly(
    app: web.Application, client: TestClient, scene: Scene
) -> None:
    for name, says in (
        ("x" * 10_240, "name: String should have at most 80 characters"),
        ("   ", "name: String should have at least 1 character"),
        ("", "name: String should have at least 1 character"),
        ("two\nlines", "a scene's name is one line of plain text"),
    ):
        resp = await _save(client, scene.session, name)
        assert resp.status == 400, name
        assert says in (await resp.json())["error"]["message"], name
    token = csrf_from(await (await client.get("/")).text())
    extra = await client.post(
        f"/api/sessions/{scene.session}/scenes",
        json={"name": "ok", "elements": []},
        headers={"X-CSRF-Token": token},
    )
    assert extra.status == 400
    assert await _rows(app) == []
    assert (await _save(client, scene.session, "x" * 80)).status == 201  # at most 80


async def test_a_scene_is_sealed_at_rest(
    app: web.Application, client: TestClient, scene: Scene
) -> None:
    await _fill(scene)
    assert (await _save(client, scene.session)).status == 201
    [row] = await _rows(app)
    raw = bytes(row.name_enc) + bytes(row.elements_enc)
    for plain in (NAME, "Lion", '"sticker"', '"sun"', "#c81e1e", '"me"', "t-sun"):
        assert plain.encode() not in raw, plain


@pytest.mark.hazard("HZ-17")
async def test_a_scene_never_goes_on_another_childs_board(
    app: web.Application, client: TestClient, therapist: Staff, scene: Scene
) -> None:
    await _fill(scene)
    saved = await (await _save(client, scene.session)).json()
    ther = await therapist_view(app, therapist.username)
    other = await new_client(app, ther, display_name="Alex")
    token = csrf_from(await (await client.get("/")).text())
    theirs = await schedule_session(client, token, other.id, start_in=timedelta(minutes=5))
    h = {"X-CSRF-Token": token}
    resp = await client.post(f"/api/sessions/{theirs['id']}/scenes/{saved['id']}/reopen", headers=h)
    assert resp.status == 404
    form = {"session": theirs["id"], "csrf_token": token}
    posted = await client.post(
        f"/clients/{other.id}/box/scenes/{saved['id']}/reopen", data=form, allow_redirects=False
    )
    assert posted.status == 404
    board = (await app[WHITEBOARDS].get(theirs["id"], other.id)).board
    assert board.elements == {}
    listed = await (await client.get(f"/api/sessions/{theirs['id']}/scenes")).json()
    assert listed == {"scenes": []}  # nor is it listed there
    assert saved["id"] not in await (await client.get(f"/clients/{other.id}/box")).text()
    # and an ended session takes no scene
    await client.post(f"/api/sessions/{scene.session}/end", headers=h)
    ended = await client.post(
        f"/api/sessions/{scene.session}/scenes/{saved['id']}/reopen", headers=h
    )
    assert ended.status == 400


async def test_a_scene_is_exported_with_the_record_and_deleted_with_it(
    app: web.Application, client: TestClient, scene: Scene
) -> None:
    await _fill(scene)
    cid = await _client_id(client)
    saved = await (await _save(client, scene.session, "12")).json()
    document = json.loads(await (await client.get(f"/clients/{cid}/export")).text())
    [kept] = document["tables"]["scenes"]
    assert kept["id"] == saved["id"] and kept["name"] == "12"  # a name stays text
    assert sorted(e["kind"] for e in kept["elements"]) == ["picture", "sticker", "stroke", "text"]
    assert kept["saved_by"] in document["staff"]
    await asyncio.gather(scene.therapist.close(), scene.young.close())
    counts = await app[RETENTION].purge(now=utcnow() + timedelta(days=365 * 40))
    assert counts["scenes"] == 1 and counts["clients"] == 1
    assert await _rows(app) == []


async def test_the_migration_makes_the_scenes_table(
    app: web.Application, client: TestClient, backend: str, tmp_path: Path
) -> None:
    def columns(sync: sa.Connection) -> set[str]:
        return {c["name"] for c in sa.inspect(sync).get_columns("scenes")}

    async with app[DATABASE].engine.connect() as conn:  # this backend, migrated fresh
        found = await conn.run_sync(columns)
    assert found == {
        "id",
        "client_id",
        "appointment_id",
        "saved_by",
        "name_enc",
        "elements_enc",
        "background",
        "created_at",
    }
    # down and up again, on a database of its own on this backend
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'scenes.db'}"
        if backend == "sqlite"
        else await _create_run_database()
    )
    assert url is not None
    try:
        await asyncio.to_thread(upgrade, url)
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0013")
        await asyncio.to_thread(upgrade, url)
    finally:
        if backend == "postgres":
            await _drop_run_database(url)
