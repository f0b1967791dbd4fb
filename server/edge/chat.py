"""The room's chat: a child who cannot say something aloud can often type it.

Anyone in the room writes to everyone, or privately to one person: the young person and a
parent only to the therapist, and always, even with the chat turned off; the therapist to
anyone (a reply). The therapist turns the chat off for the others (a room setting every page
is told); while it is off, a message to everyone from anyone else is refused (``chat_off``).
An observer's page has no chat: they are sent none of it, write nothing, and read it in the
session's record afterwards. Nor has a guest's (``guests.py``): what the young person wrote
before a guest came in, or to the room, is not theirs to read.

A message is kept, sealed, and logged before anyone sees it (``records/chat.py``), then sent
to those who may see it: to everyone, every page in the room; a private one, its writer and
the one it is for, nobody else. Someone coming into the room, or back to it, gets every
message they may see, in order (``tell``). Each person writes at most ``CHAT_RATE`` messages
a second (a burst of ``CHAT_BURST``, ``live/rooms.py``); past it a message is refused
(``rate_limited``) and nothing of it is kept.

The session's log keeps that a message was written, by whom and to whom, never its words;
nor does any line of the server's own log hold them. Whether the chat is on is kept on the
session, as the room's lock is, so a room rebuilt after a restart or on another node has it
as the therapist left it."""

from __future__ import annotations

from server.appkeys import CHATS, DATABASE
from server.edge.connection import Connection, Handlers
from server.exceptions import Forbidden, ProtocolError
from server.live.hub import about
from server.live.places import keep_settings
from server.live.protocol import Chat, ChatSetting
from server.live.replies import ChatHistory, ChatLine, ChatSaid, ChatSettingTold
from server.live.rooms import Participant, Role, Room, RoomChat, State
from server.records.chat import Said
from server.storage.db import utcnow

GONE = (State.LEFT, State.LOST)
# whose pages have no chat: they are sent none of it and write none
NOT_IN_CHAT = (Role.OBSERVER, Role.GUEST)


def whose(p: Participant) -> str:
    """Whose a message is, the same across reconnects and rejoins: the join link, or the
    staff account (``Connection.board_author`` says the same of a board's author)."""
    return p.link_id or f"staff:{p.user_id or p.id}"


def _in_room(conn: Connection) -> tuple[Room, Participant]:
    room, me = conn.in_room()
    if not me.in_room:
        raise ProtocolError("not_in_room", "You are not in the room yet.")
    return room, me


def _recipient(room: Room, me: Participant, to: str) -> Participant:
    """Whom a private message is for: someone in the room, and for anyone but the
    therapist, the therapist."""
    target = room.participants.get(to)
    if target is None or target.state in GONE or target.id == me.id:
        raise ProtocolError("unknown_peer", "That person is not in this room.")
    if target.role in NOT_IN_CHAT:
        raise ProtocolError("unknown_peer", "An observer or a guest is not in the chat.")
    if me.role is not Role.THERAPIST and target.role is not Role.THERAPIST:
        raise ProtocolError("not_therapist", "You can write privately only to your therapist.")
    return target


async def say(conn: Connection, message: Chat) -> None:
    """Someone in the room writes: kept, then sent to those who may see it."""
    room, me = _in_room(conn)
    if me.role in NOT_IN_CHAT:
        raise Forbidden("An observer or a guest does not write in the chat.")
    if not message.text.strip():
        raise ProtocolError("bad_message", "text: a message needs some words.")
    chat = room.chat
    author = whose(me)
    if not chat.rates.allow(author):
        raise ProtocolError(
            "rate_limited", "You are writing very fast. Wait a moment, then send it."
        )
    target = _recipient(room, me, message.to) if message.to is not None else None
    if target is None and not chat.on and me.role is not Role.THERAPIST:
        raise ProtocolError(
            "chat_off",
            "Your therapist has turned the chat off. You can still write to them privately.",
        )
    said = Said(
        await _number(conn, room, chat),
        me.role.value,
        author,
        target.role.value if target is not None else None,
        whose(target) if target is not None else None,
        message.text,
        utcnow(),
    )
    await conn.app[CHATS].write(room.session_id, said)
    to = {"to": target.role.value, "to_participant": target.id} if target else {"to": "everyone"}
    await conn.record("chat.sent", {**about(me), **to, "seq": said.seq})
    readers = [target] if target is not None else _everyone_but(room, me)
    for reader in readers:
        await conn.hub.send(reader, ChatSaid(**_line(room, said, whose(reader)).model_dump()))
    await conn.reply(ChatSaid(**_line(room, said, author).model_dump()))


def _everyone_but(room: Room, me: Participant) -> list[Participant]:
    """Whom a message to everyone goes to: everyone else in the room but an observer."""
    return [p for p in room.present() if p.id != me.id and p.role not in NOT_IN_CHAT]


async def _number(conn: Connection, room: Room, chat: RoomChat) -> int:
    """The next message's number in the session: read from storage once a room (a room
    rebuilt after a restart goes on from the last one kept), then counted here."""
    if chat.next_seq is None:
        async with chat.numbering:
            if chat.next_seq is None:
                chat.next_seq = await conn.app[CHATS].next_seq(room.session_id)
    seq, chat.next_seq = chat.next_seq, chat.next_seq + 1
    return seq


async def setting(conn: Connection, message: ChatSetting) -> None:
    """The therapist turns the chat on or off for the others: every page is told."""
    room, me = _in_room(conn)
    if me.role is not Role.THERAPIST:
        raise Forbidden("Only the therapist turns the chat on or off.")
    chat = room.chat
    if chat.on != message.on:
        chat.on = message.on
        await conn.record("chat.turned_on" if message.on else "chat.turned_off")
    if chat.stored != chat.on and await keep_settings(
        conn.app[DATABASE], room.session_id, chat_on=chat.on
    ):
        chat.stored = chat.on  # a room rebuilt elsewhere has it so (else: kept at the next)
    told = ChatSettingTold(on=chat.on)
    await conn.hub.send_many(_everyone_but(room, me), told)
    await conn.reply(told)


async def tell(conn: Connection, room: Room, whom: Participant, *, answer: bool = False) -> None:
    """Someone let into the room, or back in it: every message of the session's chat they
    may see, in order, and whether it is on; nothing while there is nothing to see and the
    chat is on, as a page starts. ``answer``: sent as this connection's answer (``whom`` is
    its own person). An observer is sent none of it."""
    if whom.role in NOT_IN_CHAT:
        return
    said = await conn.app[CHATS].of_session(room.session_id)
    reader = whose(whom)
    history = ChatHistory(
        on=room.chat.on,
        messages=[_line(room, s, reader) for s in said if s.seen_by(whom.role.value, reader)],
    )
    if history.on and not history.messages:
        return
    if answer:
        await conn.reply(history)
    else:
        await conn.hub.send(whom, history)


def _line(room: Room, said: Said, reader: str) -> ChatLine:
    """A message as ``reader`` sees it: with the ids of its writer and of whom it was for
    while they are in the room (the therapist replies to one of them)."""
    here = {whose(p): p.id for p in room.participants.values() if p.state not in GONE}
    return ChatLine(
        seq=said.seq,
        from_role=said.author_role,
        sender=here.get(said.author),
        mine=said.author == reader,
        to_role=said.to_role,
        to=here.get(said.to) if said.to else None,
        private=said.private,
        at=said.at.isoformat(),
        text=said.text,
    )


HANDLERS: Handlers = {Chat: say, ChatSetting: setting}
