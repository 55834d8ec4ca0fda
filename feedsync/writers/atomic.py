"""Write a file so that readers only ever see the old version or the complete new one."""

from __future__ import annotations

import gzip
import os
import sys
from collections.abc import Iterable
from itertools import chain
from pathlib import Path
from typing import BinaryIO, cast

from feedsync.errors import OutputError
from feedsync.writers.commit import create_locked_temp, release_lock, sweep


class AtomicFile:
    """A temporary file beside `target`, fsynced and renamed over it on `commit()`.

    A target ending in `.gz` is gzip-compressed (with a fixed mtime, so the same input
    gives the same bytes). `abort()` removes the temporary file; the old target stays.
    The temporary file is held under flock while this object lives, and opening one first
    sweeps what killed runs left for the same name (feedsync.writers.commit).
    """

    def __init__(self, target: Path, sweep_prefix: str | None = None,
                 sweep_first: bool = True) -> None:
        """`sweep_prefix`: whose leftovers to sweep (default: the target's name);
        `sweep_first=False` sweeps nothing (a later part of a split feed, whose first part
        swept for all of them: one sweep lists the folder twice, and 40,000 parts doing so
        in a folder of 80,000 files cost hours)."""
        self.target = target
        self._lock_fd: int | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if sweep_first:
                sweep(target.parent, sweep_prefix or target.name)
            fd, self._lock_fd, self.tmp_path = create_locked_temp(target)
        except OSError as exc:
            raise OutputError(f"cannot write to {target.parent}: {exc.strerror or exc}") from exc
        self._raw = os.fdopen(fd, "wb", buffering=1 << 20)
        self.stream: BinaryIO = self._raw
        self._gzip: gzip.GzipFile | None = None
        if target.suffix == ".gz":
            self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
            self.stream = cast(BinaryIO, self._gzip)

    def close(self, sync: bool = True) -> None:
        """Flush, fsync and close the temporary file; `commit()` still publishes it.

        `sync=False` leaves the fsync to the caller (split feeds sync all their parts
        at once: see `sync_files`)."""
        try:
            if self._raw.closed:
                return
            if self._gzip is not None:
                self._gzip.close()
            self._raw.flush()
            if sync:
                os.fsync(self._raw.fileno())
            self._raw.close()
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write {self.target}: {exc.strerror or exc}") from exc

    def flush_buffer(self) -> None:
        """Hand buffered bytes to the OS (not the compressor's state, which would change
        the .gz bytes): done before forking workers, so no process holds a copy of them."""
        self._raw.flush()

    def commit(self) -> None:
        self.ready()
        try:
            os.replace(self.tmp_path, self.target)
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write {self.target}: {exc.strerror or exc}") from exc
        self.release()

    def ready(self, sync: bool = True) -> None:
        """Close the complete file and give it the target's permissions: all that is left
        is the rename (`commit`, or `commit_together` for several files at once).
        `sync=False`: the caller syncs it (with the other parts of a split feed)."""
        self.close(sync=sync)
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp_path, 0o666 & ~umask)
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write {self.target}: {exc.strerror or exc}") from exc

    def release(self) -> None:
        """Drop the temporary file's lock (once renamed or removed)."""
        release_lock(self._lock_fd)
        self._lock_fd = None

    def abort(self) -> None:
        try:
            if not self._raw.closed:
                self._raw.close()
        finally:
            self.tmp_path.unlink(missing_ok=True)
            self.release()

    def detach_lock(self) -> int | None:
        """Hand the temporary file's lock to the caller (a split feed keeps its finished
        parts' locks without keeping their writers); this object no longer releases it."""
        fd, self._lock_fd = self._lock_fd, None
        return fd


def sync_files(paths: Iterable[Path]) -> None:
    """Make closed files durable: one `syncfs` of their file system where Linux offers it
    (a feed split into 40,000 parts then costs one sync, not 40,000 fsyncs), else an fsync
    of each. `paths` may be made as they are read: only the first is needed for syncfs."""
    remaining = iter(paths)
    first = next(remaining, None)
    if first is None:
        return
    if _syncfs(first):
        return
    for path in chain([first], remaining):
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _syncfs(path: Path) -> bool:
    """syncfs(2) on the file system holding `path`; False where it is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        syncfs = libc.syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        return bool(syncfs(fd) == 0)
    finally:
        os.close(fd)
