"""The FeedWriter base: open on a target, write items, commit atomically or abort."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from feedsync.channels.render import Item
from feedsync.channels.spec import ChannelSpec, FormatSpec
from feedsync.config import FeedInfo
from feedsync.writers.atomic import AtomicFile


class FeedWriter:
    def __init__(self, path: Path, spec: ChannelSpec, fmt: FormatSpec, feed: FeedInfo) -> None:
        self.path = path
        self.spec = spec
        self.fmt = fmt
        self.feed = feed
        self.count = 0
        self._file = AtomicFile(path)
        self.stream = self._file.stream
        self.begin()

    def begin(self) -> None:
        """Write whatever comes before the first item."""

    def write(self, item: Item) -> None:
        raise NotImplementedError

    def end(self) -> None:
        """Write whatever comes after the last item."""

    def commit(self) -> None:
        try:
            self.end()
        except BaseException:
            self._file.abort()
            raise
        self._file.commit()

    def abort(self) -> None:
        self._file.abort()

    def __enter__(self) -> FeedWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
