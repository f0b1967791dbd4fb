"""A real SMTP server on loopback (aiosmtpd) for the tests of what Playroom e-mails, keeping
each message as sent, parsed; and a text-message webhook (a real aiohttp server) that keeps
what it was sent and can answer 500."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp import web

from tests.helpers import free_port


class Mailbox:
    """What the SMTP server received: each message with its envelope's recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.arrived = threading.Condition()  # the SMTP server runs in its own thread

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.arrived:
            self.messages.append((list(envelope.rcpt_tos), parsed))
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for _, m in self.messages]


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on a free port of this machine, and what it receives."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture(name="mailbox")
def mailbox_fixture() -> Iterator[tuple[Mailbox, int]]:
    """The SMTP server, and its port (import ``mailbox_fixture`` to use it as ``mailbox``)."""
    with smtp_server() as served:
        yield served


class TextHook:
    """The SMS provider's side of the webhook: what it was sent, and what it answers."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str]] = []
        self.answer = 200

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(
            (await request.read(), request.headers.get("X-Playroom-Signature", ""))
        )
        return web.Response(status=self.answer, text="ok" if self.answer < 300 else "down")

    def app(self) -> web.Application:
        hook = web.Application()
        hook.router.add_post("/sms", self.handle)
        return hook


def parts(message: EmailMessage) -> dict[str, Any]:
    """A message's plain text, HTML and calendar file."""
    found: dict[str, Any] = {}
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html") and "text" not in found.get(kind, ""):
            found[kind] = part.get_content()
        elif kind == "text/calendar":
            found[kind] = part.get_payload(decode=True)
    return found
