"""The signalling hot path's shortcuts give what the long way gives: a frame parsed in one
pass is the message (or the refusal) the step-by-step parse gives, a relayed signal is the
text of its model, and the rate limiter counts as a plain token bucket does. Values are
taken as they come, never converted; a refusal carries the frame's ``id``; and
``docs/protocol.md`` names every message and every code the socket may refuse with."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.access.ratelimit import RateLimiter
from server.exceptions import ProtocolError
from server.live.protocol import (
    Candidate,
    Description,
    Incoming,
    _parse_stepwise,
    dump_message,
    parse_message,
)
from server.live.replies import Relayed, relayed

CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 40001 typ host", "sdpMid": "0"}
SIGNAL = {"v": 1, "type": "signal", "to": "0123456789abcdef", "candidate": CANDIDATE}


def outcome(parse: Any, raw: str | bytes) -> tuple[Any, ...]:
    try:
        message = parse(raw)
    except ProtocolError as exc:
        return ("refused", exc.code, str(exc), exc.frame_id)
    return ("parsed", type(message).__name__, message.model_dump())


FRAMES: list[str | bytes] = [
    json.dumps(SIGNAL),
    json.dumps({**SIGNAL, "v": 2}),
    json.dumps({k: v for k, v in SIGNAL.items() if k != "v"}),  # v has a default: still needed
    json.dumps({**SIGNAL, "v": True}),
    json.dumps({**SIGNAL, "v": 1.0}),
    json.dumps({**SIGNAL, "v": "1"}),
    json.dumps({**SIGNAL, "extra": 1}),
    json.dumps({**SIGNAL, "to": "NOT-HEX"}),
    json.dumps({**SIGNAL, "candidate": {**CANDIDATE, "sdpMLineIndex": 1.0}}),
    json.dumps({**SIGNAL, "candidate": {**CANDIDATE, "sdpMLineIndex": 1.5}}),
    json.dumps({**SIGNAL, "candidate": {**CANDIDATE, "sdpMLineIndex": "1"}}),
    json.dumps({"v": 1, "type": "signal", "to": "ab", "description": {"type": "offer", "sdp": 5}}),
    '{"v": 1, "type": "ping", "type": "leave"}',  # the last of a repeated key counts
    '{"v": 1, "type": "ping"} trailing',
    '{"v": 1, "type": "ping"}\n',
    '\ufeff{"v": 1, "type": "ping"}',
    b'\xef\xbb\xbf{"v": 1, "type": "ping"}',
    '{"v": 1, "type": "ping"}'.encode("utf-16"),
    b'{"v": 1, "type": "ping", "n": 3}',
    b"\xff\xfe\x00",
    '{"v": 1, "type": "ping", "n": true}',
    '{"v": 1, "type": "ping", "n": 123456789012345678901234567890}',
    '{"v": 1, "type": "lock", "locked": "true"}',
    '{"v": 1, "type": "waiting_message", "participant": "ab", "text": "\\ud800"}',
    '{"v": 1, "type": "waiting_message", "participant": "ab", "text": "caf\\u00e9"}',
    '{"v": 1, "type": "quality", "peer": "ab", "rtt_ms": NaN}',
    '{"v": 1, "type": "quality", "peer": "ab", "rtt_ms": 1e400}',
    '{"v": 1, "type": "media_state", "peer": "server", "state": "connected"}',
    '{"v": 1, "type": "share_start", "stream": "3f2a9c1e-0b7d-4c1a-9e2f-5d6c7b8a9f01"}',
    '{"v": 1, "type": "share_start", "stream": "a b"}',
    '{"v": 1, "type": "share_stop"}',
    '{"v": 1, "type": "share_allow", "participant": "ab", "allowed": "true"}',
    '{"v": 1, "type": "ping", "n": 2, "id": "a-1_B"}',
    '{"v": 1, "type": "ping", "n": "2", "id": "a-1_B"}',
    '{"v": 1, "type": "ping", "id": 7}',
    '{"v": 1, "type": "ping", "id": "a b"}',
    '{"v": 1, "type": "ping", "id": "' + "x" * 65 + '"}',
    '{"v": 1, "type": "ping", "id": null}',
    '{"v": true, "type": "ping", "id": "t"}',
    '{"v": 1, "type": "dance", "id": "d"}',
    '{"v": 1, "type": "rating", "score": 3.0}',
    '{"v": 1, "type": "quality", "peer": "ab", "rtt_ms": 12, "loss": 0}',
    '{"v": 1, "type": "dance"}',
    '{"v": 1, "type": 5}',
    '{"v": 1}',
    "[1, 2]",
    "null",
    '"signal"',
    "",
    "{not json",
    "{'v': 1}",
]


@pytest.mark.parametrize("raw", FRAMES)
def test_one_pass_parses_as_the_step_by_step_parse_does(raw: str | bytes) -> None:
    assert outcome(parse_message, raw) == outcome(_parse_stepwise, raw)


# values a lax parse converted: each is refused, naming its field
NOT_CONVERTED = [
    ({"type": "ping", "v": True}, "bad_version", None),
    ({"type": "ping", "v": 1.0}, "bad_version", None),
    ({"type": "ping", "n": "5"}, "bad_message", "n"),
    ({"type": "ping", "n": 5.0}, "bad_message", "n"),
    ({"type": "ping", "n": True}, "bad_message", "n"),
    ({"type": "lock", "locked": "yes"}, "bad_message", "locked"),
    ({"type": "lock", "locked": "true"}, "bad_message", "locked"),
    ({"type": "lock", "locked": 1}, "bad_message", "locked"),
    ({"type": "rating", "score": "3"}, "bad_message", "score"),
    ({"type": "rating", "score": True}, "bad_message", "score"),
    ({"type": "rating", "score": 3.0}, "bad_message", "score"),
    ({"type": "allow_clear", "allowed": 1}, "bad_message", "allowed"),
    ({"type": "share_allow", "participant": "ab", "allowed": 0}, "bad_message", "allowed"),
    ({"type": "observer_media", "audio": "false", "video": False}, "bad_message", "audio"),
    ({"type": "quality", "peer": "ab", "loss": "0.5"}, "bad_message", "loss"),
    ({"type": "quality", "peer": "ab", "rtt_ms": True}, "bad_message", "rtt_ms"),
    ({"type": "open_room", "session": 1234}, "bad_message", "session"),
    ({**SIGNAL, "candidate": {**CANDIDATE, "sdpMLineIndex": "1"}}, "bad_message", "candidate"),
    ({**SIGNAL, "candidate": {**CANDIDATE, "sdpMLineIndex": 1.0}}, "bad_message", "candidate"),
]


@pytest.mark.parametrize(("doc", "code", "field"), NOT_CONVERTED)
def test_values_are_taken_as_they_are_never_converted(
    doc: dict[str, Any], code: str, field: str | None
) -> None:
    frame = {"v": 1, "id": "f-1", **doc}
    with pytest.raises(ProtocolError) as info:
        parse_message(json.dumps(frame))
    assert (info.value.code, info.value.frame_id) == (code, "f-1")
    if field is not None:
        assert str(info.value).split(":")[0].split(".")[0] == field


def test_a_number_may_be_written_as_an_integer() -> None:
    message = parse_message('{"v": 1, "type": "quality", "peer": "ab", "rtt_ms": 12, "loss": 0}')
    assert message.model_dump()["rtt_ms"] == 12.0


@pytest.mark.parametrize(
    ("frame_id", "echoed"),
    [("a", "a"), ("A-z_0" * 12 + "abcd", "A-z_0" * 12 + "abcd"), ("x" * 65, None), ("", None),
     ("a b", None), ("é", None), ("a\n", None), (5, None), (True, None), (None, None)],
)  # fmt: skip
def test_a_refusal_echoes_the_frames_id_only_when_it_is_one(
    frame_id: object, echoed: str | None
) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_message(json.dumps({"v": 1, "type": "lock", "locked": "yes", "id": frame_id}))
    assert info.value.frame_id == echoed


def test_a_frame_too_large_is_refused_before_it_is_parsed() -> None:
    raw = json.dumps({**SIGNAL, "pad": "x" * 70_000})
    assert outcome(parse_message, raw)[:2] == ("refused", "too_large")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
KEYS = st.sampled_from(["v", "type", "to", "candidate", "description", "n", "sdp", "extra"])


@settings(max_examples=300, deadline=None)
@given(changes=st.dictionaries(KEYS, JSON | st.sampled_from([1, "signal", "ping", "ab"])))
def test_one_pass_agrees_on_messages_near_a_signal(changes: dict[str, Any]) -> None:
    raw = json.dumps({**SIGNAL, **changes})
    assert outcome(parse_message, raw) == outcome(_parse_stepwise, raw)


def test_a_relayed_signal_is_the_text_of_its_model() -> None:
    candidates = [
        None,
        Candidate(candidate="candidate:1 1 udp 1 127.0.0.1 1 typ host"),
        Candidate(candidate='c "é" \\', sdpMid="0", sdpMLineIndex=0, usernameFragment="ab"),
    ]
    descriptions = [None, Description(type="answer", sdp="v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n")]
    for candidate in candidates:
        for description in descriptions:
            for sender in ("0123456789abcdef", 'é"x'):
                model = Relayed(sender=sender, description=description, candidate=candidate)
                assert relayed(sender, description, candidate) == dump_message(model)


class Bucket:
    """The token bucket as first written: take the key out, refill, put it back at the end."""

    def __init__(self, rate: float, per: float, burst: float, max_keys: int) -> None:
        self.rate, self.burst, self.max_keys = rate / per, burst, max_keys
        self.buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str, now: float, cost: float) -> bool:
        tokens, last = self.buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= cost
        self.buckets[key] = (tokens - cost if allowed else tokens, now)
        while len(self.buckets) > self.max_keys:
            del self.buckets[next(iter(self.buckets))]
        return allowed


@settings(max_examples=200, deadline=None)
@given(
    rate=st.sampled_from([1, 5, 50]),
    per=st.sampled_from([1, 60]),
    burst=st.sampled_from([1, 3, 50]),
    max_keys=st.integers(0, 4),
    events=st.lists(
        st.tuples(st.sampled_from("abcde"), st.floats(0, 3), st.sampled_from([0.5, 1, 2])),
        max_size=60,
    ),
)
def test_the_rate_limiter_counts_as_a_token_bucket(
    rate: int, per: int, burst: int, max_keys: int, events: list[tuple[str, float, float]]
) -> None:
    now = [0.0]
    limiter = RateLimiter(rate, per, burst=burst, max_keys=max_keys, clock=lambda: now[0])
    reference = Bucket(rate, per, burst, max_keys)
    for key, wait, cost in events:
        now[0] += wait
        assert limiter.allow(key, cost) == reference.allow(key, now[0], cost)
        assert list(limiter._buckets.items()) == list(reference.buckets.items())


def test_every_message_a_browser_may_send_has_one_handler() -> None:
    """The socket's one dispatch table answers every type of ``Incoming``, and nothing else."""
    from typing import get_args

    from server.edge.dispatch import HANDLERS

    (union, *_) = get_args(Incoming)
    assert set(HANDLERS) == set(get_args(union))


# -- the document a client is written from

DOC = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text()
ROOT = Path(__file__).resolve().parent.parent


def _first_column(title: str) -> set[str]:
    """The names in the first column of the table under ``title``, its header aside."""
    start = DOC.index(title)
    table = DOC[DOC.index("|---", start) : DOC.index("\n## ", start + 1)]
    return set(re.findall(r"^\| `([a-z_]+)` \|", table, re.M))


def test_every_message_a_browser_may_send_is_in_the_documents_table() -> None:
    (union, *_) = get_args(Incoming)
    types = {model.model_fields["type"].annotation.__args__[0] for model in get_args(union)}
    assert _first_column("## Messages from the browser") == types


def test_every_code_the_socket_refuses_with_is_documented() -> None:
    """Every code a handler, the parser or the exception tree can give an error frame, in the
    table of errors (``too_large``: a frame over the limit closes the socket before it is
    parsed; the board's own codes travel in its own frames)."""
    raised = set()
    for folder in ("server/edge", "server/live", "media"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            raised |= set(re.findall(r'ProtocolError\(\s*"([a-z_]+)"', text))
    raised |= set(
        re.findall(r'^    code = "([a-z_]+)"', (ROOT / "server/exceptions.py").read_text(), re.M)
    )
    raised |= {"refused"}  # a PlayroomError's own
    # raised only where links are made or logs checked, both over HTTP, never on the socket
    raised -= {"no_public_url", "witness_unavailable"}
    documented = _first_column("### Errors")
    assert raised - {"too_large"} <= documented, raised - documented
    assert documented <= raised, documented - raised
