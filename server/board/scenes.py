"""Scenes: a board the therapist keeps by name in the child's box, to see again as a
thumbnail, put on a later session's board, or export as a PNG for the clinical record.

A scene holds the board's visible elements as the server's board had them when it was saved
(the live room's board in this process, or the session's board rebuilt from storage as the
box rebuilds it), sealed with its name, and the tray's background (sand, water, grass,
plain, or none), which its pictures are drawn on and which comes back with it. As with the
rest of the box, only the client's named worker sees or uses scenes. Saving, putting on a
board and exporting are logged by the scene's id, never its name: in the session's log while
the session goes on, otherwise in the client's."""

from __future__ import annotations

import asyncio
import io
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, cast

import sqlalchemy as sa
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from media.board import MAX_ELEMENTS, parse_op
from media.changes import ElementDoc
from media.render import render_png
from server.access.accounts import StaffView
from server.audit.sessionlog import SessionLog, client_stream, session_stream, staff_actor
from server.board.box import BOX_AUTHOR, GROUP_BOARD, Box, _recreate
from server.crypto.sealed import seal, unseal, unseal_bytes
from server.exceptions import Forbidden, NotFound, PlayroomError
from server.storage.db import utcnow
from server.storage.ids import is_id
from server.storage.models import OVER, Appointment, new_id
from server.storage.session_models import Scene, SharedObject

MAX_NAME = 80
MAX_SCENES = 500  # a client's box: years of weekly sessions, several scenes each
THUMBNAIL = (320, 240)  # a quarter of the board's side, near enough: its 4:3 kept

_ELEMENTS: TypeAdapter[list[ElementDoc]] = TypeAdapter(list[ElementDoc])


class NewScene(BaseModel):
    """What the therapist gives a scene: its name, one line of 1 to 80 characters."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        # control characters break a line in the box; a lone surrogate cannot be sealed
        if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
            raise ValueError("a scene's name is one line of plain text")
        return value


@dataclass(frozen=True)
class SceneView:
    id: str
    name: str
    client_id: str
    appointment_id: str  # the session it was saved in
    session_starts_at: datetime
    saved_at: datetime


class Scenes:
    """The scenes of each client's box. Uses the box for who may see it, for a session's
    board rebuilt from storage, and for how a board's elements are made again."""

    def __init__(self, box: Box, log: SessionLog) -> None:
        self.box = box
        self.db = box.db
        self.ring = box.ring
        self.log = log

    async def _own(self, user: StaffView, appointment_id: str) -> Appointment:
        async with self.db.session() as session:
            row = await session.get(Appointment, appointment_id) if is_id(appointment_id) else None
        if row is None:
            raise NotFound("There is no such session.")
        if row.therapist_id != user.id:
            raise Forbidden("This session is not yours.")
        return row

    async def _session(self, user: StaffView, appointment_id: str) -> tuple[Appointment, str]:
        """One of ``user``'s own sessions, with a client on their caseload, and that client.
        A group's board stays with the group's session: never in one member's box."""
        row = await self._own(user, appointment_id)
        if row.client_id is None:
            raise PlayroomError(GROUP_BOARD)
        await self.box.clients.get(user, row.client_id, write=True)  # the named worker only
        return row, row.client_id

    # -- saving

    async def save(self, user: StaffView, appointment_id: str, new: NewScene) -> SceneView:
        """Keep the session's board as it is now, as a scene named ``new.name``."""
        appointment, client_id = await self._session(user, appointment_id)
        room = self.box.whiteboards.boards.get(appointment.id)
        if room is not None:  # live here: the board the room sees
            board = room.board
        else:
            board = await self.box.board(user, client_id, appointment.id)
        elements = [element.as_dict() for element in board.visible()]
        row = Scene(
            id=new_id(),
            client_id=client_id,
            appointment_id=appointment.id,
            saved_by=user.id,
            background=board.settings["background"],
            created_at=utcnow(),
        )
        seal(self.ring, row, "name_enc", new.name)
        seal(self.ring, row, "elements_enc", _ELEMENTS.dump_json(elements))
        async with self.db.session() as session:
            count = await session.scalar(
                sa.select(sa.func.count(Scene.id)).where(Scene.client_id == row.client_id)
            )
            if (count or 0) >= MAX_SCENES:
                raise PlayroomError(f"The box holds at most {MAX_SCENES} scenes: it is full.")
            session.add(row)
        stream = (
            client_stream(client_id)
            if appointment.status in OVER
            else session_stream(appointment.id)
        )
        details = {"scene": row.id, "session": appointment.id, "elements": len(elements)}
        await self.log.append(stream, "scene.saved", staff_actor(user.id), details)
        return SceneView(
            row.id, new.name, row.client_id, appointment.id, appointment.starts_at, row.created_at
        )

    # -- seeing

    async def for_client(self, user: StaffView, client_id: str) -> list[SceneView]:
        """The client's scenes, newest first (their names opened, not their elements)."""
        await self.box.clients.get(user, client_id, write=True)
        async with self.db.session() as session:
            rows = await session.execute(
                sa.select(Scene, Appointment.starts_at)
                .join(Appointment, Appointment.id == Scene.appointment_id)
                .where(Scene.client_id == client_id)
                .order_by(Scene.created_at.desc(), Scene.id)
            )
            return [self._view(scene, starts_at) for scene, starts_at in rows]

    async def for_session(self, user: StaffView, appointment_id: str) -> list[SceneView]:
        """The scenes of this session's client: what the room can put on its board (none
        in a group's session)."""
        if (await self._own(user, appointment_id)).client_id is None:
            return []
        _, client_id = await self._session(user, appointment_id)
        return await self.for_client(user, client_id)

    async def destinations(self, user: StaffView, client_id: str) -> list[Appointment]:
        """The client's sessions with ``user`` that a scene can still be put on: not ended,
        not cancelled, not over; earliest first."""
        await self.box.clients.get(user, client_id, write=True)
        async with self.db.session() as session:
            rows = await session.scalars(
                sa.select(Appointment)
                .where(
                    Appointment.client_id == client_id,
                    Appointment.therapist_id == user.id,
                    Appointment.status.not_in(OVER),
                    Appointment.ends_at > utcnow(),
                )
                .order_by(Appointment.starts_at)
            )
            return list(rows)

    async def _scene(self, client_id: str, scene_id: str) -> tuple[Scene, list[ElementDoc]]:
        """A scene of this client's box, with its elements (the caller has checked access)."""
        async with self.db.session() as session:
            row = await session.get(Scene, scene_id) if is_id(scene_id) else None
        if row is None or row.client_id != client_id:
            raise NotFound("There is no such scene in this box.")
        return row, _ELEMENTS.validate_json(unseal(self.ring, row, "elements_enc") or "[]")

    async def thumbnail(self, user: StaffView, client_id: str, scene_id: str) -> bytes:
        """A small PNG of the scene, for the box's page."""
        await self.box.clients.get(user, client_id, write=True)
        row, elements = await self._scene(client_id, scene_id)
        pictures = await self._pictures(client_id, elements)
        return await asyncio.to_thread(_draw, elements, pictures, row.background, THUMBNAIL)

    async def png(self, user: StaffView, client_id: str, scene_id: str) -> tuple[SceneView, bytes]:
        """The scene as a PNG of the board's size, for the clinical record; logged."""
        await self.box.clients.get(user, client_id, write=True)
        row, elements = await self._scene(client_id, scene_id)
        pictures = await self._pictures(client_id, elements)
        png = await asyncio.to_thread(_draw, elements, pictures, row.background, None)
        details = {"scene": row.id, "session": row.appointment_id}
        await self.log.append(
            client_stream(client_id), "scene.exported", staff_actor(user.id), details
        )
        async with self.db.session() as session:
            starts_at = await session.scalar(
                sa.select(Appointment.starts_at).where(Appointment.id == row.appointment_id)
            )
        return self._view(row, starts_at or row.created_at), png

    async def _pictures(self, client_id: str, elements: list[ElementDoc]) -> dict[str, bytes]:
        """The pictures the scene shows, by their id: this client's only."""
        wanted = {e["data"]["object"] for e in elements if e["kind"] == "picture"}
        if not wanted:
            return {}
        async with self.db.session() as session:
            rows = await session.scalars(
                sa.select(SharedObject).where(
                    SharedObject.client_id == client_id, SharedObject.id.in_(wanted)
                )
            )
            return {row.id: unseal_bytes(self.ring, row, "data_enc") or b"" for row in rows}

    def _view(self, row: Scene, session_starts_at: datetime) -> SceneView:
        name = unseal(self.ring, row, "name_enc") or ""
        return SceneView(
            row.id, name, row.client_id, row.appointment_id, session_starts_at, row.created_at
        )

    # -- reopening

    async def reopen(self, user: StaffView, target_id: str, scene_id: str) -> int:
        """Put the scene on this session's board, each thing where it was (and locked if it
        was), as the box puts an earlier board; returns how many things were placed."""
        target, client_id = await self._session(user, target_id)
        if target.status in OVER:
            raise PlayroomError("That session is over. Choose one that has not ended.")
        row, elements = await self._scene(client_id, scene_id)  # this client's only
        room = await self.box.whiteboards.get(target.id, client_id)
        if len(room.board.elements) + len(elements) > MAX_ELEMENTS:
            raise PlayroomError("The board is too full for this scene. Clear some of it first.")
        if row.background is not None:  # the tray it was made on
            background = parse_op({"op": "background", "name": row.background})
            await room.submit(BOX_AUTHOR, background, may_clear=False, therapist=True)
        prefix = f"s{secrets.token_hex(3)}"  # new ids each time: a scene can go on twice
        for n, element in enumerate(elements):
            for op in _recreate(element, f"{prefix}{n}"):
                await room.submit(BOX_AUTHOR, parse_op(op), may_clear=False, therapist=True)
        if any(e["kind"] == "picture" for e in elements):
            for participant_id in list(room.members):  # the pictures, to whoever is there
                await room.send_pictures(participant_id, room.pictures())
        await self.log.append(
            session_stream(target.id),
            "scene.reopened",
            staff_actor(user.id),
            {"scene": scene_id, "elements": len(elements)},
        )
        return len(elements)


def _draw(
    elements: list[ElementDoc],
    pictures: dict[str, bytes],
    background: str | None,
    size: tuple[int, int] | None,
) -> bytes:
    """The elements drawn on their tray as the board export draws them; shrunk to ``size``
    if given."""
    png = render_png(cast(list[dict[str, Any]], elements), pictures.get, background)
    if size is None:
        return png
    image = Image.open(io.BytesIO(png))
    image.thumbnail(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
