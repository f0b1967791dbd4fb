"""The service's safeguarding hours: read from the setting, and whether a session fits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.care.checklists import Kind, load_catalogue
from server.care.hours import PASSAGE, SOURCE, SafeguardingHours
from server.exceptions import ConfigurationError

LONDON = ZoneInfo("Europe/London")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def test_unset_hours_let_every_time_through() -> None:
    hours = SafeguardingHours.parse(None, LONDON)
    assert not hours.set
    assert hours.fits(_at("2027-01-02T23:00"), _at("2027-01-03T00:30"))


def test_a_session_fits_only_wholly_inside_a_span_in_the_services_time() -> None:
    hours = SafeguardingHours.parse("Mon-Fri 09:00-17:00; Sat 10:00-13:00", LONDON)
    assert hours.describe() == "Mon–Fri 09:00–17:00; Sat 10:00–13:00"
    monday = _at("2027-01-04T16:00")  # a Monday
    assert hours.fits(monday, monday + timedelta(minutes=60))
    assert not hours.fits(monday, monday + timedelta(minutes=61))  # runs past 17:00
    assert not hours.fits(_at("2027-01-04T08:30"), _at("2027-01-04T09:30"))
    assert hours.fits(_at("2027-01-09T10:00"), _at("2027-01-09T11:00"))  # Saturday
    assert not hours.fits(_at("2027-01-10T10:00"), _at("2027-01-10T11:00"))  # Sunday
    # 16:00 in London in summer is 15:00 UTC: the service's clock decides
    summer = datetime(2027, 7, 5, 15, 0, tzinfo=UTC)
    assert hours.fits(summer, summer + timedelta(minutes=50))


def test_a_span_past_midnight_holds_into_the_next_day() -> None:
    hours = SafeguardingHours.parse("fri 20:00-02:00", LONDON)
    assert hours.fits(_at("2027-01-08T23:30"), _at("2027-01-09T00:30"))  # Fri into Sat
    assert not hours.fits(_at("2027-01-09T23:30"), _at("2027-01-10T00:30"))  # Sat


def test_a_setting_the_server_cannot_read_stops_it_naming_the_part() -> None:
    with pytest.raises(ConfigurationError, match="PLAYROOM_SAFEGUARDING_HOURS.*weekdays"):
        SafeguardingHours.parse("weekdays 9-5", LONDON)


def test_the_gate_cites_the_passage_the_checklist_cites() -> None:
    """The gate's citation is the suitability checklist's for the same consideration, whose
    quote ``test_checklists.py`` finds verbatim in the CCAP guidance."""
    item = load_catalogue()[Kind.SUITABILITY].item("context.safeguarding_hours")
    assert item is not None
    assert item.source.quote == PASSAGE
    assert SOURCE == f"CCAP 2024, {item.source.section}"
