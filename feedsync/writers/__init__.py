"""Feed writers: serialise channel items to a file, atomically."""

from __future__ import annotations

from pathlib import Path

from feedsync.channels.spec import ChannelSpec, FormatSpec
from feedsync.config import FeedInfo
from feedsync.writers.base import FeedWriter
from feedsync.writers.delimited import DelimitedWriter
from feedsync.writers.xml import RssWriter

__all__ = ["FeedWriter", "open_writer"]


def open_writer(path: Path, spec: ChannelSpec, fmt: FormatSpec, feed: FeedInfo) -> FeedWriter:
    if fmt.writer == "xml":
        return RssWriter(path, spec, fmt, feed)
    return DelimitedWriter(path, spec, fmt, feed)
