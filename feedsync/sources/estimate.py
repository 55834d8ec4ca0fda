"""How many rows a master holds, estimated without reading it (progress, --jobs)."""

from __future__ import annotations

from feedsync.config import Config
from feedsync.errors import FeedsyncError
from feedsync.sources import open_plain_source

_SAMPLE_BYTES = 1 << 20


def estimate_rows(config: Config) -> int | None:
    """About how many products the master holds, cheaply (a database counts them; a text
    file's lines are sampled; a workbook says its size), or None when it cannot tell: for
    a progress bar and for choosing `--jobs`."""
    src = config.source
    if src.join:
        return None
    if src.url or src.table or src.query:  # a database: ask it
        try:
            source = open_plain_source(src, config.base_dir)
        except FeedsyncError:
            return None
        count = getattr(source, "count_rows", None)
        return count() if callable(count) else None
    if not src.path:
        return None
    path = config.resolve(src.path)
    try:
        size = path.stat().st_size
        suffix = path.suffix.lower()
        if (src.format or suffix.lstrip(".")) in ("csv", "tsv", "txt", "jsonl", "ndjson"):
            with path.open("rb") as fh:
                sample = fh.read(_SAMPLE_BYTES)
            lines = sample.count(b"\n")
            if lines <= 1:
                return None
            return max(1, round(size * lines / len(sample)) - 1)  # less the header
        if suffix in (".xlsx", ".xlsm"):
            from openpyxl import load_workbook

            book = load_workbook(path, read_only=True)
            try:
                sheet = book.worksheets[0]
                rows = sheet.max_row
            finally:
                book.close()
            return max(1, rows - 1) if rows else None
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    except Exception:  # an unreadable workbook is reported by the run itself
        return None
    return None
