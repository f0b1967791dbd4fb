"""Continuity: a dropped connection holds its place for a grace window, comes back with a
resume token straight into the room, or is lost; and the disconnection plan is walked when
a young person is lost, leaves, says "not private" or quick-exits."""

from __future__ import annotations

import asyncio

from server.appkeys import DATABASE, GATEKEEPER, SETTINGS
from server.connection import ConnectionBase
from server.db import utcnow
from server.exceptions import Forbidden
from server.hub import person
from server.models import Appointment, Link, PlanStep, new_id
from server.plan import Case, as_message_steps, steps_for
from server.protocol import (
    Admitted,
    PeerJoined,
    PeerLeft,
    PeerState,
    PlanRecorded,
    PlanStarted,
    PlanStepDone,
    ProtocolError,
    Resume,
    Resumed,
    Waiting,
)
from server.rooms import Participant, Role, Room, State


class Continuity(ConnectionBase):
    """The handlers that keep a session going through dropped connections."""

    async def resume(self, message: Resume) -> None:
        """Back within the grace window: straight to where they were, no waiting room."""
        if self.me is not None:
            raise ProtocolError("already_joined", "This connection is already in a room.")
        found = self.hub.find_resumable(message.token)
        if found is None:
            raise ProtocolError("bad_resume", "That session can no longer be resumed. Join again.")
        room, me = found
        if me.state is not State.INTERRUPTED:
            raise ProtocolError("resume_in_use", "That place is in use on another connection.")
        if me.role is Role.THERAPIST and (self.user is None or self.user.id != me.user_id):
            raise ProtocolError("bad_resume", "Sign in again to come back to the room.")
        if me.link_id is not None and not await self._link_still_works(me.link_id, room):
            raise ProtocolError("bad_resume", "This link no longer works. Ask for a new one.")
        task = self.hub.grace.pop(me.id, None)
        if task is not None:
            task.cancel()
        room.resume(me)
        self.room, self.me = room, me
        self.hub.bind(me, self.ws)
        await self.reply(
            Resumed(
                you=person(me),
                ice=self._ice(me, room.relay_only),
                resume=self.hub.issue_resume(room, me),
            )
        )
        others = [p for p in room.present() if p.id != me.id]
        await self.hub.send_many(
            others, PeerState(participant=me.id, state="reconnected", role=me.role.value)
        )
        if me.was_waiting:
            await self.reply(Waiting())
        else:
            # their old media connections are gone: the others drop theirs, and they offer again
            await self.hub.send_many(others, PeerLeft(participant=me.id, reason="reconnecting"))
            await self.reply(Admitted(present=[person(p) for p in others]))
            await self.hub.send_many(others, PeerJoined(participant=person(me)))
        await self.hub.lobby(room)

    async def _link_still_works(self, link_id: str, room: Room) -> bool:
        """A withdrawn link, or an ended session, stops a resume too."""
        async with self.request.app[DATABASE].session() as session:
            link = await session.get(Link, link_id)
            appointment = await session.get(Appointment, room.session_id)
        return (
            link is not None
            and link.revoked_at is None
            and utcnow() < link.expires_at
            and appointment is not None
            and appointment.status not in ("ended", "cancelled")
        )

    async def dropped(self) -> None:
        """The socket closed without a goodbye: hold their place for the grace window."""
        await self._close_server_peer()
        if self.room is None or self.me is None:
            return
        room, me = self.room, self.me
        self.hub.unbind(me)
        if not room.interrupt(me, "connection dropped"):
            return
        state = PeerState(participant=me.id, state="interrupted", role=me.role.value)
        await self.hub.send_many([p for p in room.participants.values() if p.in_room], state)
        await self.hub.lobby(room)
        grace = self.request.app[SETTINGS].reconnect_grace_seconds
        self.hub.grace[me.id] = asyncio.create_task(self._lose_after(room, me, grace))

    async def start_plan(self, room: Room, person: Participant, case: Case) -> None:
        """Send the therapist the disconnection plan's steps for ``case``."""
        therapist = room.therapist
        if therapist is None or room.ended:
            return
        answers = await self.request.app[GATEKEEPER].plan_answers(room.client_id)
        await self.hub.send(
            therapist,
            PlanStarted(
                participant=person.id,
                case=case.value,
                steps=as_message_steps(steps_for(case, answers)),
            ),
        )

    async def plan_step(self, message: PlanStepDone) -> None:
        room, me = self._in_room()
        if me.role is not Role.THERAPIST or self.user is None:
            raise Forbidden("Only the therapist records the plan's steps.")
        row = PlanStep(
            id=new_id(),
            appointment_id=room.session_id,
            case=message.case,
            step=message.step,
            outcome=message.outcome,
            recorded_by=self.user.id,
            created_at=utcnow(),
        )
        async with self.request.app[DATABASE].session() as session:
            session.add(row)
        await self.reply(
            PlanRecorded(case=message.case, step=message.step, outcome=message.outcome)
        )

    async def _lose_after(self, room: Room, me: Participant, grace: float) -> None:
        await asyncio.sleep(grace)  # the grace window itself, not a wait for anything else
        if not room.lose(me, f"not back within {grace:g} s"):
            return
        self.hub.forget(me)
        lost = PeerState(participant=me.id, state="lost", role=me.role.value)
        await self.hub.send_many(
            [p for p in room.participants.values() if p.in_room or p.state is State.WAITING], lost
        )
        if not me.was_waiting:
            await self.hub.send_many(room.present(), PeerLeft(participant=me.id, reason="lost"))
        await self.hub.lobby(room)
        if me.role is Role.YOUNG_PERSON:
            await self.start_plan(room, me, Case.LOST)
