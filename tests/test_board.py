"""The whiteboard: every operation validated, and every copy converges whatever the order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.board import MAX_POINTS_PER_OP, Board, Replica, parse_op
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


def _serve(
    arrival: list[tuple[str, dict[str, Any]]],
) -> tuple[Board, list[tuple[int, list[dict[str, Any]]]]]:
    board, log = Board(), []
    for author, raw in arrival:
        op = parse_op(raw)
        try:
            board.check(author, op, may_clear=author == "therapist")
        except BoardError:
            continue  # refused: numbered for nobody
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
        op = parse_op(raw)
        try:
            partial.check(author, op, may_clear=author == "therapist")
        except BoardError:
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
