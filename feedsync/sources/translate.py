"""Value translation while reading: the integration-hub step between an ERP and the feeds.

`source.translate` declares, per master column, how its raw values are rewritten before any
parsing: a value map ("Sí" -> yes, "Agotado" -> out_of_stock), a date format turned into
ISO 8601, product codes zero-padded or upper-cased. It runs on `SourceRow`s, so it works the
same for every source kind, and a value it cannot translate becomes a row issue, not a crash.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from feedsync.checks import codes
from feedsync.checks.issue import error
from feedsync.config import TranslateConfig
from feedsync.errors import ConfigError
from feedsync.sources.base import Source, SourceRow


@dataclass(frozen=True, slots=True)
class ColumnTranslation:
    """One column's compiled rules, applied in a fixed order: strip, map, date, pad, case."""

    column: str
    mapping: dict[str, str]
    date_format: str | None
    zero_pad: int | None
    upper: bool
    lower: bool
    strip: bool

    @classmethod
    def compile(cls, column: str, rule: TranslateConfig) -> ColumnTranslation:
        return cls(column, {k.strip().casefold(): v for k, v in rule.map.items()},
                   rule.date_format, rule.zero_pad, rule.upper, rule.lower, rule.strip)

    def apply(self, value: str) -> str:
        """The translated value; ValueError when a date does not match the format."""
        if self.strip:
            value = value.strip()
        if not value:
            return value
        if self.mapping:
            value = self.mapping.get(value.strip().casefold(), value)
        if self.date_format:
            parsed = datetime.strptime(value.strip(), self.date_format)
            timed = any(d in self.date_format for d in ("%H", "%I", "%M"))
            value = parsed.isoformat() if timed else parsed.date().isoformat()
        if self.zero_pad and value.isdigit():
            value = value.zfill(self.zero_pad)
        if self.upper:
            value = value.upper()
        elif self.lower:
            value = value.lower()
        return value


class TranslatedSource:
    """Wraps a Source and rewrites the values of the configured columns, row by row."""

    def __init__(self, inner: Source, rules: dict[str, TranslateConfig]) -> None:
        self.inner = inner
        self.name = inner.name
        by_lower = {c.lower(): c for c in inner.columns}
        unknown = [c for c in rules if c not in inner.columns and c.lower() not in by_lower]
        if unknown:
            raise ConfigError(
                f"source.translate names column(s) {', '.join(map(repr, unknown))} that "
                f"{inner.name} does not have")
        self.translations = [
            ColumnTranslation.compile(c if c in inner.columns else by_lower[c.lower()], rule)
            for c, rule in rules.items()]

    @property
    def columns(self) -> list[str]:
        return self.inner.columns

    def rows(self) -> Iterator[SourceRow]:
        for source_row in self.inner.rows():
            data = source_row.data
            for rule in self.translations:
                value = data.get(rule.column)
                if value is None:
                    continue
                try:
                    data[rule.column] = rule.apply(value)
                except ValueError:
                    source_row.issues.append(error(
                        codes.INVALID_DATE,
                        f"{rule.column} {value!r} does not match the date format "
                        f"{rule.date_format}", row=source_row.row))
            yield source_row
