"""The words of each message a family is sent, made from Jinja templates under
``web/templates/mail/`` (every sentence is in a template, none in Python, so that they can be
translated: each is rendered in the family's language, ``lang``, through the catalogues of
``server/i18n.py``, its dates as that language writes them): a subject, plain text, HTML,
the words of a text message, and the calendar file's summary and description. No I/O here.

A subject never names the child, and nothing says more than the service, the time and the
link: a message can be read over a shoulder or on a shared family device."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import jinja2

from server import i18n
from server.care import ics
from server.care.delivery import Letter
from server.settings import Settings

MAIL = Path(__file__).resolve().parents[2] / "web" / "templates" / "mail"
Kind = Literal["consent", "invitation", "moved", "cancelled", "reminder"]
SMS_LIMIT = 480  # three text messages at most


@dataclass(frozen=True)
class About:
    """What a message is about: the session (none for a consent link), whom it goes to
    (``young_person`` or ``parent``), and the link, if it carries one."""

    recipient: str
    appointment_id: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    url: str | None = None
    therapist: str = ""
    hours: float = 0  # how long before the session a reminder goes


def environment() -> jinja2.Environment:
    """The mail templates, translated: HTML escaped, plain text and subjects as written."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(MAIL),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )
    i18n.install(env)
    return env


class Letters:
    def __init__(self, settings: Settings, env: jinja2.Environment | None = None) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.timezone)
        self.env = env or environment()

    def render(self, name: str, about: About, lang: str = "en") -> str:
        """One template in ``lang`` (English for one we do not have), with what every
        message may say: the service, the time in the service's time zone, whom it is for,
        the link."""
        lang = i18n.supported(lang) or i18n.DEFAULT
        page = i18n.Page(lang)
        starts = about.starts_at.astimezone(self.zone) if about.starts_at else None
        ends = about.ends_at.astimezone(self.zone) if about.ends_at else None
        return i18n.render(
            self.env,
            name,
            lang,
            tag=page.tag,
            dir=page.dir,
            service=self.settings.service_name,
            timezone=self.settings.timezone,
            starts=starts,
            ends=ends,
            recipient=about.recipient,
            url=about.url,
            therapist=about.therapist,
            hours=about.hours,
        ).strip()

    def letter(self, kind: Kind, to: str, about: About, lang: str = "en") -> Letter:
        """An e-mail: subject, text and HTML, and for a session its calendar file."""
        subject = " ".join(self.render(f"{kind}.subject.txt", about, lang).split())
        calendar = None
        method: ics.Method = "CANCEL" if kind == "cancelled" else "REQUEST"
        if about.appointment_id and about.starts_at and about.ends_at:
            calendar = ics.calendar(
                appointment_id=about.appointment_id,
                starts_at=about.starts_at,
                ends_at=about.ends_at,
                zone=self.settings.timezone,
                summary=self.render("calendar.summary.txt", about, lang),
                description=self.render("calendar.description.txt", about, lang),
                organizer=self.settings.smtp_from,
                organizer_name=self.settings.service_name,
                url=about.url,
                method=method,
            )
        return Letter(
            to=to,
            subject=subject,
            text=self.render(f"{kind}.txt", about, lang) + "\n",
            html=self.render(f"{kind}.html", about, lang),
            ics=calendar,
            ics_method=method,
        )

    def text_message(self, kind: Kind, about: About, lang: str = "en") -> str:
        """A text message's words, on one line, bounded."""
        words = " ".join(self.render(f"{kind}.sms.txt", about, lang).split())
        return words[:SMS_LIMIT]
