"""Feed writers: serialise channel items to a file, atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feedsync.channels.spec import ChannelSpec, FormatSpec
from feedsync.config import FeedInfo
from feedsync.writers.base import FeedWriter
from feedsync.writers.delimited import DelimitedWriter
from feedsync.writers.group import WrittenOutput, commit_writers
from feedsync.writers.json import JsonDocumentWriter, JsonLinesWriter
from feedsync.writers.parts import PartedWriter, split_name
from feedsync.writers.xml import RssWriter

__all__ = ["FeedWriter", "WrittenOutput", "commit_writers", "item_encoder", "open_writer"]

_WRITERS: dict[str, type[FeedWriter]] = {
    "xml": RssWriter,
    "delimited": DelimitedWriter,
    "json": JsonDocumentWriter,
    "jsonl": JsonLinesWriter,
}


def open_writer(path: Path, spec: ChannelSpec, fmt: FormatSpec, feed: FeedInfo, *,
                context: dict[str, Any] | None = None,
                template_dirs: list[Path] | None = None,
                formula_guard: bool | None = None) -> FeedWriter:
    """The writer for one output; `formula_guard` overrides the format's (None: keep it)."""
    if formula_guard is not None and formula_guard != fmt.formula_guard:
        fmt = fmt.model_copy(update={"formula_guard": formula_guard})
    writer_class = _WRITERS[fmt.writer]
    if fmt.max_items_per_file:
        shared: dict[str, Any] = {}  # compiled once for all the parts (eBay: 40,000 of them)
        # The first part sweeps killed runs' leftovers of every part number; later parts
        # sweep nothing: a sweep lists the folder, so one per part grew with the square of
        # the catalog, and it must never touch this run's finished parts (which are
        # unlocked: see PartedWriter).
        prefixes = [f"{split_name(path)[0]}.part"]

        def open_part(part: Path) -> FeedWriter:
            prefix = prefixes.pop() if prefixes else None
            return writer_class(part, spec, fmt, feed, context=context,
                                template_dirs=template_dirs, shared=shared,
                                sweep_prefix=prefix, sweep_first=prefix is not None)

        return PartedWriter(path, fmt.max_items_per_file,  # type: ignore[return-value]
                            open_part)
    return writer_class(path, spec, fmt, feed, context=context, template_dirs=template_dirs)


def item_encoder(path: Path, spec: ChannelSpec, fmt: FormatSpec, feed: FeedInfo, *,
                 context: dict[str, Any] | None = None,
                 template_dirs: list[Path] | None = None,
                 formula_guard: bool | None = None) -> FeedWriter:
    """The writer `open_writer` would give for one output, for `encode` only: it opens no
    file (FeedWriter.for_encoding). A split output's parts encode like the whole, so this is
    the writer of one part; callers that need the split check `fmt.max_items_per_file`."""
    if formula_guard is not None and formula_guard != fmt.formula_guard:
        fmt = fmt.model_copy(update={"formula_guard": formula_guard})
    return _WRITERS[fmt.writer].for_encoding(path, spec, fmt, feed, context=context,
                                             template_dirs=template_dirs)
