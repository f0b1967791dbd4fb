"""The agreement read together (Kooth: contracting "is a crucial part of the initial
process"). The contract says "We will read it together": in the room, the therapist puts it
on everyone's screen one section at a time, going back and on at the young person's pace, and
says when it has been read. The section on screen lives with the room, so someone who comes
in or back during the reading sees the same one.

The session's log keeps that the agreement was read together and how many of its sections
were shown, never more; the session's record shows it."""

from __future__ import annotations

from server.appkeys import CATALOGUE
from server.care.checklists import Kind
from server.edge.connection import Connection, Handlers
from server.exceptions import Forbidden, ProtocolError
from server.live.protocol import ShowAgreement
from server.live.replies import Agreement
from server.live.rooms import Participant, Role, Room


def sections(conn: Connection) -> int:
    """How many sections the agreement has (the contract checklist in use)."""
    return len(conn.app[CATALOGUE][Kind.CONTRACT].sections)


async def show(conn: Connection, message: ShowAgreement) -> None:
    """The therapist shows a section of the agreement, or ends the reading."""
    room, me = conn.in_room()
    if me.role is not Role.THERAPIST:
        raise Forbidden("Only the therapist reads the agreement with everyone.")
    of = sections(conn)
    if message.done:
        if room.agreement is None:
            raise ProtocolError("no_agreement", "The agreement is not on the screen.")
        room.agreement = None
        await conn.record(
            "agreement.read_together", {"sections": room.agreement_read + 1, "of": of}
        )
    else:
        if message.section >= of:
            raise ProtocolError(
                "bad_section",
                f"The agreement has {of} sections; there is no section {message.section + 1}.",
            )
        room.agreement = message.section
        room.agreement_read = max(room.agreement_read, message.section)
    told = Agreement(section=room.agreement, of=of)
    await conn.hub.send_many(room.peers_of(me), told)
    await conn.reply(told)


async def tell(conn: Connection, room: Room, whom: Participant) -> None:
    """Someone let into the room, or back in it, while the agreement is on the screen."""
    if room.agreement is not None:
        await conn.hub.send(whom, Agreement(section=room.agreement, of=sections(conn)))


HANDLERS: Handlers = {ShowAgreement: show}
