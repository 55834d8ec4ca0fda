"""One feedsync run per project at a time: a kernel lock held for the life of the process.

`fcntl.flock` is released by the kernel when the process exits, crashes or is killed, so
the lock never goes stale the way PID files or database rows do. The lock file is opened
without following symlinks and without truncation (the filelock CVE-2025-68146 lesson).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from feedsync.errors import ExitCode, FeedsyncError
from feedsync.state.files import open_private

LOCK_NAME = "run.lock"


class LockHeldError(FeedsyncError):
    """Another run holds the lock (an overlapping cron run, say)."""

    exit_code = ExitCode.LOCK_HELD


class RunLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = open_private(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise LockHeldError(
                f"another feedsync run{f' (pid {holder})' if holder else ''} holds "
                f"{self.path}; not starting") from None
        except BaseException:
            os.close(fd)
            raise
        # The pid is for people only; the lock itself is the flock.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return ""
