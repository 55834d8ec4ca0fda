"""The ledger's side of `feedsync sync`: compare a few fields, patch what changed.

A sync renders every item as a build does but stages only the synced fields (price,
availability, quantity...) of each, in a temporary table of the ledger's connection
(`SyncStager`: nothing on disk changes). `SyncLedger` compares them in SQL with the
confirmed content the ledger holds for a destination (`json_extract` of each field), so a
million-item catalog costs one join, not a million Python dicts.

Only items the destination already holds (live, or "sending") are candidates: a product
that is new, or gone from the master, is counted and named, and left to the next `push`,
which creates or deletes it. Before sending, the candidates about to be patched are marked
"sending" (write-ahead, as a push does): a run killed after the API took a patch but before
the answer came leaves them "sending", so the next push re-sends them whole. A confirmed
patch rewrites the item's ledger content as the old content with the new field values, so
the next push sees no change for an item whose only change was those fields.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from feedsync.state.ledger import DELETING, LIVE, SENDING, Ledger, content_hash, item_json

STAGE_BATCH = 5_000
_FIELD_NAME = re.compile(r"[A-Za-z0-9_]+")

_TABLES = """
CREATE TEMP TABLE IF NOT EXISTS sync_staged (
    feed    TEXT NOT NULL,
    item_id TEXT NOT NULL,
    fields  TEXT NOT NULL,  -- the synced fields as the ledger keeps them (item_json)
    typed   TEXT NOT NULL,  -- the same fields as typed values (items.encode_value)
    PRIMARY KEY (feed, item_id)
) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS sync_sending (
    feed        TEXT NOT NULL,
    destination TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    was_state   INTEGER NOT NULL,
    confirmed   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (feed, destination, item_id)
) WITHOUT ROWID;
"""


@dataclass
class Candidate:
    """One item the destination holds whose synced fields differ from the ledger's."""

    item_id: str
    old: dict[str, Any]  # the whole confirmed content the ledger holds
    new: dict[str, Any]  # the synced fields as rendered now (absent: cleared)
    typed: dict[str, Any]  # the same, as tagged typed values


@dataclass
class SyncDiff:
    """What a sync of one feed would change at one destination."""

    feed: str
    destination: str
    fields: list[str]
    live: int  # items the destination holds (ledger)
    items: int  # items rendered now
    changed: int = 0
    new: int = 0  # rendered, unknown to the destination: left to `push`
    gone: int = 0  # held by the destination, no longer rendered: left to `push`
    sample_new: list[str] = field(default_factory=list)
    sample_gone: list[str] = field(default_factory=list)


class SyncStager:
    """Writes each rendered item's synced fields to `sync_staged`, in batches."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._rows: list[tuple[str, str, str, str]] = []
        db.executescript(_TABLES)
        db.execute("DELETE FROM sync_staged")
        db.execute("DELETE FROM sync_sending")
        db.execute("BEGIN")

    def add(self, feed: str, item_id: str, fields: dict[str, Any], typed: Any) -> None:
        """Stage one item: `fields` as rendered, `typed` as JSON-ready tagged values."""
        self._rows.append((feed, item_id, item_json(fields),
                           json.dumps(typed, ensure_ascii=False, separators=(",", ":"))))
        if len(self._rows) >= STAGE_BATCH:
            self.flush()

    def flush(self) -> None:
        self._db.executemany("INSERT OR REPLACE INTO sync_staged VALUES (?, ?, ?, ?)",
                             self._rows)
        self._rows = []

    def close(self) -> None:
        self.flush()
        self._db.execute("COMMIT")


def _differs(fields: Iterable[str]) -> str:
    """SQL that is true when any of `fields` differs between staged and ledger content."""
    checks = []
    for name in fields:
        if not _FIELD_NAME.fullmatch(name):
            raise ValueError(f"not a field name: {name!r}")
        checks.append(f"json_extract(c.item, '$.{name}') IS NOT "
                      f"json_extract(s.fields, '$.{name}')")
    return "(" + " OR ".join(checks or ["0"]) + ")"


class SyncLedger:
    """The sync's queries and writes on one open ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.db = ledger.db
        self.db.executescript(_TABLES)

    def stager(self) -> SyncStager:
        return SyncStager(self.db)

    def diff(self, feed: str, destination: str, fields: list[str],
             sample: int = 20) -> SyncDiff:
        """Count changed, new and gone items of `feed` at `destination`."""
        db = self.db
        live = db.execute(
            "SELECT COUNT(*) FROM items WHERE feed = ? AND destination = ? AND state != ? "
            "AND hash != X''", (feed, destination, DELETING)).fetchone()[0]
        items = db.execute("SELECT COUNT(*) FROM sync_staged WHERE feed = ?",
                           (feed,)).fetchone()[0]
        result = SyncDiff(feed, destination, fields, live, items)
        result.changed = db.execute(
            f"SELECT COUNT(*) FROM sync_staged s JOIN items i ON i.feed = s.feed AND "
            f"i.destination = ? AND i.item_id = s.item_id LEFT JOIN contents c ON "
            f"c.hash = i.hash WHERE s.feed = ? AND i.hash != X'' AND i.state != ? AND "
            f"{_differs(fields)}", (destination, feed, DELETING)).fetchone()[0]
        new_where = ("FROM sync_staged s WHERE s.feed = ? AND NOT EXISTS (SELECT 1 FROM items "
                     "i WHERE i.feed = s.feed AND i.destination = ? AND i.item_id = s.item_id "
                     "AND i.hash != X'' AND i.state != ?)")
        result.new = db.execute(f"SELECT COUNT(*) {new_where}",
                                (feed, destination, DELETING)).fetchone()[0]
        gone_where = ("FROM items i WHERE i.feed = ? AND i.destination = ? AND i.state != ? "
                      "AND i.hash != X'' AND NOT EXISTS (SELECT 1 FROM sync_staged s WHERE "
                      "s.feed = i.feed AND s.item_id = i.item_id)")
        result.gone = db.execute(f"SELECT COUNT(*) {gone_where}",
                                 (feed, destination, DELETING)).fetchone()[0]
        if sample:
            result.sample_new = [r[0] for r in db.execute(
                f"SELECT s.item_id {new_where} ORDER BY s.item_id LIMIT ?",
                (feed, destination, DELETING, sample))]
            result.sample_gone = [r[0] for r in db.execute(
                f"SELECT i.item_id {gone_where} ORDER BY i.item_id LIMIT ?",
                (feed, destination, DELETING, sample))]
        return result

    def candidates(self, feed: str, destination: str,
                   fields: list[str]) -> Iterator[Candidate]:
        """Each item the destination holds whose synced fields changed, by id."""
        for item_id, old, new, typed in self.db.execute(
                f"SELECT s.item_id, COALESCE(c.item, '{{}}'), s.fields, s.typed FROM "
                f"sync_staged s JOIN items i ON i.feed = s.feed AND i.destination = ? AND "
                f"i.item_id = s.item_id LEFT JOIN contents c ON c.hash = i.hash WHERE "
                f"s.feed = ? AND i.hash != X'' AND i.state != ? AND {_differs(fields)} "
                f"ORDER BY s.item_id", (destination, feed, DELETING)):
            yield Candidate(item_id, json.loads(old), json.loads(new), json.loads(typed))

    def mark_sending(self, feed: str, destination: str, ids: Iterable[str]) -> None:
        """Write-ahead: note the items about to be patched as "sending", remembering
        their state, in one transaction."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO sync_sending SELECT feed, destination, item_id, "
                "state, 0 FROM items WHERE feed = ? AND destination = ? AND item_id = ?",
                ((feed, destination, i) for i in ids))
            db.execute(
                "UPDATE items SET state = ? WHERE feed = ? AND destination = ? AND item_id IN "
                "(SELECT item_id FROM sync_sending WHERE feed = ? AND destination = ?)",
                (SENDING, feed, destination, feed, destination))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def confirm(self, feed: str, destination: str, ids: Iterable[str]) -> None:
        """Note patches the destination confirmed (kept until `apply`)."""
        self.db.executemany(
            "UPDATE sync_sending SET confirmed = 1 WHERE feed = ? AND destination = ? AND "
            "item_id = ?", ((feed, destination, i) for i in ids))

    def apply(self, feed: str, destination: str, fields: list[str], *,
              lifetime: int | None) -> int:
        """Write the confirmed patches, in one transaction: each item's content becomes
        its old content with the new field values, its state what it was before (an item
        a push had left "sending" stays so). Returns how many were written."""
        db = self.db
        now = self.ledger.now()
        expires = now + lifetime if lifetime is not None else None
        rows = db.execute(
            "SELECT t.item_id, t.was_state, COALESCE(c.item, '{}'), s.fields FROM "
            "sync_sending t JOIN items i ON i.feed = t.feed AND i.destination = t.destination "
            "AND i.item_id = t.item_id JOIN sync_staged s ON s.feed = t.feed AND "
            "s.item_id = t.item_id LEFT JOIN contents c ON c.hash = i.hash WHERE "
            "t.feed = ? AND t.destination = ? AND t.confirmed = 1",
            (feed, destination)).fetchall()
        db.execute("BEGIN IMMEDIATE")
        try:
            for item_id, was_state, old_json, new_json in rows:
                merged = json.loads(old_json)
                new = json.loads(new_json)
                for name in fields:
                    if name in new:
                        merged[name] = new[name]
                    else:
                        merged.pop(name, None)
                text = item_json(merged)
                digest = content_hash(text)
                db.execute("INSERT OR IGNORE INTO contents VALUES (?, ?)", (digest, text))
                db.execute(
                    "UPDATE items SET hash = ?, sent_at = ?, confirmed_at = ?, expires_at = "
                    "COALESCE(?, expires_at), state = ? WHERE feed = ? AND destination = ? "
                    "AND item_id = ?", (digest, now, now, expires,
                                        LIVE if was_state == LIVE else was_state,
                                        feed, destination, item_id))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return len(rows)

    def record(self, diff: SyncDiff, *, sent: int, result: str, message: str = "") -> None:
        """One `history` row for this sync of a feed at a destination (kind "sync")."""
        db = self.db
        duration, excluded, reasons = self.ledger.run_facts(diff.feed)
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO runs (feed, destination, kind, at, items, added, changed, "
                "removed, refreshed, sent, deleted, result, message, duration_ms, excluded, "
                "excluded_by_reason) VALUES (?, ?, 'sync', ?, ?, ?, ?, ?, 0, ?, 0, ?, ?, ?, ?, ?)",
                (diff.feed, diff.destination, self.ledger.now(), diff.items, diff.new,
                 diff.changed, diff.gone, sent, result, message, duration, excluded, reasons))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
