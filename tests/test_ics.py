"""A session as a calendar file: read back with icalendar, the time carries the service's
time zone, an update and a cancellation keep the UID and raise the SEQUENCE."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar

from server.care.ics import calendar, sequence, uid

START = datetime(2027, 3, 28, 9, 30, tzinfo=UTC)  # the morning the clocks go forward in London


def _event(data: bytes):  # type: ignore[no-untyped-def]
    cal = Calendar.from_ical(data)
    return cal, next(c for c in cal.walk() if c.name == "VEVENT")


def test_the_time_is_in_the_services_zone_and_a_cancellation_keeps_the_uid() -> None:
    made = {
        "appointment_id": "a" * 32,
        "starts_at": START,
        "ends_at": START + timedelta(minutes=50),
        "zone": "Europe/London",
        "summary": "Playroom session",
        "description": "Join here",
        "organizer": "playroom@example.org",
        "organizer_name": "Playroom",
        "url": "https://playroom.example.org/join/t",
    }
    cal, event = _event(calendar(**made))
    assert str(cal["METHOD"]) == "REQUEST"
    assert event["DTSTART"].params["TZID"] == "Europe/London"
    assert event.decoded("DTSTART") == START.astimezone(ZoneInfo("Europe/London"))
    assert event.decoded("DTSTART").utcoffset() == timedelta(hours=1)
    assert str(event["UID"]) == uid("a" * 32)
    cancelled, gone = _event(calendar(**made, method="CANCEL"))
    assert str(cancelled["METHOD"]) == "CANCEL" and str(gone["STATUS"]) == "CANCELLED"
    assert str(gone["UID"]) == str(event["UID"])
    assert int(gone["SEQUENCE"]) >= int(event["SEQUENCE"])
    assert sequence(datetime(2027, 1, 1, tzinfo=UTC)) < sequence(datetime(2027, 1, 2, tzinfo=UTC))
