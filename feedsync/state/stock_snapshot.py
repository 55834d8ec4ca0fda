"""What the joined stock sources held at the last sync, so the next one re-renders only
the products whose stock changed.

A sync every five minutes must not parse and render a million-product master to find the
hundred products that sold. When the master is a file that has not changed since the last
sync (same size and modification time) and neither has the config, the only thing that
can have changed an item is a joined source (`source.join`: the shop's stock table). This
snapshot keeps, per joined source and product id, a hash of its row; a sync streams the
joined sources (cheap: a few columns), compares them in SQL with the snapshot, and gives
the pipeline only the master rows whose joined rows changed (or appeared, or left).

The snapshot is replaced only after a sync whose every destination confirmed everything
it was sent; otherwise the next sync re-renders the same rows again (harmless: the ledger
decides what is sent). `sync --full-read`, a changed master or config, or no snapshot yet:
the whole master is read. The file is `.feedsync/sync-stock.db` (SQLite, 0600), apart from
the ledger, and written under the run lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from feedsync.config import Config
from feedsync.sources import Source, join_key_normaliser, join_source, open_plain_source

SNAPSHOT_NAME = "sync-stock.db"
BATCH = 5_000
SNAPSHOT_VERSION = 1  # how rows are hashed: a snapshot of another version is not compared

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stock (
    source INTEGER NOT NULL, key TEXT NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (source, key)) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS read_now (
    source INTEGER NOT NULL, key TEXT NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (source, key)) WITHOUT ROWID;
"""


def fingerprint(config: Config) -> str | None:
    """What must be unchanged for a changed-stock-only sync: the config's bytes and the
    master file's size and modification time (None: not a file master, or no joins)."""
    src = config.source
    if not src.join or src.url or not src.path:
        return None
    master = config.resolve(src.path)
    try:
        stat = master.stat()
    except OSError:
        return None
    return json.dumps({"version": SNAPSHOT_VERSION,
                       "config": hashlib.sha256(config.file.read_bytes()).hexdigest(),
                       "master": [str(master.resolve()), stat.st_size, stat.st_mtime_ns]})


def _records(source: Source, key: str) -> Iterator[tuple[str, str]]:
    """(key, the other values as one text) of each row; a database table is read raw
    (only equality matters here, and that is several times faster)."""
    columns = source.columns
    position = columns.index(key) if key in columns else None
    raw_rows = getattr(source, "raw_rows", None)
    if raw_rows is not None and position is not None:
        for record in raw_rows():
            value = record[position]
            yield ("" if value is None else str(value).strip(),
                   "\x1f".join("" if v is None else str(v) for v in record))
        return
    others = sorted(c for c in columns if c != key)
    for row in source.rows():
        yield ((row.data.get(key) or "").strip(),
               "\x1f".join(str(row.data.get(c) or "") for c in others))


class StockSnapshot:
    """The snapshot file of one project; `read` the joined sources first."""

    def __init__(self, state_dir: Path) -> None:
        path = state_dir / SNAPSHOT_NAME
        if not path.exists():
            state_dir.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             0o600))
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def read(self, config: Config) -> int:
        """Stream every joined source into the temporary table; returns the rows read."""
        db = self._db
        db.execute("DELETE FROM read_now")
        normalise = join_key_normaliser(config)
        count = 0
        db.execute("BEGIN")
        try:
            for index, join in enumerate(config.source.join):
                source = open_plain_source(join_source(join), config.base_dir)
                batch: list[tuple[int, str, bytes]] = []
                for raw, values in _records(source, join.key):
                    if not raw:
                        continue
                    batch.append((index, normalise(raw), hashlib.blake2b(
                        values.encode("utf-8"), digest_size=12).digest()))
                    if len(batch) >= BATCH:
                        db.executemany("INSERT OR REPLACE INTO read_now VALUES (?, ?, ?)",
                                       batch)
                        count += len(batch)
                        batch = []
                db.executemany("INSERT OR REPLACE INTO read_now VALUES (?, ?, ?)", batch)
                count += len(batch)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return count

    def changed_keys(self, config: Config) -> set[str] | None:
        """Ids whose joined rows differ from the snapshot's (new, changed or gone); None
        when the whole master must be read (no snapshot, or the master or config
        changed)."""
        now = fingerprint(config)
        saved = self._db.execute("SELECT value FROM meta WHERE name = 'fingerprint'")
        row = saved.fetchone()
        if now is None or row is None or row[0] != now:
            return None
        return {key for (key,) in self._db.execute(
            "SELECT r.key FROM read_now r LEFT JOIN stock s ON s.source = r.source AND "
            "s.key = r.key WHERE s.hash IS NULL OR s.hash != r.hash UNION "
            "SELECT s.key FROM stock s WHERE NOT EXISTS (SELECT 1 FROM read_now r WHERE "
            "r.source = s.source AND r.key = s.key)")}

    def save(self, config: Config) -> None:
        """The joined sources as read are now what the destinations reflect."""
        now = fingerprint(config)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM stock")
            db.execute("INSERT INTO stock SELECT source, key, hash FROM read_now")
            if now is None:
                db.execute("DELETE FROM meta WHERE name = 'fingerprint'")
            else:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (now,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
