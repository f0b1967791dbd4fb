"""The room's board as its members' channels meet it (``RoomBoard.message``), on links that
record what they are sent and storage kept in memory: the same entry point serves the data
connection and the socket. Every frame on ``board``, ``objects`` and ``control`` gets its
documented answer, or its documented silence; a refused frame changes nothing for anyone,
and the channel goes on working."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydantic import BaseModel, TypeAdapter, ValidationError

from media.board import _ops
from media.replica import Replica
from media.transfer import CHUNK
from server.access.ratelimit import RateLimiter
from server.board import pictures, service
from server.board.members import Member
from server.board.messages import (
    BOARD_ERRORS,
    CONTROL_ERRORS,
    MAX_CONTROL_CHARS,
    MAX_OBJECT_MESSAGE_CHARS,
    MAX_OP_CHARS,
    OBJECT_ERRORS,
    ChannelError,
    Label,
    Ping,
    _objects_incoming,
    parse_reply,
)
from server.board.service import RoomBoard
from server.crypto.keys import KeyMaterial, KeyRing
from server.crypto.sealed import unseal
from tests.test_fuzz_properties import JSON, near_object, near_union

RING = KeyRing(KeyMaterial.generate())
STROKE = {"op": "stroke_begin", "id": "t-1", "colour": "#204080", "width": 4,
          "points": [[10, 10, 0.5], [20, 15, 0.5]]}  # fmt: skip


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), "orange").save(out, "PNG")
    return out.getvalue()


PNG = _png()


class Recording:
    """A member's link: keeps what the board sends, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | bytes]] = []

    def send(self, label: str, data: str | bytes) -> bool:
        self.sent.append((label, data))
        return True

    async def close(self) -> None:
        return None

    def take(self) -> list[tuple[str, str | bytes]]:
        sent, self.sent = self.sent, []
        return sent

    def messages(self, label: Label) -> list[BaseModel]:
        """What came on ``label``, read back as the channel's models (bytes left out)."""
        return [
            parse_reply(label, data)
            for sent_label, data in self.sent
            if sent_label == label and isinstance(data, str)
        ]


class Memory:
    """Storage kept in memory: the board's writer, and the database a picture is added to."""

    def __init__(self) -> None:
        self.rows: list[Any] = []

    async def write(self, row: Any) -> None:
        self.rows.append(row)

    async def execute(self, statement: Any) -> None:
        """A room's setting stored (``keep_settings``): kept as the statement itself."""
        self.rows.append(statement)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Memory]:
        yield self

    def add(self, row: Any) -> None:
        self.rows.append(row)


def _room() -> tuple[RoomBoard, Recording, Recording]:
    """A room's board with the therapist ("t") and a young person ("y") on it."""
    memory = Memory()
    room = RoomBoard("a" * 32, "c" * 32, memory, RING, memory)  # type: ignore[arg-type]
    t, y = Recording(), Recording()
    room.join("t", Member("staff:t", True, t))
    room.join("y", Member("link:y", False, y))
    return room, t, y


def _only(link: Recording, label: Label) -> BaseModel:
    messages = link.messages(label)
    assert len(messages) == 1 and len(link.sent) == 1, link.sent
    return messages[0]


def _error(link: Recording, label: Label) -> ChannelError:
    message = _only(link, label)
    assert isinstance(message, ChannelError), message
    return message


# -- the picture flow, and its fixed deviations


async def test_a_picture_is_shared_as_the_docs_say() -> None:
    room, t, y = _room()
    await room.message("y", "objects", json.dumps({"type": "begin", "id": "p-1", "size": len(PNG)}))
    assert _only(y, "objects").model_dump() == {"type": "ready", "id": "p-1", "received": 0}
    y.take()
    for start in range(0, len(PNG), 100):
        await room.message("y", "objects", PNG[start : start + 100])
    assert y.sent == [] and t.sent == []  # chunks taken are not answered
    await room.message("y", "objects", json.dumps({"type": "end", "id": "p-1"}))
    mine = [m.model_dump() for m in y.messages("objects")]
    theirs = [m.model_dump() for m in t.messages("objects")]
    object_id = mine[0]["object"]
    assert mine[0] == {"type": "shared", "id": "p-1", "object": object_id}  # the sender only
    assert mine[1:] == theirs  # then the picture to everyone, the sender too
    assert [m["type"] for m in theirs] == ["object", "object_end"]
    assert theirs[0]["object"] == object_id
    assert theirs[0]["mime"] in ("image/webp", "image/jpeg")  # re-encoded, with no metadata
    (placed,) = t.messages("board")  # and placed on the board: a change to everyone
    assert placed.model_dump()["changes"][0]["set"]["data"]["object"] == object_id
    assert [m.model_dump() for m in y.messages("board")] == [placed.model_dump()]


@pytest.mark.parametrize(
    "begin, named",
    [
        ({"type": "begin", "size": 10}, "id"),  # was answered ready with id ""
        ({"type": "begin", "id": "", "size": 10}, "id"),
        ({"type": "begin", "id": "x" * 41, "size": 10}, "id"),
        ({"type": "begin", "id": "p-1", "size": 0}, "size"),  # was too_large
        ({"type": "begin", "id": "p-1", "size": -1}, "size"),
        ({"type": "begin", "id": "p-1", "size": 1.0}, "size"),
        ({"type": "begin", "id": "p-1", "size": "12"}, "size"),
        ({"type": "begin", "id": "p-1", "size": True}, "size"),
        ({"type": "begin", "id": "p-1"}, "size"),
        ({"type": "begin", "id": 7, "size": 10}, "id"),
        ({"type": "end"}, "id"),
        ({"type": "begin", "id": "p-1", "size": 10, "name": "cat.png"}, "name"),
        ({"type": "start", "id": "p-1", "size": 10}, "type"),
        ({"id": "p-1", "size": 10}, "type"),
    ],
)
async def test_a_bad_object_message_is_answered_bad_message_naming_the_fault(
    begin: dict[str, Any], named: str
) -> None:
    room, t, y = _room()
    await room.message("y", "objects", json.dumps(begin))
    error = _error(y, "objects")
    assert error.code == "bad_message" and error.message.startswith(f"{named}:"), error
    assert t.sent == [] and room.members["y"].transfers.current is None


async def test_bytes_or_an_end_with_no_picture_on_its_way_are_answered_no_transfer() -> None:
    room, _, y = _room()
    await room.message("y", "objects", b"\x89PNG")  # before any begin
    assert _error(y, "objects").code == "no_transfer"
    y.take()
    await room.message("y", "objects", json.dumps({"type": "end", "id": "p-1"}))
    assert _error(y, "objects").code == "no_transfer"
    y.take()
    await room.message("y", "objects", json.dumps({"type": "begin", "id": "p-1", "size": 9}))
    await room.message("y", "objects", json.dumps({"type": "end", "id": "p-2"}))  # not that one
    await room.message("y", "objects", json.dumps({"type": "end", "id": "p-1"}))  # not all of it
    await room.message("y", "objects", b"x" * 10)  # more than announced
    codes = [getattr(m, "code", m.type) for m in y.messages("objects")]  # type: ignore[attr-defined]
    assert codes == ["ready", "no_transfer", "incomplete", "too_much"]
    assert room.members["y"].transfers.current is not None  # the picture may still come


async def test_sizes_beyond_the_bound_are_too_large_and_cost_no_picture() -> None:
    room, _, y = _room()
    for n in range(8):
        await room.message(
            "y", "objects", json.dumps({"type": "begin", "id": f"b{n}", "size": 1 << 40})
        )
    assert {m.code for m in y.messages("objects")} == {"too_large"}  # type: ignore[attr-defined]
    y.take()
    for n in range(7):
        await room.message("y", "objects", json.dumps({"type": "begin", "id": f"p{n}", "size": 9}))
    answers = [getattr(m, "code", m.type) for m in y.messages("objects")]  # type: ignore[attr-defined]
    assert answers == ["ready"] * 6 + ["rate_limited"]


# -- the board and control channels


async def test_a_change_is_encoded_once_for_everyone() -> None:
    room, t, y = _room()
    await room.message("y", "board", json.dumps(STROKE))
    ((_, mine),), ((_, theirs),) = y.sent, t.sent
    assert mine is theirs  # the same text, not the same message encoded twice
    assert _only(t, "board").model_dump()["seq"] == 1


async def test_the_board_is_strict_about_numbers() -> None:
    room, t, y = _room()
    for changed in ({"width": "4"}, {"width": True}, {"points": [[10, "10", 0.5]]}):
        await room.message("y", "board", json.dumps({**STROKE, **changed}))
    assert [m.code for m in y.messages("board")] == ["bad_op"] * 3  # type: ignore[attr-defined]
    assert t.sent == [] and room.board.seq == 0


async def test_a_snapshot_comes_in_parts_under_the_bound() -> None:
    room, _, y = _room()
    for n in range(60):
        points = [[10 + i, 10 + n * 10, 0.5] for i in range(200)]
        await room.submit(
            "staff:t", _ops.validate_python({**STROKE, "id": f"s{n}", "points": points}), True
        )
    y.take()
    room.send_snapshot(y)
    parts = [data for _, data in y.sent]
    assert all(len(p) <= service.SNAPSHOT_PART_BYTES for p in parts) and len(parts) > 2
    messages = y.messages("board")
    assert messages[-1].model_dump() == {"type": "snapshot", "seq": 60, "settings": NO_SETTINGS}
    ids = [e["id"] for m in messages[:-1] for e in m.model_dump()["elements"]]
    assert ids == [f"s{n}" for n in range(60)]


async def test_control_answers_a_ping_and_names_anything_else() -> None:
    room, _, y = _room()
    await room.message("y", "control", '{"type": "ping", "t": 1717171717171}')
    assert _only(y, "control").model_dump() == {"type": "pong", "t": 1717171717171}
    for bad, code in (
        ("{", "bad_json"),
        ('{"type": "ping"}', "bad_message"),
        ('{"type": "ping", "t": "1"}', "bad_message"),
        ('{"type": "ping", "t": true}', "bad_message"),
        ('{"type": "pong", "t": 1}', "bad_message"),
        (b"\x00", "bad_message"),
        ('{"type": "ping", "t": 1, "pad": "' + "x" * 300 + '"}', "bad_message"),
    ):
        y.take()
        await room.message("y", "control", bad)
        assert _error(y, "control").code == code, bad


async def test_nobody_off_the_board_is_answered() -> None:
    room, t, y = _room()
    for label, data in (("board", json.dumps(STROKE)), ("objects", b"x"), ("control", "{")):
        await room.message("someone", label, data)
    assert t.sent == [] and y.sent == [] and room.board.seq == 0


# -- items, dice and strokes on the room's board


def _changes(link: Recording) -> list[dict[str, Any]]:
    return [c for m in link.messages("board") for c in m.model_dump().get("changes", [])]


def _codes(link: Recording) -> list[str]:
    return [m.code for m in link.messages("board") if isinstance(m, ChannelError)]


DOG = {"op": "sticker", "id": "dog", "name": "dog", "x": 100, "y": 100}
NO_SETTINGS = {"background": None, "library_hidden": False, "clear_allowed": False}


async def test_dice_are_rolled_by_the_server_the_same_for_everyone() -> None:
    room, t, y = _room()
    await room.message("y", "board", json.dumps({"op": "roll", "id": "d-1", "count": 2}))
    (mine,), (theirs,) = y.messages("board"), t.messages("board")
    assert mine == theirs  # one change, the same numbers, for everyone
    dice = mine.model_dump()["changes"][0]["set"]
    assert dice["kind"] == "dice" and len(dice["data"]["values"]) == 2
    assert all(1 <= v <= 6 for v in dice["data"]["values"]) and dice["place"] is not None
    stored = json.loads(unseal(RING, room.writer.rows[-1], "op_enc") or "{}")  # type: ignore[attr-defined]
    assert stored["op"] == "dice" and stored["values"] == dice["data"]["values"]  # replays
    t.take(), y.take()
    for raw, code in (
        ({"op": "dice", "id": "d-2", "values": [6, 6], "x": 5, "y": 5}, "not_allowed"),
        ({"op": "roll", "id": "d-3", "count": 3}, "bad_op"),
        ({"op": "roll", "id": "d-1", "count": 1}, "duplicate"),
    ):
        await room.message("y", "board", json.dumps(raw))
        assert _codes(y)[-1] == code
    assert t.sent == [] and room.board.seq == 1


async def test_a_thousand_rolls_a_second_are_refused_and_nothing_else_changes() -> None:
    room, t, y = _room()
    await room.message("t", "board", json.dumps(DOG))
    t.take(), y.take()
    for n in range(1000):
        await room.message("y", "board", json.dumps({"op": "roll", "id": f"d{n}", "count": 1}))
    dice = [c["set"]["id"] for c in _changes(t)]
    assert 1 <= len(dice) <= service.ROLLS_BURST + 1  # a burst, then one a second
    assert set(_codes(y)) == {"rate_limited"} and len(_codes(y)) == 1000 - len(dice)
    assert [c["set"]["kind"] for c in _changes(t)] == ["dice"] * len(dice)
    assert len(room.board.elements) == 1 + len(dice)


async def test_moves_of_locked_unknown_or_out_of_range_items_are_refused_for_the_sender_only() -> (
    None
):
    room, t, y = _room()
    await room.message("t", "board", json.dumps(DOG))
    await room.message("t", "board", json.dumps({"op": "lock", "target": "dog", "locked": True}))
    t.take(), y.take()
    before = room.board.snapshot()
    for raw, code in (
        ({"op": "transform", "target": "dog", "x": 5, "y": 5, "scale": 1}, "locked"),
        ({"op": "erase", "target": "dog"}, "locked"),
        ({"op": "order", "target": "dog", "to": "back"}, "locked"),
        ({"op": "lock", "target": "dog", "locked": False}, "not_allowed"),
        ({"op": "transform", "target": "cat", "x": 5, "y": 5, "scale": 1}, "unknown"),
        ({"op": "transform", "target": "dog", "x": 1e6, "y": 5, "scale": 1}, "bad_op"),
        ({"op": "transform", "target": "dog", "x": 5, "y": 5, "scale": 1e6}, "bad_op"),
        ({"op": "transform", "target": "dog", "x": 5, "y": 5, "w": 1e9, "h": 1e9}, "bad_op"),
    ):
        await room.message("y", "board", json.dumps(raw))
        assert _codes(y)[-1] == code, raw
    assert t.sent == [] and room.board.snapshot() == before  # nobody else's board changed
    # the therapist moves it
    moved = {"op": "transform", "target": "dog", "x": 5, "y": 5, "scale": 1}
    await room.message("t", "board", json.dumps(moved))
    assert _changes(y)[-1] == {"place": "dog", "to": {"x": 5, "y": 5, "scale": 1, "w": None,
                                                      "h": None, "rotation": 0}}  # fmt: skip


async def test_a_stroke_of_100000_points_is_refused_and_nobody_hears_of_it() -> None:
    room, t, y = _room()
    stroke = {"op": "stroke", "id": "s", "colour": "#000000", "width": 3}
    await room.message("y", "board", json.dumps({**stroke, "points": [[1, 1, 0.5]] * 100_000}))
    assert _codes(y) == ["bad_op"] and t.sent == [] and room.board.seq == 0
    y.take()
    await room.message("y", "board", json.dumps({**stroke, "points": [[1, 1, 0.5]] * 1000}))
    (change,) = t.messages("board")  # a stroke at pen-up: one operation, finished
    assert change.model_dump()["changes"][0]["set"]["finished"] and room.board.seq == 1


async def test_an_item_put_on_anothers_spot_is_nudged_before_it_is_stored() -> None:
    room, t, _ = _room()
    await room.message("t", "board", json.dumps(DOG))
    await room.message("y", "board", json.dumps({**DOG, "id": "dog2"}))
    placed = _changes(t)[-1]["set"]
    assert (placed["data"]["x"], placed["data"]["y"]) == (132, 132)
    stored = json.loads(unseal(RING, room.writer.rows[-1], "op_enc") or "{}")  # type: ignore[attr-defined]
    assert (stored["x"], stored["y"]) == (132, 132)  # stored as placed: replays the same


async def test_a_second_picture_does_not_land_on_the_first() -> None:
    room, t, y = _room()
    for n in range(2):
        await room.message("y", "objects", json.dumps({"type": "begin", "id": f"p{n}",
                                                       "size": len(PNG)}))  # fmt: skip
        await room.message("y", "objects", PNG)
        await room.message("y", "objects", json.dumps({"type": "end", "id": f"p{n}"}))
    first, second = (c["set"] for c in _changes(t))
    assert first["kind"] == second["kind"] == "picture"
    (a, b) = first["place"], second["place"]
    assert (
        abs(a["x"] - b["x"]) >= (a["w"] + b["w"]) / 2
        or abs(a["y"] - b["y"]) >= (a["h"] + b["h"]) / 2
    )


# -- any frame at all, on any channel (hypothesis)


def _dumped(doc: Any) -> str:
    return json.dumps(doc)  # NaN and Infinity too: not JSON, and so refused


def _frames(adapter: TypeAdapter[Any], near: st.SearchStrategy[Any], limit: int) -> Any:
    """A channel's frames: near its models' JSON schema (every message type, each field at and
    past its bounds, dropped, or a stranger), any JSON, any text or bytes, and too long."""
    return st.one_of(
        near.map(_dumped),
        near.map(_dumped),
        JSON.map(_dumped),
        st.text(max_size=40),
        st.sampled_from(["", "{", "[1,", "NaN", '{"type": "ping"', "1" * 5000, "[" * 300]),
        st.binary(max_size=40),
        near.map(
            lambda doc: _dumped({"pad": "x" * limit, **doc} if isinstance(doc, dict) else doc)
        ),
    )


BOARD_FRAMES = _frames(_ops, near_union(_ops.json_schema()), MAX_OP_CHARS)
OBJECT_FRAMES = st.one_of(
    _frames(
        _objects_incoming, near_union(_objects_incoming.json_schema()), MAX_OBJECT_MESSAGE_CHARS
    ),
    st.sampled_from([0, 1, CHUNK, CHUNK + 1]).map(lambda n: b"\x89" * n),  # a chunk
)
_ping = TypeAdapter(Ping)
_ping_schema = _ping.json_schema()
CONTROL_FRAMES = _frames(
    _ping, near_object(_ping_schema, _ping_schema.get("$defs", {}), 0), MAX_CONTROL_CHARS
)
FRAMES = st.lists(
    st.one_of(
        st.tuples(st.just("board"), BOARD_FRAMES),
        st.tuples(st.just("objects"), OBJECT_FRAMES),
        st.tuples(st.just("control"), CONTROL_FRAMES),
    ),
    min_size=1,
    max_size=8,
)
REFUSALS: dict[str, frozenset[str]] = {
    "board": BOARD_ERRORS,
    "objects": OBJECT_ERRORS,
    "control": CONTROL_ERRORS,
}
# what a frame its channel's models refuse is answered with
MALFORMED = {
    "board": {"bad_json", "bad_op", "unknown_op", "unknown_sticker"},  # a name not in the library
    "objects": {"bad_json", "bad_message"},
    "control": {"bad_json", "bad_message"},
}


def _refused(label: str, data: str | bytes) -> bool:
    """Whether the channel's own models refuse this frame (before any rule of the room)."""
    if label == "objects" and isinstance(data, bytes):
        return False  # a chunk: the transfer decides
    limit = {
        "board": MAX_OP_CHARS,
        "objects": MAX_OBJECT_MESSAGE_CHARS,
        "control": MAX_CONTROL_CHARS,
    }
    if isinstance(data, bytes) or len(data) > limit[label]:
        return True
    adapter = {"board": _ops, "objects": _objects_incoming, "control": _ping}[label]
    try:
        adapter.validate_json(data)
    except ValidationError:
        return True
    return False


async def _one_frame(
    room: RoomBoard, t: Recording, y: Recording, label: Label, data: str | bytes
) -> None:
    before = room.board.snapshot()
    current = room.members["y"].transfers.current
    transfer = (current.id, current.received) if current is not None else None
    await room.message("y", label, data)
    answers = [(sent_label, sent) for sent_label, sent in y.sent]
    assert {sent_label for sent_label, _ in answers} <= {label}  # answered where it was sent
    mine = y.messages(label)  # each answer is one of the channel's documented messages
    for message in mine:
        if isinstance(message, ChannelError):
            assert message.code in REFUSALS[label], message
            assert message.message
    if _refused(label, data):
        assert len(mine) == 1 and len(answers) == 1, answers  # one error, and only that
        assert isinstance(mine[0], ChannelError) and mine[0].code in MALFORMED[label], mine
        assert t.sent == []  # nobody else hears of it
        assert room.board.snapshot() == before  # nobody's board changes
        now = room.members["y"].transfers.current
        assert ((now.id, now.received) if now is not None else None) == transfer
    elif label == "control":
        assert [m.model_dump() for m in mine] == [
            {"type": "pong", "t": _ping.validate_json(data).t}
        ]
    elif label == "board":  # taken (a change to everyone) or refused by the board's rules
        changed = [m for m in mine if not isinstance(m, ChannelError)]
        assert len(mine) == 1
        assert [m.model_dump() for m in t.messages("board")] == [m.model_dump() for m in changed]
        assert room.board.seq == before["seq"] + len(changed)
    else:  # a begin, an end or a chunk: one answer at most, to the sender alone
        assert len(answers) <= 1 and t.sent == []
        assert room.board.snapshot() == before


async def _exercise(frames: list[tuple[Label, str | bytes]]) -> None:
    room, t, y = _room()
    therapist_copy = Replica()

    def follow() -> None:
        """The therapist's copy of the board, from what they were sent and nothing else."""
        for change in t.messages("board"):
            therapist_copy.receive(change.seq, change.changes)  # type: ignore[attr-defined]
        t.take(), y.take()

    await room.message("t", "board", json.dumps(STROKE))  # something of someone else's on it
    follow()
    for label, data in frames:
        await _one_frame(room, t, y, label, data)
        follow()
    assert therapist_copy.snapshot() == json.loads(json.dumps(room.board.snapshot()))
    # and each channel still works: a stroke, a ping, a picture (in a fresh minute)
    await room.message("y", "board", json.dumps({**STROKE, "id": "y-after"}))
    (change,) = t.messages("board")
    assert change.model_dump()["changes"][0]["set"]["id"] == "y-after"
    await room.message("y", "control", '{"type": "ping", "t": 5}')
    assert y.messages("control")[-1].model_dump() == {"type": "pong", "t": 5}
    room.images.limiter = RateLimiter(pictures.PICTURES_PER_MINUTE, 60)
    await room.message(
        "y", "objects", json.dumps({"type": "begin", "id": "after", "size": len(PNG)})
    )
    await room.message("y", "objects", PNG)
    await room.message("y", "objects", json.dumps({"type": "end", "id": "after"}))
    answers = [m.type for m in y.messages("objects")]  # type: ignore[attr-defined]
    assert answers == ["ready", "shared", "object", "object_end"], answers
    follow()
    assert therapist_copy.snapshot() == json.loads(json.dumps(room.board.snapshot()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FRAMES)
def test_any_frames_on_any_channel_are_answered_as_documented(
    frames: list[tuple[Label, str | bytes]],
) -> None:
    asyncio.run(_exercise(frames))


# -- the board's settings: the therapist's, told to everyone as they change


@pytest.mark.hazard("HZ-15")
async def test_settings_reach_everyone_and_a_hidden_library_takes_no_sticker_from_the_young() -> (
    None
):
    room, t, y = _room()
    for raw in ({"op": "background", "name": "sand"}, {"op": "library", "hidden": True}):
        await room.message("y", "board", json.dumps(raw))
        assert _codes(y)[-1] == "not_allowed"
    assert t.sent == [] and room.board.seq == 0
    y.take()
    await room.message("t", "board", json.dumps({"op": "background", "name": "sand"}))
    await room.message("t", "board", json.dumps({"op": "library", "hidden": True}))
    assert _changes(y) == _changes(t) == [{"background": "sand"}, {"library_hidden": True}]
    t.take(), y.take()
    # the young person's sticker is refused while the library is hidden; the therapist's not
    await room.message("y", "board", json.dumps(DOG))
    assert _codes(y) == ["not_allowed"] and t.sent == [] and "dog" not in room.board.elements
    await room.message("t", "board", json.dumps(DOG))
    assert _changes(y)[-1]["set"]["id"] == "dog"
    await room.message("t", "board", json.dumps({"op": "library", "hidden": False}))
    await room.message("y", "board", json.dumps({**DOG, "id": "cat", "name": "cat"}))
    assert _changes(t)[-1]["set"]["id"] == "cat"
    # a page that opens the board now is told of them with its snapshot
    y.take()
    room.send_snapshot(y)
    snapshot = y.messages("board")[-1].model_dump()
    assert snapshot["settings"] == {**NO_SETTINGS, "background": "sand"}


async def test_who_may_clear_is_told_to_every_member_when_it_changes() -> None:
    room, t, y = _room()
    await room.allow_clear(True)
    told = {**NO_SETTINGS, "clear_allowed": True}
    for link in (t, y):
        assert [m.model_dump() for m in link.messages("board")] == [
            {"type": "settings", "settings": told}
        ]
    assert room.board.seq == 0  # not an operation: nothing numbered, nothing to replay
    await room.message("y", "board", json.dumps({"op": "clear"}))
    assert room.board.seq == 1 and _codes(y) == []  # taken
    y.take()
    room.send_snapshot(y)
    assert y.messages("board")[-1].model_dump()["settings"] == told
    await room.allow_clear(False)
    y.take()
    await room.message("y", "board", json.dumps({"op": "clear"}))
    assert _codes(y) == ["not_allowed"]
