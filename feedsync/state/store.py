"""The publish record: per channel and destination, what was last published successfully.

A small SQLite file (default `.feedsync/state.db` beside the config). It is written only
after a publish succeeded, in one transaction, so an interrupted run leaves the previous
record, and the guards compare against the last feed a channel really received.

It also keeps what `feedsync status` needs between runs: per item, the newest batch handle
a Meta push sent it in (so a later batch's silence on a fixed item is not mistaken for the
old batch's error), and what each channel last said
about each item (`seen_items`), so the next `status` can tell what is new and `explain`
can show the channel's word. A status snapshot is staged in a temporary table and replaces
the remembered one in one transaction, only once the whole channel was read.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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
CREATE TABLE IF NOT EXISTS batch_handles (
    channel     TEXT NOT NULL,
    destination TEXT NOT NULL,
    handle      TEXT NOT NULL,
    sent_at     INTEGER NOT NULL,
    PRIMARY KEY (channel, destination, handle)
);
CREATE TABLE IF NOT EXISTS batch_items (  -- each item's newest batch
    channel     TEXT NOT NULL,
    destination TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    handle      TEXT NOT NULL,
    PRIMARY KEY (channel, destination, item_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen_items (
    channel     TEXT NOT NULL,
    destination TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    status      TEXT NOT NULL,
    view        TEXT NOT NULL,  -- the channel's view of the item, JSON
    PRIMARY KEY (channel, destination, item_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen_runs (
    channel     TEXT NOT NULL,
    destination TEXT NOT NULL,
    seen_at     TEXT NOT NULL,
    items       INTEGER NOT NULL,
    PRIMARY KEY (channel, destination)
);
CREATE TEMP TABLE IF NOT EXISTS seen_now (
    item_id TEXT PRIMARY KEY,
    status  TEXT NOT NULL,
    view    TEXT NOT NULL
) WITHOUT ROWID;
"""
STAGE_BATCH = 2_000


@dataclass(frozen=True)
class SeenItem:
    """What a channel said about one item when `status` last read it."""

    status: str
    view: dict[str, Any]
    seen_at: str



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

    # -- batch handles (Meta) -----------------------------------------------------------

    def record_batches(self, channel: str, destination: str,
                       batches: Iterable[tuple[str, list[str]]], sent_at: int) -> None:
        """Note the batches a push was answered with, (handle, item ids sent in it): each
        item's newest handle replaces its older one, and handles no item needs go."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for handle, ids in batches:
                db.execute("INSERT OR REPLACE INTO batch_handles VALUES (?, ?, ?, ?)",
                           (channel, destination, handle, sent_at))
                db.executemany("INSERT OR REPLACE INTO batch_items VALUES (?, ?, ?, ?)",
                               ((channel, destination, i, handle) for i in ids))
            db.execute(
                "DELETE FROM batch_handles WHERE channel = ? AND destination = ? AND handle "
                "NOT IN (SELECT DISTINCT handle FROM batch_items WHERE channel = ? AND "
                "destination = ?)", (channel, destination, channel, destination))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def handles(self, channel: str, destination: str) -> list[tuple[str, int]]:
        """(handle, when it was sent) of the batches still some item's newest, oldest
        first."""
        return [(h, int(t)) for h, t in self._db.execute(
            "SELECT handle, sent_at FROM batch_handles WHERE channel = ? AND destination = ? "
            "ORDER BY sent_at, rowid", (channel, destination))]

    def newest_handle(self, channel: str, destination: str, item_id: str) -> str | None:
        """The batch that last carried `item_id`, or None."""
        row = self._db.execute(
            "SELECT handle FROM batch_items WHERE channel = ? AND destination = ? AND "
            "item_id = ?", (channel, destination, item_id)).fetchone()
        return str(row[0]) if row else None

    # -- what the channels said (feedsync status) -----------------------------------------

    def seen(self, channel: str, destination: str, item_id: str) -> SeenItem | None:
        """The remembered view of one item, or None when status never saw it there."""
        row = self._db.execute(
            "SELECT i.status, i.view, r.seen_at FROM seen_items i JOIN seen_runs r ON "
            "r.channel = i.channel AND r.destination = i.destination WHERE i.channel = ? "
            "AND i.destination = ? AND i.item_id = ?",
            (channel, destination, item_id)).fetchone()
        return SeenItem(row[0], json.loads(row[1]), row[2]) if row else None

    def last_seen_at(self, channel: str, destination: str) -> str | None:
        """When status last read this destination completely, or None."""
        row = self._db.execute("SELECT seen_at FROM seen_runs WHERE channel = ? AND "
                               "destination = ?", (channel, destination)).fetchone()
        return str(row[0]) if row else None

    def seen_destinations(self, channel: str) -> list[str]:
        """Destinations of `channel` that status has read, by name."""
        return [r[0] for r in self._db.execute(
            "SELECT destination FROM seen_runs WHERE channel = ? ORDER BY destination",
            (channel,))]

    def seen_summaries(self, sample: int = 5,
                       top: int = 20) -> list[dict[str, Any]]:
        """Per channel and destination status has read: when, items per status, and the
        `top` issues (code, attribute, severity, the channel's words, count, a few ids),
        from the remembered views (for the HTML report; streams them, nothing fetched)."""
        summaries = []
        for channel, destination, seen_at, items in self._db.execute(
                "SELECT channel, destination, seen_at, items FROM seen_runs "
                "ORDER BY channel, destination").fetchall():
            statuses: dict[str, int] = {}
            groups: dict[tuple[str, str | None], dict[str, Any]] = {}
            for item_id, status, view in self._db.execute(
                    "SELECT item_id, status, view FROM seen_items WHERE channel = ? AND "
                    "destination = ? ORDER BY item_id", (channel, destination)):
                statuses[status] = statuses.get(status, 0) + 1
                for issue in json.loads(view).get("issues", []):
                    key = (issue.get("code", ""), issue.get("attribute"))
                    group = groups.setdefault(key, {
                        "code": key[0], "attribute": key[1],
                        "severity": issue.get("severity", ""),
                        "description": issue.get("description", ""), "count": 0, "ids": []})
                    group["count"] += 1
                    if len(group["ids"]) < sample:
                        group["ids"].append(item_id)
            ranked = sorted(groups.values(), key=lambda g: (-g["count"], g["code"]))
            summaries.append({"channel": channel, "destination": destination,
                              "checked_at": seen_at, "items": items, "statuses": statuses,
                              "issues": ranked[:top]})
        return summaries

    def snapshot(self) -> Snapshot:
        """A writer of one destination's new status snapshot (temporary until `commit`)."""
        self._db.execute("DELETE FROM seen_now")
        return Snapshot(self._db)

    def close(self) -> None:
        self._db.close()


class Snapshot:
    """The views of one destination as `status` reads them, staged in a temporary table;
    `commit` makes them the remembered ones, in one transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._rows: list[tuple[str, str, str]] = []

    def add(self, item_id: str, status: str, view: dict[str, Any]) -> None:
        self._rows.append((item_id, status, json.dumps(view, ensure_ascii=False,
                                                       sort_keys=True)))
        if len(self._rows) >= STAGE_BATCH:
            self.flush()

    def flush(self) -> None:
        self._db.executemany("INSERT OR REPLACE INTO seen_now VALUES (?, ?, ?)", self._rows)
        self._rows = []

    def ids(self) -> Iterator[str]:
        """The staged item ids, sorted (for a merge join with the ledger)."""
        self.flush()
        for (item_id,) in self._db.execute("SELECT item_id FROM seen_now ORDER BY item_id"):
            yield item_id

    def commit(self, channel: str, destination: str, seen_at: str) -> None:
        self.flush()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM seen_items WHERE channel = ? AND destination = ?",
                       (channel, destination))
            db.execute("INSERT INTO seen_items SELECT ?, ?, item_id, status, view FROM "
                       "seen_now", (channel, destination))
            items = db.execute("SELECT COUNT(*) FROM seen_now").fetchone()[0]
            db.execute("INSERT OR REPLACE INTO seen_runs VALUES (?, ?, ?, ?)",
                       (channel, destination, seen_at, items))
            db.execute("DELETE FROM seen_now")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
