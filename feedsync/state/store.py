"""The publish record: per channel and destination, what was last published successfully.

A small SQLite file (default `.feedsync/state.db` beside the config). It is written only
after a publish succeeded, in one transaction, so an interrupted run leaves the previous
record, and the guards compare against the last feed a channel really received.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from feedsync.errors import StateError
from feedsync.state.files import create_private, refuse_unsafe

STATE_NAME = "state.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS publishes (
    channel      TEXT NOT NULL,
    destination  TEXT NOT NULL,
    items        INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    target       TEXT NOT NULL,
    published_at TEXT NOT NULL,
    PRIMARY KEY (channel, destination)
);
CREATE TABLE IF NOT EXISTS published_ids (
    channel     TEXT NOT NULL,
    destination TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    PRIMARY KEY (channel, destination, item_id)
);
"""


@dataclass(frozen=True)
class PublishRecord:
    channel: str
    destination: str
    items: int
    sha256: str
    bytes: int
    target: str
    published_at: str


class StateStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        create_private(path)  # refuses a planted symlink; sqlite would follow it
        for journal in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            refuse_unsafe(journal)
        try:
            self._db = sqlite3.connect(path, timeout=10, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StateError(f"cannot open the publish record {path}: {exc} (move it aside "
                             "to start a fresh record)") from exc

    def last(self, channel: str, destination: str) -> PublishRecord | None:
        row = self._db.execute(
            "SELECT channel, destination, items, sha256, bytes, target, published_at "
            "FROM publishes WHERE channel = ? AND destination = ?",
            (channel, destination)).fetchone()
        return PublishRecord(*row) if row else None

    def published_ids(self, channel: str, destination: str) -> Iterator[str]:
        cursor = self._db.execute(
            "SELECT item_id FROM published_ids WHERE channel = ? AND destination = ? "
            "ORDER BY item_id", (channel, destination))
        for (item_id,) in cursor:
            yield item_id

    def record(self, channel: str, destination: str, *, items: int, sha256: str, size: int,
               target: str, ids: Iterable[str] | None = None) -> PublishRecord:
        """Save a successful publish (and, for API destinations, the ids now live)."""
        now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT OR REPLACE INTO publishes VALUES (?, ?, ?, ?, ?, ?, ?)",
                (channel, destination, items, sha256, size, target, now))
            if ids is not None:
                db.execute("DELETE FROM published_ids WHERE channel = ? AND destination = ?",
                           (channel, destination))
                db.executemany("INSERT OR IGNORE INTO published_ids VALUES (?, ?, ?)",
                               ((channel, destination, i) for i in ids))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return PublishRecord(channel, destination, items, sha256, size, target, now)

    def close(self) -> None:
        self._db.close()
