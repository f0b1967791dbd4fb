"""A session as a calendar file (``.ics``, RFC 5545, made with ``icalendar``): the time in
the service's time zone with its VTIMEZONE, the join link, and one UID per session, so that
a moved session updates the event a family already has and a cancelled one removes it
(``METHOD:CANCEL``, the same UID, a higher SEQUENCE). No I/O here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from server.storage.db import utcnow

Method = Literal["REQUEST", "CANCEL"]
PRODID = "-//Playroom//Sessions//EN"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def uid(appointment_id: str) -> str:
    """The one UID of a session's event, in every file sent about it."""
    return f"{appointment_id}@playroom"


def sequence(now: datetime | None = None) -> int:
    """A SEQUENCE that only grows: each file about a session supersedes the ones before
    (whole seconds since 2026, so it stays a small number)."""
    return max(0, int(((now or utcnow()) - EPOCH).total_seconds()))


def calendar(
    *,
    appointment_id: str,
    starts_at: datetime,
    ends_at: datetime,
    zone: str,
    summary: str,
    description: str,
    organizer: str,
    organizer_name: str,
    url: str | None = None,
    method: Method = "REQUEST",
) -> bytes:
    """The ``.ics`` file of one session: an invitation (``REQUEST``) or its cancellation."""
    # imported here, not as the server starts: 27 ms of a start that every page waits for
    from icalendar import Calendar, Event, vCalAddress, vText

    tz = ZoneInfo(zone)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", method)
    event = Event()
    event.add("uid", uid(appointment_id))
    event.add("dtstamp", utcnow())
    event.add("sequence", sequence())
    event.add("dtstart", starts_at.astimezone(tz))
    event.add("dtend", ends_at.astimezone(tz))
    event.add("summary", summary)
    event.add("description", description)
    if url:
        event.add("url", url)
        event.add("location", url)
    organizer_address = vCalAddress(f"mailto:{organizer}")
    organizer_address.params["cn"] = vText(organizer_name)
    event["organizer"] = organizer_address
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    cal.add_component(event)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())
