"""A small Python client that speaks Playroom's signalling protocol with real WebRTC
(aiortc): it joins with a link or opens a room as the therapist, and sends synthetic audio
and video. Used by the tests and the benchmarks.

The newcomer offers to everyone already in the room; the others answer. aiortc gathers all
its candidates before it answers, so its descriptions carry them; candidates trickled by
browsers are accepted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from aiohttp import ClientWebSocketResponse, WSMsgType
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp

from media.replica import Replica
from tests.comeback import come_back, restart_after
from tests.synthetic import SyntheticAudio, SyntheticVideo

log = logging.getLogger(__name__)


class ProtocolPeer:
    """One participant: a signalling socket plus one RTCPeerConnection per other person.

    ``board="socket"`` carries the board over the signalling socket (``board_open``,
    ``board`` and ``objects`` frames) instead of a data connection to the server: the board
    and its pictures, but no control channel. ``board="page"`` does what a page does: it opens
    the board on the socket and offers the data connection beside it, which takes the board
    over, and applies what comes on both in ``seq`` order.

    A copy of the board kept across a reconnect (``open_board(resume=True)``) tells the
    server the ``seq`` it holds, and the pictures it lacks; what came on each link is kept
    in ``received``, and the ``seq`` of each change applied in ``applied``."""

    def __init__(
        self,
        ws: ClientWebSocketResponse,
        media: bool = True,
        board: Literal["channel", "socket", "page"] = "channel",
    ) -> None:
        self.ws = ws
        self.media = media
        self.board_over = board
        self.me: dict[str, Any] | None = None
        # the newest resume token the server gave (``joined``, ``room_opened``, ``resumed``)
        self.resume_token: str | None = None
        self.pcs: dict[str, RTCPeerConnection] = {}
        self.frames: dict[str, dict[str, int]] = {}  # peer id -> kind -> frames decoded
        self.inbox: list[dict[str, Any]] = []
        self.data_pc: RTCPeerConnection | None = None
        self.channels: dict[str, RTCDataChannel] = {}
        self.board = Replica()
        self.board_errors: list[dict[str, Any]] = []
        self.object_messages: list[dict[str, Any]] = []
        self.objects: dict[str, bytes] = {}
        self.pictures_received: list[tuple[str, str]] = []  # (link, object id), as they came
        self.pongs = 0  # answers to the control channel's heartbeat
        self.change_times: dict[int, float] = {}  # seq -> when it arrived (monotonic)
        self.on_change: Callable[[dict[str, Any]], None] | None = None  # each change, on arrival
        self.received: list[tuple[str, str, int | None]] = []  # (link, type, seq) of board
        self.applied: list[int] = []  # each change applied, by its seq
        self.took_over = False  # the data connection sent its first board message
        self._incoming_object: tuple[str, list[bytes]] | None = None
        self._socket_object: tuple[str, list[bytes]] | None = None
        self._snapshot = False  # the board is up to date: a snapshot, or ``caught_up``
        self._awaiting = False  # a snapshot is asked for: changes wait for it
        self._ahead: dict[int, dict[str, Any]] = {}  # changes past a gap, by seq
        self._parts: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[str] = asyncio.Queue()  # board frames, in order
        self._writer: asyncio.Task[None] | None = None
        self._reader = asyncio.create_task(self._read())

    # -- signalling

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps({"v": 1, **message}))

    async def _read(self) -> None:
        async for frame in self.ws:
            if frame.type is not WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            if message["type"] == "board":  # the board over the socket: not kept in the inbox
                if self.board_over != "channel":  # read on after a hand-over, as a page does
                    self._board_message(message["message"], "socket")
                async with self._changed:
                    self._changed.notify_all()
                continue
            if message["type"] == "objects":  # its pictures: as on the objects channel
                if self.board_over == "channel":
                    continue
                chunk = message.get("chunk")
                self._on_objects(
                    base64.b64decode(chunk)
                    if chunk is not None
                    else json.dumps(message["message"]),
                    "socket",
                )
                continue
            self.resume_token = message.get("resume") or self.resume_token
            await self._dispatch(message)
            async with self._changed:
                self.inbox.append(message)
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    async def come_back(
        self, connect: Callable[[], Awaitable[ClientWebSocketResponse]]
    ) -> ProtocolPeer:
        """Once the socket has died: a new one, tried as a page tries (``comeback.py``: after
        the time a restarting server gave, or at once, then spread), and ``resume`` sent on
        it. Returns the peer on the new socket (media and board are opened again there)."""
        token = self.resume_token
        assert token is not None, "no resume token was given on this socket"
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await self._reader
        ws = await come_back(connect, restart_after(self.inbox))
        back = ProtocolPeer(ws, media=self.media, board=self.board_over)
        await back.send({"type": "resume", "token": token})
        return back

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind in ("joined", "room_opened"):
            self.me = message.get("you")
        elif kind == "admitted" and self.media:
            for other in message["present"]:
                await self._offer(other["id"])
        elif kind == "resumed" and self.media:
            # aiortc cannot restart ICE: a fresh connection to everyone present instead
            for other in message.get("present", []):
                await self._close_pc(other["id"])
                await self._offer(other["id"])
        elif kind == "signal" and self.media:
            await self._on_signal(message)
        elif kind == "server_signal" and self.data_pc is not None:
            answer = RTCSessionDescription(sdp=message["description"]["sdp"], type="answer")
            await self.data_pc.setRemoteDescription(answer)
        elif kind == "peer_left":
            await self._close_pc(message["participant"])
        elif kind in ("room_ended", "removed", "declined", "waiting"):
            await self.close_media()  # out of the room: no media with anyone

    async def wait_for(self, predicate: Callable[[], bool], within: float = 20.0) -> None:
        """Wait until ``predicate()`` holds, re-checked whenever a message or frame arrives."""
        async with asyncio.timeout(within):
            async with self._changed:
                await self._changed.wait_for(predicate)

    async def expect(self, kind: str, within: float = 20.0, **fields: Any) -> dict[str, Any]:
        """The first message of ``kind`` (with ``fields``) received so far or next."""

        def find() -> dict[str, Any] | None:
            for message in self.inbox:
                if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
                    return message
            return None

        await self.wait_for(lambda: find() is not None, within)
        found = find()
        assert found is not None
        self.inbox.remove(found)
        return found

    # -- media

    def _new_pc(self, peer_id: str) -> RTCPeerConnection:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs[peer_id] = pc
        self.frames[peer_id] = {"audio": 0, "video": 0}
        pc.addTrack(SyntheticAudio())
        pc.addTrack(SyntheticVideo())

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            task = asyncio.create_task(self._consume(peer_id, track))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._close_pc(peer_id)

        return pc

    async def _consume(self, peer_id: str, track: MediaStreamTrack) -> None:
        """Decode what the other side sends and count it."""
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            counts = self.frames.get(peer_id)
            if counts is None:
                return
            counts[track.kind] += 1
            async with self._changed:
                self._changed.notify_all()

    async def _offer(self, peer_id: str) -> None:
        pc = self._new_pc(peer_id)
        await pc.setLocalDescription(await pc.createOffer())
        await self._send_description(peer_id, pc)

    async def _send_description(self, peer_id: str, pc: RTCPeerConnection) -> None:
        local = pc.localDescription
        await self.send(
            {"type": "signal", "to": peer_id, "description": {"type": local.type, "sdp": local.sdp}}
        )

    async def _on_signal(self, message: dict[str, Any]) -> None:
        peer_id = message["from"]
        description = message.get("description")
        if description is not None:
            remote = RTCSessionDescription(sdp=description["sdp"], type=description["type"])
            if remote.type == "offer":
                await self._close_pc(peer_id)
                pc = self._new_pc(peer_id)
                await pc.setRemoteDescription(remote)
                await pc.setLocalDescription(await pc.createAnswer())
                await self._send_description(peer_id, pc)
            elif peer_id in self.pcs:
                await self.pcs[peer_id].setRemoteDescription(remote)
        candidate = message.get("candidate")
        if candidate and candidate.get("candidate") and peer_id in self.pcs:
            parsed = candidate_from_sdp(candidate["candidate"].removeprefix("candidate:"))
            parsed.sdpMid = candidate.get("sdpMid")
            parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
            await self.pcs[peer_id].addIceCandidate(parsed)

    # -- the data connection to the server: board, objects, control

    async def open_board(self, *, resume: bool = False) -> None:
        """Offer a data connection to the server (or, with ``board="socket"``, open the board
        on the signalling socket; with ``board="page"``, both) and wait for the board. With
        ``resume`` the copy held is kept, and the server told its ``seq`` (``since``) and the
        pictures on it whose bytes are not here (``missing``), as a page does after a
        reconnect; without, the board comes whole into a fresh copy."""
        if self.data_pc is not None:
            await self.data_pc.close()
            self.data_pc = None
            self.channels = {}
        held: dict[str, Any] = {}
        if resume:
            pictures = [e["data"]["object"] for e in self.board.elements.values()
                        if e["kind"] == "picture"]  # fmt: skip
            held = {
                "since": self.board.seq,
                "missing": [p for p in pictures if p not in self.objects],
            }
        else:
            self.board = Replica()
        self._snapshot = self.took_over = False
        self._awaiting, self._ahead, self._parts = not resume, {}, []
        if self.board_over != "channel":
            await self.send({"type": "board_open", **held})
            if self.board_over == "socket":
                await self.wait_for(lambda: self._snapshot)
                return
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.data_pc = pc
        self.channels = {
            label: pc.createDataChannel(label) for label in ("board", "objects", "control")
        }
        self.channels["board"].on("message", self._on_board)
        self.channels["objects"].on("message", self._on_objects)
        self.channels["control"].on("message", self._on_control)
        await pc.setLocalDescription(await pc.createOffer())
        local = pc.localDescription
        offer = {"type": "offer", "sdp": local.sdp}
        await self.send({"type": "server_signal", "description": offer, **held})
        await self.wait_for(lambda: self._snapshot and self.took_over)

    def _notify(self) -> None:
        async def poke() -> None:
            async with self._changed:
                self._changed.notify_all()

        task = asyncio.ensure_future(poke())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_board(self, data: str) -> None:
        self.took_over = True
        self._board_message(json.loads(data), "data")
        self._notify()

    def _board_message(self, doc: dict[str, Any], link: str) -> None:
        """One message of the board, from the data channel or the socket: changes applied in
        ``seq`` order whichever link brings them, each once, after the snapshot asked for."""
        self.received.append((link, doc["type"], doc.get("seq")))
        if doc["type"] == "snapshot_part":
            self._parts.extend(doc["elements"])
        elif doc["type"] == "snapshot":
            snapshot = {"seq": doc["seq"], "elements": self._parts}
            self.board.load({**snapshot, "settings": doc.get("settings") or {}})
            self._parts = []
            self._snapshot, self._awaiting = True, False
            self._apply_ahead()
        elif doc["type"] == "caught_up":  # live from its seq: it sets no seq of the board's
            self._snapshot = True
            if doc["seq"] >= self.board.seq:
                said = doc["settings"]
                self.board.settings = {k: said.get(k, v) for k, v in self.board.settings.items()}
        elif doc["type"] == "change":
            self.change_times.setdefault(doc["seq"], asyncio.get_running_loop().time())
            if self._awaiting or doc["seq"] > self.board.seq + 1:
                self._ahead[doc["seq"]] = doc
            elif doc["seq"] == self.board.seq + 1:
                self._apply(doc)
                self._apply_ahead()
        elif doc["type"] == "error":
            self.board_errors.append(doc)

    def _apply(self, doc: dict[str, Any]) -> None:
        if self.on_change is not None:
            self.on_change(doc)
        self.board.receive(doc["seq"], doc["changes"])
        self.applied.append(doc["seq"])

    def _apply_ahead(self) -> None:
        """The changes held past a gap, as far as they follow on; the older ones dropped."""
        for seq in [s for s in self._ahead if s <= self.board.seq]:
            del self._ahead[seq]
        while (doc := self._ahead.pop(self.board.seq + 1, None)) is not None:
            self._apply(doc)

    async def _write(self) -> None:
        while True:
            await self.ws.send_str(await self._outbox.get())

    def _send_later(self, message: dict[str, Any]) -> None:
        """Queue a frame behind the board frames before it (``draw`` does not wait)."""
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        self._outbox.put_nowait(json.dumps({"v": 1, **message}))

    def _on_control(self, data: str | bytes) -> None:
        self.pongs += 1
        self._notify()

    def _on_objects(self, data: str | bytes, link: str = "data") -> None:
        """A message or bytes of the objects channel, or of ``objects`` frames: each link
        puts its own pictures together (both may bring one during a hand-over)."""
        incoming = self._socket_object if link == "socket" else self._incoming_object
        if isinstance(data, bytes):
            if incoming is not None:
                incoming[1].append(data)
            return
        doc = json.loads(data)
        if doc["type"] == "object":
            incoming = (doc["object"], [])
            self.pictures_received.append((link, doc["object"]))
        elif doc["type"] == "object_end" and incoming is not None:
            object_id, parts = incoming
            self.objects[object_id] = b"".join(parts)
            incoming = None
        else:
            self.object_messages.append(doc)
        if link == "socket":
            self._socket_object = incoming
        else:
            self._incoming_object = incoming
        self._notify()

    def start_heartbeat(self, interval: float = 2.0) -> None:
        """Ping on the control channel as a page does, until ``stop_heartbeat``."""

        async def beat() -> None:
            loop = asyncio.get_running_loop()
            while True:
                channel = self.channels.get("control")
                if channel is not None and channel.readyState == "open":
                    channel.send(json.dumps({"type": "ping", "t": loop.time()}))
                await asyncio.sleep(interval)  # the heartbeat's own period

        self.stop_heartbeat()
        self._heartbeat = asyncio.create_task(beat())

    def stop_heartbeat(self) -> None:
        """Go silent on the control channel while the socket stays up."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

    def draw(self, op: dict[str, Any]) -> None:
        """Send one board operation (in order, whichever way the board goes)."""
        if self.board_over == "socket" or (self.board_over == "page" and not self.took_over):
            self._send_later({"type": "board", "op": op})
        else:
            self.channels["board"].send(json.dumps(op))

    async def share(self, transfer_id: str, data: bytes, chunk: int = 16 * 1024) -> None:
        """Send a picture in chunks over the objects channel (or, with the board on the
        socket, in ``objects`` frames, its chunks in base64)."""
        begin = {"type": "begin", "id": transfer_id, "size": len(data)}
        parts = [data[start : start + chunk] for start in range(0, len(data), chunk)]
        end = {"type": "end", "id": transfer_id}
        if self.board_over == "socket":  # paced as a page does: the server reads 200 frames/s
            await self.send({"type": "objects", "message": begin})
            for part in parts:
                await asyncio.sleep(0.01)
                await self.send({"type": "objects", "chunk": base64.b64encode(part).decode()})
            await self.send({"type": "objects", "message": end})
            return
        channel = self.channels["objects"]
        channel.send(json.dumps(begin))
        for part in parts:
            channel.send(part)
        channel.send(json.dumps(end))

    def decoded(self, peer_id: str, kind: str = "video") -> int:
        return self.frames.get(peer_id, {}).get(kind, 0)

    async def _close_pc(self, peer_id: str) -> None:
        pc = self.pcs.pop(peer_id, None)
        self.frames.pop(peer_id, None)
        if pc is not None:
            await pc.close()

    async def close_media(self) -> None:
        await asyncio.gather(*(self._close_pc(p) for p in list(self.pcs)))

    async def close(self) -> None:
        self.stop_heartbeat()
        if self._writer is not None:
            self._writer.cancel()
        if self.data_pc is not None:
            await self.data_pc.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await self._reader
        await self.close_media()
        await self.ws.close()
        for task in list(self._tasks):
            task.cancel()
