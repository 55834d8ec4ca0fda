"""Leftovers and sets: temporary files a killed run left are swept, and a channel's several
outputs are replaced together.

A build writes each output to a temporary file beside it (`.NAME.XXXXXXXX.tmp`, see
AtomicFile) and renames it over the output. Two things can go wrong when the process is
killed:

- the temporary files stay behind. Each one is held under an exclusive `flock` for as long
  as its writer lives (the kernel drops the lock when the process dies), so the next run
  that writes into the folder removes every such file nobody holds: never one a
  concurrent build is still writing;
- a channel's outputs (XML + TSV, or numbered parts) are renamed one by one, so a kill
  between two renames would leave them from different runs. `commit_together` first
  writes a journal (`.feedsync-commit.XXXXXXXX.json`, also held under flock) listing every
  complete, fsynced temporary file and its target, then renames, then deletes the journal.
  A run that finds a journal nobody holds finishes its renames (roll forward), so the set
  is whole again: all new. A kill before the journal is complete leaves every output old.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Collection, Iterable
from pathlib import Path

JOURNAL_PREFIX = ".feedsync-commit."
JOURNAL_SUFFIX = ".json"
TEMP_SUFFIX = ".tmp"
# mkstemp's random part: 8 characters of [a-z0-9_].
_TEMP_SHAPE = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def create_locked_temp(target: Path) -> tuple[int, int, Path]:
    """A new temporary file beside `target`: (write fd, lock fd, path). The lock fd holds
    an exclusive flock until `release_lock` (closing the write fd keeps it)."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX,
                                dir=target.parent)
    try:
        lock_fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise
    return fd, lock_fd, Path(name)


def release_lock(lock_fd: int | None) -> None:
    if lock_fd is not None:
        with contextlib.suppress(OSError):
            os.close(lock_fd)


def _unheld(path: Path) -> int | None:
    """An fd holding `path`'s flock when no live process holds it, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def recover(directory: Path) -> int:
    """Finish the commits killed runs left journals for in `directory`; returns how many.

    Runs before any temporary file of the folder is swept (the journal names some)."""
    finished = 0
    try:
        names = [n for n in os.listdir(directory)
                 if n.startswith(JOURNAL_PREFIX) and n.endswith(JOURNAL_SUFFIX)]
    except OSError:
        return 0
    for name in names:
        journal = directory / name
        fd = _unheld(journal)
        if fd is None:
            continue
        try:
            try:
                with open(journal, encoding="utf-8") as fh:
                    pairs = json.load(fh)
            except (OSError, ValueError):
                pairs = []  # never completed: no rename happened, the old set stands
            for tmp, target in pairs if isinstance(pairs, list) else []:
                with contextlib.suppress(OSError):
                    os.replace(tmp, target)
            with contextlib.suppress(OSError):
                journal.unlink()
            finished += 1
        finally:
            os.close(fd)
    return finished


def sweep(directory: Path, prefix: str) -> int:
    """Remove temporary files (`.{prefix}...XXXXXXXX.tmp`) no live process holds."""
    recover(directory)
    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        if not (name.startswith(f".{prefix}") and _TEMP_SHAPE.match(name)):
            continue
        path = directory / name
        fd = _unheld(path)
        if fd is None:
            continue
        try:
            path.unlink()
            removed += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def commit_together(pairs: Collection[tuple[Path, Path]]) -> None:
    """Rename each complete temporary file over its target, all or (after a kill, once
    the next run recovers) all the same: see the module docstring.

    `pairs` is iterated several times and never copied: a split feed's are made one at a
    time (feedsync.writers.parts.FinishedParts), 40,000 for eBay at 1,000,000 products,
    and the journal is written as they come (the bytes `json.dumps` gives for the list)."""
    if not pairs:
        return
    first = next(iter(pairs))
    if len(pairs) == 1:
        os.replace(*first)
        _fsync_directory(first[1].parent)
        return
    directory = first[1].parent
    fd, name = tempfile.mkstemp(prefix=JOURNAL_PREFIX, suffix=JOURNAL_SUFFIX, dir=directory)
    journal = Path(name)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with open(fd, "wb", buffering=1 << 16, closefd=False) as out:
            separator = b"["
            for tmp, final in pairs:
                out.write(separator + json.dumps([str(tmp), str(final)]).encode())
                separator = b", "
            out.write(b"]")
        os.fsync(fd)
        for directory_touched in {f.parent for _, f in pairs}:
            _fsync_directory(directory_touched)
        for tmp, final in pairs:
            os.replace(tmp, final)
        for directory_touched in {f.parent for _, f in pairs}:
            _fsync_directory(directory_touched)
        journal.unlink()
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def copy_together(pairs: Iterable[tuple[Path, Path]]) -> None:
    """Copy each (source, target) into a fresh locked temporary file beside its target
    (never a fixed name a planted symlink could redirect), then replace all targets as one
    set with `commit_together`."""
    staged: list[tuple[Path, Path]] = []
    locks: list[int] = []
    try:
        for source, final in pairs:
            final.parent.mkdir(parents=True, exist_ok=True)
            sweep(final.parent, final.name)
            fd, lock_fd, tmp = create_locked_temp(final)
            locks.append(lock_fd)
            staged.append((tmp, final))
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while block := src.read(1 << 20):
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        commit_together(staged)
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    finally:
        for lock_fd in locks:
            release_lock(lock_fd)
