"""The item ledger: what each feed's destinations hold, item by item.

Per feed (channel x market), per destination (`file` for what `build` wrote, or a publish
destination's name), per item id: a content hash of the rendered item, the item itself
(JSON, so a plan can name the fields that changed and their old values), when it was last
sent and confirmed, when the channel expires it (Google: 30 days after the last update),
and its state: live (confirmed), deleting (a tombstone: removed from the feed, the delete
not confirmed yet) or sending (sent, not confirmed yet: the destination may hold it, or
an older version of it).

A run first *stages* the items it built, into a temporary table of the same connection
(nothing on disk changes; an unchanged item without its JSON text, see `Stager`),
compares them in SQL against the ledger (`diff`), and only after a destination
confirmed writes the result, in one transaction (`apply_file`, `apply_api`). Before
an API publish it notes which items are about to be sent (`mark_sending`, write-ahead):
a run killed after the API took an item but before the answer arrived leaves that
item "sending", so the next run sends it again, or deletes it if it left the feed
meanwhile; nothing the API may hold is ever forgotten. The confirmed
content a ledger claims is never changed by a killed run, and never claims an item the
destination did not confirm. The anti-joins (added, removed) run in
SQLite, so memory stays flat however large the catalog is.

Every build, push and sync also writes one history row (`runs`) per feed and destination:
the diff's counts, what was sent and deleted, the result, how long the run had taken, and
what it left out of the feed (`note_left_out`), for `feedsync history`.

The file is SQLite in WAL mode, mode 0600, its schema version in `PRAGMA user_version`
with migrations; a file from a newer feedsync, or one that is not a ledger, is refused
with a clear error and never written to. The one writer runs under the project's run lock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from feedsync.errors import ExitCode, FeedsyncError

LEDGER_NAME = "ledger.db"
SCHEMA_VERSION = 2
FILE_DESTINATION = "file"  # what `build` wrote to the channel's own outputs
DAY = 86_400
STAGE_BATCH = 5_000
LIVE, DELETING, SENDING = 0, 1, 2  # items.state

# version -> the statements that bring a ledger from the version before to it
_MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE items (
    feed         TEXT NOT NULL,
    destination  TEXT NOT NULL,
    item_id      TEXT NOT NULL,
    hash         BLOB NOT NULL,
    sent_at      INTEGER NOT NULL,
    confirmed_at INTEGER NOT NULL,
    expires_at   INTEGER,
    state        INTEGER NOT NULL DEFAULT 0,  -- LIVE, DELETING or SENDING
    PRIMARY KEY (feed, destination, item_id)
) WITHOUT ROWID;
CREATE TABLE contents (
    hash BLOB PRIMARY KEY,
    item TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    feed        TEXT NOT NULL,
    destination TEXT NOT NULL,
    kind        TEXT NOT NULL,
    at          INTEGER NOT NULL,
    items       INTEGER NOT NULL,
    added       INTEGER NOT NULL,
    changed     INTEGER NOT NULL,
    removed     INTEGER NOT NULL,
    refreshed   INTEGER NOT NULL,
    sent        INTEGER NOT NULL,
    deleted     INTEGER NOT NULL,
    result      TEXT NOT NULL,
    message     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_by_feed ON runs (feed, destination, id);
""",
    # Each history row also says how long the run had taken when it wrote the row, and
    # what the run left out of the feed: how many products, and how many per issue code
    # (a JSON object, most first). Rows from before read back as 0 and {}; NULL (a new
    # row) means the run did not count them (a sync that read only the changed stock).
    2: """
ALTER TABLE runs ADD COLUMN duration_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN excluded INTEGER DEFAULT 0;
ALTER TABLE runs ADD COLUMN excluded_by_reason TEXT DEFAULT '{}';
""",
}

_STAGED_COLUMNS = """(
    feed    TEXT NOT NULL,
    item_id TEXT NOT NULL,
    hash    BLOB NOT NULL,
    item    TEXT,  -- NULL: the ledger already holds this content (see Stager)
    pos     INTEGER,
    PRIMARY KEY (feed, item_id)
) WITHOUT ROWID"""
_STAGING = f"""
CREATE TEMP TABLE IF NOT EXISTS staged {_STAGED_COLUMNS};
CREATE TEMP TABLE IF NOT EXISTS confirmed (
    feed        TEXT NOT NULL,
    destination TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    deleted     INTEGER NOT NULL,
    PRIMARY KEY (feed, destination, item_id)
) WITHOUT ROWID;
"""


class LedgerError(FeedsyncError):
    """The ledger cannot be used as it is (newer version, not a ledger, corrupt)."""

    exit_code = ExitCode.USAGE


# Values longer than this are kept as a digest: enough to see that a description or an
# image list changed, at a fraction of the size (the headline fields are always kept).
LONG_VALUE = 64
KEPT_FIELDS = frozenset({"id", "title", "price", "sale_price", "availability"})


_json_encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                               default=str).encode
# orjson writes the same bytes as `_json_encode` for strings, whole numbers, booleans,
# None and containers of them (tests compare both on many values), at a fifth of the cost:
# the ledger encodes every item of every build. Floats are the exception (orjson writes
# 1e-05 as 0.00001), so a value holding one, and anything orjson refuses (an int beyond
# 64 bits, a lone surrogate), goes through the standard library. Date-times, dataclasses
# and str subclasses are passed to `default=str`, as json does.
_ORJSON_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                   | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS)


def _floatless(value: Any) -> bool:
    """True when no float hides in `value` (lists, tuples, dicts, nested)."""
    kind = type(value)
    if kind is float:
        return False
    if kind is list or kind is tuple or kind is dict:
        # A plain loop: `all()` over a generator cost twice as much (a generator frame
        # per container, and every item's lists and shipping groups are searched).
        for member in value.values() if kind is dict else value:
            if type(member) is not str and not _floatless(member):
                return False
    return True


def _encode_bytes(value: Any) -> bytes:
    """`value` as the ledger's key-sorted, compact JSON, UTF-8 encoded."""
    if _floatless(value):
        try:
            return orjson.dumps(value, default=str, option=_ORJSON_OPTIONS)
        except (orjson.JSONEncodeError, TypeError):
            pass
    return _json_encode(value).encode("utf-8")


def _encode(value: Any) -> str:
    """`value` as the ledger's key-sorted, compact JSON text."""
    return _encode_bytes(value).decode("utf-8")


# Long values' digests, by the value (a text, or a list's or dict's encoding; a str never
# equals bytes): one product's description and image list recur in each of its feeds
# (13 with every channel), one after the other, and a dict look-up costs a fraction of
# blake2b over ~1 KB. Emptied when full, so it holds at most a few hundred values.
_DIGESTS: dict[str | bytes, str] = {}
_DIGESTS_KEPT = 256


def item_json_bytes(item: dict[str, Any]) -> bytes:
    """An item as the ledger keeps it, UTF-8 encoded: key-sorted JSON, long values replaced
    by a digest (`#` and 8 base64 characters); equal items give equal bytes.

    Hot: once per item of every build. Short text values cost one check each; a list or
    dict value is encoded once (to measure it) and that encoding is reused in the item, so
    only nested values are searched for floats (a top-level value other than text, a
    whole number or a boolean is written as its text)."""
    kept: dict[str, Any] | None = None
    digests = _DIGESTS
    for name, value in item.items():
        kind = type(value)
        if kind is str:
            if len(value) <= LONG_VALUE or name in KEPT_FIELDS:
                continue
            key: str | bytes = value
        elif kind is list or kind is dict or isinstance(value, (list, dict)):
            key = _encode_bytes(value)
            kept = dict(item) if kept is None else kept
            if name in KEPT_FIELDS or len(key) <= LONG_VALUE or (
                    not key.isascii() and len(key.decode("utf-8")) <= LONG_VALUE):
                kept[name] = orjson.Fragment(key)
                continue
        elif kind is int or kind is bool:
            continue
        else:  # None, Decimal and the like as their text (int subclasses as numbers)
            kept = dict(item) if kept is None else kept
            kept[name] = int(value) if isinstance(value, int) else str(value)
            continue
        kept = dict(item) if kept is None else kept
        text = digests.get(key)
        if text is None:
            if len(digests) >= _DIGESTS_KEPT:
                digests.clear()
            data = key.encode("utf-8") if isinstance(key, str) else key
            digest = hashlib.blake2b(data, digest_size=6).digest()
            # base64.b64encode's own call, without its Python frame
            text = digests[key] = "#" + binascii.b2a_base64(digest, newline=False).decode()
        kept[name] = text
    try:
        return orjson.dumps(item if kept is None else kept, option=_ORJSON_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        return _item_json_reference(item).encode("utf-8")


def _item_json_reference(item: dict[str, Any]) -> str:
    """`item_json_bytes` as the standard library writes it: the definition the fast path
    follows (tests compare both), and the fallback for what orjson refuses."""
    kept: dict[str, Any] | None = None
    for name, value in item.items():
        if type(value) is str:
            if len(value) <= LONG_VALUE or name in KEPT_FIELDS:
                continue
            text = value
        elif isinstance(value, (list, dict)):
            text = _json_encode(value)
            if len(text) <= LONG_VALUE or name in KEPT_FIELDS:
                continue
        else:  # Decimal and the like as text; int and bool as they are
            if not isinstance(value, int):
                kept = dict(item) if kept is None else kept
                kept[name] = str(value)
            continue
        kept = dict(item) if kept is None else kept
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=6).digest()
        kept[name] = "#" + base64.b64encode(digest).decode()
    return _json_encode(item if kept is None else kept)


def item_json(item: dict[str, Any]) -> str:
    """`item_json_bytes` as text."""
    return item_json_bytes(item).decode("utf-8")


def content_hash(text: str | bytes) -> bytes:
    """The 16-byte content hash the ledger compares (of the item's JSON text)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.blake2b(data, digest_size=16).digest()


def staged_form(item: dict[str, Any]) -> tuple[bytes, bytes]:
    """(`item_json_bytes`, its `content_hash`): what `Stager.add` stages of an item, also
    computed by worker processes (`--jobs N`) so this process only stores it."""
    data = item_json_bytes(item)
    return data, hashlib.blake2b(data, digest_size=16).digest()


def iso(timestamp: int | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC time, for people and JSON."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class Changed:
    """One item whose content changed: its old and new rendered values."""

    item_id: str
    old: dict[str, Any]
    new: dict[str, Any]


@dataclass
class Diff:
    """What a feed's staged items would change at one destination."""

    feed: str
    destination: str
    known: bool  # the ledger has a record of this destination (False: first run)
    previous: int  # live items the ledger holds there
    items: int  # staged items
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    refresh: int = 0
    pending_deletes: int = 0  # removed items whose delete already failed once
    sample_added: list[str] = field(default_factory=list)
    sample_changed: list[Changed] = field(default_factory=list)
    sample_removed: list[str] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        """Anything to send or delete."""
        return bool(self.added or self.changed or self.removed or self.refresh)


@dataclass
class RunRecord:
    """One row of `feedsync history`.

    `excluded` and `excluded_by_reason` (issue code -> products, most first) are what the
    run left out of the feed, None when it did not count them; `duration_ms` is how long
    the run had taken when it wrote this row."""

    feed: str
    destination: str
    kind: str
    at: int
    items: int
    added: int
    changed: int
    removed: int
    refreshed: int
    sent: int
    deleted: int
    result: str
    message: str
    duration_ms: int = 0
    excluded: int | None = None
    excluded_by_reason: dict[str, int] | None = None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> RunRecord:
        """A `runs` row, its columns in this class's order (the reasons as JSON text)."""
        *values, reasons = row
        record = cls(*values)
        record.excluded_by_reason = json.loads(reasons) if reasons is not None else None
        return record

    @property
    def duration_s(self) -> float:
        """`duration_ms` in seconds, to the millisecond."""
        return round(self.duration_ms / 1000, 3)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, times as ISO 8601, the duration in seconds."""
        data = vars(self).copy()
        data["at"] = iso(self.at)
        del data["duration_ms"]
        data["duration_s"] = self.duration_s
        return data


@dataclass
class LeftOut:
    """What a run left out of one feed: products, and products per issue code."""

    excluded: int
    by_reason: dict[str, int]

    def reasons_json(self) -> str:
        """`by_reason` as the ledger keeps it: a JSON object, most products first, then
        by code."""
        ordered = sorted(self.by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
        return json.dumps(dict(ordered), ensure_ascii=False, separators=(",", ":"))


class Ledger:
    """One project's item ledger; open with `Ledger.open(state_dir)`."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self._db = db
        self.clock = time.time  # tests move time by replacing this
        self.monotonic = time.monotonic
        # The run's start (a `time.monotonic()` value): each history row it writes says
        # how long the run had taken. A command sets it to when it began.
        self.started = self.monotonic()
        self._left_out: dict[str, LeftOut] = {}

    @classmethod
    def open(cls, state_dir: Path, *, create: bool = True) -> Ledger:
        """Open (or create) `state_dir/ledger.db`, migrated to this version's schema."""
        path = state_dir / LEDGER_NAME
        if not path.exists():
            if not create:
                raise LedgerError(f"{path} does not exist")
            state_dir.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             0o600))
        try:
            db = sqlite3.connect(path, timeout=10, isolation_level=None)
        except sqlite3.Error as exc:
            raise _corrupt(path, exc) from None
        try:
            version = _check_ledger(path, db)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            _migrate(path, db, version)
            db.executescript(_STAGING)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise _corrupt(path, exc) from None
        except BaseException:
            db.close()
            raise
        return cls(path, db)

    @classmethod
    def open_for_reading(cls, state_dir: Path) -> Ledger:
        """The ledger to compare with, without writing it: the file when there is one,
        else an empty ledger in memory (everything is new)."""
        path = state_dir / LEDGER_NAME
        if path.exists():
            return cls.open(state_dir)
        db = sqlite3.connect(":memory:", isolation_level=None)
        _migrate(path, db, 0)
        db.executescript(_STAGING)
        return cls(path, db)

    def collect(self, *, orphans_possible: bool = True) -> None:
        """Drop contents no destination refers to any more, and fold the write-ahead log
        back into the file (run once at the end of a run that wrote).

        `orphans_possible=False`: the run changed and removed no item, so it left no
        contents behind; the search (a set of every item's hash, ~3 us an item) is
        skipped. What a killed run left is then dropped by the next run that changes."""
        db = self._db
        if orphans_possible:
            db.execute("DELETE FROM contents WHERE hash NOT IN (SELECT hash FROM items)")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> int:
        return int(self.clock())

    def note_left_out(self, feed: str, excluded: int, by_reason: dict[str, int]) -> None:
        """What this run left out of `feed` (products, and products per issue code),
        written with each history row of the feed from now on."""
        self._left_out[feed] = LeftOut(excluded, dict(by_reason))

    def run_facts(self, feed: str) -> tuple[int, int | None, str | None]:
        """(duration so far in ms, products left out, their reasons as JSON) for a
        history row of `feed`; the last two None when the run did not note them."""
        duration = max(0, round((self.monotonic() - self.started) * 1000))
        left_out = self._left_out.get(feed)
        if left_out is None:
            return duration, None, None
        return duration, left_out.excluded, left_out.reasons_json()

    @property
    def db(self) -> sqlite3.Connection:
        """The connection, for the ledger's companion modules (state/sync_ledger.py); only
        they write through it, under the same run lock."""
        return self._db

    # -- staging what a run built ---------------------------------------------------------

    def stager(self) -> Stager:
        """A batch writer of the items a run built (temporary: never on disk as ledger)."""
        self._db.execute("DELETE FROM staged")
        self._db.execute("DELETE FROM confirmed")
        return Stager(self._db)

    def take_staged(self, path: Path) -> None:
        """Add what another process staged in the file `path` (a `StagedPart`) to this
        run's staged items, in one statement (outside a transaction: after the run's own
        Stager is closed)."""
        self._db.execute("ATTACH DATABASE ? AS part", (str(path),))
        try:
            self._db.execute("INSERT INTO temp.staged SELECT * FROM part.staged")
        finally:
            self._db.execute("DETACH DATABASE part")

    # -- comparing ------------------------------------------------------------------------

    def diff(self, feed: str, destination: str, *, refresh_before: int | None = None,
             sample: int = 20) -> Diff:
        """Compare a feed's staged items with what `destination` holds; `refresh_before`
        (seconds): unchanged items expiring sooner than that count as due for refresh."""
        db = self._db
        previous, rows = db.execute(
            "SELECT COUNT(*) FILTER (WHERE state != 1 AND hash != X''), COUNT(*) FROM items "
            "WHERE feed = ? AND destination = ?", (feed, destination)).fetchone()
        items = db.execute("SELECT COUNT(*) FROM staged WHERE feed = ?", (feed,)).fetchone()[0]
        result = Diff(feed, destination, rows > 0, previous, items)
        if not rows:
            # The destination holds nothing of this feed (a first run): every staged item
            # is added, and nothing is changed, unchanged or removed; no pass over them.
            result.added = items
            if sample and items:
                result.sample_added = [r[0] for r in db.execute(
                    "SELECT item_id FROM staged WHERE feed = ? ORDER BY item_id LIMIT ?",
                    (feed, sample))]
            return result
        horizon = self.now() + refresh_before if refresh_before is not None else None
        result.added, result.changed, result.unchanged, result.refresh = db.execute(
            "SELECT COUNT(*) FILTER (WHERE i.item_id IS NULL OR i.hash = X''), "
            "COUNT(*) FILTER (WHERE i.hash != X'' AND (i.hash != s.hash OR i.state != 0)), "
            "COUNT(*) FILTER (WHERE i.hash = s.hash AND i.state = 0), "
            "COUNT(*) FILTER (WHERE i.hash = s.hash AND i.state = 0 AND "
            "  i.expires_at IS NOT NULL AND ? IS NOT NULL AND i.expires_at <= ?) "
            "FROM staged s LEFT JOIN items i ON i.feed = s.feed AND i.destination = ? "
            "AND i.item_id = s.item_id WHERE s.feed = ?",
            (horizon, horizon, destination, feed)).fetchone()
        result.unchanged -= result.refresh
        result.removed, result.pending_deletes = db.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE i.state = 1) FROM items i WHERE "
            "i.feed = ? AND i.destination = ? AND NOT EXISTS (SELECT 1 FROM staged s WHERE "
            "s.feed = i.feed AND s.item_id = i.item_id)", (feed, destination)).fetchone()
        # Each sample selects what its count above counted: with a count of 0 it is empty,
        # and skipping it saves a pass over every staged (or held) item of the feed.
        if sample and result.added:
            result.sample_added = [r[0] for r in db.execute(
                "SELECT s.item_id FROM staged s WHERE s.feed = ? AND NOT EXISTS (SELECT 1 "
                "FROM items i WHERE i.feed = s.feed AND i.destination = ? AND "
                "i.item_id = s.item_id AND i.hash != X'') ORDER BY s.item_id LIMIT ?",
                (feed, destination, sample))]
        if sample and result.changed:
            result.sample_changed = [Changed(r[0], json.loads(r[1]), json.loads(r[2]))
                                     for r in self.changed(feed, destination, limit=sample)]
        if sample and result.removed:
            result.sample_removed = [r[0] for r in db.execute(
                "SELECT i.item_id FROM items i WHERE i.feed = ? AND i.destination = ? AND NOT "
                "EXISTS (SELECT 1 FROM staged s WHERE s.feed = i.feed AND "
                "s.item_id = i.item_id) ORDER BY i.item_id LIMIT ?",
                (feed, destination, sample))]
        return result

    def changed(self, feed: str, destination: str,
                limit: int | None = None) -> Iterator[tuple[str, str, str]]:
        """(id, old item JSON, new item JSON) of each changed item, by id."""
        yield from self._db.execute(
            "SELECT s.item_id, COALESCE(c.item, '{}'), COALESCE(s.item, (SELECT n.item "
            "FROM contents n WHERE n.hash = s.hash), '{}') FROM staged s JOIN items i ON "
            "i.feed = s.feed AND i.destination = ? AND i.item_id = s.item_id LEFT JOIN "
            "contents c ON c.hash = i.hash WHERE s.feed = ? AND "
            "i.hash != X'' AND (i.hash != s.hash OR i.state != 0) ORDER BY s.item_id LIMIT ?",
            (destination, feed, -1 if limit is None else limit))

    def mark_sending(self, feed: str, destination: str, *, refresh_before: int | None,
                     full: bool = False) -> None:
        """Note, before an API publish, every item it will send (added, changed, due for
        refresh; every item with `full`) as "sending", in one transaction: if the run is
        killed before the API's answer arrives, the next run sends them again (or deletes
        those that left the feed). Their confirmed content stays as it was."""
        db = self._db
        horizon = self.now() + refresh_before if refresh_before is not None else None
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "UPDATE items SET state = 2 WHERE feed = ? AND destination = ? AND EXISTS "
                "(SELECT 1 FROM staged s WHERE s.feed = items.feed AND "
                "s.item_id = items.item_id AND (? OR s.hash != items.hash OR "
                "items.state != 0 OR (? IS NOT NULL AND items.expires_at IS NOT NULL AND "
                "items.expires_at <= ?)))", (feed, destination, full, horizon, horizon))
            now = self.now()
            db.execute(
                "INSERT OR IGNORE INTO items SELECT s.feed, ?, s.item_id, X'', ?, 0, "
                "NULL, 2 FROM staged s WHERE s.feed = ?", (destination, now, feed))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def to_send(self, feed: str, destination: str) -> Iterator[int]:
        """Spool positions of the items `mark_sending` marked, in feed order."""
        for (pos,) in self._db.execute(
                "SELECT s.pos FROM staged s JOIN items i ON i.feed = s.feed AND "
                "i.destination = ? AND i.item_id = s.item_id WHERE s.feed = ? AND "
                "s.pos IS NOT NULL AND i.state = 2 ORDER BY s.pos", (destination, feed)):
            yield pos

    def changes_for_file(self, feed: str) -> Iterator[tuple[int, dict[str, Any] | None]]:
        """(position, old item or None when new) of each staged item that is new or
        changed against the feed's files, in feed order."""
        for pos, old in self._db.execute(
                "SELECT s.pos, c.item FROM staged s LEFT JOIN items i ON i.feed = s.feed AND "
                "i.destination = ? AND i.item_id = s.item_id LEFT JOIN contents c ON "
                "c.hash = i.hash WHERE s.feed = ? AND s.pos IS NOT NULL AND "
                "(i.item_id IS NULL OR i.hash != s.hash OR i.state != 0) ORDER BY s.pos",
                (FILE_DESTINATION, feed)):
            yield pos, (json.loads(old) if old is not None else None)

    def removed(self, feed: str, destination: str) -> Iterator[str]:
        """Ids the destination holds (or was asked to delete) that the feed no longer has."""
        for (item_id,) in self._db.execute(
                "SELECT i.item_id FROM items i WHERE i.feed = ? AND i.destination = ? AND NOT "
                "EXISTS (SELECT 1 FROM staged s WHERE s.feed = i.feed AND "
                "s.item_id = i.item_id) ORDER BY i.item_id", (feed, destination)):
            yield item_id

    def count(self, feed: str, destination: str) -> int | None:
        """Live items the ledger holds for a destination; None when it has no record."""
        live, rows = self._db.execute(
            "SELECT COUNT(*) FILTER (WHERE state != 1 AND hash != X''), COUNT(*) FROM items "
            "WHERE feed = ? AND destination = ?", (feed, destination)).fetchone()
        if rows:
            return int(live)
        ran = self._db.execute("SELECT 1 FROM runs WHERE feed = ? AND destination = ? "
                               "AND result = 'published' LIMIT 1",
                               (feed, destination)).fetchone()
        return 0 if ran else None

    def seed(self, feed: str, destination: str, ids: Iterable[str]) -> int:
        """Take over ids an older feedsync recorded as published (no content known: each
        counts as changed, or as removed), when the ledger has nothing for them yet."""
        db = self._db
        if db.execute("SELECT 1 FROM items WHERE feed = ? AND destination = ? LIMIT 1",
                      (feed, destination)).fetchone():
            return 0
        now = self.now()
        db.execute("BEGIN IMMEDIATE")
        try:
            cursor = db.executemany(
                "INSERT OR IGNORE INTO items VALUES (?, ?, ?, X'', ?, ?, NULL, 0)",
                ((feed, destination, i, now, now) for i in ids))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return cursor.rowcount

    # -- confirmations --------------------------------------------------------------------

    def confirm(self, feed: str, destination: str, sent: Iterable[str],
                deleted: Iterable[str] = ()) -> None:
        """Note ids a destination confirmed (temporary until `apply_api`)."""
        db = self._db
        db.executemany("INSERT OR REPLACE INTO confirmed VALUES (?, ?, ?, 0)",
                       ((feed, destination, i) for i in sent))
        db.executemany("INSERT OR REPLACE INTO confirmed VALUES (?, ?, ?, 1)",
                       ((feed, destination, i) for i in deleted))

    def apply_api(self, feed: str, destination: str, diff: Diff, *, lifetime: int | None,
                  attempted_deletes: bool, result: str, message: str = "") -> RunRecord:
        """Write what an item API confirmed, in one transaction: confirmed items with
        their new content and expiry, confirmed deletes gone; removed items whose delete
        was tried and not confirmed stay, as tombstones, to be sent again next run; items
        sent and not confirmed stay "sending"."""
        db = self._db
        now = self.now()
        expires = now + lifetime if lifetime is not None else None
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT OR REPLACE INTO items SELECT s.feed, ?, s.item_id, s.hash, ?, "
                "?, ?, 0 FROM confirmed c JOIN staged s ON s.feed = c.feed AND "
                "s.item_id = c.item_id WHERE c.feed = ? AND c.destination = ? AND "
                "c.deleted = 0", (destination, now, now, expires, feed, destination))
            sent = db.execute("SELECT changes()").fetchone()[0]
            db.execute(
                "INSERT OR IGNORE INTO contents SELECT s.hash, s.item FROM confirmed c JOIN "
                "staged s ON s.feed = c.feed AND s.item_id = c.item_id WHERE c.feed = ? AND "
                "c.destination = ? AND c.deleted = 0 AND s.item IS NOT NULL "
                "ORDER BY s.hash",  # see apply_file; NULL: already held (Stager)
                (feed, destination))
            db.execute(
                "DELETE FROM items WHERE feed = ? AND destination = ? AND item_id IN (SELECT "
                "item_id FROM confirmed WHERE feed = ? AND destination = ? AND deleted = 1)",
                (feed, destination, feed, destination))
            deleted = db.execute("SELECT changes()").fetchone()[0]
            if attempted_deletes:
                db.execute(
                    "UPDATE items SET state = 1 WHERE feed = ? AND destination = ? AND "
                    "NOT EXISTS (SELECT 1 FROM staged s WHERE s.feed = items.feed AND "
                    "s.item_id = items.item_id)", (feed, destination))
            else:  # the destination keeps items we no longer list; stop tracking them
                db.execute(
                    "DELETE FROM items WHERE feed = ? AND destination = ? AND NOT EXISTS "
                    "(SELECT 1 FROM staged s WHERE s.feed = items.feed AND "
                    "s.item_id = items.item_id)", (feed, destination))
            record = self._record_run(feed, destination, "push", now, diff, sent, deleted,
                                      result, message)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return record

    def store_contents(self, feeds: Sequence[str], destination: str) -> None:
        """Store the contents of the staged items of `feeds` that are new or changed at
        `destination`, in one transaction: what `apply_file` stores for each feed, for
        many feeds in one pass (then tell it `contents_stored`).

        Contents are keyed by hash, so each feed's new items land all over the table:
        feed by feed, every commit rewrites most of its pages; all feeds in one hash-ordered
        pass write each page once. Until `apply_file` commits, no item refers to them: a
        reader sees nothing new, and a run that stops before drops them (`collect`).

        A feed the destination holds nothing of yet (a first build) has only new items:
        its staged items go in as they are, without looking each one up in `items`.

        Many staged items go in as a few transactions, one per range of hashes
        (`_hash_ranges`), each still in hash order: a transaction's pages all stay in the
        write-ahead log until it commits, and SQLite's index of that log (the `-shm`
        file, mapped into this process) grows by 32 KiB per 16 MiB of log, so one
        transaction for a first build of 1,000,000 products (~8 GB) mapped ~13 MB. After
        each commit the automatic checkpoint folds the log back, and the next
        transaction starts it again from the beginning. Nothing refers to a content
        until `apply_file`, so a run stopped between two ranges leaves only unreferenced
        contents, as one stopped before `apply_file` always did."""
        if not feeds:
            return
        db = self._db
        fresh = [f for f in feeds if not self._holds(f, destination)]
        known = [f for f in feeds if f not in fresh]
        for low, high in _hash_ranges(db):
            where, bounds = "", []
            if low is not None:
                where, bounds = " AND s.hash >= ?", [low]
            if high is not None:
                where, bounds = where + " AND s.hash < ?", [*bounds, high]
            parts, params = [], []
            if fresh:
                parts.append("SELECT s.hash, s.item FROM staged s WHERE s.feed IN "
                             f"({', '.join('?' * len(fresh))}) AND s.item IS NOT NULL"
                             + where)
                params += [*fresh, *bounds]
            if known:
                parts.append(
                    "SELECT s.hash, s.item FROM staged s LEFT JOIN items i ON "
                    "i.feed = s.feed AND i.destination = ? AND i.item_id = s.item_id WHERE "
                    f"s.feed IN ({', '.join('?' * len(known))}) AND s.item IS NOT NULL AND "
                    "(i.item_id IS NULL OR i.hash != s.hash)" + where)
                params += [destination, *known, *bounds]
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("INSERT OR IGNORE INTO contents SELECT hash, item FROM ("
                           + " UNION ALL ".join(parts) + ") ORDER BY hash", params)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def apply_file(self, feed: str, destination: str, diff: Diff, *, kind: str,
                   result: str = "published", message: str = "",
                   contents_stored: bool = False) -> RunRecord:
        """A whole file replaced the old one at `destination`: the ledger now holds
        exactly the staged items, in one transaction. `contents_stored`: `store_contents`
        already stored this feed's new contents (nothing changed since)."""
        db = self._db
        now = self.now()
        db.execute("BEGIN IMMEDIATE")
        try:
            if not self._holds(feed, destination):
                # Nothing held there yet (a first build): every staged item is new, so
                # there is nothing to delete and nothing to compare each item with.
                deleted = 0
                if not contents_stored:
                    db.execute(
                        "INSERT OR IGNORE INTO contents SELECT s.hash, s.item FROM staged s "
                        "WHERE s.feed = ? AND s.item IS NOT NULL ORDER BY s.hash", (feed,))
                db.execute(
                    "INSERT OR REPLACE INTO items SELECT s.feed, ?, s.item_id, s.hash, ?, "
                    "?, NULL, 0 FROM staged s WHERE s.feed = ?", (destination, now, now, feed))
                sent = db.execute("SELECT changes()").fetchone()[0]
                record = self._record_run(feed, destination, kind, now, diff, sent, deleted,
                                          result, message)
                db.execute("COMMIT")
                return record
            db.execute(
                "DELETE FROM items WHERE feed = ? AND destination = ? AND NOT EXISTS (SELECT 1 "
                "FROM staged s WHERE s.feed = items.feed AND s.item_id = items.item_id)",
                (feed, destination))
            deleted = db.execute("SELECT changes()").fetchone()[0]
            # Unchanged items keep their times; new and changed ones get now. Contents go
            # in in hash order: inserted in item order, each random hash touched another
            # page of a B-tree far bigger than SQLite's cache (1,000,000 rows: 24.7 s, most
            # of it system time, against 5.5 s sorted, and a 16% smaller file). A staged
            # item without its text (NULL) is one whose content the ledger holds (Stager).
            if not contents_stored:
                db.execute(
                    "INSERT OR IGNORE INTO contents SELECT s.hash, s.item FROM staged s LEFT "
                    "JOIN items i ON i.feed = s.feed AND i.destination = ? AND "
                    "i.item_id = s.item_id WHERE s.feed = ? AND s.item IS NOT NULL AND "
                    "(i.item_id IS NULL OR i.hash != s.hash) ORDER BY s.hash",
                    (destination, feed))
            db.execute(
                "INSERT OR REPLACE INTO items SELECT s.feed, ?, s.item_id, s.hash, ?, "
                "?, NULL, 0 FROM staged s LEFT JOIN items i ON i.feed = s.feed AND "
                "i.destination = ? AND i.item_id = s.item_id WHERE s.feed = ? AND "
                "(i.item_id IS NULL OR i.hash != s.hash OR i.state != 0)",
                (destination, now, now, destination, feed))
            sent = db.execute("SELECT changes()").fetchone()[0]
            record = self._record_run(feed, destination, kind, now, diff, sent, deleted,
                                      result, message)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return record

    def _holds(self, feed: str, destination: str) -> bool:
        return _holds(self._db, feed, destination)

    def record_failure(self, feed: str, destination: str, kind: str, diff: Diff,
                       result: str, message: str) -> RunRecord:
        """A run that sent nothing (a guard tripped, the destination failed): history only."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            record = self._record_run(feed, destination, kind, self.now(), diff, 0, 0,
                                      result, message)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return record

    def _record_run(self, feed: str, destination: str, kind: str, now: int, diff: Diff,
                    sent: int, deleted: int, result: str, message: str) -> RunRecord:
        duration, excluded, reasons = self.run_facts(feed)
        record = RunRecord(feed, destination, kind, now, diff.items, diff.added, diff.changed,
                           diff.removed, diff.refresh, sent, deleted, result, message,
                           duration, excluded,
                           json.loads(reasons) if reasons is not None else None)
        self._db.execute(
            "INSERT INTO runs (feed, destination, kind, at, items, added, changed, removed, "
            "refreshed, sent, deleted, result, message, duration_ms, excluded, "
            "excluded_by_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (feed, destination, kind, now, diff.items, diff.added, diff.changed, diff.removed,
             diff.refresh, sent, deleted, result, message, duration, excluded, reasons))
        return record

    # -- reading back ---------------------------------------------------------------------

    def history(self, feeds: Iterable[str] | None = None, limit: int = 10) -> list[RunRecord]:
        """The last `limit` runs of each feed and destination, newest first."""
        wanted = list(feeds or [])
        query = ("SELECT feed, destination, kind, at, items, added, changed, removed, "
                 "refreshed, sent, deleted, result, message, duration_ms, excluded, "
                 "excluded_by_reason FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY feed, "
                 "destination ORDER BY id DESC) AS n FROM runs) WHERE n <= ?")
        params: list[Any] = [limit]
        if wanted:
            query += f" AND feed IN ({', '.join('?' * len(wanted))})"
            params += wanted
        query += " ORDER BY at DESC, id DESC"
        return [RunRecord.from_row(row) for row in self._db.execute(query, params)]

    def last_run_id(self) -> int:
        """The newest run's id (0: none): a plan is only valid against the same ledger."""
        return int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM runs").fetchone()[0])

    def item(self, feed: str, destination: str, item_id: str) -> dict[str, Any] | None:
        """What the ledger holds for one item (times as ISO 8601), or None."""
        row = self._db.execute(
            "SELECT COALESCE(c.item, '{}'), sent_at, confirmed_at, expires_at, state FROM "
            "items i LEFT JOIN contents c ON c.hash = i.hash WHERE feed = ? AND "
            "destination = ? AND item_id = ?",
            (feed, destination, item_id)).fetchone()
        if row is None:
            return None
        return {"item": json.loads(row[0]), "sent_at": iso(row[1]),
                "confirmed_at": iso(row[2]), "expires_at": iso(row[3]),
                "state": ("live", "deleting", "sending")[row[4]]}

    def states(self, feed: str, destination: str) -> Iterator[tuple[str, str, int]]:
        """(id, state, confirmed_at) of every item the ledger holds at a destination,
        sorted by id (for a merge join with what the channel lists)."""
        for item_id, state, confirmed in self._db.execute(
                "SELECT item_id, state, confirmed_at FROM items WHERE feed = ? AND "
                "destination = ? ORDER BY item_id", (feed, destination)):
            yield item_id, ("live", "deleting", "sending")[state], int(confirmed)

    def state_of(self, feed: str, destination: str, item_id: str) -> tuple[str, int] | None:
        """(state, confirmed_at) of one item at a destination, or None."""
        row = self._db.execute(
            "SELECT state, confirmed_at FROM items WHERE feed = ? AND destination = ? AND "
            "item_id = ?", (feed, destination, item_id)).fetchone()
        return (("live", "deleting", "sending")[row[0]], int(row[1])) if row else None

    def destinations(self, feed: str) -> list[str]:
        """Destinations the ledger has items or runs for, for one feed."""
        rows = self._db.execute(
            "SELECT destination FROM runs WHERE feed = ? UNION SELECT DISTINCT destination "
            "FROM items WHERE feed = ? ORDER BY 1", (feed, feed))
        return [r[0] for r in rows]


# (Binding the JSON as bytes, `CAST(?4 AS TEXT)`, saves the decode per item but raised a
# build's peak RSS by 14 MB at 260,000 items; the text is bound as str.)
_STAGE = "INSERT OR REPLACE INTO staged VALUES (?1, ?2, ?3, ?4, {pos})"
# For a feed whose files the ledger knows: an item whose content is the one the files
# hold (an unchanged item, most items of a rebuild) is staged without its text, which
# nothing would read (the ledger holds that content: `changed` reads it from there).
_STAGE_KNOWN = (
    "INSERT OR REPLACE INTO staged SELECT ?1, ?2, ?3, CASE WHEN EXISTS (SELECT 1 FROM "
    f"items WHERE feed = ?1 AND destination = '{FILE_DESTINATION}' AND item_id = ?2 AND "
    "hash = ?3) THEN NULL ELSE ?4 END, {pos}")
# Python's sqlite3 binds str, int, float and bytearray directly, but runs its adapter
# protocol for anything else, bytes and None included: a failed lookup of `__adapt__` and
# `__conform__`, each raising and formatting an AttributeError (~3,000 instructions a
# value, ~6,000 a staged row). So the hash is bound as a bytearray (SQLite stores the same
# BLOB) and an item without a spool position has statements with NULL written in.
# Indexed by `2 * known + (pos is None)`.
_STAGES = tuple(statement.format(pos=pos) for statement in (_STAGE, _STAGE_KNOWN)
                for pos in ("?5", "NULL"))
_StagedRow = tuple[str, str, bytearray, str] | tuple[str, str, bytearray, str, int]


# Staged text per `store_contents` transaction, at most about this many bytes (see there):
# its log index then stays within ~2 MB, and a first build of 1,000,000 products every
# channel (~8 GB staged) reads the staged table 8 times instead of once (~2 s each).
CONTENTS_CHUNK_BYTES = 1 << 30


def _hash_ranges(db: sqlite3.Connection) -> list[tuple[bytes | None, bytes | None]]:
    """[low, high) ranges of content hashes (None: unbounded) that split what is staged
    into parts of about `CONTENTS_CHUNK_BYTES` (hashes are uniform digests); the
    temporary database's size (O(1) to read) stands for the staged text."""
    pages, page_size = (db.execute(f"PRAGMA temp.{name}").fetchone()[0]
                        for name in ("page_count", "page_size"))
    parts = max(1, min(1 << 16, -(-pages * page_size // CONTENTS_CHUNK_BYTES)))
    cuts = [(n * (1 << 16) // parts).to_bytes(2, "big") for n in range(1, parts)]
    return list(zip([None, *cuts], [*cuts, None], strict=True))


def _holds(db: sqlite3.Connection, feed: str, destination: str) -> bool:
    """Whether the ledger has any item row of `feed` at `destination`."""
    return db.execute("SELECT 1 FROM items WHERE feed = ? AND destination = ? LIMIT 1",
                      (feed, destination)).fetchone() is not None


class Stager:
    """Writes staged items in batches (one executemany per STAGE_BATCH items).

    An item's text is staged only where the ledger may need it: to store a new or changed
    content, or to show a changed item. Staged without it (NULL) is an item whose id and
    hash the file destination holds; its content is in `contents`, which keeps every
    content an item refers to until `collect` (at the end of a run, by the one writer)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        # rows waiting for each of `_STAGES`
        self._batches: tuple[list[_StagedRow], ...] = tuple([] for _ in _STAGES)
        self._known: dict[str, bool] = {}  # per feed: the ledger holds its files' items
        self._db.execute("BEGIN")

    def _look_up(self, feed: str) -> bool:
        known = self._known[feed] = _holds(self._db, feed, FILE_DESTINATION)
        self._end_read()
        return known

    def add(self, feed: str, item_id: str, item: dict[str, Any],
            pos: int | None = None) -> bytes:
        """Stage one rendered item of `feed` (`pos`: its place in the feed's item spool);
        returns its content hash."""
        # staged_form, inline: one call less for each item of every build
        data = item_json_bytes(item)
        return self.add_staged(feed, item_id, data,
                               hashlib.blake2b(data, digest_size=16).digest(), pos)

    def add_staged(self, feed: str, item_id: str, data: bytes, digest: bytes,
                   pos: int | None = None) -> bytes:
        """`add`, for an item whose `staged_form` (`data`, `digest`) is already known (a
        worker process computed it); returns the digest."""
        known = self._known.get(feed)
        if known is None:
            known = self._look_up(feed)
        if pos is None:
            rows = self._batches[2 * known + 1]
            rows.append((feed, item_id, bytearray(digest), data.decode("utf-8")))
        else:
            rows = self._batches[2 * known]
            rows.append((feed, item_id, bytearray(digest), data.decode("utf-8"), pos))
        if len(rows) >= STAGE_BATCH:
            self.flush()
        return digest

    def flush(self) -> None:
        """Write the rows waiting (a feed's rows all wait in one batch, in their order)."""
        read = False
        for index, rows in enumerate(self._batches):
            if rows:
                self._db.executemany(_STAGES[index], rows)
                rows.clear()
                read = read or index >= 2  # the known feeds' statements read the file
        if read:
            self._end_read()

    def _end_read(self) -> None:
        """End the read of the ledger file a look-up began (staging is one transaction
        of the temporary tables, but a `plan` in another process would otherwise hold
        one snapshot of the file to the end of its run, holding up a build's
        checkpoint meanwhile)."""
        self._db.execute("COMMIT")
        self._db.execute("BEGIN")

    def close(self) -> None:
        """Finish staging (temporary tables only: nothing reaches the ledger file)."""
        self.flush()
        self._db.execute("COMMIT")


class StagedPart:
    """Staging in another process (a feed-group worker, feedsync.parallel.FeedGroups):
    its own connection to the ledger file, which it only reads (which contents the files
    hold: see Stager), and its own file of staged rows, which the run's ledger then takes
    in (`Ledger.take_staged`). So the process that builds a feed stages its items, and
    they do not cross to the main process one by one."""

    def __init__(self, ledger_path: Path, path: Path) -> None:
        self._db = sqlite3.connect(ledger_path, timeout=10, isolation_level=None)
        try:
            self._db.execute("ATTACH DATABASE ? AS part", (str(path),))
            # A scratch file, deleted after the run: no journal, no syncing.
            self._db.execute("PRAGMA part.journal_mode=OFF")
            self._db.execute("PRAGMA part.synchronous=OFF")
            # `staged` as the Stager's statements name it: not in the ledger file (main),
            # so they find this one.
            self._db.execute(f"CREATE TABLE part.staged {_STAGED_COLUMNS}")
            self.stager = Stager(self._db)
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        """Write what waits and close the connection (the file stays, for the ledger)."""
        try:
            self.stager.close()
        finally:
            self._db.close()


def _check_ledger(path: Path, db: sqlite3.Connection) -> int:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"{path} was written by a newer feedsync (ledger version {version}; this one "
            f"reads up to {SCHEMA_VERSION}); upgrade feedsync. Nothing was changed.")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if version == 0 and tables:
        raise LedgerError(f"{path} is not a feedsync ledger (it has tables "
                          f"{', '.join(sorted(tables))}); move it away. Nothing was changed.")
    return version


def _migrate(path: Path, db: sqlite3.Connection, version: int) -> None:
    for target in range(version + 1, SCHEMA_VERSION + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _MIGRATIONS[target].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {target}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


@contextmanager
def ledger_errors(path: Path) -> Iterator[None]:
    """Turn SQLite's complaints about a damaged file, met in the middle of a run, into the
    ledger's one clear error."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise _corrupt(path, exc) from None


def _corrupt(path: Path, exc: Exception) -> LedgerError:
    return LedgerError(
        f"{path} is damaged ({exc}); move it away and run `feedsync push --full` (or "
        "`feedsync build`) to rebuild it from what the feeds hold now. Nothing was changed.")
