"""Typed values (from workbooks, databases, JSON) -> the strings a SourceRow carries.

Typed sources hand the parser text, like CSV does, so every source kind goes through the
same conversions. Numbers are written with the master locale's decimal symbol and no
grouping, so `parse_decimal` can never mistake 1.234 (one point two three four) for a
thousands-grouped 1234 in a locale such as es_ES. Dates become ISO 8601.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from feedsync.products.numbers import locale_separators

_SURROGATE = re.compile("[\ud800-\udfff]")


class CellFormatter:
    """Formats typed cells as text for one master (one locale)."""

    def __init__(self, locale: str | None = None) -> None:
        try:
            self.decimal_symbol = locale_separators(locale)[0]
        except ValueError:
            self.decimal_symbol = "."

    def text(self, value: Any) -> str | None:
        """The cell as text; None for an empty cell."""
        if value is None:
            return None
        if isinstance(value, str):
            if value == "":
                return None
            # JSON's \ud800 escapes and some database drivers yield lone surrogates, which
            # no UTF-8 feed can hold: they become U+FFFD here, once, for every writer.
            return value if value.isascii() or not _SURROGATE.search(value) else (
                _SURROGATE.sub("\ufffd", value))
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                return None
            if value.is_integer() and abs(value) < 1e16:
                return str(int(value))
            return self._decimal(format_float(value))
        if isinstance(value, Decimal):
            if not value.is_finite():
                return None
            # format() never rounds, so a Decimal wider than the context stays exact text
            # (quantize would raise InvalidOperation); parse_decimal then bounds it.
            if value == value.to_integral_value():
                return format(value.to_integral_value(), "f")
            return self._decimal(format(value.normalize(), "f"))
        if isinstance(value, datetime):
            if value.tzinfo is None and value.time() == time(0):
                return value.date().isoformat()
            return value.isoformat()
        if isinstance(value, (date, time)):
            return value.isoformat()
        if isinstance(value, timedelta):
            return str(value)  # "3 days, 0:00:00": read as text, reported where a number is due
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value).decode("utf-8", errors="replace")
        return str(value)

    def _decimal(self, text: str) -> str:
        return text if self.decimal_symbol == "." else text.replace(".", self.decimal_symbol)


def format_float(value: float) -> str:
    """Shortest round-tripping text without an exponent: 19.95, 0.0001."""
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text
