"""Publishing several writers' files as one set (a channel's outputs, a feed's parts)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from feedsync.errors import OutputError
from feedsync.writers.commit import commit_together


class Committable(Protocol):
    """What FeedWriter and PartedWriter offer for a joint commit."""

    def staged(self) -> list[tuple[Path, Path]]: ...

    def committed(self) -> None: ...

    def abort(self) -> None: ...


def commit_writers(writers: list[Committable]) -> None:
    """Finish every writer, then replace all their targets together (commit_together):
    a kill part-way leaves a journal the next run completes, never a mixed set."""
    try:
        pairs = [pair for writer in writers for pair in writer.staged()]
        commit_together(pairs)
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
