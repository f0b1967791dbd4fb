"""The group's rules for who speaks: the therapist mutes everyone else and says whether they
may unmute themselves (an unmute against the rule is refused, and the rule reaches a page
that comes back or comes in later); hands go up in order and the therapist lowers them; one
person in the spotlight, gone when they leave. What is refused, with its code, and what the
session's log keeps."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import SESSION_LOG
from server.audit.sessionlog import session_stream
from server.exceptions import ProtocolError
from server.live.floor import HAND_BURST, Floor
from tests.client import ProtocolPeer
from tests.factories import join_message
from tests.scenes import Room


@pytest.mark.hazard("HZ-34")
def test_the_floor_keeps_hands_in_order_and_the_rule_on_microphones() -> None:
    floor = Floor()
    assert floor.hand("b", True) and floor.hand("a", True) and floor.hand("c", True)
    assert floor.raised() == ["b", "a", "c"]
    assert not floor.hand("a", True)  # already up: nothing changes
    floor.lower("a")
    assert floor.raised() == ["b", "c"]
    with pytest.raises(ProtocolError) as info:
        floor.lower("a")
    assert info.value.code == "no_hand"

    floor.mute_all(["a", "b"], allow_unmute=False)
    with pytest.raises(ProtocolError) as info:
        floor.mic("a", True)
    assert info.value.code == "held_muted"
    floor.mic("a", False)  # off is always taken
    assert floor.arrives("d")  # a newcomer while the rule holds comes in muted
    floor.allow(True)
    floor.mic("a", True)
    assert "a" not in floor.muted and not floor.arrives("e")

    floor.spotlight = "b"
    assert floor.gone("b") and floor.spotlight is None and floor.raised() == ["c"]
    assert not floor.gone("zz")


async def _in(aiohttp_client: Any, client: TestClient, room: Room, token: str) -> ProtocolPeer:
    browser = await aiohttp_client(client.server)  # a fresh browser: no cookies
    peer = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    await peer.send(join_message(token))
    joined = await peer.expect("joined")
    peer.joined = joined  # type: ignore[attr-defined]
    await room.therapist.send({"type": "admit", "participant": joined["you"]["id"]})
    await peer.expect("admitted")
    return peer


def _id(peer: ProtocolPeer) -> str:
    return str(peer.joined["you"]["id"])  # type: ignore[attr-defined]


async def _kinds(app: web.Application, session: str) -> list[tuple[str, dict[str, Any]]]:
    entries = await app[SESSION_LOG].entries(session_stream(session))
    return [(e.kind, e.details) for e in entries if e.kind.startswith("floor.")]


@pytest.mark.hazard("HZ-34")
async def test_mute_all_holds_until_the_therapist_allows_and_reaches_who_comes_back(
    app: web.Application, aiohttp_client: Any, client: TestClient, room: Room
) -> None:
    therapist = room.therapist
    young = await _in(aiohttp_client, client, room, room.token)
    parent = await _in(aiohttp_client, client, room, room.parent_token)

    # only the therapist mutes everyone
    await young.send({"type": "mute_all", "allow_unmute": False, "id": "y1"})
    assert (await young.expect("error", id="y1"))["code"] == "refused"
    await therapist.send({"type": "mute_all", "allow_unmute": "no", "id": "t0"})
    assert (await therapist.expect("error", id="t0"))["code"] == "bad_message"

    await therapist.send({"type": "mute_all", "allow_unmute": False, "id": "t1"})
    mine = await therapist.expect("floor", id="t1")
    assert mine["muted"] is False and mine["allow_unmute"] is False
    for peer in (young, parent):
        told = await peer.expect("floor", cause="mute_all")
        assert told["muted"] is True and told["allow_unmute"] is False

    # an unmute against the rule is refused, and the page is told the rule again
    await young.send({"type": "mic", "on": True, "id": "m1"})
    refused = await young.expect("error", id="m1")
    assert refused["code"] == "held_muted" and "raise your hand" in refused["message"]
    assert (await young.expect("floor"))["muted"] is True
    await young.send({"type": "mic", "on": False, "id": "m2"})
    await young.expect("done", id="m2")
    # held muted, they can still ask to speak: a hand up, and a word to the therapist alone
    await young.send({"type": "hand", "raised": True, "id": "h1"})
    assert (await therapist.expect("floor", cause="hand"))["hands"] == [_id(young)]
    tid = therapist.opened["you"]["id"]  # type: ignore[attr-defined]
    await young.send({"type": "chat", "text": "Can I say something?", "to": tid, "id": "c1"})
    await young.expect("chat", id="c1")
    assert (await therapist.expect("chat"))["text"] == "Can I say something?"

    # the young person drops and comes back: still held muted
    await young.close()
    await therapist.expect("peer_state", participant=_id(young), state="interrupted")
    back = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"), media=False)
    await back.send({"type": "resume", "token": young.joined["resume"]})  # type: ignore[attr-defined]
    await back.expect("resumed")
    again = await back.expect("floor")
    assert again["muted"] is True and again["allow_unmute"] is False

    # the therapist allows unmuting: each may turn their microphone on again
    await therapist.send({"type": "allow_unmute", "allowed": True, "id": "a1"})
    await therapist.expect("floor", id="a1")
    assert (await back.expect("floor", cause="allow_unmute"))["allow_unmute"] is True
    await back.send({"type": "mic", "on": True, "id": "m3"})
    await back.expect("done", id="m3")

    assert await _kinds(app, room.session) == [
        ("floor.muted_all", {"people": 2, "allow_unmute": "no"}),
        ("floor.hand_raised", {"participant": _id(young), "role": "young_person"}),
        ("floor.allow_unmute", {"allowed": "yes"}),
    ]
    await back.close()
    await parent.close()


@pytest.mark.hazard("HZ-34")
async def test_someone_let_in_while_unmuting_is_not_allowed_comes_in_muted(
    aiohttp_client: Any, client: TestClient, room: Room
) -> None:
    therapist = room.therapist
    young = await _in(aiohttp_client, client, room, room.token)
    await therapist.send({"type": "mute_all", "allow_unmute": False, "id": "t1"})
    await young.expect("floor", cause="mute_all")
    parent = await _in(aiohttp_client, client, room, room.parent_token)
    told = await parent.expect("floor")
    assert told["muted"] is True and told["allow_unmute"] is False
    await parent.send({"type": "mic", "on": True, "id": "m1"})
    assert (await parent.expect("error", id="m1"))["code"] == "held_muted"
    await young.close()
    await parent.close()


@pytest.mark.hazard("HZ-34")
async def test_hands_reach_the_therapist_in_order_and_a_flood_changes_nothing(
    app: web.Application, aiohttp_client: Any, client: TestClient, room: Room
) -> None:
    therapist = room.therapist
    young = await _in(aiohttp_client, client, room, room.token)
    parent = await _in(aiohttp_client, client, room, room.parent_token)
    yid, pid = _id(young), _id(parent)

    await therapist.send({"type": "hand", "raised": True, "id": "t1"})
    assert (await therapist.expect("error", id="t1"))["code"] == "refused"
    await parent.send({"type": "hand", "raised": True, "id": "p1"})
    assert (await parent.expect("floor", id="p1"))["hands"] == [pid]
    await therapist.expect("floor", hands=[pid])
    await young.send({"type": "hand", "raised": True, "id": "y1"})
    await young.expect("floor", id="y1")
    assert (await therapist.expect("floor", cause="hand"))["hands"] == [pid, yid]  # in order

    # a flood of ups and downs is refused; nobody else hears of the refused ones
    therapist.inbox.clear()
    up, accepted, refused = True, 0, 0
    for i in range(HAND_BURST + 6):
        await young.send({"type": "hand", "raised": i % 2 == 1, "id": f"f{i}"})
        await young.wait_for(lambda i=i: any(m.get("id") == f"f{i}" for m in young.inbox))
        answer = next(m for m in young.inbox if m.get("id") == f"f{i}")
        if answer["type"] == "floor":
            up, accepted = i % 2 == 1, accepted + 1
        else:
            assert answer["code"] == "rate_limited"
            refused += 1
    assert refused >= 5 and accepted <= HAND_BURST
    await therapist.wait_for(lambda: sum(m["type"] == "floor" for m in therapist.inbox) >= accepted)
    seen = [m for m in therapist.inbox if m["type"] == "floor"]
    assert len(seen) == accepted and seen[-1]["hands"] == ([pid, yid] if up else [pid])
    mine = [yid] if up else []

    # only the therapist lowers someone else's hand
    await young.send({"type": "lower_hand", "participant": pid, "id": "y2"})
    assert (await young.expect("error", id="y2"))["code"] == "refused"
    await therapist.send({"type": "lower_hand", "participant": pid, "id": "l1"})
    assert (await therapist.expect("floor", id="l1"))["hands"] == mine
    await therapist.send({"type": "lower_hand", "participant": pid, "id": "l2"})
    assert (await therapist.expect("error", id="l2"))["code"] == "no_hand"
    await therapist.send({"type": "lower_hand", "participant": "0123abcd", "id": "l3"})
    assert (await therapist.expect("error", id="l3"))["code"] == "refused"

    # a hand up comes down when its person leaves
    await parent.send({"type": "hand", "raised": True, "id": "p2"})
    assert (await therapist.expect("floor", cause="hand"))["hands"] == [*mine, pid]
    await parent.send({"type": "leave"})
    assert (await therapist.expect("floor", cause="left"))["hands"] == mine
    kinds = await _kinds(app, room.session)
    assert kinds[:2] == [
        ("floor.hand_raised", {"participant": pid, "role": "parent"}),
        ("floor.hand_raised", {"participant": yid, "role": "young_person"}),
    ]
    assert (
        "floor.hand_lowered",
        {"participant": pid, "role": "parent", "by": "therapist"},
    ) in kinds
    assert all("name" not in details for _, details in kinds)  # ids and roles, never names
    await young.close()


@pytest.mark.hazard("HZ-34")
async def test_a_spotlight_reaches_every_page_and_goes_with_its_person(
    app: web.Application, aiohttp_client: Any, client: TestClient, room: Room
) -> None:
    therapist = room.therapist
    young = await _in(aiohttp_client, client, room, room.token)
    parent = await _in(aiohttp_client, client, room, room.parent_token)
    yid = _id(young)

    await parent.send({"type": "spotlight", "participant": yid, "id": "p1"})
    assert (await parent.expect("error", id="p1"))["code"] == "refused"
    await therapist.send({"type": "spotlight", "participant": "0123abcd", "id": "s0"})
    assert (await therapist.expect("error", id="s0"))["code"] == "refused"  # nobody here
    await therapist.send({"type": "spotlight", "id": "s1"})
    assert (await therapist.expect("error", id="s1"))["code"] == "no_spotlight"

    await therapist.send({"type": "spotlight", "participant": yid, "id": "s2"})
    assert (await therapist.expect("floor", id="s2"))["spotlight"] == yid
    for peer in (young, parent):
        assert (await peer.expect("floor", cause="spotlight"))["spotlight"] == yid

    # the spotlit person leaves: the spotlight goes, and the others are told
    await young.send({"type": "leave"})
    for peer in (therapist, parent):
        assert "spotlight" not in await peer.expect("floor", cause="left")
    await therapist.send({"type": "spotlight", "participant": yid, "id": "s3"})
    assert (await therapist.expect("error", id="s3"))["code"] == "refused"

    assert [k for k, _ in await _kinds(app, room.session)] == [
        "floor.spotlight_on",
        "floor.spotlight_off",
    ]
    await parent.close()


@pytest.mark.hazard("HZ-34")
def test_the_agreement_tells_the_group_rules_from_the_guidelines_in_every_language() -> None:
    """The agreement's section on the group's rules, each item from the Zoom-or-Room
    guidelines for groups, read in Welsh and Arabic as in English."""
    from server import i18n
    from server.care.checklists import Document, Kind, load_catalogue

    contract = load_catalogue()[Kind.CONTRACT]
    group = next(s for s in contract.sections if s.id == "group")
    assert [item.id for item in group.items] == [
        "group.microphones",
        "group.hand",
        "group.spotlight",
    ]
    assert {item.source.document for item in group.items} == {Document.ZOOM_OR_ROOM}
    for lang in ("cy", "ar"):
        words = i18n.translations(lang)
        for text in (group.title, *(item.prompt for item in group.items)):
            assert words.gettext(" ".join(text.split())) != " ".join(text.split()), (lang, text)
