"""The data channels' messages (``server/board/messages.py``): every message goes out as its
model says and reads back the same; parsing is strict and names the fault; and
``docs/protocol.md`` names every message type and every error code the channels use."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from media.board import parse_op
from server.board import messages
from server.board.messages import (
    BOARD_ERRORS,
    CONTROL_ERRORS,
    OBJECT_ERRORS,
    Change,
    ChannelError,
    ObjectEnd,
    ObjectStart,
    Pong,
    Ready,
    Shared,
    Snapshot,
    SnapshotPart,
    dump_reply,
    parse_board_message,
    parse_control,
    parse_object_message,
    parse_reply,
)
from server.exceptions import BoardError, ProtocolError, TransferError

DOCS = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
OBJECT = "0123456789abcdef0123456789abcdef"
ELEMENT = {"id": "s-1", "author": "link:y", "kind": "stroke", "data": {"colour": "#000000",
           "width": 4.0}, "points": [[1.0, 2.0, 0.5]], "finished": False, "visible": True,
           "dx": 0.0, "dy": 0.0, "place": None, "locked": False}  # fmt: skip
PLACE = {"x": 800.0, "y": 600.0, "scale": 1.5, "w": None, "h": None, "rotation": -30.0}
ITEM = {"id": "k-1", "author": "staff:t", "kind": "sticker", "data": {"name": "dog", "x": 720.0,
        "y": 520.0, "scale": 1.0}, "points": [], "finished": True, "visible": True, "dx": 0.0,
        "dy": 0.0, "place": PLACE, "locked": True}  # fmt: skip
CHANGES: list[Any] = [
    {"set": ELEMENT},
    {"set": ITEM},
    {"points": "s-1", "add": [[3.0, 4.0, 1.0]]},
    {"finished": "s-1"},
    {"visible": "s-1", "value": False},
    {"offset": "s-1", "dx": 5.0, "dy": -2.5},
    {"place": "k-1", "to": {**PLACE, "scale": None, "w": 300.0, "h": 200.0}},
    {"locked": "k-1", "value": False},
    {"order": "k-1", "index": 0},
]
SENT: list[tuple[messages.Label, BaseModel]] = [
    ("board", SnapshotPart(elements=[ELEMENT])),  # type: ignore[list-item]
    ("board", Snapshot(seq=7)),
    ("board", Change(seq=8, author="link:y", changes=CHANGES)),
    ("board", ChannelError(code="not_yours", message="That stroke is not yours to continue.")),
    ("objects", Ready(id="p-1", received=16384)),
    ("objects", Shared(id="p-1", object=OBJECT)),
    ("objects", ObjectStart(object=OBJECT, mime="image/png", size=1234)),
    ("objects", ObjectEnd(object=OBJECT)),
    ("objects", ChannelError(code="too_large", message="Pictures are limited to 8 MB.")),
    ("control", Pong(t=1717171717171)),
    ("control", ChannelError(code="bad_json", message="The control message is not valid JSON.")),
]


@pytest.mark.parametrize("label, message", SENT)
def test_every_message_sent_reads_back_the_same(label: messages.Label, message: Any) -> None:
    data = dump_reply(message)
    assert json.loads(data) == message.model_dump()  # plain JSON, every field said
    assert parse_reply(label, data) == message


def test_each_change_is_told_apart_by_its_key() -> None:
    read = parse_reply("board", dump_reply(Change(seq=1, author="a", changes=CHANGES)))
    assert isinstance(read, Change) and read.changes == CHANGES
    with pytest.raises(ValueError):
        Change(seq=1, author="a", changes=[{"rotate": "s-1"}])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "raw",
    [
        '{"op": "text", "id": "t", "x": "5", "y": 5, "text": "hi", "colour": "#000000"}',
        '{"op": "text", "id": "t", "x": true, "y": 5, "text": "hi", "colour": "#000000"}',
        '{"op": "sticker", "id": "k", "name": "sun", "x": 5, "y": 5, "scale": "2"}',
        '{"op": "move", "target": "k", "dx": [1], "dy": 0}',
        '{"op": "stroke_end", "id": 5}',
        '{"op": "transform", "target": "k", "x": "5", "y": 5, "scale": 1}',
        '{"op": "transform", "target": "k", "x": 5, "y": 5, "scale": 1, "rotation": true}',
        '{"op": "lock", "target": "k", "locked": 1}',
        '{"op": "order", "target": "k", "to": "top"}',
        '{"op": "roll", "id": "d", "count": true}',
        '{"op": "roll", "id": "d", "count": 2.0}',
        '{"op": "stroke", "id": "s", "colour": "#000000", "width": 3, "points": [["1", 1, 0]]}',
    ],
)
def test_operations_are_strict(raw: str) -> None:
    with pytest.raises(BoardError) as info:
        parse_board_message(raw)
    assert info.value.code == "bad_op"


def test_integers_are_numbers_and_stored_operations_read_back() -> None:
    op = parse_op('{"op": "text", "id": "t", "x": 5, "y": 5, "text": "hi", "colour": "#000000"}')
    assert parse_op(op.model_dump_json()) == op == parse_op(op.model_dump())


@pytest.mark.parametrize(
    "raw, code, named",
    [
        ('{"type": "begin", "size": 5}', "bad_message", "id:"),
        ('{"type": "begin", "id": "a", "size": 0}', "bad_message", "size:"),
        ('{"type": "begin", "id": "a", "size": 1.0}', "bad_message", "size:"),
        ('{"type": "end", "id": "a", "size": 3}', "bad_message", "size:"),
        ('{"type": "shared", "id": "a"}', "bad_message", "type:"),
        ('["begin"]', "bad_message", "object message:"),
        ("{'type': 'begin'}", "bad_json", "The object message"),
        ('{"type": "begin", "id": "a", "size": 1, "x": "' + "y" * 1100 + '"}', "bad_message", ""),
    ],
)
def test_object_messages_name_the_fault(raw: str, code: str, named: str) -> None:
    with pytest.raises(TransferError) as info:
        parse_object_message(raw)
    assert info.value.code == code and str(info.value).startswith(named), str(info.value)


def test_a_ping_is_a_finite_number() -> None:
    assert parse_control('{"type": "ping", "t": 12.5}').t == 12.5
    for raw in ('{"type": "ping", "t": null}', '{"type": "ping", "t": 1e999}', b"{}"):
        with pytest.raises(ProtocolError) as info:
            parse_control(raw)
        assert info.value.code == "bad_message"


# -- the documentation


def _section(title: str) -> str:
    """The data connection's part of the protocol document, from ``title`` to the next
    heading of its level or above."""
    text = DOCS.read_text()
    start = text.index(title)
    level = title.split(" ")[0]
    following = re.compile(rf"^#{{1,{len(level)}}} ", re.MULTILINE)
    found = following.search(text, start + len(title))
    return text[start : found.start() if found else len(text)]


CHANNELS = _section("## The data connection (board, objects, control)")


def _types(union: Any) -> set[str]:
    members = typing.get_args(typing.get_args(union)[0])
    return {m.model_fields["type"].default for m in members}


def test_the_docs_name_every_error_code_of_every_channel() -> None:
    for title, codes in (
        ("### `board`", BOARD_ERRORS),
        ("### `objects`", OBJECT_ERRORS),
        ("### `control`", CONTROL_ERRORS),
    ):
        section = _section(title)
        missing = {code for code in codes if f"`{code}`" not in section}
        assert not missing, f"{title} does not name {sorted(missing)}"


def test_the_docs_name_every_message_of_every_channel() -> None:
    sent = _types(messages.BoardOutgoing) | _types(messages.ObjectsOutgoing)
    sent |= _types(messages.ControlOutgoing)
    received = {"begin", "end", "ping"}
    missing = {kind for kind in sent | received if f'"type": "{kind}"' not in CHANNELS}
    assert not missing, f"docs/protocol.md does not show {sorted(missing)}"
