"""Joined sources: columns of extra sources added to the master's rows by product id.

`source.join` lists them, e.g. stock and price from the shop's database joined to a catalog
workbook. Each joined source is read once, up front, into memory keyed by its `key` column,
so memory grows with the joined source (not the master, which still streams). Keys are
compared after the master id column's `translate` rule, if any (so a code zero-padded in
one system matches the unpadded one in the other). Ids of a joined source that match no
master row are reported as warnings when the master has been read.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator

from feedsync.checks import codes
from feedsync.checks.issue import Issue, warning
from feedsync.config import JoinConfig
from feedsync.errors import ConfigError
from feedsync.sources.base import Source, SourceRow

MAX_UNMATCHED_REPORTED = 100
Normalise = Callable[[str], str]


class JoinedTable:
    """One joined source, loaded into memory: normalised id -> {master column: value}."""

    def __init__(self, source: Source, join: JoinConfig, normalise: Normalise,
                 keys: Collection[str] | None = None, ask_database: bool = False) -> None:
        """`keys`: load only these ids (a sync re-reading only the products whose stock
        changed); `ask_database`: the ids are the key column's own values (no translate
        rule), so a database source may be asked for those rows only."""
        self.name = source.name
        columns = source.columns
        if join.key not in columns:
            raise ConfigError(f"source.join: {source.name} has no key column {join.key!r}; "
                              f"its columns are: {', '.join(map(repr, columns[:40]))}")
        if join.columns is None:
            renames = {c: c for c in columns if c != join.key}
        elif isinstance(join.columns, list):
            renames = {c: c for c in join.columns}
        else:
            renames = dict(join.columns)
        missing = [c for c in renames if c not in columns]
        if missing:
            raise ConfigError(f"source.join: {source.name} has no column(s) "
                              f"{', '.join(map(repr, missing))}")
        self.renames = renames
        self.override = join.override
        self.records: dict[str, dict[str, str | None]] = {}
        self.first_row: dict[str, int] = {}
        self.issues: list[Issue] = []
        rows_where_in = getattr(source, "rows_where_in", None)
        rows = (rows_where_in(join.key, keys) if keys is not None and ask_database and
                rows_where_in is not None else source.rows())
        for source_row in rows:
            raw = (source_row.data.get(join.key) or "").strip()
            if not raw:
                continue
            key = normalise(raw)
            if keys is not None and key not in keys:
                continue
            if key in self.records:
                self.issues.append(warning(
                    codes.DUPLICATE_JOIN_ID, f"{source.name} row {source_row.row} repeats id {raw} "
                    f"(first on row {self.first_row[key]}); the first is used",
                    product_id=raw))
                continue
            self.records[key] = {renames[c]: source_row.data.get(c) for c in renames}
            self.first_row[key] = source_row.row
        self.matched: set[str] = set()

    def unmatched_issues(self) -> list[Issue]:
        unmatched = [k for k in self.records if k not in self.matched]
        issues = [warning(codes.JOIN_UNMATCHED,
                          f"{self.name} row {self.first_row[k]} has id {k}, which matches no "
                          "product of the master", product_id=k, value=k)
                  for k in unmatched[:MAX_UNMATCHED_REPORTED]]
        if len(unmatched) > MAX_UNMATCHED_REPORTED:
            issues.append(warning(codes.JOIN_UNMATCHED,
                                  f"{self.name} has {len(unmatched)} ids in all that match no "
                                  f"product of the master (the first "
                                  f"{MAX_UNMATCHED_REPORTED} are listed)"))
        return issues


class KeyFilteredSource:
    """The master's rows whose id is in `keys` only (`feedsync sync` re-rendering just the
    products whose joined stock changed); row numbers stay those of the master."""

    def __init__(self, master: Source, id_column: str, normalise: Normalise,
                 keys: Collection[str]) -> None:
        self.master = master
        self.name = master.name
        by_lower = {c.lower(): c for c in master.columns}
        self.id_column = by_lower.get(id_column.lower(), id_column)
        self.normalise = normalise
        self.keys = keys

    @property
    def columns(self) -> list[str]:
        return self.master.columns

    def rows(self) -> Iterator[SourceRow]:
        keys, normalise = self.keys, self.normalise
        rows_where = getattr(self.master, "rows_where", None)
        if rows_where is not None:  # a CSV master tests the id before building the row
            yield from rows_where(self.id_column, lambda raw: bool(raw) and
                                  normalise(raw) in keys)
            return
        for source_row in self.master.rows():
            raw = (source_row.data.get(self.id_column) or "").strip()
            if raw and normalise(raw) in keys:
                yield source_row


class JoinedSource:
    """The master, streamed, with each joined table's columns merged into its rows."""

    def __init__(self, master: Source, tables: list[JoinedTable], id_column: str,
                 normalise: Normalise) -> None:
        self.master = master
        self.name = master.name
        self.tables = tables
        self.normalise = normalise
        if id_column not in master.columns:
            by_lower = {c.lower(): c for c in master.columns}
            if id_column.lower() not in by_lower:
                raise ConfigError(f"source.join: the master {master.name} has no id column "
                                  f"{id_column!r}")
            id_column = by_lower[id_column.lower()]
        self.id_column = id_column

    @property
    def columns(self) -> list[str]:
        columns = list(self.master.columns)
        for table in self.tables:
            columns += [c for c in table.renames.values() if c not in columns]
        return columns

    def rows(self) -> Iterator[SourceRow]:
        pending: SourceRow | None = None
        for table in self.tables:
            table.matched.clear()
        for source_row in self.master.rows():
            raw = (source_row.data.get(self.id_column) or "").strip()
            if raw:
                key = self.normalise(raw)
                for table in self.tables:
                    record = table.records.get(key)
                    if record is None:
                        continue
                    table.matched.add(key)
                    data = source_row.data
                    for column, value in record.items():
                        if value not in (None, "") and (table.override or not data.get(column)):
                            data[column] = value
                        else:
                            data.setdefault(column, None)
            # Held back one row, so the unmatched ids can ride on the last one.
            if pending is not None:
                yield pending
            pending = source_row
        trailing = [i for table in self.tables for i in (*table.issues,
                                                          *table.unmatched_issues())]
        if pending is not None:
            pending.issues.extend(trailing)
            yield pending
