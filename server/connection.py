"""What every signalling connection holds and needs: who is speaking, in which room, the
ICE configuration, and its data connection to the server."""

from __future__ import annotations

from aiohttp import web

from media.server_peer import ServerPeer
from media.turn import ice_config
from server.accounts import StaffView
from server.appkeys import HUB, SETTINGS
from server.hub import Hub
from server.protocol import Message, ProtocolError, dump_message
from server.rooms import Participant, Room, State


class ConnectionBase:
    """One WebSocket: who is speaking, in which room, and what every handler needs."""

    def __init__(
        self, request: web.Request, ws: web.WebSocketResponse, user: StaffView | None
    ) -> None:
        self.request = request
        self.ws = ws
        self.user = user
        self.hub: Hub = request.app[HUB]
        self.room: Room | None = None
        self.me: Participant | None = None
        self.server_peer: ServerPeer | None = None

    async def reply(self, message: Message) -> None:
        await self.ws.send_str(dump_message(message))

    def _ice(self, participant: Participant, relay_only: bool) -> dict[str, object]:
        settings = self.request.app[SETTINGS]
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
        if self.server_peer is not None:
            peer, self.server_peer = self.server_peer, None
            await peer.close()
