"""Which handler answers each message from a browser, and how a frame is read and refused.

One table, keyed by the message's type (``live/protocol.py``), joins each area's handlers;
``tests/test_protocol.py`` checks that every message a browser may send has exactly one.

Every frame read counts against the connection's limit of messages, a frame that does not
parse and one of an unknown type too (else a flood of them would go round the limit); only
the board's own frames do not, which the board limits itself, and ``live`` frames, which are
coalesced to 20 a second per sender (``live.py``): a hand moving must not use up the limit
that admitting, signalling and pinging need. Whatever is refused (any
``PlayroomError``) is answered here with one error frame carrying its code, its message and
the frame's ``id``; the socket stays up. A handler's own answers go through
``Connection.reply``, which gives them the ``id`` of the frame being handled. A frame in
hand for long gets its socket told ``working`` meanwhile (``working.py``)."""

from __future__ import annotations

from server.appkeys import BUSY
from server.edge import (
    agreement,
    board,
    breaks,
    chat,
    continuity,
    escalation,
    floor,
    guests,
    hosting,
    live,
    lobby,
    modes,
    observing,
    sharing,
)
from server.edge.connection import Connection, Handlers
from server.exceptions import PlayroomError, ProtocolError
from server.live.protocol import BoardOperation, Incoming, Live, ObjectsFrame, parse_message
from server.live.replies import Error

HANDLERS: Handlers = {
    **lobby.HANDLERS,
    **hosting.HANDLERS,
    **continuity.HANDLERS,
    **breaks.HANDLERS,
    **agreement.HANDLERS,
    **chat.HANDLERS,
    **escalation.HANDLERS,
    **observing.HANDLERS,
    **guests.HANDLERS,
    **sharing.HANDLERS,
    **modes.HANDLERS,
    **floor.HANDLERS,
    **board.HANDLERS,
    **live.HANDLERS,
}
# not counted against the connection's limit: the board limits its own, and live frames are
# coalesced (``live.py``)
UNCOUNTED = (BoardOperation, ObjectsFrame, Live)
SLOW_DOWN = "Too many messages; slow down."


async def dispatch(conn: Connection, data: str) -> None:
    """Read one frame and handle it; whatever is refused is answered with an error frame."""
    message = await read(conn, data)
    if message is not None:
        await handle(conn, message)


async def read(conn: Connection, data: str) -> Incoming | None:
    """Parse one frame and count it against the connection's limit: the message, or None
    once its refusal is answered (a malformed frame's, or ``rate_limited``)."""
    conn.frame_chars = len(data)
    try:
        message = parse_message(data)
    except ProtocolError as exc:
        refusal = exc
        if not conn.limiter.allow("self"):
            refusal = ProtocolError("rate_limited", SLOW_DOWN, frame_id=exc.frame_id)
        await refuse(conn, refusal, exc.frame_id)
        return None
    if not isinstance(message, UNCOUNTED) and not conn.limiter.allow("self"):
        await refuse(conn, ProtocolError("rate_limited", SLOW_DOWN), message.id)
        return None
    return message


async def handle(conn: Connection, message: Incoming) -> None:
    """Run the message's handler. What it answers, and its refusal if it refuses, carries
    the frame's ``id``."""
    with conn.app[BUSY].handling(conn.ws):  # told ``working`` if it takes a while
        if not conn.hub.held.is_set():
            # the rooms held before a restart are being rebuilt (``rebuilt.py``): a join or
            # an opening now would find a room without the people it held, and its log
            # without their entries, so every message waits the moment it takes
            await conn.hub.held.wait()
        conn.answering = message.id
        try:
            await HANDLERS[type(message)](conn, message)
        except PlayroomError as exc:
            await conn.reply(Error(code=exc.code, message=str(exc), detail=exc.detail))
        finally:
            conn.answering = None


async def refuse(conn: Connection, error: PlayroomError, frame_id: str | None) -> None:
    """Answer a frame refused before any handler ran, with its ``id`` if it had one."""
    await conn.reply(Error(id=frame_id, code=error.code, message=str(error), detail=error.detail))
