"""The ledger's faster SQL gives what the plainer statements it replaced gave.

`Ledger.diff` skips a sample query when its count is 0 and counts removed items and
pending deletes in one pass: compared here with the original statements (kept below as
the reference) on a ledger holding every state an item can be in. Contents go in in hash
order, and a build stores many feeds' contents in one pass (`store_contents`): the same
rows either way."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from feedsync.state.ledger import (
    FILE_DESTINATION,
    Changed,
    Diff,
    Ledger,
    content_hash,
    item_json,
)

FEED = "google.ES"
API = "merchant"


def _item(n: int, price: str = "10.00 EUR") -> dict[str, Any]:
    return {"id": f"SKU-{n:03d}", "title": f"Product {n}", "price": price,
            "description": "long text " * 10 + str(n), "image": [f"https://x/{n}.jpg"]}


def reference_diff(ledger: Ledger, feed: str, destination: str, *,
                   refresh_before: int | None = None, sample: int = 20) -> Diff:
    """`Ledger.diff` as it was written before (one statement per figure and sample)."""
    db = ledger.db
    previous, rows = db.execute(
        "SELECT COUNT(*) FILTER (WHERE state != 1 AND hash != X''), COUNT(*) FROM items "
        "WHERE feed = ? AND destination = ?", (feed, destination)).fetchone()
    items = db.execute("SELECT COUNT(*) FROM staged WHERE feed = ?", (feed,)).fetchone()[0]
    result = Diff(feed, destination, rows > 0, previous, items)
    horizon = ledger.now() + refresh_before if refresh_before is not None else None
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
    result.removed = db.execute(
        "SELECT COUNT(*) FROM items i WHERE i.feed = ? AND i.destination = ? AND NOT "
        "EXISTS (SELECT 1 FROM staged s WHERE s.feed = i.feed AND s.item_id = i.item_id)",
        (feed, destination)).fetchone()[0]
    result.pending_deletes = db.execute(
        "SELECT COUNT(*) FROM items i WHERE i.feed = ? AND i.destination = ? AND "
        "i.state = 1 AND NOT EXISTS (SELECT 1 FROM staged s WHERE s.feed = i.feed "
        "AND s.item_id = i.item_id)", (feed, destination)).fetchone()[0]
    if sample:
        result.sample_added = [r[0] for r in db.execute(
            "SELECT s.item_id FROM staged s WHERE s.feed = ? AND NOT EXISTS (SELECT 1 "
            "FROM items i WHERE i.feed = s.feed AND i.destination = ? AND "
            "i.item_id = s.item_id AND i.hash != X'') ORDER BY s.item_id LIMIT ?",
            (feed, destination, sample))]
        result.sample_changed = [Changed(r[0], json.loads(r[1]), json.loads(r[2]))
                                 for r in ledger.changed(feed, destination, limit=sample)]
        result.sample_removed = [r[0] for r in db.execute(
            "SELECT i.item_id FROM items i WHERE i.feed = ? AND i.destination = ? AND NOT "
            "EXISTS (SELECT 1 FROM staged s WHERE s.feed = i.feed AND "
            "s.item_id = i.item_id) ORDER BY i.item_id LIMIT ?", (feed, destination, sample))]
    return result


def _stage(ledger: Ledger, items: list[dict[str, Any]]) -> None:
    stager = ledger.stager()
    for pos, item in enumerate(items):
        stager.add(FEED, item["id"], item, pos)
    stager.close()


def _build(ledger: Ledger, items: list[dict[str, Any]]) -> None:
    """Stage `items` and record them as the feed's file, as a build does."""
    _stage(ledger, items)
    ledger.apply_file(FEED, FILE_DESTINATION, ledger.diff(FEED, FILE_DESTINATION),
                      kind="build")


def _contents(path: Path) -> set[tuple[bytes, str, str]]:
    with sqlite3.connect(path) as db:
        return set(db.execute("SELECT hash, item, typeof(item) FROM contents"))


def _every_state(tmp_path: Path) -> Ledger:
    """A ledger whose file and API destinations hold live, changed, removed, deleting,
    sending and seeded (content unknown) items, with the next run's items staged."""
    ledger = Ledger.open(tmp_path)
    ledger.clock = lambda: 1_000_000
    first = [_item(n) for n in range(30)]
    _stage(ledger, first)
    for destination in (FILE_DESTINATION, API):
        diff = ledger.diff(FEED, destination)
        ledger.confirm(FEED, destination, [i["id"] for i in first[:25]])
        ledger.apply_api(FEED, destination, diff, lifetime=30 * 86_400,
                         attempted_deletes=True, result="published")
    ledger.seed(FEED, "seeded", [f"SKU-{n:03d}" for n in range(5, 40)])
    # next run: 0-4 gone (0-1 deletes already failed once), 5-9 changed, 40-44 new
    _stage(ledger, first[2:])
    ledger.confirm(FEED, API, [], deleted=[])
    ledger.apply_api(FEED, API, ledger.diff(FEED, API), lifetime=30 * 86_400,
                     attempted_deletes=True, result="published")
    ledger.mark_sending(FEED, API, refresh_before=None)
    again = [_item(n, "12.00 EUR") if 5 <= n < 10 else _item(n) for n in range(5, 30)]
    _stage(ledger, again + [_item(n) for n in range(40, 45)])
    return ledger


@pytest.mark.parametrize("sample", [20, 2, 0])
@pytest.mark.parametrize("destination", [FILE_DESTINATION, API, "seeded", "never"])
def test_diff_matches_the_reference(tmp_path: Path, destination: str, sample: int) -> None:
    ledger = _every_state(tmp_path)
    for refresh in (None, 0, 40 * 86_400):
        new = ledger.diff(FEED, destination, refresh_before=refresh, sample=sample)
        assert new == reference_diff(ledger, FEED, destination, refresh_before=refresh,
                                     sample=sample)
    ledger.close()


def test_diff_of_an_unchanged_feed_has_empty_samples(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path)
    items = [_item(n) for n in range(10)]
    _build(ledger, items)
    _stage(ledger, items)
    diff = ledger.diff(FEED, FILE_DESTINATION)
    assert diff == reference_diff(ledger, FEED, FILE_DESTINATION)
    assert (diff.added, diff.changed, diff.removed, diff.unchanged) == (0, 0, 0, 10)
    assert diff.sample_added == diff.sample_changed == diff.sample_removed == []
    ledger.close()


def test_contents_inserted_in_hash_order_are_the_items_json(tmp_path: Path) -> None:
    """However they are ordered, contents hold each item's JSON text under its hash."""
    ledger = Ledger.open(tmp_path)
    items = [_item(n) for n in range(50)]
    _build(ledger, items)
    changed = [_item(n, "9.99 EUR") for n in range(50)]
    _stage(ledger, changed)
    diff = ledger.diff(FEED, API)
    ledger.confirm(FEED, API, [i["id"] for i in changed])
    ledger.apply_api(FEED, API, diff, lifetime=None, attempted_deletes=True,
                     result="published")
    ledger.close()
    expected = {(content_hash(item_json(i)), item_json(i), "text") for i in items + changed}
    assert _contents(tmp_path / "ledger.db") == expected


def _dump(path: Path) -> tuple[list, list]:
    with sqlite3.connect(path) as db:
        return (db.execute("SELECT feed, destination, item_id, hash, sent_at, expires_at, "
                           "state FROM items ORDER BY 1, 2, 3").fetchall(),
                db.execute("SELECT hash, item, typeof(item) FROM contents "
                           "ORDER BY hash").fetchall())


def test_contents_stored_for_many_feeds_at_once_as_apply_file_stores_them(
        tmp_path: Path) -> None:
    """`store_contents` for several feeds, then `apply_file(contents_stored=True)`, leaves
    the ledger `apply_file` alone leaves: first run, changed and removed items."""
    feeds = ["google.ES", "meta.ES", "held"]
    runs = [[_item(n) for n in range(40)],
            [_item(n, "11.00 EUR") if n % 3 else _item(n) for n in range(10, 45)]]
    dumps = []
    for together in (False, True):
        folder = tmp_path / str(together)
        ledger = Ledger.open(folder)
        ledger.clock = lambda: 1_000_000
        for items in runs:
            stager = ledger.stager()
            for feed in feeds:
                for pos, item in enumerate(items):
                    stager.add(feed, item["id"], {**item, "feed": feed}, pos)
            stager.close()
            applied = feeds[:2]  # "held": a guard held it back, its contents not stored
            if together:
                ledger.store_contents(applied, FILE_DESTINATION)
            for feed in applied:
                ledger.apply_file(feed, FILE_DESTINATION, ledger.diff(feed, FILE_DESTINATION),
                                  kind="build", contents_stored=together)
            ledger.collect()
        ledger.close()
        dumps.append(_dump(folder / "ledger.db"))
    assert dumps[1] == dumps[0]
    assert len(dumps[0][1]) == 2 * 35  # what the applied feeds hold now
