"""Notifiers for escalations: e-mail over SMTP (aiosmtplib) and a signed webhook.

Messages say that something needs attention and where to look, never who the young person
is or what happened: details stay inside Playroom, behind sign-in. A failing notifier is
logged and never stops the escalation itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from email.message import EmailMessage
from typing import Any

import aiohttp

from server.settings import Settings

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Playroom-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Notifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def email(self, to: list[str], subject: str, text: str) -> bool:
        if not self.settings.smtp_host or not to:
            return False
        import aiosmtplib  # here, not as the server starts (docs/performance.md, §13)

        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        message.set_content(text)
        try:
            await aiosmtplib.send(
                message, hostname=self.settings.smtp_host, port=self.settings.smtp_port, timeout=10
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("e-mail alert failed", extra={"event": type(exc).__name__})
            return False
        return True

    async def webhook(self, event: dict[str, Any]) -> bool:
        if not self.settings.webhook_url:
            return False
        body = json.dumps(event, sort_keys=True).encode()
        headers = {"Content-Type": "application/json"}
        if self.settings.webhook_secret:
            headers[SIGNATURE_HEADER] = sign(self.settings.webhook_secret.get_secret_value(), body)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                async with http.post(self.settings.webhook_url, data=body, headers=headers) as resp:
                    return resp.status < 300
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("webhook failed", extra={"event": type(exc).__name__})
            return False
