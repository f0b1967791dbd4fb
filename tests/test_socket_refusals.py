"""Every malformed frame is refused on a real socket with one ``error`` of its documented
code, which echoes the frame's ``id`` and names the field at fault, and the socket stays up
(a ``ping`` after it gets its ``pong``). The frames are generated from the JSON schema of
every message a browser may send: a value of every JSON type its field does not take (so
``"1"``, ``1.0`` and ``true`` for a number, ``1`` or ``"yes"`` for a boolean), a value just
outside a field's bounds (a string one character too long), a required field missing, a
field too many, an unknown type, a wrong version, an ``id`` that is not one, and frames that
are not JSON or not objects. One socket takes every example: a stranger's, and a therapist's
in their room (the pre-join path and the handlers' path)."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.edge import connection, websocket
from server.live.protocol import _incoming
from tests.client import ProtocolPeer
from tests.scenes import Room

SCHEMA = _incoming.json_schema()
DEFS: dict[str, Any] = SCHEMA["$defs"]
MODELS = [ref["$ref"].rsplit("/", 1)[-1] for ref in SCHEMA["oneOf"]]
FRAME_IDS = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
SOCKET = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# values of each JSON type ("float": a number written with a point, as JSON keeps 1.0)
SAMPLES: dict[str, list[Any]] = {
    "string": ["1", "true", "yes", "1.0"],
    "integer": [1, 0, 3],
    "float": [1.0, 0.0, 1.5],
    "boolean": [True, False],
    "null": [None],
    "array": [[], [1], ["ab"]],
    "object": [{}, {"ab": 1}],
}
TAKES = {
    "string": {"string"},
    "integer": {"integer"},
    "number": {"integer", "float"},  # an integer is a number: never a conversion
    "boolean": {"boolean"},
    "null": {"null"},
    "array": {"array"},
    "object": {"object"},
}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    return DEFS[schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in schema else schema


def _members(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [_resolve(s) for s in schema.get("anyOf", [schema])]


def takes(schema: dict[str, Any]) -> set[str]:
    """The JSON types a schema takes."""
    kinds: set[str] = set()
    for member in _members(schema):
        if "const" in member or "enum" in member:
            kinds.add("string")
        else:
            kinds |= TAKES[member["type"]]
    return kinds


def wrong_values(schema: dict[str, Any]) -> list[Any]:
    """Values a field of this schema refuses: every JSON type it does not take, and, where it
    takes one type only (or that or null), values of that type just outside its bounds."""
    values = [v for kind, samples in SAMPLES.items() if kind not in takes(schema) for v in samples]
    members = [m for m in _members(schema) if m.get("type") != "null"]
    if len(members) != 1:
        return values
    (member,) = members
    if "enum" in member or "const" in member:
        return [*values, "not-one-of-them"]
    kind = member.get("type")
    if kind == "string":
        low, high = member.get("minLength", 0), member.get("maxLength")
        if high is not None:
            values.append("x" * (high + 1))
        if low > 1:
            values.append("x" * (low - 1))
        if "pattern" in member:
            values.append("!" * max(low, 1))
    elif kind in ("integer", "number"):
        step = 1 if kind == "integer" else 0.5
        if "minimum" in member:
            values.append(member["minimum"] - step)
        if "maximum" in member:
            values.append(member["maximum"] + step)
    elif kind == "object" and "properties" in member:  # a model: a field missing, one too many
        values += [{}, {"nope": 1}]
    elif kind == "object":
        if "maxProperties" in member:
            values.append({f"k{i}": "a" for i in range(member["maxProperties"] + 1)})
        if "maxLength" in member.get("propertyNames", {}):
            values.append({"k" * (member["propertyNames"]["maxLength"] + 1): "a"})
        item = member.get("additionalProperties")
        if isinstance(item, dict) and "maxLength" in item:
            values.append({"k": "x" * (item["maxLength"] + 1)})
    return values


def valid(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values a field of this schema takes."""
    if "anyOf" in schema or "oneOf" in schema:  # oneOf: a tagged union (``live`` messages)
        return st.one_of([valid(m) for m in schema.get("anyOf", schema.get("oneOf"))])
    schema = _resolve(schema)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema["type"]
    if kind == "string":
        low, high = schema.get("minLength", 0), schema.get("maxLength", 40)
        if "pattern" in schema:
            pattern = st.from_regex(schema["pattern"], fullmatch=True)
            return pattern.filter(lambda s: low <= len(s) <= high)
        return st.text("abc xyz", min_size=low, max_size=min(high, low + 20))
    if kind == "integer":
        low = schema.get("minimum", 0)
        return st.integers(low, schema.get("maximum", low + 100))
    if kind == "number":
        return st.floats(schema.get("minimum", -1e6), schema.get("maximum", 1e6))
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array" and "prefixItems" in schema:  # a tuple: a point
        return st.tuples(*(valid(item) for item in schema["prefixItems"])).map(list)
    if kind == "array":
        low = schema.get("minItems", 0)
        return st.lists(
            valid(schema["items"]), min_size=low, max_size=min(schema.get("maxItems", 3), low + 2)
        )
    if "properties" in schema:
        return document(schema)
    return st.just({})  # a free object: checks, a board operation, an objects message


def document(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid object of a model's schema: its required fields and some of the others."""
    required = set(schema.get("required", []))
    fields = {
        name: valid(sub)
        for name, sub in schema["properties"].items()
        if name not in ("v", "id", "type") or name in required
    }
    optional = sorted(set(fields) - required)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        kept = draw(st.lists(st.sampled_from(optional), unique=True)) if optional else []
        return {name: draw(fields[name]) for name in fields if name in required or name in kept}

    return build()


Refusal = tuple[str, str, str | None, str | None]


@st.composite
def malformed(draw: st.DrawFn, name: str) -> Refusal:
    """A frame near a message of model ``name``, the code it is refused with, the ``id`` its
    answer echoes and the field its message names (None: no ``id`` to echo, or no field)."""
    schema = DEFS[name]
    frame_id = draw(FRAME_IDS)
    doc = {"v": 1, "id": frame_id, **draw(document(schema))}
    fields = [f for f in schema["properties"] if f not in ("v", "id", "type")]
    required = [f for f in schema.get("required", []) if f != "type"]
    kinds = ["wrong"] * bool(fields) + ["missing"] * bool(required)
    kind = draw(st.sampled_from([*kinds, "extra", "type", "version", "bad_id", "json", "array"]))
    if kind == "wrong":
        field = draw(st.sampled_from(fields))
        doc[field] = draw(st.sampled_from(wrong_values(schema["properties"][field])))
        return json.dumps(doc), "bad_message", frame_id, field
    if kind == "missing":
        field = draw(st.sampled_from(required))
        del doc[field]
        return json.dumps(doc), "bad_message", frame_id, field
    if kind == "extra":
        field = draw(st.sampled_from(["extra", "Type", "V", "ID", "to_", "op_"]))
        doc[field] = draw(st.sampled_from([1, "x", None, {}]))
        return json.dumps(doc), "bad_message", frame_id, field
    if kind == "type":
        doc["type"] = draw(st.sampled_from(["dance", "PING", "ping ", "", "board_close", 5, None]))
        return json.dumps(doc), "unknown_type", frame_id, None
    if kind == "version":
        version = draw(st.sampled_from(["1", 1.0, True, 2, 0, None, [1], "missing"]))
        doc["v"] = version
        if version == "missing":
            del doc["v"]
        return json.dumps(doc), "bad_version", frame_id, None
    if kind == "bad_id":
        doc["id"] = draw(st.sampled_from([5, 1.0, True, "", "x" * 65, "a b", "é", "a\n", [], {}]))
        return json.dumps(doc), "bad_message", None, "id"
    if kind == "json":
        text = json.dumps(doc)
        return text[: draw(st.integers(0, len(text) - 1))], "bad_json", None, None
    return json.dumps(draw(st.sampled_from([[doc], "ping", 1, None]))), "bad_message", None, None


# one frame near each message a browser may send, in every example
EVERY_TYPE = st.tuples(*(malformed(name) for name in MODELS))


@pytest.fixture(autouse=True)
def unlimited(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every example on one socket, as fast as it goes: no rate limit cuts in."""
    monkeypatch.setattr(connection, "MESSAGES_PER_SECOND", 1_000_000)
    monkeypatch.setattr(websocket, "FRAMES_PER_SECOND", 1_000_000)


PINGS = itertools.count()


async def refused_and_still_up(peer: ProtocolPeer, frames: tuple[Refusal, ...]) -> None:
    """Each frame, then a ping, all at once; then each answer in order: the refusal, then
    the pong."""
    sent = []
    for raw, code, frame_id, field in frames:
        n = next(PINGS)
        await peer.ws.send_str(raw)
        await peer.send({"type": "ping", "n": n, "id": f"after-{n}"})
        sent.append((raw, code, frame_id, field, n))
    await peer.wait_for(lambda: len(peer.inbox) >= 2 * len(sent), within=10)
    answers = iter(peer.inbox)
    for raw, code, frame_id, field, n in sent:
        error, pong = next(answers), next(answers)
        assert error["type"] == "error", (raw, error)
        assert (error["code"], error.get("id")) == (code, frame_id), (raw, error)
        if field is not None:
            assert error["message"].split(":")[0].split(".")[0] == field, (raw, error)
        assert (pong["type"], pong["n"], pong["id"]) == ("pong", n, f"after-{n}"), (raw, pong)
    assert len(peer.inbox) == 2 * len(sent), peer.inbox
    peer.inbox.clear()


@pytest.fixture
async def stranger(client: TestClient) -> AsyncIterator[ProtocolPeer]:
    peer = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    yield peer
    await peer.close()


@SOCKET
@given(frames=EVERY_TYPE)
async def test_a_strangers_malformed_frames_are_refused_and_the_socket_stays(
    stranger: ProtocolPeer, frames: tuple[Refusal, ...]
) -> None:
    await refused_and_still_up(stranger, frames)


@SOCKET
@given(frames=EVERY_TYPE)
async def test_malformed_frames_in_a_room_are_refused_and_the_socket_stays(
    room: Room, frames: tuple[Refusal, ...]
) -> None:
    room.therapist.inbox.clear()  # the lobby, pushed as the room opened
    await refused_and_still_up(room.therapist, frames)
