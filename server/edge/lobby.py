"""The signalling WebSocket (``/ws``). Authenticated by the staff cookie or a join link,
bounded in size and rate; a bad message is answered with an error frame and the connection
stays up. See ``docs/protocol.md``."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from server.appkeys import (
    CATALOGUE,
    DATABASE,
    KEYRING,
    SCHEDULE,
    WHITEBOARDS,
)
from server.care.checklists import Kind
from server.care.gate import check_answer
from server.care.plan import Case
from server.crypto.sealed import seal
from server.edge.board import BoardOverSocket
from server.edge.observing import Observing
from server.exceptions import Forbidden, PlayroomError
from server.live.hub import about, person
from server.live.protocol import (
    Acknowledge,
    Admit,
    AllowClear,
    AskRating,
    BoardOpen,
    BoardOperation,
    CloseEscalation,
    Decline,
    EndRoom,
    Escalate,
    Flag,
    Incoming,
    Join,
    Leave,
    Lock,
    MediaState,
    ObjectsFrame,
    Observe,
    ObserverMedia,
    OpenRoom,
    Ping,
    PlanStepDone,
    ProtocolError,
    Quality,
    Rating,
    Remove,
    Resume,
    ServerSignal,
    Signal,
    ToWaiting,
    WaitingMessage,
    Watch,
)
from server.live.replies import (
    FlagRaised,
    Joined,
    Notice,
    PeerLeft,
    Pong,
    RoomOpened,
    Waiting,
    relayed,
)
from server.live.rooms import NAMES, LinkInUse, Participant, Role, Room, State
from server.live.sdp import check_sdp, sending
from server.storage.db import utcnow
from server.storage.models import JoinCheck, new_id
from server.storage.models import Role as StaffRole

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
RATE_PER_SECOND = 50


class Connection(Observing, BoardOverSocket):
    """One WebSocket, dispatching each message to its handler."""

    async def handle(self, message: Incoming) -> None:
        match message:
            case Signal():  # first: nearly every message is one (each ICE candidate)
                await self.signal(message)
            case Join():
                await self.join(message)
            case OpenRoom():
                await self.open_room(message)
            case Admit():
                await self.admit(message)
            case Decline():
                await self.decline(message)
            case ToWaiting():
                await self.to_waiting(message)
            case WaitingMessage():
                room, me = self._in_room()
                target = room.get(message.participant)
                if me.role is not Role.THERAPIST or target.state is not State.WAITING:
                    raise Forbidden("Only the therapist can message someone who is waiting.")
                await self.hub.send(target, Waiting(message=message.text))
            case Remove():
                await self.remove(message)
            case Lock():
                room, me = self._in_room()
                room.set_locked(me, message.locked)
                await self.hub.store_lock(room)  # before the therapist is answered
                await self.hub.lobby(room)
            case EndRoom():
                await self.end_room()
            case AllowClear():
                room, me = self._in_room()
                if me.role is not Role.THERAPIST:
                    raise Forbidden("Only the therapist decides who may clear the board.")
                board = await self.app[WHITEBOARDS].get(room.session_id, room.client_id)
                await board.allow_clear(message.allowed)
            case Escalate():
                await self.escalate(message)
            case Watch():
                await self.watch(message)
            case Acknowledge():
                await self.acknowledge(message)
            case CloseEscalation():
                await self.close_escalation(message)
            case PlanStepDone():
                await self.plan_step(message)
            case Resume():
                await self.resume(message)
            case Leave():
                await self.leave("left the session")
            case Flag():
                room, me = self._in_room() if self.me and self.me.in_room else self._waiting()
                if me.role not in (Role.YOUNG_PERSON, Role.PARENT):
                    raise Forbidden("Only the young person or a parent sends these signals.")
                if room.therapist is not None:
                    await self.hub.send(room.therapist, FlagRaised(sender=me.id, kind=message.kind))
                me.quick_exited = message.kind == "quick_exit"
                await self.record("flag.raised", {**about(me), "kind": message.kind})
                if me.role is Role.YOUNG_PERSON and message.kind in ("not_private", "quick_exit"):
                    await self.start_plan(room, me, Case(message.kind))
            case ServerSignal():
                await self.server_signal(message)
            case BoardOpen():
                await self.board_open(message)
            case BoardOperation():
                await self.board_operation(message)
            case ObjectsFrame():
                await self.board_objects(message)
            case MediaState():
                await self.media_state(message)
            case Quality():
                await self.quality(message)
            case AskRating():
                await self.ask_rating(message)
            case Rating():
                await self.rating(message)
            case Observe():
                await self.observe(message)
            case ObserverMedia():
                await self.observer_media(message)
            case Ping():
                await self.reply(Pong(n=message.n))

    def _waiting(self) -> tuple[Room, Participant]:
        if self.room is None or self.me is None or self.me.state is not State.WAITING:
            raise ProtocolError("not_joined", "Join first.")
        return self.room, self.me

    async def join(self, message: Join) -> None:
        if self.me is not None:
            raise ProtocolError("already_joined", "This connection has already joined.")
        self._check_checks(message.checks)
        schedule = self.app[SCHEDULE]
        link, appointment = await schedule.by_join_token(message.token)
        if utcnow() < link.not_before:
            raise ProtocolError(
                "too_early", "It is too early to join. Please come back nearer the time."
            )
        role = Role(link.role)
        if role is Role.YOUNG_PERSON:
            self._require_checks(message.checks)
        room = self.hub.rooms.get_or_create(
            appointment.id, appointment.relay_only, appointment.client_id
        )
        try:
            me = room.add(role, NAMES[role], link.id)
        except LinkInUse:
            if room.therapist is not None:
                await self.hub.send(
                    room.therapist,
                    Notice(
                        code="second_device",
                        message=f"Someone tried to join with the {NAMES[role].lower()}'s "
                        "link on a second device. They were refused.",
                    ),
                )
            raise
        self.room, self.me = room, me
        self.hub.bind(me, self.ws)
        await self._save_checks(appointment.id, link.id, message.checks)
        await self.record(
            "participant.joined",
            {"participant": me.id, "role": me.role.value, "checks_answered": len(message.checks)},
        )
        await self.reply(
            Joined(
                you=person(me),
                ice=self._ice(me, room.relay_only),
                starts_at=appointment.starts_at.isoformat(),
                ends_at=appointment.ends_at.isoformat(),
                resume=await self.hub.issue_resume(room, me),
            )
        )
        await self.reply(Waiting())
        await self.hub.lobby(room)
        if room.therapist is not None and message.checks:
            await self.hub.send(
                room.therapist,
                Notice(
                    code="checks",
                    message=f"{me.name} says: {self._checks_text(message.checks)}",
                    participant=me.id,
                ),
            )

    def _check_checks(self, checks: dict[str, str]) -> None:
        checklist = self.app[CATALOGUE][Kind.PRE_JOIN]
        for item_id, answer in checks.items():
            item = checklist.item(item_id)
            problem = "no such question" if item is None else check_answer(item, answer)
            if problem:
                raise ProtocolError("bad_checks", f"{item_id[:60]}: {problem}.")

    def _require_checks(self, checks: dict[str, str]) -> None:
        """A young person answers every question their checks require (where they are today
        above all: an escalation shows it), whatever their page let through."""
        missing = self.app[CATALOGUE][Kind.PRE_JOIN].unanswered(lambda i: checks.get(i, ""))
        if missing:
            prompts = " ".join(item.prompt for item in missing)
            raise ProtocolError("missing_checks", f"Please answer these first: {prompts}")

    def _checks_text(self, checks: dict[str, str]) -> str:
        """The pre-join answers in the checklist's own words."""
        checklist = self.app[CATALOGUE][Kind.PRE_JOIN]
        parts = []
        for item in checklist.items():
            if item.id in checks:
                parts.append(f"{item.prompt} {checks[item.id].replace('_', ' ')}")
        return "; ".join(parts)

    async def _save_checks(self, appointment_id: str, link_id: str, checks: dict[str, str]) -> None:
        if not checks:
            return
        row = JoinCheck(
            id=new_id(), appointment_id=appointment_id, link_id=link_id, created_at=utcnow()
        )
        seal(self.app[KEYRING], row, "answers_enc", json.dumps(checks, sort_keys=True))
        async with self.app[DATABASE].session() as session:
            session.add(row)

    async def open_room(self, message: OpenRoom) -> None:
        if self.user is None or self.user.role is not StaffRole.THERAPIST:
            raise Forbidden("Only the session's therapist opens the room.")
        if self.me is not None:
            raise ProtocolError("already_joined", "This connection is already in a room.")
        appointment = await self.app[SCHEDULE].open_room(self.user, message.session)
        room = self.hub.rooms.get_or_create(
            appointment.id, appointment.relay_only, appointment.client_id
        )
        if room.stored_locked is None:  # as the session's row has it (read just now)
            room.stored_locked = appointment.room_locked
        previous = room.therapist
        if previous is not None and previous.state in (State.INTERRUPTED, State.LOST):
            # the therapist's own page came back without its token (reloaded, slept too long)
            room.leave(previous, "the therapist opened the room again")
            await self.hub.forget(previous)
        elif previous is not None:
            raise PlayroomError("This room is already open in another window.")
        me = room.add(Role.THERAPIST, self.user.display_name)
        me.user_id = self.user.id
        self.room, self.me = room, me
        self.hub.bind(me, self.ws)
        await self.record("room.opened", {"participant": me.id})
        await self.reply(
            RoomOpened(
                session=appointment.id,
                you=person(me),
                ice=self._ice(me, False),
                resume=await self.hub.issue_resume(room, me),
            )
        )
        await self.hub.store_lock(room)  # a room opened afresh is unlocked, and stored so
        await self.hub.lobby(room)

    async def leave(self, cause: str) -> None:
        await self._close_server_peer()
        if self.room is None or self.me is None or self.me.state is State.LEFT:
            return
        room, me = self.room, self.me
        was_in_room = me.in_room
        room.leave(me, cause)
        await self.record("participant.left", {**about(me), "cause": cause})
        self.hub.unbind(me)
        await self.hub.forget(me)
        if me.role is Role.YOUNG_PERSON and was_in_room and not room.ended and not me.quick_exited:
            await self.start_plan(room, me, Case.LEFT)  # a client may leave unexpectedly
        if was_in_room:
            await self.hub.send_many(room.present(), PeerLeft(participant=me.id, reason=cause))
        await self.hub.lobby(room)
        if room.empty:
            self.hub.rooms.discard(room)

    async def signal(self, message: Signal) -> None:
        room, me = self._in_room()
        if not me.in_room:
            raise ProtocolError("not_in_room", "You are not in the room yet.")
        target = room.participants.get(message.to)
        if target is not None and target.state is State.INTERRUPTED:
            return  # they restart their connections when they are back
        if target is None or not target.in_room or target.id == me.id:
            raise ProtocolError("unknown_peer", "That person is not in this room.")
        if message.description is None and message.candidate is None:
            raise ProtocolError("bad_message", "A signal carries a description or a candidate.")
        if message.description is not None:
            unannounced = sending(check_sdp(message.description.sdp)) - me.announced
            if me.role is Role.OBSERVER and unannounced:
                raise ProtocolError(
                    "unannounced_media",
                    "Turn your microphone or camera on with its button, so that everyone is "
                    "told before you are seen or heard.",
                )
        await self.hub.send(target, relayed(me.id, message.description, message.candidate))
