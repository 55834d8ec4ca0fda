"""The Source protocol every product-master reader implements."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from feedsync.checks.issue import Issue


@dataclass(slots=True)
class SourceRow:
    """One record of the master, keyed by its column headers.

    `row` is the number a merchandiser sees: the spreadsheet row (header = row 1), the
    JSON Lines line, the database row's position. `issues` carries problems found while
    reading the record itself (a ragged CSV row, a formula without a cached value).
    """

    row: int
    data: dict[str, str | None]
    issues: list[Issue] = field(default_factory=list)


def columns_seen(rows: Iterator[SourceRow]) -> list[str]:
    """Every key met in the rows, in order of first appearance: the header of a source
    whose records do not all carry the same fields (feed items, reshaped shop exports)."""
    seen: dict[str, None] = {}
    for source_row in rows:
        seen.update(dict.fromkeys(source_row.data))
    return list(seen)


class Source(Protocol):
    """A readable product master. `rows()` streams; `columns` is known after opening."""

    name: str

    @property
    def columns(self) -> list[str]: ...

    def rows(self) -> Iterator[SourceRow]: ...
