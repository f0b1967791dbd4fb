"""Subject access: everything held about one client as one JSON document, sealed fields
opened. Every table's rows about the client, each under its table's name, with the column
names of ``models.py`` (a sealed ``x_enc`` column appears opened as ``x``); pictures are
base64; each session's board as it was left is added under ``boards``; its chat is under
``chat_messages``, each message's text opened; each scene of the box (``scenes``) with its
name and its elements. A board's stored snapshot (``board_snapshots``) is left out on
purpose: it is a copy of what the board's operations make, written to load the board
quickly, and holds nothing they do not (its board is under ``boards``, every operation under
``board_ops``). Every export is recorded in the client's own log (``client:<id>``)."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from media.board import Board, parse_op
from server.audit.sessionlog import SessionLog, client_stream
from server.crypto.keys import KeyRing
from server.crypto.sealed import unseal, unseal_bytes
from server.exceptions import BoardError, DecryptionError, NotFound
from server.records.retention import client_rows
from server.storage.db import Database, utcnow
from server.storage.ids import is_id
from server.storage.models import Client, User

FORMAT = "playroom-subject-access-v1"
_BINARY = {("shared_objects", "data_enc")}
# words, never read as JSON (a scene called "12" stays text)
_TEXT = {
    ("scenes", "name_enc"),
    ("debriefs", "note_enc"),
    ("chat_messages", "text_enc"),
    ("guests", "name_enc"),
    ("appointments", "cancel_reason_enc"),
    ("appointments", "hours_rationale_enc"),
}
# left out: the logs' signatures, and the name of a group the client is in (the therapist's
# label, which may name its other members: the group's id and the client's membership say it)
_HIDDEN = {("log_entries", "signature"), ("log_checkpoints", "signature"), ("groups", "name_enc")}
_DERIVED = {"board_snapshots"}  # copies of what other tables hold, made for speed


class Exports:
    def __init__(self, db: Database, ring: KeyRing, log: SessionLog) -> None:
        self.db = db
        self.ring = ring
        self.log = log

    async def client(self, client_id: str, actor: str) -> dict[str, Any]:
        """The whole record of ``client_id`` (the caller has checked access); the export
        is logged first, so the document shows it too."""
        async with self.db.read() as session:
            if not is_id(client_id) or await session.get(Client, client_id) is None:
                raise NotFound("There is no such client.")
        await self.log.append(
            client_stream(client_id), "record.exported", actor, {"what": "subject_access"}
        )
        async with self.db.read() as session:
            return await self._document(session, client_id)

    async def _document(self, session: AsyncSession, client_id: str) -> dict[str, Any]:
        tables: dict[str, list[dict[str, Any]]] = {}
        for model, where in await client_rows(session, client_id):
            if model.__tablename__ in _DERIVED:
                continue
            keys = ("stream", "seq", "created_at", "id", "token_hash")
            order = [getattr(model, k) for k in keys if hasattr(model, k)]
            rows = await session.scalars(sa.select(model).where(where).order_by(*order))
            tables[model.__tablename__] = [self._row(row) for row in rows]
        staff_ids = {
            value
            for rows in tables.values()
            for row in rows
            for key, value in row.items()
            if key in _STAFF_COLUMNS and isinstance(value, str)
        }
        return {
            "format": FORMAT,
            "exported_at": utcnow().isoformat(),
            "client_id": client_id,
            "staff": await self._staff(session, staff_ids),
            "boards": self._boards(tables["board_ops"]),
            "tables": tables,
        }

    def _row(self, row: Any) -> dict[str, Any]:
        table = row.__tablename__
        out: dict[str, Any] = {}
        for column in row.__table__.columns:
            name = column.key
            if (table, name) in _HIDDEN:
                continue
            value = getattr(row, name)
            if column.info.get("encrypted"):
                out[name.removesuffix("_enc")] = self._opened(row, name, value)
            else:
                out[name] = _plain(value)
        return out

    def _opened(self, row: Any, column: str, value: bytes | None) -> Any:
        if value is None:
            return None
        try:
            if (row.__tablename__, column) in _BINARY:
                return base64.b64encode(unseal_bytes(self.ring, row, column) or b"").decode()
            text = unseal(self.ring, row, column) or ""
        except DecryptionError:
            return {"unreadable": True}
        if (row.__tablename__, column) in _TEXT:
            return text
        try:
            opened = json.loads(text)
        except ValueError:
            return text
        if isinstance(opened, dict):
            opened.pop("salt", None)  # a log entry's salt says nothing about anyone
        return opened

    async def _staff(self, session: AsyncSession, ids: set[str]) -> dict[str, str]:
        """The names of the staff the record mentions (who did what is part of it)."""
        if not ids:
            return {}
        users = await session.scalars(sa.select(User).where(User.id.in_(ids)))
        return {u.id: unseal(self.ring, u, "display_name_enc") or "" for u in users}

    def _boards(self, ops: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """Each session's board as it was left: its elements, pictures by their id."""
        boards: dict[str, Board] = {}
        for op in ops:
            board = boards.setdefault(op["appointment_id"], Board())
            with contextlib.suppress(BoardError):  # an operation that no longer applies
                board.apply(op["author"], parse_op(op["op"]))
        return {a: board.snapshot()["elements"] for a, board in boards.items()}


_STAFF_COLUMNS = {
    "named_worker_id",
    "changed_by",
    "updated_by",
    "supervisor_id",
    "created_by",
    "therapist_id",
    "recorded_by",
    "by",
    "user_id",
    "saved_by",
    "seen_by",
}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value
