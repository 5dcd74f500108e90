"""The one parser and formatter of dates people type, files carry and pages show, in the
bureau's time zone (``BABEL_DEFAULT_TIMEZONE``, read through ``app.auth.zone``).

A bare date means local midnight in the bureau's zone (the start of that day), or, for "as of"
questions, the end of it (``day_end``): "who was responsible on 1 March" is answered as things
stood when that day closed. A date-time without a zone is local time in the bureau's zone: that
is what a person at the bureau means when they type "2026-03-01 08:00"; the same holds for a
naive ``datetime`` object. Dates outside
1900-2199 are refused: they are typing mistakes, and at the extremes (year 1, 9999) date
arithmetic and PostgreSQL's range types overflow.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
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


# A day as spreadsheets, laboratories and people write it: 2026-03-05, 2026/3/5, 2026.3.5,
# 2026年3月5日, with a time after it or not (an XLSX cell read as text: "2026-03-05T09:30:00").
_WRITTEN_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                           r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")


def parse_written_date(value, field: str = "date") -> dt.date:
    """A date as spreadsheets and laboratories write it (``_WRITTEN_DATE``; full-width digits
    too), else as ``parse_date``."""
    if isinstance(value, (dt.date, dt.datetime)):
        return parse_date(value, field)
    match = _WRITTEN_DATE.fullmatch(unicodedata.normalize("NFKC", str(value)).strip())
    if match is None:
        return parse_date(value, field)
    try:
        day = dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        raise ValidationError(field, "not an ISO date (YYYY-MM-DD)", "not_date") from None
    _in_range(day, field)
    return day


# A moment as hotline systems and spreadsheets write it: 2026-11-30 09:15, 2026/11/30 9:15:08,
# 2026年11月30日 09:15, an XLSX cell read as text (2026-11-30T09:15:00); a bare day is midnight.
_WRITTEN_MOMENT = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                             r"(?:[ T]+(\d{1,2})[:：](\d{2})(?:[:：](\d{2})(?:\.\d+)?)?)?")


def parse_written_datetime(value, zone: str, field: str = "date") -> dt.datetime:
    """A moment as files write it (``_WRITTEN_MOMENT``; full-width digits too), local time in
    the bureau's ``zone`` unless it says its own offset (then as ``parse_datetime``)."""
    if isinstance(value, dt.datetime):
        return parse_datetime(value, zone, field)
    folded = unicodedata.normalize("NFKC", str(value)).strip()
    match = _WRITTEN_MOMENT.fullmatch(folded)
    if match is None:
        return parse_datetime(folded, zone, field)
    y, m, d, hh, mm, ss = (int(g) if g else 0 for g in match.groups())
    try:
        when = dt.datetime(y, m, d, hh, mm, ss)
    except ValueError:
        raise ValidationError(field, "not an ISO-8601 date or date-time",
                              "not_datetime") from None
    return parse_datetime(when, zone, field)


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


def as_of(value, zone: str, field: str = "at") -> dt.datetime | None:
    """The moment an "as of" question asks about (``?at=``, ``--at``): a bare date is the end
    of that day in the bureau's zone ("who was responsible on 1 March" is answered as things
    stood when that day closed, so a change made that day counts); a date-time is that moment.
    None or "" is None (now). The map wall, the lookup and the command line all ask this."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_datetime(value, zone, field, day_end=True)


def local(when: dt.datetime, zone: str) -> dt.datetime:
    """``when`` in the bureau's zone, for showing it (a naive one is taken as already local)."""
    if when.tzinfo is None:
        return when.replace(tzinfo=ZoneInfo(zone))
    return when.astimezone(ZoneInfo(zone))


def today(zone: str) -> dt.date:
    """The bureau's date now (the server's clock may run in UTC: from 00:00 to 08:00 in
    Beijing, UTC still says yesterday)."""
    return dt.datetime.now(ZoneInfo(zone)).date()


def isoformat(when: dt.datetime | None, zone: str) -> str | None:
    """An ISO-8601 date-time with the bureau's offset ("2026-03-02T02:00:00+08:00"): what
    answers and files show, so a reader sees the local day, not the UTC one."""
    return None if when is None else local(when, zone).isoformat()


def require_aware(when: dt.datetime | None, field: str = "valid_from") -> None:
    """Refuse a naive date-time in the domain: compared with stored (aware) ones it raises a
    TypeError deep inside, and sent to PostgreSQL it is read in the session's zone (UTC), eight
    hours off. The adapters read every date-time through ``parse_datetime``."""
    if when is not None and when.tzinfo is None:
        raise ValueError(f"{field}: a date-time without a time zone; read it with "
                         "gis.dates.parse_datetime(value, zone)")
