"""One signalling socket's state: who is speaking, in which room, their links to the room's
board (a data connection to the server, or this socket), and what every handler needs.

Handlers are plain functions of a ``Connection`` and a message (``lobby.py``, ``hosting.py``,
``continuity.py``, ``escalation.py``, ``observing.py``, ``board.py``, ``live.py``), registered
by message type in ``dispatch.py``. This class holds state and the few helpers they share; it
touches no database (services do)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from aiohttp import web

from media.server_peer import ServerPeer
from media.turn import ice_config
from server.access.accounts import StaffView
from server.access.ratelimit import RateLimiter
from server.appkeys import CLIENTS, HUB, SESSION_LOG, SETTINGS, WHITEBOARDS
from server.audit.sessionlog import participant_actor, session_stream, staff_actor
from server.exceptions import ProtocolError
from server.live.hub import Hub, Socket, person
from server.live.protocol import Message, dump_message
from server.live.replies import Joined
from server.live.rooms import NAMES, Participant, Role, Room, State
from server.storage.models import Appointment

if TYPE_CHECKING:
    from server.edge.board import SocketLink
    from server.edge.live import Outbox

log = logging.getLogger(__name__)

# every message but the board's (which the board limits itself) and ``live`` (coalesced)
MESSAGES_PER_SECOND = 50

# a module's handlers, by the type of message each handles (``dispatch.py`` joins them)
Handlers = dict[type[Any], Callable[["Connection", Any], Awaitable[None]]]


class Connection:
    """One WebSocket: who is speaking, in which room, and what every handler needs."""

    def __init__(self, app: web.Application, ws: Socket, user: StaffView | None) -> None:
        self.app = app
        self.ws = ws
        self.user = user
        self.hub: Hub = app[HUB]
        self.room: Room | None = None
        self.me: Participant | None = None
        # the member's link to the room's board: their data connection, or this socket
        self.server_peer: ServerPeer | None = None
        self.board_link: SocketLink | None = None
        # the socket's link that handed the board over, still writing what it was sent
        self.board_handed: SocketLink | None = None
        self.board_reopens: RateLimiter | None = None
        self.control_timer: asyncio.TimerHandle | None = None
        self.limiter = RateLimiter(MESSAGES_PER_SECOND, 1, burst=MESSAGES_PER_SECOND, max_keys=1)
        self.live: Outbox | None = None  # a moving hand's updates, waiting to go (``live.py``)
        # the ``id`` of the frame being handled (``dispatch.py``): what ``reply`` sends
        # meanwhile answers it, and says so
        self.answering: str | None = None
        # the length of the frame being handled, as text (``dispatch.read``); None: not known
        self.frame_chars: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
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
            if self.me is not None and self.me.role in (Role.YOUNG_PERSON, Role.PARENT, Role.GUEST):
                actor = participant_actor(self.me.role.value, self.me.id)
            else:
                actor = staff_actor(self.user.id) if self.user else "system"
        await self.app[SESSION_LOG].append(session_stream(room.session_id), kind, actor, details)

    async def reply(self, message: Message) -> None:
        """Send this connection's own person a message: while a frame is handled, an answer
        to it, with its ``id``."""
        if self.answering is not None:
            message = message.model_copy(update={"id": self.answering})
        try:
            await self.ws.send_str(dump_message(message))
        except (ConnectionError, RuntimeError):
            # the page is closing (a quick exit sends ``flag`` and ``leave`` as it goes): its
            # frames already here are still read and handled, only the answers are lost
            log.info("answer to a closing socket dropped", extra={"event": "reply_dropped"})

    async def name_for(self, room: Room, role: Role, client_id: str) -> str:
        """What the room calls someone who came with a join link: their role; in a group's
        session, which member (their chosen name, or whose parent), so that the therapist
        and the group tell them apart."""
        if not room.group or not client_id:
            return NAMES[role]
        return await self.member_name(role, client_id)

    async def member_name(self, role: Role, client_id: str) -> str:
        """What a group's room calls a member (their chosen name), or their parent."""
        name = await self.app[CLIENTS].display_name(client_id)
        return name if role is Role.YOUNG_PERSON else f"{NAMES[role]} of {name}"

    async def welcome(self, room: Room, me: Participant, appointment: Appointment) -> None:
        """Tell someone who came in through a link or as an observer where they are: their
        place, their ICE servers, the session's times and their resume token."""
        await self.reply(
            Joined(
                you=person(me),
                ice=self.ice(me, room.relay_only),
                starts_at=appointment.starts_at.isoformat(),
                ends_at=appointment.ends_at.isoformat(),
                resume=await self.hub.issue_resume(room, me),
            )
        )

    def ice(self, participant: Participant, relay_only: bool) -> dict[str, object]:
        """The ICE servers for ``participant``'s browser (TURN credentials made for them)."""
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

    def in_room(self) -> tuple[Room, Participant]:
        """The room and person of this connection: joined, waiting or in the room."""
        if self.room is None or self.me is None or self.me.state is State.LEFT:
            raise ProtocolError("not_joined", "Join or open a room first.")
        return self.room, self.me

    def waiting(self) -> tuple[Room, Participant]:
        """The room and person of this connection, in its waiting room."""
        if self.room is None or self.me is None or self.me.state is not State.WAITING:
            raise ProtocolError("not_joined", "Join first.")
        return self.room, self.me

    def on_board(self) -> tuple[Room, Participant]:
        """The room and person, admitted into the room and not an observer: the rule for
        the board on either link."""
        room, me = self.in_room()
        if not me.in_room:
            raise ProtocolError("not_in_room", "You are not in the room yet.")
        if me.role is Role.OBSERVER:
            raise ProtocolError("observer", "An observer watches; the board is not theirs.")
        return room, me

    def board_author(self, me: Participant) -> str:
        """Who draws, stable across reconnects: the join link, or the staff account."""
        return me.link_id or f"staff:{self.user.id if self.user else me.id}"

    def let_go(self) -> None:
        """Another socket speaks for this person now (a resume took their place over): this
        connection no longer does, whatever it still sends, and its end is no drop. Its links
        to the board close; the board keeps whatever link the new socket opens."""
        self.room = self.me = None
        self.spawn(self.close_board_links())

    async def close_board_links(self) -> None:
        """Close this person's links to the board (data connection and socket) and stop
        listening for the data connection's heartbeat."""
        await self.close_server_peer()
        for link in (self.board_link, self.board_handed):
            if link is not None:
                await link.close()
        self.board_link = self.board_handed = None

    async def close_server_peer(self) -> None:
        """Close this person's data connection to the server, and stop listening for its
        heartbeat."""
        if self.control_timer is not None:
            self.control_timer.cancel()
            self.control_timer = None
        if self.server_peer is not None:
            peer, self.server_peer = self.server_peer, None
            await peer.close()

    async def drop_from_board(self, room: Room, participant_id: str) -> None:
        """Whoever leaves the room stops receiving the board at once."""
        board = self.app[WHITEBOARDS].boards.get(room.session_id)
        member = board.members.get(participant_id) if board else None
        if member is not None:
            await member.peer.close()
            if member.handed_from is not None:  # what it had yet to write goes unwritten
                await member.handed_from.close()
