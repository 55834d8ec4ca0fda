"""Dates as masters write them: ISO 8601, or day-first / month-first by locale or format."""

from __future__ import annotations

import os
import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache

from babel import Locale

_SLASHED = re.compile(
    r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
)


class DateFormatError(ValueError):
    pass


def now() -> datetime:
    """The moment channel checks compare dates with (a sale window, a date at most a year
    ahead): the clock, or FEEDSYNC_NOW (ISO 8601) for reproducible builds and tests."""
    fixed = os.environ.get("FEEDSYNC_NOW")
    if fixed:
        moment = datetime.fromisoformat(fixed)
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc)


@lru_cache(maxsize=64)
def month_first(locale: str | None) -> bool:
    """Whether a locale writes 12/31/2026 (en_US) rather than 31/12/2026 (es_ES)."""
    if not locale:
        return False
    try:
        pattern = Locale.parse(locale.replace("-", "_")).date_formats["short"].pattern
    except Exception:
        return False
    text = str(pattern).lower()
    return text.find("m") < text.find("d")


def parse_datetime(
    text: str,
    *,
    locale: str | None = None,
    date_format: str | None = None,
    tz: tzinfo = timezone.utc,
    end_of_day: bool = False,
) -> datetime:
    """A timezone-aware datetime. A bare date means midnight, or 23:59:59 for an end date."""
    value = text.strip()
    if not value:
        raise DateFormatError("empty date")
    parsed: datetime | None = None
    date_only = False
    if date_format:
        try:
            parsed = datetime.strptime(value, date_format)
        except ValueError as exc:
            raise DateFormatError(f"{text!r} does not match the date format {date_format}") from exc
        date_only = not any(d in date_format for d in ("%H", "%I", "%M"))
    else:
        parsed, date_only = _parse_iso(value)
        if parsed is None:
            match = _SLASHED.match(value)
            if not match:
                raise DateFormatError(f"{text!r} is not a date (expected e.g. 2026-12-31)")
            first, second, year = int(match[1]), int(match[2]), int(match[3])
            day, month = (second, first) if month_first(locale) else (first, second)
            if month > 12 >= day:  # unambiguous the other way round
                day, month = month, day
            try:
                parsed = datetime(year, month, day, int(match[4] or 0), int(match[5] or 0),
                                  int(match[6] or 0))
            except ValueError as exc:
                raise DateFormatError(f"{text!r} is not a valid date") from exc
            date_only = match[4] is None
    if date_only and end_of_day:
        parsed = datetime.combine(parsed.date(), time(23, 59, 59))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def _parse_iso(value: str) -> tuple[datetime | None, bool]:
    if len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return datetime.combine(date.fromisoformat(value), time()), True
        except ValueError:
            return None, False
    if len(value) >= 16 and value[4] == "-" and value[10] in "T ":
        iso = value[:-1] + "+00:00" if value.endswith("Z") else value
        # Google's own examples write offsets without a colon (+0100); 3.10 needs one.
        iso = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", iso)
        try:
            return datetime.fromisoformat(iso), False
        except ValueError:
            return None, False
    return None, False


_NO_OFFSET = timedelta(0)


def format_iso_minutes(value: datetime) -> str:
    """Google's spelling: `2026-02-24T11:07+0100` (minutes, offset without colon)."""
    offset = value.utcoffset() or _NO_OFFSET
    sign = "-" if offset < _NO_OFFSET else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    zone = f"{sign}{minutes // 60:02d}{minutes % 60:02d}"
    if value.year < 1000:  # strftime's own spelling of such years (no padding on glibc)
        return value.strftime("%Y-%m-%dT%H:%M") + zone
    # strftime cost ~2 us a value; the same digits, formatted directly.
    return (f"{value.year}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
            f"{value.minute:02d}{zone}")
