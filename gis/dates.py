"""The one parser of dates people type and files carry, in the bureau's time zone.

A bare date means local midnight in the bureau's zone (the start of that day), or, for "as of"
questions, the end of it (``day_end``): "who was responsible on 1 March" is answered as things
stood when that day closed. A date-time without a zone is local time in the bureau's zone: that
is what a person at the bureau means when they type "2026-03-01 08:00". Dates outside
1900-2199 are refused: they are typing mistakes, and at the extremes (year 1, 9999) date
arithmetic and PostgreSQL's range types overflow.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from gis.errors import ValidationError

EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2199, 12, 31)


def _in_range(day: dt.date, field: str) -> None:
    if not EARLIEST <= day <= LATEST:
        raise ValidationError(field, f"a date between {EARLIEST} and {LATEST}", "date_range",
                              first=EARLIEST.isoformat(), last=LATEST.isoformat())


def parse_date(value, field: str = "date") -> dt.date:
    """An ISO date (YYYY-MM-DD)."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        try:
            value = dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValidationError(field, "not an ISO date (YYYY-MM-DD)", "not_date") from None
    _in_range(value, field)
    return value


def parse_datetime(value, zone: str, field: str = "date", *, day_end: bool = False
                   ) -> dt.datetime:
    """An ISO date or date-time as an aware datetime (see the module's rules)."""
    if isinstance(value, dt.datetime):
        when = value
    else:
        text = str(value).strip()
        try:
            if len(text) == 10:
                day = dt.date.fromisoformat(text)
                when = dt.datetime.combine(day, dt.time.max if day_end else dt.time.min)
            else:
                when = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(field, "not an ISO-8601 date or date-time",
                                  "not_datetime") from None
    _in_range(when.date(), field)
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(zone))
    return when
