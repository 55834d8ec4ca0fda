"""The ledger's schema v2: each history row also keeps the run's duration and what it left
out of the feed (how many products, and per issue code); a v1 ledger is migrated to it in
place, and one newer than this feedsync is still refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from feedsync.state.ledger import FILE_DESTINATION, SCHEMA_VERSION, Ledger, LedgerError

# The v1 schema exactly as version-1 ledgers have it on disk (a frozen copy, so a change
# to the code's own v1 migration cannot make this test pass by accident).
V1_SCHEMA = """
CREATE TABLE items (
    feed TEXT NOT NULL, destination TEXT NOT NULL, item_id TEXT NOT NULL,
    hash BLOB NOT NULL, sent_at INTEGER NOT NULL, confirmed_at INTEGER NOT NULL,
    expires_at INTEGER, state INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (feed, destination, item_id)) WITHOUT ROWID;
CREATE TABLE contents (hash BLOB PRIMARY KEY, item TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE runs (
    id INTEGER PRIMARY KEY, feed TEXT NOT NULL, destination TEXT NOT NULL,
    kind TEXT NOT NULL, at INTEGER NOT NULL, items INTEGER NOT NULL,
    added INTEGER NOT NULL, changed INTEGER NOT NULL, removed INTEGER NOT NULL,
    refreshed INTEGER NOT NULL, sent INTEGER NOT NULL, deleted INTEGER NOT NULL,
    result TEXT NOT NULL, message TEXT NOT NULL DEFAULT '');
CREATE INDEX runs_by_feed ON runs (feed, destination, id);
"""
OLD_RUN = ("google_es", "file", "build", 1_764_000_000, 36, 36, 0, 0, 0, 36, 0, "published",
           "")


def _v1_ledger(state: Path) -> Path:
    state.mkdir(parents=True, exist_ok=True)
    path = state / "ledger.db"
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
        db.execute("INSERT INTO runs (feed, destination, kind, at, items, added, changed, "
                   "removed, refreshed, sent, deleted, result, message) VALUES "
                   "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", OLD_RUN)
        db.execute("INSERT INTO items VALUES ('google_es', 'file', 'CAM-BAS-BLA-S', X'01', "
                   "1, 1, NULL, 0)")
        db.execute("PRAGMA user_version = 1")
    return path


def _columns(path: Path) -> dict[str, tuple[str, int, str | None]]:
    with sqlite3.connect(path) as db:
        return {r[1]: (r[2], r[3], r[4]) for r in db.execute("PRAGMA table_info(runs)")}


def test_a_v1_ledger_is_migrated_in_place_and_its_runs_read_back(tmp_path):
    path = _v1_ledger(tmp_path / ".feedsync")
    assert SCHEMA_VERSION == 2
    with Ledger.open(tmp_path / ".feedsync") as ledger:
        [old] = ledger.history()
        assert ledger.count("google_es", "file") == 1  # the items are still there
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    columns = _columns(path)
    assert columns["duration_ms"] == ("INTEGER", 1, "0")
    assert columns["excluded"] == ("INTEGER", 0, "0")
    assert columns["excluded_by_reason"] == ("TEXT", 0, "'{}'")
    assert (old.feed, old.kind, old.items, old.added, old.result) == (
        "google_es", "build", 36, 36, "published")
    assert (old.duration_ms, old.excluded, old.excluded_by_reason) == (0, 0, {})
    assert old.to_dict()["duration_s"] == 0 and "duration_ms" not in old.to_dict()


def test_a_ledger_newer_than_this_feedsync_is_still_refused_untouched(tmp_path):
    path = _v1_ledger(tmp_path / ".feedsync")
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(LedgerError, match=r"newer feedsync \(ledger version 3; this one "
                                          r"reads up to 2\)"):
        Ledger.open(tmp_path / ".feedsync")
    assert path.read_bytes() == before


def test_a_runs_reasons_are_kept_most_first_then_by_code(tmp_path):
    with Ledger.open(tmp_path) as ledger:
        ledger.stager().close()
        ledger.note_left_out("feed", 9, {"b-code": 2, "c-code": 5, "a-code": 2})
        ledger.apply_file("feed", FILE_DESTINATION, ledger.diff("feed", FILE_DESTINATION),
                          kind="build")
        ledger.apply_file("other", FILE_DESTINATION, ledger.diff("other", FILE_DESTINATION),
                          kind="build")
        records = {r.feed: r for r in ledger.history()}
    assert records["feed"].excluded == 9
    assert list(records["feed"].excluded_by_reason or {}) == ["c-code", "a-code", "b-code"]
    # A feed the run did not count: neither 0 nor {}, but unknown.
    assert (records["other"].excluded, records["other"].excluded_by_reason) == (None, None)


def test_a_runs_duration_is_counted_from_its_start(tmp_path):
    with Ledger.open(tmp_path) as ledger:
        clock = iter([100.0, 101.25])
        ledger.monotonic = lambda: next(clock)
        ledger.started = ledger.monotonic()
        ledger.stager().close()
        record = ledger.apply_file("x", FILE_DESTINATION, ledger.diff("x", FILE_DESTINATION),
                                   kind="build")
        [again] = ledger.history()
    assert record.duration_ms == again.duration_ms == 1250
    assert again.duration_s == 1.25
