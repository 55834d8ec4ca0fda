"""The FeedWriter base: open on a target, write items, commit atomically or abort."""

from __future__ import annotations

import io
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from feedsync.channels.render import Item
from feedsync.channels.spec import ChannelSpec, FormatSpec
from feedsync.config import FeedInfo
from feedsync.writers.atomic import AtomicFile


class FeedWriter:
    stream: BinaryIO  # the file (or, for `for_encoding`, memory) the items go to

    def __init__(self, path: Path, spec: ChannelSpec, fmt: FormatSpec, feed: FeedInfo, *,
                 context: dict[str, Any] | None = None,
                 template_dirs: list[Path] | None = None,
                 shared: dict[str, Any] | None = None,
                 sweep_prefix: str | None = None, sweep_first: bool = True) -> None:
        """`shared`: one dict for every part of a split feed, where a writer keeps what it
        compiles once per output (JSON shapes and envelopes), not once per part;
        `sweep_prefix`: the name prefix whose killed runs' temporary files are swept
        (`sweep_first=False`: none, see AtomicFile)."""
        self._setup(path, spec, fmt, feed, context, template_dirs, shared)
        self._file = AtomicFile(path, sweep_prefix, sweep_first)
        self.stream = self._file.stream
        try:
            self.begin()
        except BaseException:
            self._file.abort()
            raise

    @classmethod
    def for_encoding(cls, path: Path, spec: ChannelSpec, fmt: FormatSpec, feed: FeedInfo, *,
                context: dict[str, Any] | None = None,
                template_dirs: list[Path] | None = None) -> FeedWriter:
        """A writer for `encode` only, which opens no file: what `begin` writes goes to
        memory and is dropped. For rendering items away from the file they end up in
        (feedsync.batch); write, commit and abort are not for it."""
        writer = cls.__new__(cls)
        writer._setup(path, spec, fmt, feed, context, template_dirs, None)
        writer.stream = io.BytesIO()
        writer.begin()
        return writer

    def _setup(self, path: Path, spec: ChannelSpec, fmt: FormatSpec, feed: FeedInfo,
               context: dict[str, Any] | None, template_dirs: list[Path] | None,
               shared: dict[str, Any] | None) -> None:
        self.path = path
        self.shared: dict[str, Any] = shared if shared is not None else {}
        # Where item templates are looked up: the project's templates/, then the built-ins.
        self.template_dirs = template_dirs or []
        self.spec = spec
        self.fmt = fmt
        self.feed = feed
        # settings / market / feed of the run, for templated envelopes (json writers)
        self.context = context or {"settings": {}, "market": {}, "feed": feed.model_dump()}
        self.count = 0
        self._finished = False

    def begin(self) -> None:
        """Write whatever comes before the first item."""

    def write(self, item: Item) -> None:
        raise NotImplementedError

    # A format whose item bytes do not depend on the item's position in the file can be
    # encoded by another process (feedsync.parallel) and written here as bytes.
    position_independent = False

    def encode(self, item: Item) -> bytes:
        """The bytes `write(item)` would add (position-independent formats only)."""
        raise NotImplementedError

    def flush_buffer(self) -> None:
        self._file.flush_buffer()

    # What goes between two items' encoded bytes when several are joined into one
    # `write_encoded` call (feedsync.batch): nothing, but for a JSON array's comma.
    item_separator = b""
    # Whether several items' bytes may be joined (by item_separator) and written at once;
    # not where the writer groups items itself (JSON lines of N-item documents).
    joinable = True

    def write_encoded(self, data: bytes, items: int = 1) -> None:
        """Write bytes `encode` gave: one item's, or (`items`) several items' joined by
        `item_separator`."""
        self.stream.write(data)
        self.count += items

    def end(self) -> None:
        """Write whatever comes after the last item."""

    # True after a commit that wrote nothing because the feed had no item (see commit).
    skipped_empty = False

    def commit(self) -> None:
        """Publish the file; a feed with no item is not written when its spec says
        `empty_feed: skip` (channels reject an empty document, or delist everything)."""
        if self.count == 0 and self.spec.empty_feed == "skip":
            self.abort()
            self.skipped_empty = True
            return
        self.finish()
        self._file.commit()

    def staged(self) -> list[tuple[Path, Path]]:
        """After `finish`: (complete temporary file, target) pairs, ready to rename; none
        for an empty feed its spec says to skip (as `commit` does)."""
        if self.count == 0 and self.spec.empty_feed == "skip":
            self.abort()
            self.skipped_empty = True
            return []
        self.finish()
        self._file.ready()
        return [(self._file.tmp_path, self._file.target)]

    def committed(self) -> None:
        """Called once `staged()`'s files were renamed by `commit_together`."""
        self._file.release()

    def finish(self, sync: bool = True) -> None:
        """End and close the file without publishing it yet (split feeds: all parts
        are published together by `commit`, and synced together: `sync=False`)."""
        if self._finished:
            return
        self._finished = True
        try:
            self.end()
        except BaseException:
            self._file.abort()
            raise
        self._file.close(sync=sync)

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
