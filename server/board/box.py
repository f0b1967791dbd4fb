"""The child's box: what was made in each session (boards and pictures), kept sealed per
client, for the therapist to browse, export for the clinical record, or reopen."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from media.board import HEIGHT, WIDTH, Board, parse_op
from media.changes import ElementDoc
from media.render import render_png
from server.access.accounts import StaffView
from server.board.saving import read_snapshot
from server.board.whiteboards import Whiteboards
from server.care.clients import Clients
from server.crypto.keys import KeyRing
from server.crypto.sealed import unseal, unseal_bytes
from server.exceptions import NotFound, PlayroomError
from server.storage.db import Database
from server.storage.ids import is_id
from server.storage.models import Appointment
from server.storage.session_models import BoardOp, SharedObject

BOX_AUTHOR = "box"
GROUP_BOARD = (
    "A group's board stays with the group's session, never in one young person's box: "
    "boards and scenes are reopened in one young person's sessions."
)


@dataclass(frozen=True)
class BoxEntry:
    appointment_id: str
    starts_at: datetime
    operations: int
    pictures: int


class Box:
    def __init__(
        self, db: Database, ring: KeyRing, clients: Clients, whiteboards: Whiteboards
    ) -> None:
        self.db = db
        self.ring = ring
        self.clients = clients
        self.whiteboards = whiteboards

    async def entries(self, user: StaffView, client_id: str) -> list[BoxEntry]:
        """The sessions of this client that left something in the box, newest first."""
        await self.clients.get(user, client_id, write=True)  # the named worker only
        async with self.db.read() as session:
            ops = dict(
                (
                    await session.execute(
                        sa.select(BoardOp.appointment_id, sa.func.count(BoardOp.id))
                        .join(Appointment, Appointment.id == BoardOp.appointment_id)
                        .where(Appointment.client_id == client_id)
                        .group_by(BoardOp.appointment_id)
                    )
                ).all()
            )
            pictures = dict(
                (
                    await session.execute(
                        sa.select(SharedObject.appointment_id, sa.func.count(SharedObject.id))
                        .where(SharedObject.client_id == client_id)
                        .group_by(SharedObject.appointment_id)
                    )
                ).all()
            )
            rows = await session.scalars(
                sa.select(Appointment)
                .where(
                    Appointment.client_id == client_id, Appointment.id.in_(set(ops) | set(pictures))
                )
                .order_by(Appointment.starts_at.desc())
            )
            return [
                BoxEntry(a.id, a.starts_at, ops.get(a.id, 0), pictures.get(a.id, 0)) for a in rows
            ]

    async def _appointment(
        self, user: StaffView, client_id: str, appointment_id: str
    ) -> Appointment:
        await self.clients.get(user, client_id, write=True)
        async with self.db.read() as session:
            row = await session.get(Appointment, appointment_id) if is_id(appointment_id) else None
        if row is None or row.client_id != client_id:
            raise NotFound("There is no such session in this box.")
        return row

    async def board(self, user: StaffView, client_id: str, appointment_id: str) -> Board:
        await self._appointment(user, client_id, appointment_id)
        # its snapshot, and the operations stored after it (``saving.py``)
        board = await read_snapshot(self.db, self.ring, appointment_id) or Board()
        async with self.db.read() as session:
            rows = await session.scalars(
                sa.select(BoardOp)
                .where(BoardOp.appointment_id == appointment_id, BoardOp.seq > board.seq)
                .order_by(BoardOp.seq)
            )
            for row in rows:
                board.apply(row.author, parse_op(unseal(self.ring, row, "op_enc") or "{}"))
        return board

    async def picture(self, user: StaffView, client_id: str, object_id: str) -> tuple[str, bytes]:
        await self.clients.get(user, client_id, write=True)
        async with self.db.read() as session:
            row = await session.get(SharedObject, object_id) if is_id(object_id) else None
        if row is None or row.client_id != client_id:
            raise NotFound("There is no such picture in this box.")
        return row.mime, unseal_bytes(self.ring, row, "data_enc") or b""

    async def png(self, user: StaffView, client_id: str, appointment_id: str) -> bytes:
        """The board as it was left, on its tray, as a PNG for the clinical record."""
        board = await self.board(user, client_id, appointment_id)
        elements = board.snapshot()["elements"]
        pictures: dict[str, bytes] = {}
        for element in elements:
            if element["kind"] == "picture" and element["visible"]:
                _, pictures[element["data"]["object"]] = await self.picture(
                    user, client_id, element["data"]["object"]
                )
        background = board.settings["background"]
        return await asyncio.to_thread(render_png, elements, pictures.get, background)

    async def reopen(self, user: StaffView, target_id: str, source_id: str) -> int:
        """Put what was left on an earlier session's board onto this session's board."""
        async with self.db.read() as session:
            target = await session.get(Appointment, target_id) if is_id(target_id) else None
        if target is None or target.therapist_id != user.id:
            raise NotFound("There is no such session.")
        if source_id == target_id:
            raise PlayroomError("Choose an earlier session's board.")
        if target.client_id is None:
            raise PlayroomError(GROUP_BOARD)
        source = await self.board(user, target.client_id, source_id)
        room = await self.whiteboards.get(target.id, target.client_id)
        copied = 0
        for element in source.visible():
            for op in _recreate(element.as_dict(), f"b{copied}"):
                await room.submit(BOX_AUTHOR, parse_op(op), may_clear=False, therapist=True)
            copied += 1
        return copied


def _recreate(element: ElementDoc, prefix: str) -> list[dict[str, Any]]:
    """Operations that make ``element`` again, where it was left, under a new id: a stroke
    whole, or an item made and then placed (and locked, if it was)."""
    new_id = f"{prefix}-{element['id']}"[:40]
    data = dict(element["data"])
    kind, place = element["kind"], element["place"]
    if kind == "stroke" or place is None:
        dx, dy = float(element["dx"]), float(element["dy"])
        points = [
            [min(float(WIDTH), max(0.0, x + dx)), min(float(HEIGHT), max(0.0, y + dy)), p]
            for x, y, p in element["points"]
        ]
        return [{"op": "stroke", "id": new_id, **data, "points": points}]
    size = (
        {"scale": place["scale"]}
        if place["scale"] is not None
        else {"w": place["w"], "h": place["h"]}
    )
    ops: list[dict[str, Any]] = [
        {"op": kind, "id": new_id, **data},
        {
            "op": "transform",
            "target": new_id,
            "x": min(float(WIDTH), max(0.0, place["x"])),
            "y": min(float(HEIGHT), max(0.0, place["y"])),
            "rotation": place["rotation"],
            **size,
        },
    ]
    if element["locked"]:
        ops.append({"op": "lock", "target": new_id, "locked": True})
    return ops
