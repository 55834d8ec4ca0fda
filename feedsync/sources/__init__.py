"""Sources: read a product master as a stream of `SourceRow`s."""

from __future__ import annotations

from feedsync.config import Config
from feedsync.errors import ConfigError
from feedsync.sources.base import Source, SourceRow
from feedsync.sources.csv import CsvSource, check_readable_file

__all__ = ["Source", "SourceRow", "open_source"]

_BY_EXTENSION = {".csv": "csv", ".tsv": "tsv", ".txt": "csv"}


def open_source(config: Config) -> Source:
    """The Source for `config.source`, chosen by `format:` or by the file extension."""
    src = config.source
    path = config.resolve(src.path)
    check_readable_file(path)
    kind = src.format or _BY_EXTENSION.get(path.suffix.lower())
    if kind in ("csv", "tsv"):
        delimiter = src.delimiter or ("\t" if kind == "tsv" else None)
        return CsvSource(path, encoding=src.encoding, delimiter=delimiter)
    raise ConfigError(
        f"cannot tell what kind of source {path.name} is; set source.format "
        f"(one of: {', '.join(sorted(set(_BY_EXTENSION.values())))})")
