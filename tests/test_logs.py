"""Logs never carry a password, a code, a secret, a token, a name or a cookie."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from server.logs import (
    IP_REDACTED,
    QUIET_LIBRARIES,
    REDACTED,
    AccessLogger,
    JsonFormatter,
    configure_logging,
)
from tests.conftest import PASSWORD, csrf_from, make_staff, sign_in


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_formatter_redacts_sensitive_fields_and_token_shapes(log_output: io.StringIO) -> None:
    log = logging.getLogger("playroom.test")
    log.info(
        "link issued %s",
        "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
        extra={
            "display_name": "Sam",
            "phone": "07700 900123",
            "route": "/join/{token}",
            "count": 3,
        },
    )
    try:
        raise ValueError("Sam lives at 1 Acacia Avenue")
    except ValueError:
        log.exception("failed")
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    first = lines[0]
    assert first["msg"] == f"link issued {REDACTED}"
    assert first["display_name"] == REDACTED and first["phone"] == REDACTED
    assert first["route"] == "/join/{token}" and first["count"] == 3
    assert lines[1]["exc_type"] == "ValueError"
    assert "Acacia" not in log_output.getvalue()


@pytest.mark.hazard("HZ-12")
async def test_a_whole_sign_in_leaves_no_secret_in_the_logs(
    app: web.Application,
    aiohttp_client,
    log_output: io.StringIO,  # type: ignore[no-untyped-def]
) -> None:
    server = TestServer(app)
    await server.start_server(access_log_class=AccessLogger)
    client = await aiohttp_client(server)
    staff = await make_staff(app, "alex.private")
    page = await client.get("/signin")
    await client.post(
        "/signin",
        data={
            "username": staff.username,
            "password": "wrong-" + PASSWORD,
            "csrf_token": csrf_from(await page.text()),
        },
    )
    token = await sign_in(client, staff)
    await client.get("/api/me")
    await client.get("/signin/enrol?token=" + "q" * 40)
    await client.post("/signout/everywhere", data={"csrf_token": token})
    text = log_output.getvalue()
    assert '"route": "/signin"' in text  # the access log did run
    cookies = [c.value for c in client.session.cookie_jar]
    for secret in [
        PASSWORD,
        staff.secret,
        staff.username,
        "Alex.Private",
        token,
        "q" * 40,
        *cookies,
    ]:
        assert secret not in text, f"{secret[:6]}... leaked into the logs"


@pytest.mark.hazard("HZ-12")
def test_addresses_are_masked_wherever_they_appear(log_output: io.StringIO) -> None:
    """A young person's IP address is personal data: the WebRTC libraries name the addresses
    they check and connect to, so every address is masked in every line, not only ours."""
    logging.getLogger("aioice.ice").warning(
        "Check CandidatePair(('10.0.0.5', 40123) -> ('203.0.113.7', 51234)) failed",
        extra={"peer": "[2001:db8::7]:443", "via": "fe80::fc:ff:fe00:1%eth0"},
    )
    logging.getLogger("playroom.test").info("at 12:30:45 with aiortc 1.16.0 from 198.51.100.4:80")
    text = log_output.getvalue()
    for address in ("10.0.0.5", "203.0.113.7", "2001:db8::7", "fe80::fc:ff:fe00:1", "198.51.100.4"):
        assert address not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["msg"].count(IP_REDACTED) == 2 and IP_REDACTED in lines[0]["peer"]
    assert "12:30:45" in lines[1]["msg"] and "1.16.0" in lines[1]["msg"]  # not addresses


def test_the_webrtc_libraries_chatter_is_left_out() -> None:
    """aioice and aiortc log every candidate pair at INFO; the server keeps their warnings."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    try:
        configure_logging("INFO")
        for name in ("aioice.ice", "aiortc.rtcpeerconnection"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO)
            assert logging.getLogger(name).isEnabledFor(logging.WARNING)
        assert logging.getLogger("server.live.rooms").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)


def test_a_log_checkpoint_is_written_whole_and_nothing_else_is(log_output: io.StringIO) -> None:
    """A session log's checkpoint (its stream and head hash) is written whole, to witness the
    log from outside the database; a token passed under the same names is still masked."""
    stream, head = "session:" + "a1" * 16, "0f" * 32
    log = logging.getLogger("playroom.test")
    log.info("log checkpoint", extra={"event": "log_checkpoint", "stream": stream, "head": head})
    log.info("x", extra={"stream": "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0", "head": "q" * 64})
    first, second = (json.loads(line) for line in log_output.getvalue().splitlines())
    assert first["stream"] == stream and first["head"] == head
    assert second["stream"] == REDACTED and second["head"] == REDACTED
