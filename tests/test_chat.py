"""The room's chat over the socket: to everyone or privately to the therapist, the
therapist's reply to one person, chat turned off for the others (private to the therapist
still allowed), bad input answered with error frames while the room goes on, and what a page
coming back gets."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from aiohttp import WSCloseCode, web
from aiohttp.test_utils import TestClient

from server.access.ratelimit import RateLimiter
from server.appkeys import DATABASE
from server.live import rooms
from server.live.protocol import MAX_CHAT_CHARACTERS
from server.live.rooms import CHAT_BURST
from server.records.chat import Said
from server.storage.session_models import ChatMessage
from tests.client import ProtocolPeer
from tests.factories import join_message
from tests.scenes import Room


async def _admit(
    aiohttp_client, client: TestClient, room: Room, token: str
) -> tuple[ProtocolPeer, dict]:  # type: ignore[no-untyped-def, type-arg]
    """Someone joins from a fresh browser with ``token`` and the therapist admits them (no
    media: the chat needs none)."""
    outsider = await aiohttp_client(client.server)
    peer = ProtocolPeer(await outsider.ws_connect("/ws"), media=False)
    await peer.send(join_message(token))
    joined = await peer.expect("joined")
    await room.therapist.send({"type": "admit", "participant": joined["you"]["id"]})
    await peer.expect("admitted")
    return peer, joined


@pytest.fixture
async def family(aiohttp_client, client: TestClient, room: Room):  # type: ignore[no-untyped-def]
    """The room with the young person and a parent in it."""
    young, young_joined = await _admit(aiohttp_client, client, room, room.token)
    parent, parent_joined = await _admit(aiohttp_client, client, room, room.parent_token)
    yield young, young_joined, parent, parent_joined
    await young.close()
    await parent.close()


def _therapist_id(room: Room) -> str:
    return str(room.therapist.opened["you"]["id"])  # type: ignore[attr-defined]


async def _stored(app: web.Application, session: str) -> list[ChatMessage]:
    async with app[DATABASE].read() as db:
        query = sa.select(ChatMessage).where(ChatMessage.appointment_id == session)
        return list(await db.scalars(query.order_by(ChatMessage.seq)))


@pytest.mark.hazard("HZ-26")
async def test_a_private_message_reaches_the_therapist_only(
    app: web.Application, room: Room, family
) -> None:  # type: ignore[no-untyped-def]
    young, young_joined, parent, _ = family
    t = room.therapist
    secret = "I don't want to go home tonight"
    await young.send({"type": "chat", "text": secret, "to": _therapist_id(room), "id": "c1"})
    mine = await young.expect("chat", id="c1")
    assert (mine["mine"], mine["private"], mine["to_role"], mine["text"]) == (
        True,
        True,
        "therapist",
        secret,
    )
    got = await t.expect("chat", text=secret)
    assert (got["from"], got["from_role"], got["private"], got["mine"]) == (
        young_joined["you"]["id"],
        "young_person",
        True,
        False,
    )
    # the therapist replies to the young person only, then writes to everyone: the parent
    # gets the message to everyone, and nothing before it
    await t.send({"type": "chat", "text": "Thank you for telling me", "to": got["from"]})
    reply = await young.expect("chat", text="Thank you for telling me")
    assert reply["private"] and reply["from_role"] == "therapist"
    await t.send({"type": "chat", "text": "Let's all draw a house"})
    for peer in (young, parent):
        everyone = await peer.expect("chat", text="Let's all draw a house")
        assert not everyone["private"] and "to_role" not in everyone
    assert [m for m in parent.inbox if m["type"] == "chat"] == []
    stored = await _stored(app, room.session)
    assert [(m.seq, m.author_role, m.to_role) for m in stored] == [
        (1, "young_person", "therapist"),
        (2, "therapist", "young_person"),
        (3, "therapist", None),
    ]
    assert secret.encode() not in stored[0].text_enc  # sealed at rest


async def test_chat_off_is_refused_on_the_server_but_the_therapist_is_always_reachable(
    aiohttp_client, client: TestClient, room: Room, family
) -> None:  # type: ignore[no-untyped-def]
    young, _, parent, parent_joined = family
    t = room.therapist
    await young.send({"type": "chat_setting", "on": False})
    assert (await young.expect("error"))["code"] == "refused"  # only the therapist
    await t.send({"type": "chat_setting", "on": False})
    assert (await t.expect("chat_setting")) == {"v": 1, "type": "chat_setting", "on": False}
    for peer in (young, parent):
        assert (await peer.expect("chat_setting"))["on"] is False
    await young.send({"type": "chat", "text": "hello everyone", "id": "off"})
    refused = await young.expect("error", id="off")
    assert refused["code"] == "chat_off" and "privately" in refused["message"]
    await young.send(
        {"type": "chat", "text": "can I tell you something", "to": _therapist_id(room)}
    )
    assert (await t.expect("chat"))["text"] == "can I tell you something"
    await t.send({"type": "chat", "text": "The therapist still may"})
    assert (await parent.expect("chat"))["text"] == "The therapist still may"
    # a page coming back is told the chat is off, with what it may see
    outsider = await aiohttp_client(client.server)
    back = ProtocolPeer(await outsider.ws_connect("/ws"), media=False)
    await back.send({"type": "resume", "token": parent_joined["resume"]})
    history = await back.expect("chat_history")
    assert history["on"] is False
    assert [m["text"] for m in history["messages"]] == ["The therapist still may"]
    await back.close()
    await t.send({"type": "chat_setting", "on": True})
    assert (await young.expect("chat_setting"))["on"] is True
    await young.send({"type": "chat", "text": "hello again", "id": "on"})
    assert (await young.expect("chat", id="on"))["text"] == "hello again"


async def test_bad_input_is_answered_with_error_frames_and_the_room_goes_on(
    app: web.Application, room: Room, family
) -> None:  # type: ignore[no-untyped-def]
    young, _, parent, parent_joined = family
    refusals = [
        ({"text": "psst", "to": parent_joined["you"]["id"]}, "not_therapist"),
        ({"text": "psst", "to": "abc123"}, "unknown_peer"),
        ({"text": "hi", "colour": "red"}, "bad_message"),
        ({"text": ""}, "bad_message"),
        ({"text": " \n\t "}, "bad_message"),
        ({"text": "x" * (MAX_CHAT_CHARACTERS + 1)}, "bad_message"),
        ({"text": 5}, "bad_message"),
    ]
    for n, (body, code) in enumerate(refusals):
        await young.send({"type": "chat", "id": f"b{n}", **body})
        assert (await young.expect("error", id=f"b{n}"))["code"] == code, body
    # none of it was kept, nor reached anyone; the room goes on
    assert await _stored(app, room.session) == []
    await young.send({"type": "chat", "text": "x" * MAX_CHAT_CHARACTERS, "id": "longest"})
    await young.expect("chat", id="longest")
    assert len((await parent.expect("chat"))["text"]) == MAX_CHAT_CHARACTERS


@pytest.fixture
def stopped_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chat's limit in every room made from now on counts on a clock that does not
    move: nothing refills during a burst."""
    monkeypatch.setattr(rooms, "RateLimiter", functools.partial(RateLimiter, clock=lambda: 0.0))


async def test_fifty_a_second_are_refused_past_the_limit_and_nothing_more_is_kept(
    app: web.Application, stopped_clock: None, room: Room, family
) -> None:  # type: ignore[no-untyped-def]
    young, *_ = family
    for n in range(50):
        await young.send({"type": "chat", "text": f"spam {n}", "id": f"s{n}"})
    # every frame is answered, with its id; no frame after them (a ping, say) is asked for,
    # as the socket's own limit of 50 messages a second may refuse it
    await young.wait_for(lambda: {m.get("id") for m in young.inbox} >= {f"s{n}" for n in range(50)})
    said = [m for m in young.inbox if m["type"] == "chat"]
    refused = [m for m in young.inbox if m["type"] == "error"]
    assert len(said) == CHAT_BURST
    assert len(refused) == 50 - CHAT_BURST
    assert {m["code"] for m in refused} == {"rate_limited"}
    assert len(await _stored(app, room.session)) == CHAT_BURST


async def test_a_frame_over_the_socket_limit_closes_only_that_socket_and_the_page_comes_back(
    aiohttp_client, client: TestClient, room: Room, family
) -> None:  # type: ignore[no-untyped-def]
    """A 100 KB message is over the socket's bound on every frame (``MAX_MESSAGE_BYTES``,
    64 KiB): that socket closes with 1009, as for any frame that size. A page never sends
    one (its text box holds 1,000 characters); the person's place is kept, their page comes
    back with its resume token, and the others never see them go."""
    young, young_joined, parent, _ = family
    await young.send({"type": "chat", "text": "before", "to": _therapist_id(room)})
    await young.expect("chat")
    await young.ws.send_str(
        json.dumps({"v": 1, "type": "chat", "text": "x" * 100_000, "to": _therapist_id(room)})
    )
    await young.wait_for(lambda: young.ws.closed)
    assert young.ws.close_code == WSCloseCode.MESSAGE_TOO_BIG
    outsider = await aiohttp_client(client.server)
    back = ProtocolPeer(await outsider.ws_connect("/ws"), media=False)
    await back.send({"type": "resume", "token": young_joined["resume"]})
    await back.expect("resumed")
    history = await back.expect("chat_history")
    assert [m["text"] for m in history["messages"]] == ["before"]
    await back.send({"type": "chat", "text": "still here"})
    assert (await parent.expect("chat"))["text"] == "still here"
    await back.close()


@pytest.mark.hazard("HZ-26")
async def test_a_page_coming_back_gets_what_it_may_see_in_order(
    aiohttp_client, client: TestClient, room: Room, family
) -> None:  # type: ignore[no-untyped-def]
    young, young_joined, parent, parent_joined = family
    t = room.therapist
    # three sockets: each message stored before the next is sent, so their order is known
    await young.send({"type": "chat", "text": "one", "to": _therapist_id(room)})
    await young.expect("chat", text="one")
    await parent.send({"type": "chat", "text": "two"})
    await parent.expect("chat", text="two")
    await t.send({"type": "chat", "text": "three", "to": young_joined["you"]["id"]})
    await t.expect("chat", text="three")
    await t.send({"type": "chat", "text": "four"})
    await parent.expect("chat", text="four")
    await young.expect("chat", text="four")

    async def back(joined: dict) -> list[tuple[str, bool, bool]]:  # type: ignore[type-arg]
        outsider = await aiohttp_client(client.server)
        peer = ProtocolPeer(await outsider.ws_connect("/ws"), media=False)
        await peer.send({"type": "resume", "token": joined["resume"]})
        await peer.expect("resumed")
        history = await peer.expect("chat_history")
        await peer.close()
        return [(m["text"], m["private"], m["mine"]) for m in history["messages"]]

    # the young person (their socket taken over by the page coming back): their own
    # private message and the reply to it; the parent sees neither
    assert await back(young_joined) == [
        ("one", True, True),
        ("two", False, False),
        ("three", True, False),
        ("four", False, False),
    ]
    assert await back(parent_joined) == [("two", False, True), ("four", False, False)]
    # the therapist's page opened again (reloaded): every message, a child's private one too
    await t.close()
    therapist = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await therapist.send({"type": "open_room", "session": room.session})
    await therapist.expect("room_opened")
    history = await therapist.expect("chat_history")
    assert [m["text"] for m in history["messages"]] == ["one", "two", "three", "four"]
    await therapist.close()


async def test_observers_and_the_waiting_room_do_not_write(
    aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    outsider = await aiohttp_client(client.server)
    waiting = ProtocolPeer(await outsider.ws_connect("/ws"), media=False)
    await waiting.send(join_message(room.token))
    await waiting.expect("joined")
    await waiting.send({"type": "chat", "text": "let me in", "to": _therapist_id(room)})
    assert (await waiting.expect("error"))["code"] == "not_in_room"
    await waiting.close()


@pytest.mark.hazard("HZ-26")
def test_an_observer_may_see_no_message_in_the_room() -> None:
    """An observer reads the chat in the record afterwards; in the room, not even a message
    to everyone goes to them (nor in the history a page coming back is sent)."""
    now = datetime.now(UTC)
    to_all = Said(1, "therapist", "staff:t", None, None, "Hello everyone", now)
    private = Said(2, "young_person", "link-y", "therapist", "staff:t", "Only you", now)
    assert not to_all.seen_by("observer", "staff:s")
    assert not private.seen_by("observer", "staff:s")
    assert to_all.seen_by("parent", "link-p") and not private.seen_by("parent", "link-p")
    assert private.seen_by("therapist", "staff:t") and private.seen_by("young_person", "link-y")
