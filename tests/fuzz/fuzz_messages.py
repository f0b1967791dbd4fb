"""Fuzz target: a signalling frame, as bytes and as text, is a message or a ProtocolError
(whose ``frame_id``, echoed to the client, is a valid ``id`` of that frame or nothing).

Run by ``make fuzz`` (``python -m tests.fuzz.run``); alone: ``python -m
tests.fuzz.fuzz_messages -max_total_time=60 CORPUS_DIR``. Any exception other than
ProtocolError with one of the documented codes is a crash."""

from __future__ import annotations

import json
import re
import sys

from tests.fuzz.engine import fuzz, instrumented

with instrumented("server"):
    from server.exceptions import ProtocolError
    from server.live.protocol import Message, parse_message

REFUSALS = {"too_large", "bad_json", "bad_message", "bad_version", "unknown_type"}
FRAME_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

SEEDS = [
    b'{"v": 1, "type": "ping", "n": 3}',
    b'{"v": 1, "type": "join", "token": "abcdefghijkl.mnop", "checks": {"where": "home"}}',
    b'{"v": 1, "type": "signal", "to": "0123456789abcdef", "candidate": {"candidate": "c",'
    b' "sdpMid": "0", "sdpMLineIndex": 0}}',
    b'{"v": 1, "type": "server_signal", "description": {"type": "offer", "sdp": "v=0\\r\\n'
    b'o=- 1 1 IN IP4 0.0.0.0\\r\\n"}}',
    b'{"v": 1, "type": "quality", "peer": "ab", "rtt_ms": 12.5, "loss": 0.01}',
    b'{"v": 1, "type": "plan_step", "case": "lost", "step": "call_parent", "outcome": "tried"}',
    b'{"v": 1, "type": "board", "op": {"op": "undo"}}',
    b'{"v": 1, "type": "media_state", "peer": "server", "state": "connected"}',
    b'{"v": 1, "type": "rating", "score": 4}',
    b'{"v": 1, "type": "lock", "locked": "yes", "id": "frame-7"}',
]


def one_input(data: bytes) -> None:
    try:
        text = data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    for raw in (data, text):
        try:
            message = parse_message(raw)
        except ProtocolError as exc:
            if exc.code not in REFUSALS:
                raise AssertionError(f"undocumented refusal code {exc.code!r}") from exc
            if exc.frame_id is not None and (
                not FRAME_ID.fullmatch(exc.frame_id) or exc.frame_id != json.loads(raw)["id"]
            ):
                raise AssertionError(f"echoes {exc.frame_id!r}, not the frame's id") from exc
        else:
            if not isinstance(message, Message) or message.v != 1:
                raise AssertionError(f"parsed into {message!r}")


def main() -> None:
    fuzz(sys.argv, one_input)


if __name__ == "__main__":
    main()
