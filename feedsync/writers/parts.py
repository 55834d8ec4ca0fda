"""Split a feed into numbered parts of at most N items (Amazon's 10,000 messages, eBay's 25).

`feeds/amazon.json` becomes `feeds/amazon.part0001.json`, `feeds/amazon.part0002.json`...
(part 1 always exists, even for an empty catalog). A full part is ended and closed at
once, so open files do not grow with the catalog; all parts are published together on
`commit()`, and parts left over from an earlier, larger run are removed then.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from feedsync.channels.render import Item
from feedsync.errors import OutputError
from feedsync.writers.atomic import sync_files
from feedsync.writers.base import FeedWriter
from feedsync.writers.commit import release_lock
from feedsync.writers.group import commit_writers

WriterFactory = Callable[[Path], FeedWriter]


def split_name(path: Path) -> tuple[str, str]:
    """`amazon.json.gz` -> (`amazon`, `.json.gz`)."""
    name = path.name
    gz = ".gz" if name.endswith(".gz") else ""
    inner = Path(name[: len(name) - len(gz)])
    return inner.stem, inner.suffix + gz


def part_path(path: Path, number: int) -> Path:
    base, extension = split_name(path)
    return path.with_name(f"{base}.part{number:04d}{extension}")


def _part_pattern(path: Path) -> re.Pattern[str]:
    """The names of `path`'s numbered parts, the number as group 1."""
    base, extension = split_name(path)
    return re.compile(rf"^{re.escape(base)}\.part(\d{{4,}}){re.escape(extension)}$")


def _numbered_parts(path: Path) -> list[tuple[int, Path]]:
    pattern = _part_pattern(path)
    if not path.parent.is_dir():
        return []
    found = [(int(match.group(1)), candidate) for candidate in path.parent.iterdir()
             if (match := pattern.match(candidate.name))]
    return sorted(found)


def existing_parts(path: Path) -> list[Path]:
    """The numbered parts of `path` on disk, in order."""
    return [part for _, part in _numbered_parts(path)]


def remove_stale_parts(path: Path, parts: int) -> None:
    """Remove parts numbered above `parts`, left over from an earlier, larger run.

    The folder is scanned, not listed: after a split feed's commit it holds every part
    (40,000 for eBay at 1,000,000 products), and a list of them all with a Path each
    (about 12 MB there) would be memory that grows with the catalog."""
    pattern = _part_pattern(path)
    if not path.parent.is_dir():
        return
    try:
        with os.scandir(path.parent) as entries:
            for entry in entries:
                match = pattern.match(entry.name)
                if match and int(match.group(1)) > parts:
                    os.unlink(entry.path)
    except OSError as exc:
        raise OutputError(f"cannot remove old parts of {path}: {exc}") from exc


class PartedWriter:
    """A FeedWriter look-alike that opens a new part every `max_items` items."""

    def __init__(self, path: Path, max_items: int, factory: WriterFactory) -> None:
        self.path = path
        self.max_items = max_items
        self.factory = factory
        self.count = 0
        # Finished parts: only the end of each one's temporary file name is kept, what
        # follows `.{part's name}.` (mkstemp's random part and `.tmp`), each ended by a NUL
        # (no file name holds one), in one bytearray: about 13 bytes a part. A writer of a
        # 25-item part held about 14 KB, which for 40,000 eBay parts was 540 MB; a
        # (temporary, target) pair of Paths still 860 bytes (34 MB at 1,000,000 products),
        # and a list of the names about 90 bytes a part (3.6 MB). The pairs are made one
        # at a time when committed (`_finished`). They are closed unsynced and synced
        # together on commit. Their locks are released at once:
        # one open fd per part would exceed the fd limit (20,000 here) for 40,000 parts.
        # The project's run lock already keeps two runs from writing the same outputs, and
        # a part swept by some other process fails the commit with a clear error, old feed
        # kept; the part being written stays locked.
        self._done = bytearray()
        self._done_parts = 0
        self.current: FeedWriter = factory(part_path(path, 1))

    @property
    def first_path(self) -> Path:
        return part_path(self.path, 1)

    @property
    def parts(self) -> int:
        return self._done_parts + 1

    def _next_part_if_full(self) -> None:
        if self.current.count >= self.max_items:
            number = self.parts + 1
            self.current.finish(sync=False)
            finished = self.current._file
            finished.ready(sync=False)
            release_lock(finished.detach_lock())
            self._keep_finished(finished.tmp_path, finished.target)
            self.current = self.factory(part_path(self.path, number))

    def _keep_finished(self, tmp_path: Path, target: Path) -> None:
        """Remember a finished part's temporary file (see `__init__`)."""
        prefix = f".{target.name}."
        name = tmp_path.name
        # create_locked_temp names it so, beside its target
        assert tmp_path.parent == target.parent and name.startswith(prefix), tmp_path
        self._done += os.fsencode(name[len(prefix):]) + b"\0"
        self._done_parts += 1

    def _finished(self) -> Iterator[tuple[Path, Path]]:
        """(temporary file, target) of each finished part, in order, made one at a time."""
        done, directory, start = self._done, self.path.parent, 0
        for number in range(1, self._done_parts + 1):
            end = done.index(0, start)
            target = part_path(self.path, number)
            yield directory / f".{target.name}.{os.fsdecode(bytes(done[start:end]))}", target
            start = end + 1

    def write(self, item: Item) -> None:
        self._next_part_if_full()
        self.current.write(item)
        self.count += 1

    @property
    def position_independent(self) -> bool:
        return self.current.position_independent

    def encode(self, item: Item) -> bytes:
        return self.current.encode(item)

    def flush_buffer(self) -> None:
        self.current.flush_buffer()

    # A part ends after any item: each must be written on its own.
    joinable = False
    item_separator = b""

    def write_encoded(self, data: bytes) -> None:
        self._next_part_if_full()
        self.current.write_encoded(data)
        self.count += 1

    skipped_empty = False

    def commit(self) -> None:
        commit_writers([self])

    def staged(self) -> FinishedParts:
        """Every part as (complete temporary file, target), all synced with one call."""
        if self.count == 0 and self.current.spec.empty_feed == "skip":
            self.abort()
            self.skipped_empty = True
            return FinishedParts(self, with_current=False)
        self.current.finish(sync=False)
        self.current._file.ready(sync=False)
        pairs = FinishedParts(self, with_current=True)
        try:
            sync_files(tmp for tmp, _ in pairs)
        except BaseException:
            self.abort()
            raise
        return pairs

    def committed(self) -> None:
        if self.skipped_empty:
            return
        self.current.committed()
        self._remove_stale(self.parts)

    def _remove_stale(self, parts: int) -> None:
        remove_stale_parts(self.path, parts)

    def abort(self) -> None:
        for tmp, _ in self._finished():
            tmp.unlink(missing_ok=True)
        self._done = bytearray()
        self._done_parts = 0
        self.current.abort()


class FinishedParts:
    """A split feed's (temporary file, target) pairs, every finished part's and then the
    last one's, made anew on each iteration rather than held (see PartedWriter)."""

    def __init__(self, writer: PartedWriter, *, with_current: bool) -> None:
        self._writer = writer
        self._with_current = with_current

    def __len__(self) -> int:
        return self._writer._done_parts + 1 if self._with_current else 0

    def __iter__(self) -> Iterator[tuple[Path, Path]]:
        if not self._with_current:
            return
        yield from self._writer._finished()
        current = self._writer.current._file
        yield current.tmp_path, current.target

    def __contains__(self, pair: object) -> bool:
        return any(pair == own for own in self)
