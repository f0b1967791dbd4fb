"""The whiteboard over real data channels (aiortc peers against the real server)."""

from __future__ import annotations

import io

import pytest
from aiohttp import web
from PIL import Image

from tests.scenes import Scene, stroke
from tests.test_images import _bomb, _jpeg_with_gps


async def test_two_people_draw_at_once_and_converge(scene: Scene) -> None:
    t, y = scene.therapist, scene.young
    for a, b in zip(stroke("t-1", 100), stroke("y-1", 600), strict=True):
        t.draw(a)
        y.draw(b)
    t.draw({"op": "sticker", "id": "t-sun", "name": "sun", "x": 50, "y": 50})
    y.draw({"op": "undo"})  # the young person's undo takes back their own stroke only
    await t.wait_for(lambda: t.board.seq == 44)
    await y.wait_for(lambda: y.board.seq == 44)
    assert t.board.snapshot() == y.board.snapshot()
    elements = {e["id"]: e for e in t.board.snapshot()["elements"]}
    assert len(elements["t-1"]["points"]) == 20 and elements["t-1"]["visible"]
    assert not elements["y-1"]["visible"] and elements["t-sun"]["visible"]


async def test_a_reconnecting_participant_gets_the_whole_board(scene: Scene) -> None:
    t, y = scene.therapist, scene.young
    for op in stroke("t-1", 100):
        t.draw(op)
    await y.wait_for(lambda: y.board.seq == 21)
    await y.data_pc.close()  # type: ignore[union-attr]  # the data connection drops
    for op in stroke("t-2", 300):
        t.draw(op)
    await t.wait_for(lambda: t.board.seq == 42)
    await y.open_board()  # a fresh server peer: snapshot of everything
    assert y.board.snapshot() == t.board.snapshot()


async def test_a_big_board_comes_back_whole_in_parts(scene: Scene) -> None:
    t, y = scene.therapist, scene.young
    for n in range(80):  # 80 strokes of 100 points: far more than one data channel message
        points = [[10 + i, 10 + n * 10, 0.5] for i in range(100)]
        t.draw(
            {"op": "stroke_begin", "id": f"s{n}", "colour": "#204080", "width": 4, "points": points}
        )
    await y.wait_for(lambda: y.board.seq == 80)
    await y.data_pc.close()  # type: ignore[union-attr]
    await y.open_board()
    assert len(y.board.elements) == 80
    assert y.board.snapshot() == t.board.snapshot()


async def test_bad_board_input_is_refused_and_nothing_is_lost(scene: Scene) -> None:
    t, y = scene.therapist, scene.young
    for op in stroke("t-1", 100):
        t.draw(op)
    await y.wait_for(lambda: y.board.seq == 21)
    bad = [
        ({"op": "laser"}, "unknown_op"),
        ({"op": "text", "id": "x", "x": 1e12, "y": 1, "text": "hi", "colour": "#000000"}, "bad_op"),
        (
            {
                "op": "shape",
                "id": "s",
                "kind": "rect",
                "x1": 0,
                "y1": 0,
                "x2": 1,
                "y2": 1,
                "colour": "#000000",
                "width": -2,
            },
            "bad_op",
        ),
        (
            {"op": "stroke_points", "id": "t-1", "points": [[1, 1, 0.5]]},
            "not_yours",
        ),  # not their stroke
        ({"op": "erase", "target": "t-1", "author": "staff"}, "bad_op"),  # no spoofing an author
        ({"op": "clear"}, "not_allowed"),
        (
            {"op": "picture", "id": "p", "object": "0" * 32, "x": 1, "y": 1, "w": 5, "h": 5},
            "not_allowed",
        ),
        (
            {
                "op": "stroke_begin",
                "id": "big",
                "colour": "#000000",
                "width": 3,
                "points": [[1, 1, 0.5]] * 10_000,
            },
            "bad_op",
        ),
    ]
    for op, _ in bad:
        y.draw(op)
    y.channels["board"].send(
        '{"op": "text", "id": "n", "x": NaN, "y": 1, "text": "a", "colour": "#000000"}'
    )
    await y.wait_for(lambda: len(y.board_errors) >= len(bad) + 1)
    assert [e["code"] for e in y.board_errors[: len(bad)]] == [code for _, code in bad]
    assert y.board_errors[-1]["code"] in ("bad_op", "bad_json")
    # a flood is limited, not fatal
    for _ in range(400):
        y.draw({"op": "move", "target": "t-1", "dx": 0.1, "dy": 0})
    await y.wait_for(lambda: any(e["code"] == "rate_limited" for e in y.board_errors))
    await t.wait_for(lambda: t.board.seq == y.board.seq and y.board.seq > 21)
    assert t.board.snapshot() == y.board.snapshot()
    assert len(t.board.elements["t-1"]["points"]) == 20  # nothing drawn was lost


@pytest.mark.hazard("HZ-06")
async def test_pictures_are_cleaned_before_anyone_sees_them(scene: Scene) -> None:
    t, y = scene.therapist, scene.young
    await y.share("photo", _jpeg_with_gps())
    await t.wait_for(lambda: len(t.objects) == 1)
    (data,) = t.objects.values()
    image = Image.open(io.BytesIO(data))
    assert dict(image.getexif()) == {} and b"Acacia" not in data
    await t.wait_for(lambda: any(e["kind"] == "picture" for e in t.board.elements.values()))
    refused = [
        ("html", b"<html><script>alert(1)</script></html>"),
        ("svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("corrupt", b"\x89PNG\r\n\x1a\n" + b"garbage" * 10),
        ("bomb", _bomb(50_000, 50_000)),
    ]
    for name, data in refused:
        await y.share(name, data)
    y.channels["objects"].send('{"type": "begin", "id": "huge", "size": 1073741824}')
    await y.wait_for(lambda: sum(m["type"] == "error" for m in y.object_messages) >= 5)
    codes = [m["code"] for m in y.object_messages if m["type"] == "error"]
    assert codes.count("refused") == 4 and "too_large" in codes
    assert len(t.objects) == 1  # only the clean photo was ever shared


async def test_board_reloads_from_storage(app: web.Application, scene: Scene) -> None:
    """What a restarted server does: the board is rebuilt from the stored operations."""
    from server.appkeys import WHITEBOARDS
    from server.board.whiteboards import Whiteboards

    t = scene.therapist
    for op in stroke("t-1", 100):
        t.draw(op)
    t.draw({"op": "text", "id": "t-hello", "x": 10, "y": 10, "text": "Hello", "colour": "#000000"})
    await t.wait_for(lambda: t.board.seq == 22)
    fresh = Whiteboards(app[WHITEBOARDS].db, app[WHITEBOARDS].ring)
    room_board = app[WHITEBOARDS].boards[scene.session]
    reloaded = await fresh.get(scene.session, room_board.client_id)
    assert reloaded.board.snapshot() == room_board.board.snapshot()
    assert reloaded.board.snapshot()["elements"] == list(t.board.elements.values())


async def test_every_server_peer_closes_at_shutdown(app: web.Application, scene: Scene) -> None:
    from server.appkeys import WHITEBOARDS

    peers = list(app[WHITEBOARDS].peers)
    assert len(peers) == 2
    await scene.client.server.close()  # the app shuts down
    assert app[WHITEBOARDS].peers == set()
    assert all(peer.pc.connectionState == "closed" for peer in peers)


async def test_the_therapist_may_let_others_clear(scene: Scene) -> None:
    t, y = scene.therapist, scene.young
    for op in stroke("t-1", 100):
        t.draw(op)
    await y.wait_for(lambda: y.board.seq == 21)
    y.draw({"op": "clear"})
    await y.wait_for(lambda: any(e["code"] == "not_allowed" for e in y.board_errors))
    await y.send({"type": "allow_clear", "allowed": True})
    assert "Only the therapist" in (await y.expect("error"))["message"]
    await t.send({"type": "allow_clear", "allowed": True})
    await t.send({"type": "ping", "n": 1})
    await t.expect("pong")  # the setting has been taken
    y.draw({"op": "clear"})
    await t.wait_for(lambda: not t.board.elements["t-1"]["visible"])


async def test_a_board_behind_its_storage_catches_up_instead_of_failing(
    app: web.Application, scene: Scene
) -> None:
    """Another node held this room too (it was taken for dead and was not, or its event loop
    stalled past its lease) and stored operation 22 after this board had loaded 21. The next
    operation here finds its number taken: the board takes in what was stored, shows it to
    everyone, and stores the new operation as 23, rather than answering not_saved for ever."""
    from media.board import parse_op
    from server.appkeys import WHITEBOARDS
    from server.board.service import RoomBoard
    from server.board.whiteboards import Whiteboards

    t, y = scene.therapist, scene.young
    for op in stroke("t-1", 100):
        t.draw(op)
    await y.wait_for(lambda: y.board.seq == 21)
    here = app[WHITEBOARDS].boards[scene.session]
    there = RoomBoard(scene.session, here.client_id, here.db, here.ring)  # the old home's
    await there.load()
    sun = parse_op({"op": "sticker", "id": "far-sun", "name": "sun", "x": 5, "y": 5})
    await there.submit("staff:elsewhere", sun, may_clear=True)  # acknowledged there as 22

    y.draw({"op": "sticker", "id": "y-cat", "name": "cat", "x": 20, "y": 20})
    await t.wait_for(lambda: t.board.seq == 23)
    await y.wait_for(lambda: y.board.seq == 23)
    assert not y.board_errors
    assert here.board.seq == 23 and {"far-sun", "y-cat"} <= set(here.board.elements)
    assert t.board.snapshot() == y.board.snapshot() == here.board.snapshot()
    reloaded = await Whiteboards(here.db, here.ring).get(scene.session, here.client_id)
    assert reloaded.board.snapshot() == here.board.snapshot()  # storage holds both, in order
    y.draw({"op": "sticker", "id": "y-cat-2", "name": "cat", "x": 40, "y": 40})
    await t.wait_for(lambda: t.board.seq == 24)  # and it goes on


async def test_the_clear_setting_comes_back_with_the_board(
    app: web.Application, scene: Scene
) -> None:
    """A board rebuilt from storage (after a restart, or on the node that took the room
    over) lets the others clear it only if the therapist last said so."""
    from server.appkeys import WHITEBOARDS
    from server.board.whiteboards import Whiteboards

    t = scene.therapist
    board = app[WHITEBOARDS].boards[scene.session]
    for allowed in (True, False, True):
        await t.send({"type": "allow_clear", "allowed": allowed})
        await t.send({"type": "ping", "n": 1})
        await t.expect("pong")  # stored before the ping was read
        rebuilt = await Whiteboards(board.db, board.ring).get(scene.session, board.client_id)
        assert rebuilt.clear_allowed is allowed


async def test_items_moved_restacked_locked_and_rolled_converge_and_come_back_from_storage(
    app: web.Application, scene: Scene
) -> None:
    from server.appkeys import WHITEBOARDS
    from server.board.whiteboards import Whiteboards

    t, y = scene.therapist, scene.young
    t.draw({"op": "sticker", "id": "dog", "name": "dog", "x": 100, "y": 100})
    y.draw({"op": "sticker", "id": "cat", "name": "cat", "x": 100, "y": 100})  # on the dog
    y.draw({"op": "stroke", "id": "line", "colour": "#204080", "width": 6,
            "points": [[10 + i, 700, 0.5] for i in range(300)]})  # fmt: skip
    y.draw({"op": "transform", "target": "dog", "x": 1200, "y": 300, "scale": 2, "rotation": 90})
    y.draw({"op": "order", "target": "dog", "to": "back"})
    y.draw({"op": "roll", "id": "dice", "count": 2})
    await t.wait_for(lambda: t.board.seq == 6)
    t.draw({"op": "lock", "target": "dog", "locked": True})
    await y.wait_for(lambda: y.board.seq == 7)
    y.draw({"op": "transform", "target": "dog", "x": 10, "y": 10, "scale": 1})
    await y.wait_for(lambda: any(e["code"] == "locked" for e in y.board_errors))
    y.draw({"op": "undo"})  # the dice go; the rest stays
    await t.wait_for(lambda: t.board.seq == 8)
    assert t.board.snapshot() == y.board.snapshot()
    elements = t.board.elements
    assert list(elements)[0] == "dog" and elements["dog"]["locked"]
    assert elements["dog"]["place"]["x"] == 1200 and elements["dog"]["place"]["rotation"] == 90
    assert elements["cat"]["place"]["x"] != 180  # nudged off the dog's spot
    assert elements["line"]["finished"] and len(elements["line"]["points"]) == 300
    assert not elements["dice"]["visible"] and len(elements["dice"]["data"]["values"]) == 2
    room_board = app[WHITEBOARDS].boards[scene.session]
    reloaded = await Whiteboards(room_board.db, room_board.ring).get(
        scene.session, room_board.client_id
    )
    assert reloaded.board.snapshot()["elements"] == list(t.board.elements.values())
