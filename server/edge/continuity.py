"""Continuity: a dropped connection holds its place for a grace window, comes back with a
resume token straight into the room, or is lost; and the disconnection plan is walked when
a young person is lost, leaves, says "not private" or quick-exits.

Three signals feed each participant's state (``rooms.py``): the signalling socket (its
WebSocket heartbeat), the control channel's heartbeat on the data connection to the server,
and the browser's own reports of its connections' ICE states (``media_state``).
"""

from __future__ import annotations

import asyncio
import logging

from server.appkeys import DATABASE, GATEKEEPER, SETTINGS
from server.care.plan import Case, as_message_steps, steps_for
from server.edge.connection import ConnectionBase
from server.exceptions import Forbidden
from server.live.hub import about, person
from server.live.protocol import MediaState, PlanStepDone, ProtocolError, Resume
from server.live.replies import PeerLeft, PeerState, PlanRecorded, PlanStarted, Resumed, Waiting
from server.live.rooms import NAMES, Participant, Role, Room, State
from server.storage.db import utcnow
from server.storage.models import Appointment, Link, PlanStep, new_id

log = logging.getLogger(__name__)


class Continuity(ConnectionBase):
    """The handlers that keep a session going through dropped connections."""

    async def resume(self, message: Resume) -> None:
        """Back within the grace window: straight to where they were, no waiting room.

        Their media connections are kept: the page restarts ICE with everyone present."""
        if self.me is not None:
            raise ProtocolError("already_joined", "This connection is already in a room.")
        found = self.hub.find_resumable(message.token) or await self._restore(message.token)
        if found is None:
            raise ProtocolError("bad_resume", "That session can no longer be resumed. Join again.")
        room, me = found
        if me.state is not State.INTERRUPTED or "socket" not in me.interruptions:
            raise ProtocolError("resume_in_use", "That place is in use on another connection.")
        if me.role is Role.THERAPIST and (self.user is None or self.user.id != me.user_id):
            raise ProtocolError("bad_resume", "Sign in again to come back to the room.")
        if me.link_id is not None and not await self._link_still_works(me.link_id, room):
            raise ProtocolError("bad_resume", "This link no longer works. Ask for a new one.")
        task = self.hub.grace.pop(me.id, None)
        if task is not None:
            task.cancel()
        if me.role is Role.THERAPIST and self.user is not None:
            me.name = self.user.display_name
        room.resume(me)
        self.room, self.me = room, me
        await self.record("participant.reconnected", {**about(me), "cause": "resumed"})
        self.hub.bind(me, self.ws)
        others = [p for p in room.present() if p.id != me.id]
        await self.reply(
            Resumed(
                you=person(me),
                ice=self._ice(me, room.relay_only),
                resume=await self.hub.issue_resume(room, me),
                present=[] if me.was_waiting else [person(p) for p in others],
            )
        )
        watching = [p for p in room.participants.values() if p.id != me.id and p.in_room]
        await self.hub.send_many(
            watching, PeerState(participant=me.id, state="reconnected", role=me.role.value)
        )
        if me.was_waiting:
            await self.reply(Waiting())
        await self.hub.lobby(room)

    async def _restore(self, token: str) -> tuple[Room, Participant] | None:
        """A token from before this process held the room (a restart, a crash, or the room
        taken over from a node that died): rebuild its room from the places kept in the
        database, everyone interrupted, each with what is left of the grace window counted
        from when the room was last live."""
        grace = self.app[SETTINGS].reconnect_grace_seconds
        places = self.hub.places
        place = await self.hub.find_place(token) if places is not None else None
        if places is None or place is None:
            return None
        left = self.hub.left_of(grace, place.appointment_id)
        if left <= 0:
            return None
        async with self.app[DATABASE].session() as session:
            appointment = await session.get(Appointment, place.appointment_id)
        if appointment is None or appointment.status in ("ended", "cancelled"):
            return None
        rebuilt = appointment.id not in self.hub.rooms.by_session
        room = self.hub.rooms.get_or_create(
            appointment.id, appointment.relay_only, appointment.client_id
        )
        if room.stored_locked is None:  # as the therapist left it (the board reloads its own)
            room.locked = room.stored_locked = appointment.room_locked
        if rebuilt:  # once, however many come back at the same moment
            after = "a server restart" if self.hub.bus.node_id == "local" else "a node failure"
            await self.record("room.restored", {"after": after}, actor="system", room=room)
        for row in await places.of_room(appointment.id):
            if row.participant_id in room.participants:
                continue
            role = Role(row.role)
            held = self.hub.put_back(room, row, NAMES.get(role, "Therapist"))
            self.hub.grace[held.id] = asyncio.create_task(self._lose_after(room, held, left))
        log.info("room restored", extra={"event": "room_restored", "count": len(room.participants)})
        return self.hub.find_resumable(token)

    async def _link_still_works(self, link_id: str, room: Room) -> bool:
        """A withdrawn link, or an ended session, stops a resume too."""
        async with self.app[DATABASE].session() as session:
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
        if self.room is None or self.me is None or self.room.moved:
            return  # a room that moved to another node is held there
        room, me = self.room, self.me
        self.hub.unbind(me)
        if not await self._interrupted("socket", "connection dropped"):
            return
        grace = self.app[SETTINGS].reconnect_grace_seconds
        self.hub.grace[me.id] = asyncio.create_task(self._lose_after(room, me, grace))

    async def media_state(self, message: MediaState) -> None:
        """The browser's report of one of its connections (to a person, or to the server)."""
        room, me = self._in_room()
        if message.peer != "server" and message.peer not in room.participants:
            raise ProtocolError("unknown_peer", "That person is not in this room.")
        if me.links.get(message.peer) == message.state:
            return
        if message.peer not in me.links and len(me.links) > len(room.participants):
            raise ProtocolError("bad_message", "Too many connections reported.")
        me.links[message.peer] = message.state
        log.info(
            "media link %s",
            message.state,
            extra={
                "event": "media_state",
                "role": me.role.value,
                "route": "server" if message.peer == "server" else "peer",
            },
        )
        if message.state == "connected":
            if room.media_connected(me, f"{self._link_name(message.peer)} connected"):
                await self.hub.lobby(room)
            if message.peer == "server":
                await self._recovered("link", "the server link connected again")
        elif message.peer == "server" and message.state in ("disconnected", "failed"):
            await self._interrupted("link", f"the browser says the server link {message.state}")

    @staticmethod
    def _link_name(peer: str) -> str:
        return "the server link" if peer == "server" else "media"

    def control_heard(self) -> None:
        """A heartbeat on the control channel: restart the silence timer."""
        if self._control_timer is not None:
            self._control_timer.cancel()
        timeout = self.app[SETTINGS].control_timeout_seconds
        self._control_timer = asyncio.get_running_loop().call_later(
            timeout, self._control_silent, timeout
        )
        if self.me is not None and "control" in self.me.interruptions:
            self._spawn(self._recovered("control", "the control channel is heard again"))

    def _control_silent(self, timeout: float) -> None:
        self._control_timer = None
        if self.me is not None and self.server_peer is not None:
            cause = f"no heartbeat on the control channel for {timeout:g} s"
            self._spawn(self._interrupted("control", cause))

    async def _interrupted(self, kind: str, cause: str) -> bool:
        """One of their connections went quiet; the others see "reconnecting..."."""
        if self.room is None or self.me is None:
            return False
        room, me = self.room, self.me
        before = me.state
        if not room.interrupt(me, kind, cause):
            return False
        await self.record("participant.interrupted", {**about(me), "cause": cause})
        if before is not State.INTERRUPTED:
            state = PeerState(participant=me.id, state="interrupted", role=me.role.value)
            await self.hub.send_many(
                [p for p in room.participants.values() if p.in_room and p.id != me.id], state
            )
            await self.hub.lobby(room)
        return True

    async def _recovered(self, kind: str, cause: str) -> None:
        if self.room is None or self.me is None:
            return
        room, me = self.room, self.me
        if room.recover(me, kind, cause):
            await self.record("participant.reconnected", {**about(me), "cause": cause})
            state = PeerState(participant=me.id, state="reconnected", role=me.role.value)
            await self.hub.send_many([p for p in room.present() if p.id != me.id], state)
            await self.hub.lobby(room)

    async def start_plan(self, room: Room, person: Participant, case: Case) -> None:
        """Send the therapist the disconnection plan's steps for ``case``."""
        therapist = room.therapist
        if therapist is None or room.ended:
            return
        answers = await self.app[GATEKEEPER].plan_answers(room.client_id)
        await self.record(
            "plan.started", {**about(person), "case": case.value}, actor="system", room=room
        )
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
        async with self.app[DATABASE].session() as session:
            session.add(row)
        await self.record(
            "plan.step", {"case": message.case, "step": message.step, "outcome": message.outcome}
        )
        await self.reply(
            PlanRecorded(case=message.case, step=message.step, outcome=message.outcome)
        )

    async def _lose_after(self, room: Room, me: Participant, grace: float) -> None:
        await asyncio.sleep(grace)  # the grace window itself, not a wait for anything else
        cause = f"not back within the {grace:g} s grace window"
        if not room.lose(me, cause):
            return
        await self.record(
            "participant.lost", {**about(me), "cause": cause}, actor="system", room=room
        )
        await self.hub.forget(me)
        lost = PeerState(participant=me.id, state="lost", role=me.role.value)
        await self.hub.send_many(
            [p for p in room.participants.values() if p.in_room or p.state is State.WAITING], lost
        )
        if not me.was_waiting:
            await self.hub.send_many(room.present(), PeerLeft(participant=me.id, reason="lost"))
        await self.hub.lobby(room)
        if me.role is Role.YOUNG_PERSON:
            await self.start_plan(room, me, Case.LOST)
        if room.empty:  # the last one gone: the room and its board leave memory
            self.hub.rooms.discard(room)
