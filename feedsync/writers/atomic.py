"""Write a file so that readers only ever see the old version or the complete new one."""

from __future__ import annotations

import gzip
import os
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

    def __init__(self, target: Path, sweep_prefix: str | None = None) -> None:
        self.target = target
        self._lock_fd: int | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
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

    def close(self) -> None:
        """Flush, fsync and close the temporary file; `commit()` still publishes it."""
        try:
            if self._raw.closed:
                return
            if self._gzip is not None:
                self._gzip.close()
            self._raw.flush()
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

    def ready(self) -> None:
        """Close the complete file and give it the target's permissions: all that is left
        is the rename (`commit`, or `commit_together` for several files at once)."""
        self.close()
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
