"""Every parser of outside input either accepts or refuses with its own error, whatever it is
given: signalling frames, board operations, checklist files, capability tokens, session
descriptions and chunked transfers. Inputs are arbitrary, or near-valid: built from the
models' own JSON schemas at and around their bounds, or a real file or token with one
change. Any other exception is a bug."""

from __future__ import annotations

import json
import math
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import media.board
from media.board import MAX_POINTS_PER_OP, Board, _ops, parse_op, triples
from media.replica import Replica
from media.transfer import CHUNK, Transfer, Transfers
from server.access import tokens
from server.access.tokens import Claims
from server.care.checklists import CHECKLISTS, Checklist, load_file
from server.crypto.keys import KeyMaterial, KeyRing
from server.exceptions import (
    BoardError,
    ConfigurationError,
    ProtocolError,
    TokenError,
    TransferError,
)
from server.live.protocol import MAX_MESSAGE_BYTES, Message, _incoming, parse_message
from server.live.sdp import check_sdp

BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["", "1", "v", "type", "op", "0123abcd", "offer", "#00ff00", "-"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


# -- values near what a JSON schema allows


def mix(
    inside: st.SearchStrategy[Any], *outside: st.SearchStrategy[Any], weight: int = 8
) -> st.SearchStrategy[Any]:
    """Mostly a value the schema accepts, now and then one it does not (``one_of`` would
    draw from each branch alike, and takes the same branch twice as once)."""
    choices = [inside] * weight + list(outside)
    return st.integers(0, len(choices) - 1).flatmap(choices.__getitem__)


def near(schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values that a schema accepts, values just outside its bounds, and the odd stranger."""
    if not isinstance(schema, dict):  # ``true``: anything
        return JSON
    if "$ref" in schema:
        return near(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, depth + 1)
    stranger = JSON if depth < 3 else st.none()
    if "const" in schema:  # the discriminators: rarely wrong, or nothing else is tried
        return mix(st.just(schema["const"]), stranger, weight=20)
    if "enum" in schema:
        return mix(st.sampled_from(schema["enum"]), st.text(max_size=8), stranger)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([near(s, defs, depth + 1) for s in schema[key]])
    kind = schema.get("type")
    if kind == "string":
        low, high = schema.get("minLength", 0), schema.get("maxLength", 40)
        if "pattern" in schema:
            inside = st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: len(s) < 80)
        else:
            inside = st.text(min_size=low, max_size=min(high, 60))
        edges = st.sampled_from(["x" * n for n in {low, max(low - 1, 0), high, high + 1}])
        return mix(inside, edges, st.text(max_size=20), stranger)
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if kind == "integer":
            inside = st.integers(low, high)
        else:
            inside = st.floats(low, high, allow_nan=False, allow_infinity=False)
        edges = [b + d for b in (low, high) if b is not None for d in (-1, -0.001, 0, 0.001, 1)]
        outside = st.sampled_from(edges + [1e308, -1e308, 2**64]) | st.floats()
        return mix(inside, outside, stranger, weight=30)  # points: many numbers to a list
    if kind == "boolean":
        return mix(st.booleans(), st.sampled_from([0, 1, "true"]), stranger)
    if kind == "array":
        if "prefixItems" in schema:  # a tuple
            parts = [near(s, defs, depth + 1) for s in schema["prefixItems"]]
            size = len(parts)
            wrong = st.lists(parts[0], max_size=size + 1).filter(lambda p: len(p) != size)
            return mix(st.tuples(*parts).map(list), wrong, stranger, weight=30)
        element = near(schema.get("items") or {}, defs, depth + 1)
        low = schema.get("minItems", 0)
        high = min(schema.get("maxItems", 4), 4)
        return mix(
            st.lists(element, min_size=low, max_size=max(low, high)),
            st.lists(element, max_size=high + 2),
            stranger,
        )
    if kind == "object" and "properties" not in schema:
        values = near(schema.get("additionalProperties") or {}, defs, depth + 1)
        return mix(st.dictionaries(st.text(max_size=10), values, max_size=4), stranger)
    if kind == "object":
        return near_object(schema, defs, depth)
    return stranger


def near_object(schema: dict[str, Any], defs: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    """An object with each property kept (near its schema), dropped, or a stranger; and at
    times one key too many."""
    values = {name: near(sub, defs, depth + 1) for name, sub in schema["properties"].items()}
    required = set(schema.get("required", []))

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for name, value in values.items():
            keep = draw(st.integers(0, 19))
            if keep == 0 and (name not in required or draw(st.booleans())):
                continue  # dropped
            doc[name] = draw(value)
        if draw(st.integers(0, 19)) == 0:
            doc[draw(st.sampled_from(["extra", "v", "type", "op", "id"]))] = draw(JSON)
        return doc

    return build()


def near_union(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    defs = schema["$defs"]
    return st.one_of(
        [near_object(defs[s["$ref"].rsplit("/", 1)[-1]], defs, 0) for s in schema["oneOf"]]
    )


def finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(finite(v) for v in value)
    return True


# -- signalling messages

MESSAGE_REFUSALS = {"too_large", "bad_json", "bad_message", "bad_version", "unknown_type"}
NEAR_MESSAGES = near_union(_incoming.json_schema())


def parsed_or_refused(raw: str | bytes) -> None:
    try:
        message = parse_message(raw)
    except ProtocolError as exc:
        assert exc.code in MESSAGE_REFUSALS, exc.code
        assert str(exc)
    else:
        assert isinstance(message, Message)
        assert message.v == 1


@BOUNDED
@given(JSON)
def test_any_json_is_a_message_or_a_refusal(doc: object) -> None:
    parsed_or_refused(json.dumps(doc))


@BOUNDED
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_text_or_bytes_is_a_message_or_a_refusal(raw: str | bytes) -> None:
    parsed_or_refused(raw)


@BOUNDED
@given(NEAR_MESSAGES)
def test_messages_near_the_schema_are_messages_or_refusals(doc: dict[str, Any]) -> None:
    raw = json.dumps(doc)
    parsed_or_refused(raw)
    parsed_or_refused(raw.encode())


@pytest.mark.parametrize(
    "raw",
    [
        "1" * 5000,  # a number of more than 4,300 digits: ValueError from json.loads
        '{"v": 1, "type": "ping", "n": ' + "7" * 4400 + "}",
        "[" * 20_000,  # deeper than the decoder's recursion limit: RecursionError
        '{"v": 1, "type": "board", "op": ' + '{"a": ' * 5000 + "1" + "}" * 5001,
    ],
)
def test_huge_numbers_and_deep_nesting_are_refused_as_bad_json(raw: str) -> None:
    assert len(raw) <= MAX_MESSAGE_BYTES
    for frame in (raw, raw.encode()):
        with pytest.raises(ProtocolError) as info:
            parse_message(frame)
        assert info.value.code == "bad_json"


# -- board operations

OP_REFUSALS = {"bad_json", "bad_op", "unknown_op", "unknown_sticker"}
APPLY_REFUSALS = {
    "duplicate",
    "full",
    "not_yours",
    "finished",
    "too_long",
    "unknown",
    "not_allowed",
}
NEAR_OPS = near_union(_ops.json_schema())
IDS = st.sampled_from(["a", "b", "s1", "s2"])


@st.composite
def board_ops(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly near-valid operations, on a few ids so that they meet each other."""
    doc = draw(NEAR_OPS)
    for key in ("id", "target"):
        if key in doc and draw(st.integers(0, 4)):
            doc[key] = draw(IDS)
    return doc


@BOUNDED
@given(JSON | st.binary(max_size=100))
def test_any_operation_parses_or_is_refused(raw: object) -> None:
    try:
        parse_op(raw if isinstance(raw, dict | bytes) else json.dumps(raw))
    except BoardError as exc:
        assert exc.code in OP_REFUSALS, exc.code


@BOUNDED
@given(st.lists(st.tuples(st.sampled_from(["therapist", "young"]), board_ops()), max_size=20))
def test_any_operations_leave_a_sound_board(ops: list[tuple[str, dict[str, Any]]]) -> None:
    # small limits, so that a few examples reach them
    with (
        mock.patch.object(media.board, "MAX_ELEMENTS", 6),
        mock.patch.object(media.board, "MAX_POINTS", 2 * MAX_POINTS_PER_OP),
    ):
        board, copy = Board(), Replica()
        for author, doc in ops:
            try:
                op = parse_op(doc)
                board.check(author, op, may_clear=author == "therapist")
            except BoardError as exc:
                assert exc.code in OP_REFUSALS | APPLY_REFUSALS, exc.code
                continue
            seq, changes = board.apply(author, op)
            copy.receive(seq, json.loads(json.dumps(changes, allow_nan=False)))
            assert len(board.elements) <= 6
            assert all(e.point_count() <= 2 * MAX_POINTS_PER_OP for e in board.elements.values())
        snapshot = board.snapshot()
        assert finite(snapshot)
        json.dumps(snapshot, allow_nan=False)
        assert copy.snapshot() == snapshot
        for element in board.elements.values():
            for x, y, pressure in triples(element.points):
                assert 0 <= x <= media.board.WIDTH and 0 <= y <= media.board.HEIGHT
                assert 0 <= pressure <= 1


@pytest.mark.parametrize("raw", ["1" * 5000, "[" * 20_000, b"[" * 20_000])
def test_huge_numbers_and_deep_nesting_are_not_operations(raw: str | bytes) -> None:
    with pytest.raises(BoardError) as info:
        parse_op(raw)
    assert info.value.code == "bad_json"


# -- checklist files

# the pre-session checklist is small enough to load hundreds of times (blocking answers and
# options among its items); the suitability checklist has the conditions and sign-offs
REAL_CHECKLIST = (CHECKLISTS / "pre-session-v1.yaml").read_text()
REAL_DOC = yaml.safe_load(REAL_CHECKLIST)
SUITABILITY_DOC = yaml.safe_load((CHECKLISTS / "ccap-suitability-v1.yaml").read_text())


def loaded_or_named(text: str, name: str = "fuzzed.yaml") -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            checklist = load_file(path)
        except ConfigurationError as exc:
            message = str(exc)
            assert name in message
            assert "not valid YAML" in message or "field " in message, message
        else:
            assert isinstance(checklist, Checklist)


@st.composite
def text_mutations(draw: st.DrawFn) -> str:
    """The real file with a span deleted, repeated or replaced."""
    text = REAL_CHECKLIST
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 40)))
        how = draw(st.sampled_from(["delete", "repeat", "replace"]))
        if how == "delete":
            text = text[:start] + text[end:]
        elif how == "repeat":
            text = text[:end] + text[start:end] + text[end:]
        else:
            filler = draw(
                st.text(max_size=6) | st.sampled_from([":", "- ", "\n  ", "&a", "*a", "!!"])
            )
            text = text[:start] + filler + text[end:]
    return text


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def doc_mutations(draw: st.DrawFn, real: Any) -> Any:
    """The real document with one value replaced by another of any type, or removed."""
    doc = json.loads(json.dumps(real))
    path = draw(st.sampled_from(_paths(real)[1:]))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(JSON.filter(lambda v: finite(v)))
    return doc


@settings(BOUNDED, max_examples=120)
@given(text_mutations())
def test_a_damaged_checklist_file_is_loaded_or_refused_naming_it(text: str) -> None:
    loaded_or_named(text)


@settings(BOUNDED, max_examples=120)
@given(doc_mutations(REAL_DOC))
def test_a_changed_checklist_is_loaded_or_refused_naming_file_and_field(doc: Any) -> None:
    loaded_or_named(yaml.safe_dump(doc))


@settings(BOUNDED, max_examples=30)
@given(doc_mutations(SUITABILITY_DOC))
def test_a_changed_suitability_checklist_is_loaded_or_refused_naming_the_field(doc: Any) -> None:
    loaded_or_named(yaml.safe_dump(doc))


@BOUNDED
@given(st.text(max_size=300))
def test_any_text_is_a_checklist_or_a_refusal(text: str) -> None:
    loaded_or_named(text)


def test_a_checklist_file_that_is_not_utf8_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(REAL_CHECKLIST.encode() + b"\nintro: caf\xe9\n")
    with pytest.raises(ConfigurationError, match="latin.yaml is not valid YAML"):
        load_file(path)


@pytest.mark.parametrize(
    "text",
    ["title: 2001-13-01\n", "version: !!int x\n", "version: !!float x\n", "[" * 1000],
)
def test_values_yaml_cannot_construct_are_refused_naming_the_file(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match="odd.yaml is not valid YAML"):
        load_file(path)


# -- capability tokens

RING = KeyRing(KeyMaterial.generate())
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
REAL_TOKEN = tokens.issue(
    RING,
    Claims(
        "join", "0123456789abcdef0123456789abcdef", "young_person", NOW, NOW + timedelta(hours=1)
    ),
)
OUTSIDE = "+/=. !%\n\x00\xe9"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" + OUTSIDE


def refused(token: str) -> None:
    with pytest.raises(TokenError):
        tokens.verify(RING, token, "join", NOW)


def test_the_real_token_verifies() -> None:
    assert tokens.verify(RING, REAL_TOKEN, "join", NOW).role == "young_person"


@BOUNDED
@given(
    st.text(max_size=300)
    | st.from_regex(r"[A-Za-z0-9_-]{0,200}\.[A-Za-z0-9_-]{0,100}", fullmatch=True)
)
def test_any_string_is_refused_as_a_token(token: str) -> None:
    refused(token)


def test_no_single_character_change_of_a_token_verifies() -> None:
    # the decoder alone takes "+" for "-", skips "!" and ignores the spare bits of the last
    # character of each part: at every position, every character outside the alphabet and
    # the neighbours of the one there; at the last of each part, the whole alphabet
    body, signature = REAL_TOKEN.split(".")
    ends = {len(body) - 1, len(REAL_TOKEN) - 1}
    for index, original in enumerate(REAL_TOKEN):
        if index in ends:
            chars = ALPHABET
        else:
            chars = OUTSIDE + "".join(chr(ord(original) ^ bit) for bit in (1, 2, 4, 8, 16, 32))
        for char in set(chars) - {original}:
            refused(REAL_TOKEN[:index] + char + REAL_TOKEN[index + 1 :])


@BOUNDED
@given(st.data())
def test_no_token_verifies_after_a_byte_is_changed_dropped_or_added(data: st.DataObject) -> None:
    raw = bytearray(REAL_TOKEN.encode())
    index = data.draw(st.integers(0, len(raw) - 1))
    how = data.draw(st.sampled_from(["change", "drop", "add"]))
    byte = data.draw(st.integers(0, 255))
    if how == "change":
        if byte == raw[index]:
            return
        raw[index] = byte
    elif how == "drop":
        del raw[index]
    else:
        raw.insert(index, byte)
    refused(raw.decode("latin-1"))


def test_a_token_for_another_purpose_or_out_of_its_window_is_refused() -> None:
    with pytest.raises(TokenError, match="for something else"):
        tokens.verify(RING, REAL_TOKEN, "consent", NOW)
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(RING, REAL_TOKEN, "join", NOW + timedelta(hours=1))
    with pytest.raises(TokenError, match="not valid"):
        tokens.verify(KeyRing(KeyMaterial.generate()), REAL_TOKEN, "join", NOW)


# -- session descriptions

REAL_SDP = "\r\n".join(
    [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1 2",
        "a=msid-semantic: WMS stream",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 0",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=ice-ufrag:EsAw",
        "a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y",
        "a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:"
        "2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F",
        "a=setup:actpass",
        "a=mid:0",
        "a=sendrecv",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:0 PCMU/8000",
        "a=candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "c=IN IP4 0.0.0.0",
        "a=mid:1",
        "a=sendrecv",
        "a=rtcp-mux",
        "a=rtpmap:96 VP8/90000",
        "a=rtcp-fb:96 nack pli",
        "a=ssrc:1001 cname:stream",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        "a=mid:2",
        "a=sctp-port:5000",
        "a=max-message-size:262144",
        "",
    ]
)
REAL_LINES = REAL_SDP.split("\r\n")


def test_the_real_sdp_passes() -> None:
    check_sdp(REAL_SDP)


@pytest.mark.parametrize(
    "change",
    [
        ("c=IN IP4 0.0.0.0", "c=IN IP4"),  # aiortc asserts the c= line matches
        ("m=video 9 UDP/TLS/RTP/SAVPF 96", "m=video 9 udp 96"),  # and the m= line
        ("m=audio 9 UDP/TLS/RTP/SAVPF 111 0", "m=audio x UDP/TLS/RTP/SAVPF 111 0"),
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:112 opus/48000/2"),  # fmtp 111: StopIteration
    ],
)
def test_a_malformed_connection_or_media_line_is_refused(change: tuple[str, str]) -> None:
    with pytest.raises(ProtocolError) as info:
        check_sdp(REAL_SDP.replace(*change))
    assert info.value.code == "bad_sdp"


@st.composite
def sdp_mutations(draw: st.DrawFn) -> str:
    lines = list(REAL_LINES)
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["drop", "repeat", "cut", "replace", "field"]))
        line = lines[index]
        if how == "drop":
            del lines[index]
        elif how == "repeat":
            lines.insert(index, line)
        elif how == "cut":
            lines[index] = line[: draw(st.integers(0, len(line)))]
        elif how == "replace":
            lines[index] = draw(st.text(max_size=30))
        else:  # one space-separated field changed
            fields = re.split(r"([ :=/])", line)
            at = draw(st.integers(0, len(fields) - 1))
            fields[at] = draw(
                st.sampled_from(["", "-1", "0", "99999999999999999999", "x", "IP6", "::", "a=b"])
                | st.text(max_size=5)
            )
            lines[index] = "".join(fields)
        if not lines:
            lines = [""]
    return "\r\n".join(lines)


@BOUNDED
@given(sdp_mutations())
def test_a_changed_sdp_passes_or_is_refused(sdp: str) -> None:
    try:
        check_sdp(sdp)
    except ProtocolError as exc:
        assert exc.code == "bad_sdp"


@BOUNDED
@given(st.text(max_size=200).map(lambda t: "v=0\r\n" + t))
def test_any_text_after_the_version_passes_or_is_refused(sdp: str) -> None:
    try:
        check_sdp(sdp)
    except ProtocolError as exc:
        assert exc.code == "bad_sdp"


# -- chunked transfers

TRANSFER_REFUSALS = {
    "bad_message",
    "too_large",
    "chunk_too_large",
    "too_much",
    "no_transfer",
    "incomplete",
}
SIZES = st.sampled_from([-1, 0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 8 * 1024 * 1024 + 1])
CHUNKS = st.sampled_from([0, 1, CHUNK - 1, CHUNK, CHUNK + 1])
ACTIONS = st.one_of(
    st.tuples(st.just("begin"), st.sampled_from(["t1", "t2"]), SIZES),
    st.tuples(st.just("chunk"), CHUNKS, st.integers(0, 255)),
    st.tuples(st.just("finish"), st.sampled_from(["t1", "t2"]), st.none()),
)


@BOUNDED
@given(st.lists(ACTIONS, max_size=30))
def test_any_sequence_of_transfer_steps_keeps_its_bounds(
    actions: list[tuple[Any, Any, Any]],
) -> None:
    sender = Transfers()
    for action, first, second in actions:
        try:
            if action == "begin":
                transfer: Transfer = sender.begin(first, second)
                assert 0 < transfer.size <= 8 * 1024 * 1024
            elif action == "chunk":
                sender.chunk(bytes([second]) * first)
            else:
                done = sender.finish(first)
                assert len(done.data()) == done.size == done.received
                assert sender.current is None
        except TransferError as exc:
            assert exc.code in TRANSFER_REFUSALS, exc.code
        current = sender.current
        if current is not None:
            assert current.received == sum(len(p) for p in current.parts) <= current.size
            assert all(len(p) <= CHUNK for p in current.parts)
