"""Which handler answers each message from a browser, and how a refusal is answered.

One table, keyed by the message's type (``live/protocol.py``), joins each area's handlers;
``tests/test_protocol.py`` checks that every message a browser may send has exactly one.
Whatever a handler refuses (any ``PlayroomError``) is answered here with an error frame
carrying its code and its message; the socket stays up."""

from __future__ import annotations

from server.edge import board, continuity, escalation, hosting, lobby, observing
from server.edge.connection import Connection, Handlers
from server.exceptions import PlayroomError, ProtocolError
from server.live.protocol import BoardOperation, Incoming, ObjectsFrame, parse_message
from server.live.replies import Error

HANDLERS: Handlers = {
    **lobby.HANDLERS,
    **hosting.HANDLERS,
    **continuity.HANDLERS,
    **escalation.HANDLERS,
    **observing.HANDLERS,
    **board.HANDLERS,
}
BOARD_MESSAGES = (BoardOperation, ObjectsFrame)  # limited by the board itself


async def dispatch(conn: Connection, message: Incoming | str) -> None:
    """Handle one message; whatever is refused is answered with an error frame."""
    try:
        parsed = parse_message(message) if isinstance(message, str) else message
        if not isinstance(parsed, BOARD_MESSAGES) and not conn.limiter.allow("self"):
            raise ProtocolError("rate_limited", "Too many messages; slow down.")
        await HANDLERS[type(parsed)](conn, parsed)
    except PlayroomError as exc:
        await conn.reply(Error(code=exc.code, message=str(exc), detail=exc.detail))
