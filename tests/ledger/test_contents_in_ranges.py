"""`store_contents` writes a large staging as several transactions, one per hash range.

Each transaction's pages stay in the write-ahead log (and its index, mapped into the
process) until it commits, so a first build of a large catalog stores its contents range
by range. Compared here with the one transaction it replaced: the same ledger, run after
run; the ranges cover every hash once, in order; and a run stopped between two ranges
changes no item."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from feedsync.state import ledger as ledger_module
from feedsync.state.ledger import FILE_DESTINATION, Ledger, _hash_ranges
from tests.ledger.test_staged_text import FEEDS, _dump, _item, _run_all


def _ranges_for(pages: int, chunk_bytes: int,
                monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes | None, bytes | None]]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TEMP TABLE t (x BLOB)")
    db.execute("INSERT INTO temp.t VALUES (zeroblob(?))", (pages * 4096,))
    monkeypatch.setattr(ledger_module, "CONTENTS_CHUNK_BYTES", chunk_bytes)
    return _hash_ranges(db)


@pytest.mark.parametrize("chunk_bytes", [1, 4096, 100_000, 1 << 30])
def test_the_ranges_cover_every_hash_once_in_order(
        chunk_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    ranges = _ranges_for(50, chunk_bytes, monkeypatch)
    assert ranges[0][0] is None and ranges[-1][1] is None
    assert all(high == low for (_, high), (low, _) in itertools.pairwise(ranges))
    cuts = [low for low, _ in ranges[1:]]
    assert cuts == sorted(set(cuts))  # strictly increasing: no range empty by design
    if chunk_bytes >= 1 << 30:
        assert ranges == [(None, None)]  # a small staging: one transaction, as before
    else:
        assert len(ranges) > 1


def test_no_more_ranges_than_two_byte_prefixes(monkeypatch: pytest.MonkeyPatch) -> None:
    ranges = _ranges_for(20, 1, monkeypatch)  # 81,920 bytes, 1 byte a range: capped
    assert len(ranges) == 1 << 16
    assert len({low for low, _ in ranges}) == 1 << 16


def test_ledger_written_range_by_range_is_the_one_written_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every build and push of `_run_all` (first run, changes, removals, an API that
    lags), with contents stored in one range and in many: the same diffs, records,
    items, contents and history."""
    commits = {"once": 0, "ranges": 0}
    real_open = Ledger.open

    def open_counting(state_dir: Path, **options: Any) -> Ledger:
        opened = real_open(state_dir, **options)

        def count(sql: str) -> None:
            commits[state_dir.name] += sql == "COMMIT"

        opened.db.set_trace_callback(count)
        return opened

    monkeypatch.setattr(Ledger, "open", staticmethod(open_counting))
    at_once = _run_all(tmp_path / "once")
    with monkeypatch.context() as patch:
        patch.setattr(ledger_module, "CONTENTS_CHUNK_BYTES", 4096)
        in_ranges = _run_all(tmp_path / "ranges")
    assert in_ranges == at_once
    assert commits["ranges"] > commits["once"] + 10  # many more transactions ran


def _deny_after_first_insert() -> Any:
    """An authorizer that lets one statement insert into `contents`, then refuses."""
    inserts = [0]

    def authorize(action: int, table: str | None, *_: object) -> int:
        if action == sqlite3.SQLITE_INSERT and table == "contents":
            inserts[0] += 1
            if inserts[0] > 1:
                return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    return authorize


def test_a_run_stopped_between_two_ranges_changes_no_item(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second range fails: the first one's contents are in, no item refers to them,
    and the next run leaves the ledger an uninterrupted run leaves."""
    monkeypatch.setattr(ledger_module, "CONTENTS_CHUNK_BYTES", 4096)
    items = [_item(n, FEEDS[0]) for n in range(200)]
    dumps = []
    for interrupted in (False, True):
        folder = tmp_path / str(interrupted)
        ledger = Ledger.open(folder)
        ledger.clock = lambda: 1_000_000
        ledger.monotonic = ledger.started.__float__
        stager = ledger.stager()
        for item in items:
            stager.add(FEEDS[0], item["id"], item)
        stager.close()
        assert len(_hash_ranges(ledger.db)) > 2
        if interrupted:
            ledger.db.set_authorizer(_deny_after_first_insert())
            with pytest.raises(sqlite3.DatabaseError):
                ledger.store_contents(FEEDS[:1], FILE_DESTINATION)
            ledger.db.set_authorizer(None)
            items_now, contents, runs = _dump(folder / "ledger.db")
            assert items_now == [] and runs == [] and 0 < len(contents) < len(items)
        diff = ledger.diff(FEEDS[0], FILE_DESTINATION)
        ledger.store_contents(FEEDS[:1], FILE_DESTINATION)
        ledger.apply_file(FEEDS[0], FILE_DESTINATION, diff, kind="build",
                          contents_stored=True)
        ledger.collect()
        ledger.close()
        dumps.append(_dump(folder / "ledger.db"))
    assert dumps[1] == dumps[0]
    assert len(dumps[0][1]) == len(items)
