"""The therapist's hand on the room: admitting, declining, sending back to the waiting room,
removing, ending; and asking the young person how the session was."""

from __future__ import annotations

from server.appkeys import OUTCOMES, SCHEDULE, SESSION_LOG
from server.edge.escalation import Escalating
from server.exceptions import Forbidden, PlayroomError
from server.live.hub import about, person
from server.live.protocol import (
    Admit,
    AskRating,
    Decline,
    ProtocolError,
    Quality,
    Rating,
    Remove,
    ToWaiting,
)
from server.live.quality import record_sample, write_summaries
from server.live.replies import (
    Admitted,
    Declined,
    Notice,
    PeerJoined,
    PeerLeft,
    RatingRequest,
    Removed,
    RoomEnded,
    Waiting,
)
from server.live.rooms import Role, State


class Hosting(Escalating):
    async def admit(self, message: Admit) -> None:
        room, me = self._in_room()
        newcomer = room.admit(me, message.participant)
        await self.hub.moved(newcomer)
        await self.record("participant.admitted", about(newcomer))
        others = list(room.peers_of(newcomer))
        await self.hub.send(newcomer, Admitted(present=[person(p) for p in others]))
        await self.hub.send_many(others, PeerJoined(participant=person(newcomer)))
        await self.hub.lobby(room)

    async def decline(self, message: Decline) -> None:
        room, me = self._in_room()
        if me.role is not Role.THERAPIST:
            raise Forbidden("Only the therapist can do that.")
        target = room.get(message.participant)
        if target.state is not State.WAITING:
            raise PlayroomError("That person is not waiting.")
        room.leave(target, "declined by the therapist")
        await self.record("participant.declined", about(target))
        await self.hub.send(target, Declined(message=message.message))
        await self.hub.disconnect(target)
        await self.hub.lobby(room)

    async def to_waiting(self, message: ToWaiting) -> None:
        room, me = self._in_room()
        target = room.send_to_waiting(me, message.participant)
        await self.hub.moved(target)
        await self.record("participant.sent_to_waiting", about(target))
        await self._drop_from_board(room, target.id)
        await self.hub.send(target, Waiting())
        await self.hub.send_many(
            room.peers_of(target), PeerLeft(participant=target.id, reason="waiting room")
        )
        await self.hub.lobby(room)

    async def remove(self, message: Remove) -> None:
        room, me = self._in_room()
        target = room.remove(me, message.participant, "removed by the therapist")
        await self.record("participant.removed", about(target))
        await self._drop_from_board(room, target.id)
        await self.hub.send(target, Removed())
        await self.hub.disconnect(target)
        await self.hub.send_many(room.present(), PeerLeft(participant=target.id, reason="removed"))
        await self.hub.lobby(room)

    async def end_room(self) -> None:
        room, me = self._in_room()
        everyone = room.end(me)
        assert self.user is not None
        await write_summaries(self.app[SESSION_LOG], room)  # before the log is sealed
        await self.app[SCHEDULE].end(self.user, room.session_id)  # links stop working
        await self.hub.send_many(everyone, RoomEnded())
        for participant in room.participants.values():  # no place is held in an ended room
            await self.hub.forget(participant)
        self.hub.rooms.discard(room)
        # this connection's own socket last: closing it may end this very handler
        for participant in sorted(everyone, key=lambda p: p is me):
            await self.hub.disconnect(participant)

    async def quality(self, message: Quality) -> None:
        room, me = self._in_room()
        if message.peer not in room.participants or message.peer == me.id:
            raise ProtocolError("unknown_peer", "That person is not in this room.")
        record_sample(me, message.peer, message.rtt_ms, message.loss)

    async def ask_rating(self, message: AskRating) -> None:
        """Near the end: the young person is asked, with four faces, how today was."""
        room, me = self._in_room()
        if me.role is not Role.THERAPIST:
            raise Forbidden("Only the therapist asks for a rating.")
        young = [p for p in room.present() if p.role is Role.YOUNG_PERSON]
        if not young:
            raise PlayroomError("The young person is not in the room.")
        await self.hub.send_many(young, RatingRequest())

    async def rating(self, message: Rating) -> None:
        room, me = self._in_room()
        if me.role is not Role.YOUNG_PERSON or not me.in_room:
            raise Forbidden("Only the young person rates the session.")
        await self.app[OUTCOMES].rating(room.session_id, me.id, message.score)
        await self.reply(Notice(code="rating_saved", message="Thank you for telling us."))
        if room.therapist is not None:
            await self.hub.send(
                room.therapist,
                Notice(
                    code="rating",
                    message=f"The young person rated today {message.score} of 4.",
                    participant=me.id,
                ),
            )
