"""The boundary between a master reader and the rest of feedsync.

Readers are written for the files people really have; hostile or damaged bytes can still
make a library fail in a way its reader did not foresee (a codec, a zip member, a parser's
recursion limit, an allocation). Whatever a reader raises that is not already a
`FeedsyncError` is turned here into one `SourceError` sentence naming the file and the last
row read, so no master, however broken, ends a run with exit 70 or a traceback. Readers
still raise their own, more precise `SourceError`s first; this is the net under them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from feedsync.errors import FeedsyncError, SourceError
from feedsync.sources.base import Source, SourceRow

T = TypeVar("T")


class GuardedSource:
    """A Source whose every failure is a `SourceError` naming the file and the row."""

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self.name = inner.name
        self._last_row = 0

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)

    @property
    def columns(self) -> list[str]:
        return guarded(self.name, lambda: self.inner.columns, "reading its header")

    def rows(self) -> Iterator[SourceRow]:
        self._last_row = 0
        iterator = guarded(self.name, self.inner.rows, "opening it")
        # One try around the loop, not one around each next() (a Python-level call and
        # StopIteration per row): what it catches can still only come from the reader, as
        # the consumer's own exceptions never enter this generator (nothing throw()s into
        # it; close() sends GeneratorExit, which is no Exception).
        try:
            for source_row in iterator:
                self._last_row = source_row.row
                yield source_row
        except FeedsyncError:
            raise
        except Exception as exc:
            where = f"after row {self._last_row}" if self._last_row else "at its start"
            raise SourceError(f"{self.name} cannot be read {where}: "
                              f"{describe_failure(exc)}") from exc


def guarded(name: str, action: Callable[[], T], doing: str) -> T:
    """`action()`, with any unforeseen failure reported as a SourceError about `name`."""
    try:
        return action()
    except FeedsyncError:
        raise
    except Exception as exc:
        raise SourceError(f"{name} cannot be read ({doing}): {describe_failure(exc)}") from exc


def describe_failure(exc: BaseException) -> str:
    """The first line of a library's message, or what kind of failure it was."""
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    if isinstance(exc, MemoryError):
        return "it needs more memory than this machine has"
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."
