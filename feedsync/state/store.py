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
# The shrink guard compares a feed with the largest of this many recent publishes, not
# only the last one: four pushes each 30% smaller would otherwise walk a 35,000-item
# catalog down to 11,000 without anyone saying --force. A forced publish starts afresh.
GUARD_MEMORY = 10
_HISTORY_KEPT = 50

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
CREATE TABLE IF NOT EXISTS publish_history (
    channel      TEXT NOT NULL,
    destination  TEXT NOT NULL,
    items        INTEGER NOT NULL,
    published_at TEXT NOT NULL,
    forced       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS publish_history_by_feed ON publish_history (channel, destination);
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

    def reference(self, channel: str, destination: str) -> PublishRecord | None:
        """What the shrink guard compares with: the largest of the last GUARD_MEMORY
        publishes (none before the latest forced one), as a record; else `last`."""
        last = self.last(channel, destination)
        if last is None:
            return None
        rows = self._db.execute(
            "SELECT items, published_at, forced FROM publish_history WHERE channel = ? AND "
            "destination = ? ORDER BY rowid DESC LIMIT ?",
            (channel, destination, GUARD_MEMORY)).fetchall()
        best: tuple[int, str] | None = None
        for items, published_at, forced in rows:
            if best is None or items > best[0]:
                best = (items, published_at)
            if forced:
                break
        if best is None or best[0] <= last.items:
            return last
        return PublishRecord(last.channel, last.destination, best[0], last.sha256, last.bytes,
                             last.target, best[1])

    def published_ids(self, channel: str, destination: str) -> Iterator[str]:
        cursor = self._db.execute(
            "SELECT item_id FROM published_ids WHERE channel = ? AND destination = ? "
            "ORDER BY item_id", (channel, destination))
        for (item_id,) in cursor:
            yield item_id

    def record(self, channel: str, destination: str, *, items: int, sha256: str, size: int,
               target: str, ids: Iterable[str] | None = None,
               forced: bool = False) -> PublishRecord:
        """Save a successful publish (and, for API destinations, the ids now live);
        `forced`: published with --force, so the guard's memory starts from it."""
        now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT OR REPLACE INTO publishes VALUES (?, ?, ?, ?, ?, ?, ?)",
                (channel, destination, items, sha256, size, target, now))
            db.execute("INSERT INTO publish_history VALUES (?, ?, ?, ?, ?)",
                       (channel, destination, items, now, int(forced)))
            db.execute(
                "DELETE FROM publish_history WHERE channel = ? AND destination = ? AND rowid "
                "NOT IN (SELECT rowid FROM publish_history WHERE channel = ? AND "
                "destination = ? ORDER BY rowid DESC LIMIT ?)",
                (channel, destination, channel, destination, _HISTORY_KEPT))
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
