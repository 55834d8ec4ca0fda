"""Sources: read a product master as a stream of `SourceRow`s.

`open_source(config)` builds the whole read side: the master's reader (by `format:`, the
file extension or the URL), then a shop preset, joined sources and value translation as
the config asks, each a Source wrapping the previous one.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from feedsync.config import Config, JoinConfig, SourceConfig
from feedsync.errors import ConfigError, SourceError
from feedsync.sources.base import Source, SourceRow
from feedsync.sources.csv import CsvSource, check_readable_file
from feedsync.sources.guard import GuardedSource, guarded

__all__ = [
    "Source",
    "SourceRow",
    "describe_source",
    "join_key_normaliser",
    "join_source",
    "open_plain_source",
    "open_source",
]


def join_key_normaliser(config: Config) -> Any:
    """How the master's ids and joined keys are compared (the id column's `translate`)."""
    return _key_normaliser(config.source, _id_column(config.source))


def join_source(join: JoinConfig) -> SourceConfig:
    """A `source.join` entry as a plain source to read."""
    return _join_as_source(join)

_BY_EXTENSION = {".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
                 ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xml": "google_xml",
                 ".rss": "google_xml", ".atom": "google_xml", ".db": "sqlite",
                 ".sqlite": "sqlite", ".sqlite3": "sqlite"}
# Spreadsheet formats people export by habit, each with the fix in words.
_UNSUPPORTED = {".xls": "an old Excel 97-2003 workbook", ".ods": "an OpenDocument spreadsheet",
                ".numbers": "an Apple Numbers file"}
KINDS = ("csv", "tsv", "xlsx", "json", "jsonl", "sql", "google_xml")


def open_source(config: Config, *, only_keys: Collection[str] | None = None) -> Source:
    """The Source for `config.source`, chosen by `format:`, the file extension or `url:`.
    `only_keys`: only the products with these (normalised) ids, their joins loaded for
    those ids only (a sync re-rendering the products whose stock changed)."""
    src = config.source
    source: Source = open_plain_source(src, config.base_dir, wanted=_mapped_columns(src))
    if src.preset:
        from feedsync.sources.presets import PresetSource

        source = PresetSource(source, src.preset, shop_url=src.shop_url,
                              weight_unit=str(src.defaults.get("weight_unit") or "") or None)
    translations = None
    if src.translate:
        from feedsync.sources.translate import TranslatedSource

        translations = src.translate
    if only_keys is not None:
        from feedsync.sources.join import KeyFilteredSource

        id_column = _id_column(src)
        source = KeyFilteredSource(source, id_column, _key_normaliser(src, id_column),
                                   only_keys)
    if src.join:
        from feedsync.sources.join import JoinedSource, JoinedTable

        id_column = _id_column(src)
        normalise = _key_normaliser(src, id_column)
        tables = []
        for join in src.join:
            joined = open_plain_source(_join_as_source(join), config.base_dir)
            tables.append(JoinedTable(joined, join, normalise, only_keys,
                                      ask_database=normalise is str.strip))
        source = JoinedSource(source, tables, id_column, normalise)
    if translations:
        source = TranslatedSource(source, translations)
    return source


def open_plain_source(src: SourceConfig, base_dir: Path, *,
                      wanted: list[str] | None = None) -> Source:
    """The reader for one file or database, without presets, joins or translation.

    Every reader is wrapped in a GuardedSource: whatever a library raises on damaged bytes
    becomes one SourceError sentence (exit 3), never an internal error.
    """
    name = Path(src.path).name if src.path else "the database"
    return GuardedSource(guarded(name, lambda: _reader(src, base_dir, wanted), "opening it"))


def _reader(src: SourceConfig, base_dir: Path, wanted: list[str] | None) -> Source:
    if src.url:
        from feedsync.sources.sql import SqlSource

        return SqlSource(src.url, table=src.table, query=src.query, base_dir=base_dir,
                         locale=src.locale)
    assert src.path is not None
    path = Path(src.path).expanduser()
    path = path if path.is_absolute() else base_dir / path
    check_readable_file(path)
    kind = src.format or _BY_EXTENSION.get(path.suffix.lower())
    if kind in ("csv", "tsv"):
        delimiter = src.delimiter or ("\t" if kind == "tsv" else None)
        return CsvSource(path, encoding=src.encoding, delimiter=delimiter)
    if kind == "xlsx":
        from feedsync.sources.excel import ExcelSource

        return ExcelSource(path, sheet=src.sheet, header_row=src.header_row,
                           reader=src.reader, locale=src.locale)
    if kind in ("json", "jsonl"):
        from feedsync.sources.json_source import JsonSource

        return JsonSource(path, lines=kind == "jsonl", records=src.records,
                          locale=src.locale, wanted_columns=wanted or ())
    if kind in ("google_xml", "rss", "atom"):
        from feedsync.sources.feed_xml import GoogleFeedSource

        return GoogleFeedSource(path)
    if kind == "sqlite" or kind == "sql":
        if not (src.table or src.query):
            raise ConfigError(f"{path.name} is a database: set source.table or source.query")
        from feedsync.sources.sql import SqlSource

        return SqlSource(f"sqlite:///{path}", table=src.table, query=src.query,
                         base_dir=base_dir, locale=src.locale)
    if path.suffix.lower() in _UNSUPPORTED:
        raise SourceError(f"{path.name} is {_UNSUPPORTED[path.suffix.lower()]}, which feedsync "
                          "cannot read; save it as .xlsx or .csv and point source.path at it")
    raise ConfigError(
        f"cannot tell what kind of source {path.name} is; set source.format "
        f"(one of: {', '.join(KINDS)})")


def describe_source(config: Config) -> str:
    """The master's file path, or its database URL with the password hidden."""
    src = config.source
    if src.url:
        try:
            from sqlalchemy.engine import make_url

            return make_url(src.url).render_as_string(hide_password=True)
        except Exception:
            return "database"
    return str(config.resolve(src.path or ""))


def _mapped_columns(src: SourceConfig) -> list[str]:
    columns: list[str] = []
    for spec in src.columns.values():
        columns += [spec] if isinstance(spec, str) else list(spec)
    return columns


def _id_column(src: SourceConfig) -> str:
    spec = src.columns.get("id", "id")
    return spec if isinstance(spec, str) else (spec[0] if spec else "id")


def _key_normaliser(src: SourceConfig, id_column: str) -> Any:
    rule = next((r for c, r in src.translate.items() if c.lower() == id_column.lower()), None)
    if rule is None:
        return str.strip
    from feedsync.sources.translate import ColumnTranslation

    compiled = ColumnTranslation.compile(id_column, rule)

    def normalise(value: str) -> str:
        try:
            return compiled.apply(value)
        except ValueError:
            return value.strip()

    return normalise


def _join_as_source(join: JoinConfig) -> SourceConfig:
    fields: dict[str, Any] = {
        "path": join.path, "url": join.url, "format": join.format, "table": join.table,
        "query": join.query, "sheet": join.sheet, "header_row": join.header_row,
        "encoding": join.encoding, "delimiter": join.delimiter}
    try:
        return SourceConfig.model_validate({k: v for k, v in fields.items() if v is not None})
    except Exception as exc:
        raise ConfigError(f"source.join: {join.path or join.url}: "
                          f"{str(exc).splitlines()[-1].strip()}") from exc
