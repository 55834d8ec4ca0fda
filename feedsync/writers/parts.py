"""Split a feed into numbered parts of at most N items (Amazon's 10,000 messages, eBay's 25).

`feeds/amazon.json` becomes `feeds/amazon.part0001.json`, `feeds/amazon.part0002.json`...
(part 1 always exists, even for an empty catalog). A full part is ended and closed at
once, so open files do not grow with the catalog; all parts are published together on
`commit()`, and parts left over from an earlier, larger run are removed then.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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


def _numbered_parts(path: Path) -> list[tuple[int, Path]]:
    base, extension = split_name(path)
    pattern = re.compile(rf"^{re.escape(base)}\.part(\d{{4,}}){re.escape(extension)}$")
    if not path.parent.is_dir():
        return []
    found = [(int(match.group(1)), candidate) for candidate in path.parent.iterdir()
             if (match := pattern.match(candidate.name))]
    return sorted(found)


def existing_parts(path: Path) -> list[Path]:
    """The numbered parts of `path` on disk, in order."""
    return [part for _, part in _numbered_parts(path)]


def remove_stale_parts(path: Path, parts: int) -> None:
    """Remove parts numbered above `parts`, left over from an earlier, larger run."""
    try:
        for number, candidate in _numbered_parts(path):
            if number > parts:
                candidate.unlink()
    except OSError as exc:
        raise OutputError(f"cannot remove old parts of {path}: {exc}") from exc


class PartedWriter:
    """A FeedWriter look-alike that opens a new part every `max_items` items."""

    def __init__(self, path: Path, max_items: int, factory: WriterFactory) -> None:
        self.path = path
        self.max_items = max_items
        self.factory = factory
        self.count = 0
        # Finished parts: only the name of each one's temporary file is kept (part n's is
        # done[n - 1], beside its target): a writer of a 25-item part held about 14 KB,
        # which for 40,000 eBay parts was 540 MB, and a (temporary, target) pair of Paths
        # still 860 bytes (34 MB at 1,000,000 products; a name is about 100). They are
        # closed unsynced and synced together on commit. Their locks are released at once:
        # one open fd per part would exceed the fd limit (20,000 here) for 40,000 parts.
        # The project's run lock already keeps two runs from writing the same outputs, and
        # a part swept by some other process fails the commit with a clear error, old feed
        # kept; the part being written stays locked.
        self.done: list[str] = []
        self.current: FeedWriter = factory(part_path(path, 1))

    @property
    def first_path(self) -> Path:
        return part_path(self.path, 1)

    @property
    def parts(self) -> int:
        return len(self.done) + 1

    def _next_part_if_full(self) -> None:
        if self.current.count >= self.max_items:
            number = self.parts + 1
            self.current.finish(sync=False)
            finished = self.current._file
            finished.ready(sync=False)
            release_lock(finished.detach_lock())
            self.done.append(finished.tmp_path.name)
            self.current = self.factory(part_path(self.path, number))

    def _finished(self) -> list[tuple[Path, Path]]:
        """(temporary file, target) of each finished part, in order."""
        directory = self.path.parent
        return [(directory / name, part_path(self.path, number))
                for number, name in enumerate(self.done, start=1)]

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

    def staged(self) -> list[tuple[Path, Path]]:
        """Every part as (complete temporary file, target), all synced with one call."""
        if self.count == 0 and self.current.spec.empty_feed == "skip":
            self.abort()
            self.skipped_empty = True
            return []
        self.current.finish(sync=False)
        self.current._file.ready(sync=False)
        pairs = self._finished()
        pairs.append((self.current._file.tmp_path, self.current._file.target))
        try:
            sync_files([tmp for tmp, _ in pairs])
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
        self.done = []
        self.current.abort()
