"""What every signalling connection holds and needs: who is speaking, in which room, the
ICE configuration, and its data connection to the server (board, objects, control)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from media.server_peer import ServerPeer
from media.turn import ice_config
from server.access.accounts import StaffView
from server.access.ratelimit import RateLimiter
from server.appkeys import HUB, SESSION_LOG, SETTINGS, WHITEBOARDS
from server.board.service import Member
from server.live.hub import Hub, Socket
from server.live.protocol import (
    Description,
    Message,
    ProtocolError,
    ServerSignal,
    dump_message,
)
from server.live.replies import (
    ServerAnswer,
)
from server.live.rooms import Participant, Role, Room, State
from server.live.sdp import check_sdp
from server.records.sessionlog import participant_actor, session_stream, staff_actor

MESSAGES_PER_SECOND = 50  # every message but the board's (which the board limits itself)


class ConnectionBase:
    """One WebSocket: who is speaking, in which room, and what every handler needs."""

    def __init__(self, app: web.Application, ws: Socket, user: StaffView | None) -> None:
        self.app = app
        self.ws = ws
        self.user = user
        self.hub: Hub = app[HUB]
        self.room: Room | None = None
        self.me: Participant | None = None
        self.server_peer: ServerPeer | None = None
        self._control_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.limiter = RateLimiter(MESSAGES_PER_SECOND, 1, burst=MESSAGES_PER_SECOND, max_keys=1)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` beside the message loop, holding a reference until it ends."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def record(
        self,
        kind: str,
        details: dict[str, Any] | None = None,
        *,
        actor: str | None = None,
        room: Room | None = None,
    ) -> None:
        """Append to the session's log: what happened, and who did it (this connection's
        person unless ``actor`` says otherwise)."""
        room = room or self.room
        if room is None:
            return
        if actor is None:
            if self.me is not None and self.me.role in (Role.YOUNG_PERSON, Role.PARENT):
                actor = participant_actor(self.me.role.value, self.me.id)
            else:
                actor = staff_actor(self.user.id) if self.user else "system"
        await self.app[SESSION_LOG].append(session_stream(room.session_id), kind, actor, details)

    def control_heard(self) -> None:
        """A heartbeat on the control channel (``continuity.py`` keeps the watchdog)."""

    async def reply(self, message: Message) -> None:
        await self.ws.send_str(dump_message(message))

    def _ice(self, participant: Participant, relay_only: bool) -> dict[str, object]:
        settings = self.app[SETTINGS]
        secret = settings.turn_secret.get_secret_value() if settings.turn_secret else None
        return ice_config(
            participant.id,
            settings.stun_urls,
            settings.turn_urls,
            secret,
            settings.turn_ttl_seconds,
            relay_only,
        )

    def _in_room(self) -> tuple[Room, Participant]:
        if self.room is None or self.me is None or self.me.state is State.LEFT:
            raise ProtocolError("not_joined", "Join or open a room first.")
        return self.room, self.me

    async def _close_server_peer(self) -> None:
        if self._control_timer is not None:
            self._control_timer.cancel()
            self._control_timer = None
        if self.server_peer is not None:
            peer, self.server_peer = self.server_peer, None
            await peer.close()

    async def _drop_from_board(self, room: Room, participant_id: str) -> None:
        """Whoever leaves the room stops receiving the board at once."""
        board = self.app[WHITEBOARDS].boards.get(room.session_id)
        member = board.members.get(participant_id) if board else None
        if member is not None:
            await member.peer.close()

    def board_author(self, me: Participant) -> str:
        """Who draws, stable across reconnects: the join link, or the staff account."""
        return me.link_id or f"staff:{self.user.id if self.user else me.id}"

    async def server_signal(self, message: ServerSignal) -> None:
        """The data connection to the server (board, objects, control)."""
        room, me = self._in_room()
        if not me.in_room:
            raise ProtocolError("not_in_room", "You are not in the room yet.")
        if me.role is Role.OBSERVER:
            raise ProtocolError("observer", "An observer watches; the board is not theirs.")
        if message.description is not None:
            if message.description.type != "offer":
                raise ProtocolError("bad_message", "The browser offers; the server answers.")
            check_sdp(message.description.sdp)
            await self._close_server_peer()
            whiteboards = self.app[WHITEBOARDS]
            board = await whiteboards.get(room.session_id, room.client_id)
            pid = me.id

            async def on_message(label: str, data: str | bytes) -> None:
                if label == "control" and self.server_peer is peer:
                    self.control_heard()
                await board.message(pid, label, data)

            async def on_open(label: str) -> None:
                await board.opened(pid, label)

            async def on_gone(peer: ServerPeer) -> None:
                board.leave(pid, peer)
                whiteboards.peers.discard(peer)

            if not me.in_room:  # sent to the waiting room while this was being set up
                raise ProtocolError("not_in_room", "You are not in the room.")
            peer = ServerPeer(pid, on_message, on_open, on_gone)
            whiteboards.peers.add(peer)
            board.join(pid, Member(self.board_author(me), me.role is Role.THERAPIST, peer))
            self.server_peer = peer
            answer = await peer.answer(message.description.sdp)
            await self.reply(ServerAnswer(description=Description(type="answer", sdp=answer)))
        elif message.candidate is not None and self.server_peer is not None:
            c = message.candidate
            await self.server_peer.add_candidate(c.candidate, c.sdpMid, c.sdpMLineIndex)
