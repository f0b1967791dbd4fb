"""How a message leaves the server: e-mail over SMTP (aiosmtplib), as plain text and HTML
(multipart/alternative) with a calendar file beside them, and a text message through a
webhook the service points at its SMS provider, signed like escalation webhooks
(``notify.sign``). Each gives up after a timeout and raises ``DeliveryFailed`` naming the
kind of fault, never the address or the number: the outbox keeps that code and tries again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage

import aiohttp

from server.care.notify import SIGNATURE_HEADER, sign
from server.settings import Settings


class DeliveryFailed(Exception):
    """A message did not go; ``code`` is what the therapist's page says went wrong."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Letter:
    """An e-mail as composed (``invitations.py``), before it has an envelope."""

    to: str
    subject: str
    text: str
    html: str
    ics: bytes | None = None
    ics_method: str = "REQUEST"


def _one_line(value: str) -> str:
    """A header's value; a line break would start a header of its own (header injection)."""
    if any(c in value for c in "\r\n\0"):
        raise DeliveryFailed("header_injection")
    return value


def message(letter: Letter, sender: str, sender_name: str) -> EmailMessage:
    """The MIME message: text and HTML as alternatives, the calendar file attached."""
    mail = EmailMessage()
    local, _, domain = _one_line(sender).partition("@")
    mail["From"] = Address(_one_line(sender_name), local, domain or "localhost")
    mail["To"] = _one_line(letter.to)
    mail["Subject"] = _one_line(letter.subject)
    mail.set_content(letter.text)
    mail.add_alternative(letter.html, subtype="html")
    if letter.ics is not None:
        mail.add_attachment(
            letter.ics,
            maintype="text",
            subtype="calendar",
            filename="session.ics",
            params={"method": letter.ics_method},
        )
    return mail


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host)

    async def send(self, letter: Letter) -> None:
        if not self.settings.smtp_host:
            raise DeliveryFailed("no_mail_server")
        import aiosmtplib  # here, not as the server starts (docs/performance.md, §13)

        mail = message(letter, self.settings.smtp_from, self.settings.service_name)
        try:
            await aiosmtplib.send(
                mail,
                hostname=self.settings.smtp_host,
                port=self.settings.smtp_port,
                timeout=self.settings.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise DeliveryFailed("address_refused") from exc
        except (aiosmtplib.SMTPTimeoutError, TimeoutError) as exc:
            raise DeliveryFailed("mail_server_slow") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed("mail_server_down") from exc


class TextMessages:
    """Text messages through the service's webhook: ``{"to": number, "text": words}``,
    signed with ``X-Playroom-Signature`` when a secret is set."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return bool(self.settings.sms_webhook_url)

    async def send(self, to: str, text: str) -> None:
        url = self.settings.sms_webhook_url
        if not url:
            raise DeliveryFailed("no_text_service")
        body = json.dumps({"to": to, "text": text}, sort_keys=True).encode()
        headers = {"Content-Type": "application/json"}
        if self.settings.sms_webhook_secret:
            secret = self.settings.sms_webhook_secret.get_secret_value()
            headers[SIGNATURE_HEADER] = sign(secret, body)
        timeout = aiohttp.ClientTimeout(total=self.settings.smtp_timeout_seconds)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                async with http.post(url, data=body, headers=headers) as resp:
                    if resp.status >= 300:
                        raise DeliveryFailed(f"text_service_{resp.status}")
        except (aiohttp.ClientError, OSError) as exc:
            raise DeliveryFailed("text_service_down") from exc
        except TimeoutError as exc:
            raise DeliveryFailed("text_service_slow") from exc
