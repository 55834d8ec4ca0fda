"""Opening feedsync's own state files safely.

The state folder (`.feedsync/`) may sit in a shared or synced project folder. A file
planted there as a symbolic link (`run.lock -> ~/.bashrc`, `state.db -> /etc/...`) must
not make feedsync write through it, and what feedsync creates there is private (0600):
a publish record names servers and feeds.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from feedsync.errors import StateError

PRIVATE_MODE = 0o600


def refuse_unsafe(path: Path) -> None:
    """StateError when `path` exists as anything but a regular file (a symlink above all)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StateError(f"cannot use {path}: {exc.strerror or exc}") from exc
    if stat.S_ISLNK(info.st_mode):
        raise StateError(f"{path} is a symbolic link; feedsync does not follow links in its "
                         "state folder (remove it and run again)")
    if not stat.S_ISREG(info.st_mode):
        raise StateError(f"{path} is not a regular file; remove it and run again")


def open_private(path: Path, flags: int) -> int:
    """os.open without following a symlink, creating the file 0600; StateError if unsafe."""
    refuse_unsafe(path)
    try:
        return os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_MODE)
    except OSError as exc:
        raise StateError(f"cannot open {path}: {exc.strerror or exc}") from exc


def create_private(path: Path) -> None:
    """Make sure `path` exists as a private regular file (before a library opens it)."""
    os.close(open_private(path, os.O_RDWR))
