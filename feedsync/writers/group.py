"""Publishing several writers' files as one set (a channel's outputs, a feed's parts)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Protocol

from feedsync.errors import OutputError
from feedsync.writers.commit import commit_together


class Committable(Protocol):
    """What FeedWriter and PartedWriter offer for a joint commit."""

    def staged(self) -> Collection[tuple[Path, Path]]: ...

    def committed(self) -> None: ...

    def abort(self) -> None: ...


def commit_writers(writers: list[Committable]) -> None:
    """Finish every writer, then replace all their targets together (commit_together):
    a kill part-way leaves a journal the next run completes, never a mixed set."""
    try:
        commit_together(_Joined([writer.staged() for writer in writers]))
    except OSError as exc:
        for writer in writers:
            writer.abort()
        raise OutputError(f"cannot write {exc.filename or 'the feeds'}: "
                          f"{exc.strerror or exc}") from exc
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    for writer in writers:
        writer.committed()


class _Joined:
    """Several writers' pairs as one collection, without copying them (a split feed's
    are made as they are iterated: feedsync.writers.parts.FinishedParts)."""

    def __init__(self, parts: list[Collection[tuple[Path, Path]]]) -> None:
        self._parts = parts

    def __len__(self) -> int:
        return sum(len(part) for part in self._parts)

    def __iter__(self) -> Iterator[tuple[Path, Path]]:
        return chain.from_iterable(self._parts)

    def __contains__(self, pair: object) -> bool:
        return any(pair in part for part in self._parts)


@dataclass(frozen=True, slots=True)
class WrittenOutput:
    """What one committed output holds, for the report: its first file where that is not
    the planned path (a split feed's first part), its items and parts, and whether it was
    not written for being empty (FeedWriter.skipped_empty)."""

    first_path: str | None
    items: int
    parts: int
    skipped_empty: bool

    @classmethod
    def of(cls, writer: Any) -> WrittenOutput:
        """The figures of a committed writer (a FeedWriter or PartedWriter)."""
        first = getattr(writer, "first_path", None)
        return cls(str(first) if first is not None else None, writer.count,
                   getattr(writer, "parts", 1), writer.skipped_empty)
