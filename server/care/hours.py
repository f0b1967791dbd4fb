"""The service's safeguarding hours: when its designated safeguarding support can be reached.

CCAP *Guidance for Delivering Online Therapy* (2024), Context 3: "Specific considerations
may include working within the hours of designated safeguarding facilities in an
organisational setting". The service sets them (``PLAYROOM_SAFEGUARDING_HOURS``) as weekly
spans in its time zone, e.g. ``Mon-Fri 09:00-17:00; Sat 10:00-13:00``. A session that does
not lie wholly inside one span is outside them: scheduling or moving one there needs the
therapist's reason (``care/series.py``), and the gate shows it. Unset, every time is inside.
No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from server.care.rota import Pattern
from server.exceptions import ConfigurationError, PlayroomError

# where the gate shows a session outside the hours: the passage it comes from, cited as the
# suitability checklist cites it (item ``context.safeguarding_hours``)
SOURCE = "CCAP 2024, Considerations for online therapy / Context, 3"
PASSAGE = (
    "Specific considerations may include working within the hours of designated "
    "safeguarding facilities in an organisational setting"
)
RATIONALE_MAX = 2000


@dataclass(frozen=True)
class SafeguardingHours:
    """Weekly spans of local wall-clock time; none: no hours set, every time fits."""

    spans: tuple[Pattern, ...]
    zone: ZoneInfo
    source: ClassVar[str] = SOURCE
    passage: ClassVar[str] = PASSAGE

    @classmethod
    def parse(cls, text: str | None, zone: ZoneInfo) -> SafeguardingHours:
        """``Mon-Fri 09:00-17:00``, several separated by ``;``. A setting the server cannot
        read stops it at start (``ConfigurationError``), naming the part."""
        if not text or not text.strip():
            return cls((), zone)
        spans = []
        for part in text.split(";"):
            if not part.strip():
                continue
            try:
                spans.append(Pattern.parse(part.strip()))
            except PlayroomError as exc:
                raise ConfigurationError(f"PLAYROOM_SAFEGUARDING_HOURS: {exc}") from exc
        return cls(tuple(spans), zone)

    @property
    def set(self) -> bool:
        return bool(self.spans)

    def describe(self) -> str:
        """``Mon–Fri 09:00–17:00``, as pages show them."""
        return "; ".join(p.describe() for p in self.spans) if self.spans else "any time"

    def fits(self, starts_at: datetime, ends_at: datetime) -> bool:
        """Whether the whole session lies inside one span (always, with no hours set)."""
        if not self.spans:
            return True
        start = starts_at.astimezone(self.zone).replace(tzinfo=None)
        end = ends_at.astimezone(self.zone).replace(tzinfo=None)
        for pattern in self.spans:
            for day in (start.date() - timedelta(days=1), start.date()):
                if day.weekday() not in pattern.days:
                    continue
                begin = datetime.combine(day, pattern.start)
                close = datetime.combine(day, pattern.end)
                if close <= begin:  # past midnight
                    close += timedelta(days=1)
                if begin <= start and end <= close:
                    return True
        return False
