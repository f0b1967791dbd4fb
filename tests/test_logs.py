"""Logs never carry a password, a code, a secret, a token, a name or a cookie."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from server.logs import REDACTED, AccessLogger, JsonFormatter
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
