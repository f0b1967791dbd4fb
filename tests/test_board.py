"""The whiteboard: every operation validated, and every copy converges whatever the order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.board import MAX_POINTS_PER_OP, Board, parse_op, triples
from media.ops import AnyOp
from media.replica import Replica
from server.board.box import _recreate
from server.board.messages import parse_board_message
from server.exceptions import BoardError

AUTHORS = ["therapist", "young", "parent"]
IDS = ["a", "b", "c", "d"]
point = st.tuples(st.floats(0, 1600), st.floats(0, 1200), st.floats(0, 1))


def _ops(author: str) -> st.SearchStrategy[dict[str, Any]]:
    element = st.sampled_from([f"{author}-{i}" for i in IDS])
    target = st.sampled_from([f"{a}-{i}" for a in AUTHORS for i in IDS])
    return st.one_of(
        st.builds(
            lambda i, p: {
                "op": "stroke_begin",
                "id": i,
                "colour": "#224466",
                "width": 4,
                "points": p,
            },
            element,
            st.lists(point, min_size=1, max_size=3),
        ),
        st.builds(
            lambda i, p: {"op": "stroke_points", "id": i, "points": p},
            element,
            st.lists(point, min_size=1, max_size=3),
        ),
        st.builds(lambda i: {"op": "stroke_end", "id": i}, element),
        st.builds(
            lambda i, x: {
                "op": "shape",
                "id": i,
                "kind": "rect",
                "x1": x,
                "y1": 1,
                "x2": 30,
                "y2": 40,
                "colour": "#aa0000",
                "width": 3,
            },
            element,
            st.floats(0, 1600),
        ),
        st.builds(
            lambda i: {"op": "sticker", "id": i, "name": "happy-face", "x": 10, "y": 10}, element
        ),
        st.builds(lambda t: {"op": "erase", "target": t}, target),
        st.builds(
            lambda t, d: {"op": "move", "target": t, "dx": d, "dy": -d},
            target,
            st.floats(-100, 100),
        ),
        st.builds(
            lambda i, p: {"op": "stroke", "id": i, "colour": "#113355", "width": 2, "points": p},
            element,
            st.lists(point, min_size=1, max_size=3),
        ),
        st.builds(
            lambda i, v, x: {"op": "dice", "id": i, "values": v, "x": x, "y": 600},
            element,
            st.lists(st.integers(1, 6), min_size=1, max_size=2),
            st.sampled_from([800, 800, 100]),  # often on the same spot: nudged
        ),
        st.builds(
            lambda i, x: {
                "op": "text",
                "id": i,
                "x": x,
                "y": 300,
                "text": "hi",
                "colour": "#000000",
            },
            element,
            st.sampled_from([10, 10, 700]),
        ),
        st.builds(
            lambda t, x, r, size: {
                "op": "transform",
                "target": t,
                "x": x,
                "y": 1200 - x / 2,
                "rotation": r,
                **size,
            },
            target,
            st.floats(0, 1600),
            st.floats(-360, 360),
            st.sampled_from([{"scale": 2}, {"scale": 0.5}, {"w": 300, "h": 40}]),
        ),
        st.builds(
            lambda t, to: {"op": "order", "target": t, "to": to},
            target,
            st.sampled_from(["front", "back"]),
        ),
        st.builds(
            lambda t, locked: {"op": "lock", "target": t, "locked": locked}, target, st.booleans()
        ),
        st.just({"op": "undo"}),
        st.just({"op": "redo"}),
        st.just({"op": "clear"}),
    )


@st.composite
def sessions(draw: st.DrawFn) -> list[tuple[str, dict[str, Any]]]:
    """Each author's operations in their own order, interleaved in any way on arrival."""
    queues = {a: draw(st.lists(_ops(a), max_size=12)) for a in AUTHORS}
    arrival = []
    while any(queues.values()):
        author = draw(st.sampled_from([a for a in AUTHORS if queues[a]]))
        arrival.append((author, queues[author].pop(0)))
    return arrival


def _checked(board: Board, author: str, raw: dict[str, Any]) -> AnyOp | None:
    """What the server stores of ``raw``: checked, and settled (nudged off another item's
    spot); None when refused, numbered for nobody."""
    op = parse_op(raw)
    try:
        board.check(author, op, may_clear=author == "therapist", therapist=author == "therapist")
    except BoardError:
        return None
    return board.settle(op)


def _serve(
    arrival: list[tuple[str, dict[str, Any]]],
) -> tuple[Board, list[tuple[int, list[dict[str, Any]]]]]:
    board, log = Board(), []
    for author, raw in arrival:
        op = _checked(board, author, raw)
        if op is not None:
            log.append(board.apply(author, op))
    return board, log


@settings(max_examples=300, deadline=None)
@given(sessions(), st.data())
def test_every_copy_converges_whatever_the_interleaving(arrival, data) -> None:  # type: ignore[no-untyped-def]
    board, log = _serve(arrival)
    final = json.loads(json.dumps(board.snapshot()))
    # a copy there from the start
    start = Replica()
    for seq, changes in log:
        start.receive(seq, changes)
    # a copy that joins (or reconnects) part-way: a snapshot, then what follows
    cut = data.draw(st.integers(0, len(log)))
    replay, _ = _serve(arrival)  # the same arrival order gives the same numbering
    partial = Board()
    for author, raw in arrival:
        op = _checked(partial, author, raw)
        if op is None:
            continue
        if partial.seq == cut:
            break
        partial.apply(author, op)
    late = Replica(json.loads(json.dumps(partial.snapshot())))
    # with some operations delivered twice
    for seq, changes in log + log[: data.draw(st.integers(0, len(log)))]:
        late.receive(seq, changes)
    assert start.snapshot() == final
    assert late.snapshot() == final
    assert replay.snapshot() == final  # deterministic


def test_undo_and_redo_are_per_author() -> None:
    board = Board()
    for author, raw in [
        (
            "young",
            {
                "op": "shape",
                "id": "y1",
                "kind": "ellipse",
                "x1": 1,
                "y1": 1,
                "x2": 9,
                "y2": 9,
                "colour": "#000000",
                "width": 2,
            },
        ),
        ("therapist", {"op": "sticker", "id": "t1", "name": "sun", "x": 5, "y": 5}),
        ("young", {"op": "undo"}),
    ]:
        board.apply(author, parse_op(raw))
    assert [e.id for e in board.visible()] == ["t1"]  # the young person's undo took their own shape
    board.apply("young", parse_op({"op": "redo"}))
    assert [e.id for e in board.visible()] == ["y1", "t1"]


@pytest.mark.parametrize(
    "raw, code",
    [
        ({"op": "laser"}, "unknown_op"),
        ({"op": "text", "id": "t", "x": 1e9, "y": 5, "text": "hi", "colour": "#000000"}, "bad_op"),
        (
            {"op": "text", "id": "t", "x": float("nan"), "y": 5, "text": "hi", "colour": "#000000"},
            "bad_op",
        ),
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
                "width": -3,
            },
            "bad_op",
        ),
        (
            {
                "op": "stroke_begin",
                "id": "s",
                "colour": "#000000",
                "width": 3,
                "points": [[1, 1, 0.5]] * 100_000,
            },
            "bad_op",
        ),
        (
            {
                "op": "stroke_begin",
                "id": "s",
                "colour": "red; background:url(x)",
                "width": 3,
                "points": [[1, 1, 0.5]],
            },
            "bad_op",
        ),
        ({"op": "sticker", "id": "../../etc", "name": "sun", "x": 1, "y": 1}, "bad_op"),
        ({"op": "erase", "target": "x", "author": "therapist"}, "bad_op"),  # no spoofing an author
    ],
)
def test_bad_operations_are_refused(raw: dict[str, Any], code: str) -> None:
    with pytest.raises(BoardError) as info:
        parse_op(raw)
    assert info.value.code == code


def test_nobody_continues_someone_elses_stroke_and_only_the_therapist_clears() -> None:
    board = Board()
    begin = parse_op(
        {"op": "stroke_begin", "id": "s1", "colour": "#000000", "width": 3, "points": [[1, 1, 0.5]]}
    )
    board.check("young", begin, may_clear=False)
    board.apply("young", begin)
    more = parse_op({"op": "stroke_points", "id": "s1", "points": [[2, 2, 0.5]]})
    with pytest.raises(BoardError, match="not yours"):
        board.check("parent", more, may_clear=False)
    with pytest.raises(BoardError, match="Only the therapist"):
        board.check("young", parse_op({"op": "clear"}), may_clear=False)
    for _ in range(5000 // MAX_POINTS_PER_OP - 1):
        op = parse_op(
            {"op": "stroke_points", "id": "s1", "points": [[2, 2, 0.5]] * MAX_POINTS_PER_OP}
        )
        board.check("young", op, may_clear=False)
        board.apply("young", op)
    with pytest.raises(BoardError, match="at most 5000 points"):
        board.check(
            "young",
            parse_op(
                {"op": "stroke_points", "id": "s1", "points": [[3, 3, 0.5]] * MAX_POINTS_PER_OP}
            ),
            may_clear=False,
        )


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
        lambda c: (
            st.lists(c, max_size=4)
            | st.dictionaries(
                st.sampled_from(["op", "id", "x", "y", "points", "target", "text"]), c, max_size=5
            )
        ),
        max_leaves=20,
    )
)
def test_any_input_parses_or_is_refused_cleanly(doc: object) -> None:
    try:
        parse_op(doc if isinstance(doc, dict) else json.dumps(doc, allow_nan=True))
    except BoardError:
        pass


# -- items: placed, moved, restacked, locked


def _board(*ops: tuple[str, dict[str, Any]]) -> tuple[Board, Replica]:
    """A board made of ``ops`` as the server makes it (each checked and settled), and a copy
    that followed its changes."""
    board, copy = Board(), Replica()
    for author, raw in ops:
        _do(board, copy, author, raw)
    return board, copy


def _do(board: Board, copy: Replica, author: str, raw: dict[str, Any]) -> list[dict[str, Any]]:
    op = parse_op(raw)
    board.check(author, op, may_clear=author == "therapist", therapist=author == "therapist")
    seq, changes = board.apply(author, board.settle(op))
    copy.receive(seq, json.loads(json.dumps(changes)))
    return changes  # type: ignore[return-value]


def _refused(board: Board, author: str, raw: dict[str, Any]) -> str:
    before = json.dumps(board.snapshot())
    with pytest.raises(BoardError) as info:
        op = parse_op(raw)
        board.check(author, op, may_clear=False, therapist=author == "therapist")
    assert json.dumps(board.snapshot()) == before
    return info.value.code


DOG = {"op": "sticker", "id": "dog", "name": "dog", "x": 100, "y": 100}
BOX = {"op": "shape", "id": "box", "kind": "rect", "x1": 500, "y1": 500, "x2": 700,
       "y2": 600, "colour": "#000000", "width": 3}  # fmt: skip


def test_every_item_has_a_place_from_the_operation_that_made_it() -> None:
    board, _ = _board(
        ("young", DOG),
        ("young", BOX),
        (
            "young",
            {
                "op": "text",
                "id": "hi",
                "x": 10,
                "y": 100,
                "text": "hi",
                "colour": "#000000",
                "size": 20,
            },
        ),  # fmt: skip
        ("young", {"op": "dice", "id": "d", "values": [3, 5], "x": 900, "y": 900}),
        (
            "young",
            {"op": "picture", "id": "p", "object": "0" * 32, "x": 0, "y": 0, "w": 300, "h": 200},
        ),  # fmt: skip
        (
            "young",
            {
                "op": "stroke",
                "id": "s",
                "colour": "#000000",
                "width": 3,
                "points": [[1, 1, 0.5], [9, 9, 0.5]],
            },
        ),  # fmt: skip
    )
    places = {e["id"]: e["place"] for e in board.snapshot()["elements"]}
    assert places["dog"] == {"x": 180, "y": 180, "scale": 1, "w": None, "h": None, "rotation": 0}
    assert places["box"] == {"x": 600, "y": 550, "scale": None, "w": 200, "h": 100, "rotation": 0}
    assert places["hi"] is not None and places["hi"]["y"] == 93  # about its middle
    assert places["d"] == {"x": 900, "y": 900, "scale": 1, "w": None, "h": None, "rotation": 0}
    assert places["p"] == {"x": 150, "y": 100, "scale": None, "w": 300, "h": 200, "rotation": 0}
    assert places["s"] is None  # a stroke is no item
    assert board.elements["s"].finished  # a whole stroke is finished as it is made


def test_a_transform_sets_the_whole_place_and_undo_and_redo_take_it_back_and_forth() -> None:
    board, copy = _board(("young", DOG), ("young", BOX))
    moved = {"op": "transform", "target": "dog", "x": 1500, "y": 50, "scale": 2.5, "rotation": -45}
    changes = _do(board, copy, "young", moved)
    to = {"x": 1500, "y": 50, "scale": 2.5, "w": None, "h": None, "rotation": -45}
    assert changes == [{"place": "dog", "to": to}]
    _do(board, copy, "young", {"op": "transform", "target": "box", "x": 10, "y": 10, "w": 0,
                               "h": 1200})  # fmt: skip
    _do(board, copy, "young", {"op": "order", "target": "dog", "to": "back"})
    assert board.order == ["dog", "box"]
    _do(board, copy, "young", {"op": "order", "target": "dog", "to": "front"})
    assert board.order == ["box", "dog"]
    for _ in range(3):
        _do(board, copy, "young", {"op": "undo"})
    assert board.order == ["dog", "box"]
    assert board.elements["dog"].place == to
    assert board.elements["box"].place == {"x": 600, "y": 550, "scale": None, "w": 200, "h": 100,
                                           "rotation": 0}  # fmt: skip
    _do(board, copy, "young", {"op": "undo"})
    assert board.elements["dog"].place is not None and board.elements["dog"].place["x"] == 180
    for _ in range(4):
        _do(board, copy, "young", {"op": "redo"})
    assert board.order == ["box", "dog"] and board.elements["dog"].place == to
    assert copy.snapshot() == json.loads(json.dumps(board.snapshot()))
    # a step from an old board moves an item's place; a stroke's offset as before
    _do(board, copy, "young", {"op": "move", "target": "dog", "dx": -100, "dy": 20})
    assert board.elements["dog"].place == {**to, "x": 1400, "y": 70}
    assert copy.snapshot() == json.loads(json.dumps(board.snapshot()))


@pytest.mark.parametrize(
    "raw, code",
    [
        ({"op": "transform", "target": "nobody", "x": 5, "y": 5, "scale": 1}, "unknown"),
        ({"op": "transform", "target": "gone", "x": 5, "y": 5, "scale": 1}, "unknown"),
        ({"op": "transform", "target": "line", "x": 5, "y": 5, "w": 9, "h": 9}, "not_allowed"),
        ({"op": "transform", "target": "dog", "x": 5, "y": 5, "w": 9, "h": 9}, "bad_op"),
        ({"op": "transform", "target": "box", "x": 5, "y": 5, "scale": 2}, "bad_op"),
        ({"op": "transform", "target": "dog", "x": 5, "y": 5}, "bad_op"),  # no size
        (
            {"op": "transform", "target": "dog", "x": 5, "y": 5, "scale": 1, "w": 9, "h": 9},
            "bad_op",
        ),
        ({"op": "transform", "target": "box", "x": 5, "y": 5, "w": 9}, "bad_op"),
        ({"op": "transform", "target": "dog", "x": 1e6, "y": 5, "scale": 1}, "bad_op"),
        ({"op": "transform", "target": "dog", "x": -1, "y": 5, "scale": 1}, "bad_op"),
        ({"op": "transform", "target": "dog", "x": 5, "y": 5, "scale": 100}, "bad_op"),
        ({"op": "transform", "target": "dog", "x": 5, "y": 5, "scale": 0}, "bad_op"),
        ({"op": "transform", "target": "box", "x": 5, "y": 5, "w": 1e9, "h": 9}, "bad_op"),
        ({"op": "transform", "target": "box", "x": 5, "y": 5, "w": 9, "h": -9}, "bad_op"),
        (
            {"op": "transform", "target": "dog", "x": 5, "y": 5, "scale": 1, "rotation": 1e4},
            "bad_op",
        ),
        ({"op": "transform", "target": "dog", "x": float("nan"), "y": 5, "scale": 1}, "bad_op"),
        ({"op": "order", "target": "dog", "to": "middle"}, "bad_op"),
        ({"op": "order", "target": "nobody", "to": "front"}, "unknown"),
        ({"op": "lock", "target": "dog", "locked": True}, "not_allowed"),  # the therapist only
        ({"op": "lock", "target": "dog", "locked": "yes"}, "bad_op"),
        ({"op": "roll", "id": "d", "count": 2}, "not_allowed"),  # the server rolls
        ({"op": "roll", "id": "d", "count": 3}, "bad_op"),
        ({"op": "dice", "id": "d", "values": [7], "x": 1, "y": 1}, "bad_op"),
        ({"op": "dice", "id": "d", "values": [1, 2, 3], "x": 1, "y": 1}, "bad_op"),
    ],
)
def test_moves_of_what_is_not_there_or_out_of_bounds_are_refused(
    raw: dict[str, Any], code: str
) -> None:
    board, _ = _board(
        ("young", DOG),
        ("young", BOX),
        ("young", {**DOG, "id": "gone", "x": 900}),
        ("young", {"op": "erase", "target": "gone"}),
        (
            "young",
            {
                "op": "stroke",
                "id": "line",
                "colour": "#000000",
                "width": 3,
                "points": [[1, 1, 0.5]],
            },
        ),  # fmt: skip
    )
    assert _refused(board, "young", raw) == code


@pytest.mark.hazard("HZ-14")
def test_a_locked_item_moves_only_for_the_therapist() -> None:
    board, copy = _board(("therapist", DOG), ("young", BOX))
    _do(board, copy, "therapist", {"op": "lock", "target": "dog", "locked": True})
    _do(board, copy, "therapist", {"op": "lock", "target": "box", "locked": True})
    assert copy.elements["dog"]["locked"] and copy.elements["box"]["locked"]
    for raw in (
        {"op": "transform", "target": "dog", "x": 5, "y": 5, "scale": 1},
        {"op": "move", "target": "dog", "dx": 5, "dy": 5},
        {"op": "order", "target": "dog", "to": "back"},
        {"op": "erase", "target": "dog"},
        {"op": "undo"},  # the young person's own box, locked: their undo would hide it
        {"op": "lock", "target": "dog", "locked": False},
    ):
        assert _refused(board, "young", raw) in ("locked", "not_allowed"), raw
    # clearing leaves what is locked where it is
    _do(board, copy, "young", {**DOG, "id": "cat", "name": "cat", "x": 900})
    changes = _do(board, copy, "therapist", {"op": "clear"})
    assert changes == [{"visible": "cat", "value": False}]
    assert [e.id for e in board.visible()] == ["dog", "box"]
    # the therapist moves it, and frees it for the others
    _do(board, copy, "therapist", {"op": "transform", "target": "dog", "x": 5, "y": 5, "scale": 1})
    _do(board, copy, "therapist", {"op": "lock", "target": "dog", "locked": False})
    _do(board, copy, "young", {"op": "transform", "target": "dog", "x": 50, "y": 5, "scale": 1})
    assert copy.snapshot() == json.loads(json.dumps(board.snapshot()))


def test_an_item_placed_on_another_is_nudged_off_it() -> None:
    board, copy = _board(("young", DOG))
    same = parse_op({**DOG, "id": "dog2"})
    nudged = board.settle(same)
    assert nudged != same and (nudged.x, nudged.y) == (132, 132)  # type: ignore[union-attr]
    _do(board, copy, "young", {**DOG, "id": "dog2"})
    _do(board, copy, "young", {**DOG, "id": "dog3"})  # off both
    places = {(e.place["x"], e.place["y"]) for e in board.visible() if e.place}
    assert len(places) == 3
    # at the board's edge, the other way
    corner = {**DOG, "id": "c1", "x": 1600, "y": 1200, "scale": 0.25}
    _do(board, copy, "young", corner)
    moved = board.settle(parse_op({**corner, "id": "c2"}))
    assert (moved.x, moved.y) == (1568, 1168)  # type: ignore[union-attr]
    # a shape moves whole; an item elsewhere stays where it was put
    _do(board, copy, "young", BOX)
    shifted = board.settle(parse_op({**BOX, "id": "box2"}))
    assert (shifted.x1, shifted.y1, shifted.x2, shifted.y2) == (532, 532, 732, 632)  # type: ignore[union-attr]
    elsewhere = parse_op({**DOG, "id": "far", "x": 1000})
    assert board.settle(elsewhere) is elsewhere


def test_a_free_spot_covers_no_item() -> None:
    board, copy = _board()
    for n in range(6):
        x, y = board.free_spot(300, 200)
        _do(board, copy, "young", {"op": "picture", "id": f"p{n}", "object": "0" * 32,
                                   "x": x - 150, "y": y - 100, "w": 300, "h": 200})  # fmt: skip
    boxes = [(e.place["x"], e.place["y"]) for e in board.visible() if e.place]
    for i, (x1, y1) in enumerate(boxes):
        for x2, y2 in boxes[i + 1 :]:
            assert abs(x1 - x2) >= 300 or abs(y1 - y2) >= 200  # none covers another


def test_a_stroke_is_one_operation_and_a_huge_one_is_refused() -> None:
    stroke = {"op": "stroke", "id": "s", "colour": "#000000", "width": 3}
    board, _ = _board(("young", {**stroke, "points": [[1, 1, 0.5]] * 5000}))
    assert board.elements["s"].point_count() == 5000 and board.elements["s"].finished
    assert (
        _refused(board, "young", {**stroke, "id": "t", "points": [[1, 1, 0.5]] * 5001}) == "bad_op"
    )
    assert (
        _refused(board, "young", {**stroke, "id": "u", "points": [[1, 1, 0.5]] * 100_000})
        == "bad_op"
    )
    huge = json.dumps({**stroke, "id": "v", "points": [[1.5, 1.5, 0.5]] * 100_000})
    with pytest.raises(BoardError) as info:
        parse_board_message(huge)  # as it comes on the channel: over 32 KiB
    assert info.value.code == "bad_op"
    assert _refused(board, "young", {**stroke, "points": [[1, 1, 0.5]]}) == "duplicate"


def test_operations_stored_before_items_replay_as_they_did() -> None:
    """A board stored before items moved: its operations replay, a step of a sticker moves
    its place, and a stroke drawn point by point is as it was."""
    stored = [
        (
            "young",
            {
                "op": "stroke_begin",
                "id": "s1",
                "colour": "#204080",
                "width": 6,
                "points": [[100, 100, 0.5]],
            },
        ),  # fmt: skip
        ("young", {"op": "stroke_points", "id": "s1", "points": [[110, 110, 0.5]]}),
        ("young", {"op": "stroke_end", "id": "s1"}),
        ("therapist", {"op": "sticker", "id": "k1", "name": "sun", "x": 620, "y": 440}),
        ("therapist", {"op": "move", "target": "k1", "dx": 30, "dy": -40}),
        ("young", {"op": "move", "target": "s1", "dx": 5, "dy": 5}),
        ("young", {"op": "undo"}),
        ("young", {"op": "erase", "target": "k1"}),
    ]
    board, copy = _board(*stored)
    k1, s1 = board.elements["k1"], board.elements["s1"]
    assert k1.place is not None and (k1.place["x"], k1.place["y"]) == (730, 480)
    assert not k1.visible and s1.finished and (s1.dx, s1.dy) == (0, 0)
    assert s1.point_count() == 2 and s1.data == {"colour": "#204080", "width": 6}
    assert copy.snapshot() == json.loads(json.dumps(board.snapshot()))


def test_an_item_reopened_from_the_box_comes_back_where_it_was_left() -> None:
    board, _ = _board(
        ("therapist", DOG),
        ("therapist", BOX),
        ("therapist", {"op": "dice", "id": "d", "values": [6], "x": 300, "y": 900}),
        (
            "therapist",
            {"op": "transform", "target": "dog", "x": 1000, "y": 200, "scale": 2, "rotation": 30},
        ),  # fmt: skip
        ("therapist", {"op": "lock", "target": "box", "locked": True}),
        (
            "young",
            {
                "op": "stroke",
                "id": "s",
                "colour": "#000000",
                "width": 3,
                "points": [[1, 1, 0.5], [20, 20, 1]],
            },
        ),  # fmt: skip
    )
    again, _ = _board(
        *[
            ("therapist", op)
            for element in board.visible()
            for op in _recreate(element.as_dict(), "b")
        ]
    )

    def keep(e: dict[str, Any]) -> tuple[Any, ...]:
        return e["kind"], e["data"], e["points"], e["place"], e["locked"]

    assert [keep(e) for e in again.snapshot()["elements"]] == [
        keep(e) for e in board.snapshot()["elements"]
    ]


# -- the board's settings: the therapist's alone, kept in the board and replayed


@pytest.mark.parametrize(
    ("raw", "setting"),
    [
        ({"op": "background", "name": "sand"}, {"background": "sand"}),
        ({"op": "background", "name": None}, {"background": None}),
        ({"op": "library", "hidden": True}, {"library_hidden": True}),
    ],
)
def test_a_setting_is_the_therapists_alone(raw: dict[str, Any], setting: dict[str, Any]) -> None:
    board, copy = _board(("therapist", BOX))
    for author in ("young", "parent"):
        assert _refused(board, author, raw) == "not_allowed"
    assert _do(board, copy, "therapist", raw) == [setting]
    assert board.snapshot()["settings"] == {"background": None, "library_hidden": False, **setting}
    assert copy.snapshot() == json.loads(json.dumps(board.snapshot()))
    # not undone, and a clear leaves it
    _do(board, copy, "therapist", {"op": "undo"})
    _do(board, copy, "therapist", {"op": "clear"})
    assert board.settings == {"background": None, "library_hidden": False, **setting}
    assert copy.snapshot() == json.loads(json.dumps(board.snapshot()))


@pytest.mark.parametrize(
    "raw",
    [
        {"op": "background", "name": "lava"},
        {"op": "background", "name": "Sand"},
        {"op": "background", "name": 3},
        {"op": "background"},
        {"op": "background", "name": "sand", "extra": 1},
        {"op": "library", "hidden": "true"},
        {"op": "library", "hidden": 1},
        {"op": "library", "hidden": None},
        {"op": "library"},
    ],
)
def test_bad_settings_are_refused(raw: dict[str, Any]) -> None:
    board, _ = _board()
    assert _refused(board, "therapist", raw) == "bad_op"


@pytest.mark.hazard("HZ-15")
def test_a_hidden_library_takes_stickers_from_the_therapist_alone() -> None:
    board, copy = _board(("therapist", {"op": "library", "hidden": True}))
    assert _refused(board, "young", DOG) == "not_allowed"
    _do(board, copy, "young", BOX)  # a shape is not the library
    _do(board, copy, "therapist", DOG)
    _do(board, copy, "therapist", {"op": "library", "hidden": False})
    _do(board, copy, "young", {**DOG, "id": "cat", "name": "cat"})
    assert {"dog", "cat", "box"} <= set(board.elements)


def test_settings_replay_from_storage_and_old_boards_have_none() -> None:
    """What the server does on a restart: each stored operation, as JSON, applied again."""
    board, _ = _board(
        ("therapist", DOG),
        ("therapist", {"op": "background", "name": "water"}),
        ("therapist", {"op": "library", "hidden": True}),
        ("therapist", {"op": "background", "name": "grass"}),
    )
    stored = [
        ("therapist", parse_op(raw).model_dump_json())
        for raw in (
            DOG,
            {"op": "background", "name": "water"},
            {"op": "library", "hidden": True},
            {"op": "background", "name": "grass"},
        )
    ]
    again = Board()
    for author, text in stored:
        again.apply(author, parse_op(text))
    assert again.snapshot() == board.snapshot()
    assert again.snapshot()["settings"] == {"background": "grass", "library_hidden": True}
    old = Board()  # a board stored before there were settings
    old.apply("therapist", parse_op(stored[0][1]))
    assert old.snapshot()["settings"] == {"background": None, "library_hidden": False}
    assert Replica({"seq": 1, "elements": []}).snapshot()["settings"] == old.settings


def test_what_a_board_keeps_of_a_stroke_is_one_object_the_collector_walks() -> None:
    """A server holds every stroke of every board it has open, and each full collection of
    its garbage walks every object the collector tracks, stopping every room meanwhile: a
    stroke's points (an array of numbers), what undoes it and its change kept for a page
    coming back (tuples of numbers and strings) are objects the collector does not track;
    only the element and its effect are walked (``docs/performance.md``, §10)."""
    import gc

    from server.board.history import History

    board, history = Board(), History()
    ops = [
        {"op": "stroke", "id": "a", "colour": "#224466", "width": 4, "points": [[1, 2, 0.5]] * 3},
        {"op": "stroke_begin", "id": "b", "colour": "#224466", "width": 4, "points": [[1, 2, 0]]},
        {"op": "stroke_points", "id": "b", "points": [[3, 4, 0], [5, 6, 1]]},
        {"op": "stroke_end", "id": "b"},
        {"op": "erase", "target": "a"},
        {"op": "clear"},
    ]
    for op in ops:
        seq, changes = board.apply("young", parse_op(json.dumps(op)))
        history.add(seq, json.dumps(changes), ["a-picture"])
    gc.collect()
    gc.collect()  # a tuple stops being tracked at the collection after what it holds did
    assert list(triples(board.elements["b"].points)) == [(1, 2, 0), (3, 4, 0), (5, 6, 1)]
    for element in board.elements.values():
        assert not gc.is_tracked(element.points) and not gc.is_tracked(element.data)
    assert [effect.kind for effect in board.done["young"]] == ["show", "show", "hide", "hide"]
    assert not any(gc.is_tracked(effect.targets) for effect in board.done["young"])
    assert not any(gc.is_tracked(recent) for recent in history._recent)
    assert [r.seq for r in history.after(4) or []] == [5, 6]
