"""A run stages an item's JSON text only where the ledger may need it.

An item whose id and hash the feed's file destination already holds (an unchanged item)
is staged without its text: its content is in `contents`. A feed the destination holds
nothing of is stored and applied without comparing each item with `items`. Compared here
with the staging it replaced (every item's text, every feed through the anti-joins): the
same diffs (with their old and new values), changes, ledger rows and history, at the
file destination and at an API destination that lags behind it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from feedsync.state import ledger as ledger_module
from feedsync.state.ledger import FILE_DESTINATION, Ledger, content_hash, item_json

FEEDS = ["google.ES", "meta.ES"]
API = "merchant"


def _item(n: int, feed: str, price: str = "10.00 EUR") -> dict[str, Any]:
    return {"id": f"SKU-{n:03d}", "title": f"Product {n}", "price": price, "feed": feed,
            "description": "long text " * 10 + str(n), "image": [f"https://x/{n}.jpg"]}


# Each run: (item number, price) per item; the API confirms the first `confirm` of them.
RUNS: list[tuple[list[tuple[int, str]], int]] = [
    ([(n, "10.00 EUR") for n in range(40)], 30),                        # first run
    ([(n, "11.00 EUR" if n % 3 == 0 else "10.00 EUR") for n in range(10, 45)], 12),
    ([(n, "10.00 EUR") for n in range(10, 45)], 0),  # back to contents the API holds
    ([(n, "10.00 EUR") for n in range(10, 45)], 35),                    # unchanged
    ([(n, "10.00 EUR") for n in range(10, 45)], 0),                     # unchanged again
]


def _dump(path: Path) -> tuple[list[Any], list[Any], list[Any]]:
    with sqlite3.connect(path) as db:
        return (db.execute("SELECT feed, destination, item_id, hash, sent_at, confirmed_at, "
                           "expires_at, state FROM items ORDER BY 1, 2, 3").fetchall(),
                db.execute("SELECT hash, item, typeof(item) FROM contents "
                           "ORDER BY hash").fetchall(),
                db.execute("SELECT feed, destination, kind, at, items, added, changed, "
                           "removed, refreshed, sent, deleted, result FROM runs "
                           "ORDER BY id").fetchall())


def _run_all(folder: Path) -> list[Any]:
    """Every run of RUNS, as a build then a push does it; what each step showed."""
    seen: list[Any] = []
    ledger = Ledger.open(folder)
    clock = [1_000_000]
    ledger.clock = lambda: clock[0]
    ledger.monotonic = ledger.started.__float__  # history rows' durations: 0
    for items, confirm in RUNS:
        clock[0] += 86_400
        stager = ledger.stager()
        for feed in FEEDS:
            for pos, (n, price) in enumerate(items):
                stager.add(feed, f"SKU-{n:03d}", _item(n, feed, price), pos)
        stager.close()
        diffs = {}
        for feed in FEEDS:
            for destination in (FILE_DESTINATION, API):
                diff = ledger.diff(feed, destination, refresh_before=3 * 86_400)
                diffs[feed, destination] = diff
                seen.append(diff)
                seen.append(list(ledger.changed(feed, destination)))
        ledger.store_contents(FEEDS, FILE_DESTINATION)
        for feed in FEEDS:
            seen.append(ledger.apply_file(feed, FILE_DESTINATION,
                                          diffs[feed, FILE_DESTINATION], kind="build",
                                          contents_stored=True))
        for feed in FEEDS:
            ledger.mark_sending(feed, API, refresh_before=3 * 86_400)
            ledger.confirm(feed, API, [f"SKU-{n:03d}" for n, _ in items[:confirm]])
            seen.append(ledger.apply_api(feed, API, diffs[feed, API], lifetime=30 * 86_400,
                                         attempted_deletes=True, result="published"))
            seen.append([ledger.item(feed, API, f"SKU-{n:03d}") for n in range(50)])
        ledger.collect()
    ledger.close()
    seen.append(_dump(folder / "ledger.db"))
    return seen


def _as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """The staging this replaced: every item's text, every feed through the anti-joins."""
    unknown = ledger_module._STAGES[:2]  # with a position, without one
    monkeypatch.setattr(ledger_module, "_STAGES", unknown + unknown)
    monkeypatch.setattr(Ledger, "_holds", lambda self, feed, destination: True)


def test_builds_and_pushes_give_what_staging_every_text_gave(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = _run_all(tmp_path / "now")
    with monkeypatch.context() as patch:
        _as_before(patch)
        before = _run_all(tmp_path / "before")
    assert now == before
    _, contents, runs = now[-1]
    assert len(runs) == len(RUNS) * len(FEEDS) * 2 and contents
    assert all(kind == "text" for *_, kind in contents)
    assert all(content_hash(text) == digest for digest, text, _ in contents)


def test_staged_rows_hold_the_hash_as_a_blob_and_the_position_or_null(
        tmp_path: Path) -> None:
    """The hash is bound as a bytearray and a missing position as NULL written in the
    statement (see `_STAGES`): the rows are what binding bytes and None stored."""
    ledger = Ledger.open(tmp_path)
    for run in range(2):  # a first run, then one whose feeds the ledger knows
        stager = ledger.stager()
        for n in range(12):
            stager.add(FEEDS[0], f"SKU-{n:03d}", _item(n, FEEDS[0]), n if n % 2 else None)
            stager.add(FEEDS[1], f"SKU-{n:03d}", _item(n, FEEDS[1]), n)
        stager.close()
        rows = ledger.db.execute("SELECT feed, item_id, hash, typeof(hash), pos, "
                                 "typeof(pos) FROM staged ORDER BY feed, item_id").fetchall()
        expected = sorted(
            (feed, f"SKU-{n:03d}", content_hash(item_json(_item(n, feed))), "blob",
             pos, "null" if pos is None else "integer")
            for n in range(12) for feed, pos in ((FEEDS[0], n if n % 2 else None),
                                                 (FEEDS[1], n)))
        assert rows == expected
        assert all(type(row[2]) is bytes for row in rows)
        if run == 0:
            ledger.store_contents(FEEDS, FILE_DESTINATION)
            for feed in FEEDS:
                ledger.apply_file(feed, FILE_DESTINATION,
                                  ledger.diff(feed, FILE_DESTINATION), kind="build",
                                  contents_stored=True)
    assert not _staged_with_text(ledger)  # unchanged: staged without text
    ledger.close()


def _staged_with_text(ledger: Ledger) -> set[tuple[str, str]]:
    return {tuple(r) for r in ledger.db.execute(
        "SELECT feed, item_id FROM staged WHERE item IS NOT NULL")}


def test_a_rebuild_stages_the_text_of_new_and_changed_items_only(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path)
    stager = ledger.stager()
    for n in range(20):
        stager.add(FEEDS[0], f"SKU-{n:03d}", _item(n, FEEDS[0]))
    stager.close()
    assert len(_staged_with_text(ledger)) == 20  # a first run: all of them
    ledger.store_contents(FEEDS[:1], FILE_DESTINATION)
    ledger.apply_file(FEEDS[0], FILE_DESTINATION, ledger.diff(FEEDS[0], FILE_DESTINATION),
                      kind="build", contents_stored=True)
    stager = ledger.stager()
    for n in range(1, 21):  # 0 removed, 5 changed, 20 new; meta.ES new as a whole
        for feed in FEEDS:
            stager.add(feed, f"SKU-{n:03d}", _item(n, feed, "9.00 EUR" if n == 5 else
                                                     "10.00 EUR"))
    stager.close()
    assert _staged_with_text(ledger) == {(FEEDS[0], "SKU-005"), (FEEDS[0], "SKU-020"),
                                         *((FEEDS[1], f"SKU-{n:03d}") for n in range(1, 21))}
    diff = ledger.diff(FEEDS[0], FILE_DESTINATION)
    assert (diff.added, diff.changed, diff.removed, diff.unchanged) == (1, 1, 1, 18)
    assert [(c.item_id, c.old["price"], c.new["price"]) for c in diff.sample_changed] == [
        ("SKU-005", "10.00 EUR", "9.00 EUR")]
    # An API that holds none of them yet: every item is new there, its content known.
    assert ledger.diff(FEEDS[0], API).added == 20
    ledger.close()


def test_a_run_killed_after_storing_contents_changes_no_item(tmp_path: Path) -> None:
    """Stopped between `store_contents` and `apply_file`: the ledger claims what it did
    before, item for item; the next run applies as if the killed one had not run."""
    ledger = Ledger.open(tmp_path)
    ledger.clock = lambda: 1_000_000
    first = [_item(n, FEEDS[0]) for n in range(10)]
    stager = ledger.stager()
    for item in first:
        stager.add(FEEDS[0], item["id"], item)
    stager.close()
    ledger.apply_file(FEEDS[0], FILE_DESTINATION, ledger.diff(FEEDS[0], FILE_DESTINATION),
                      kind="build")
    ledger.close()
    before = _dump(tmp_path / "ledger.db")[0]
    changed = [_item(n, FEEDS[0], "12.00 EUR") for n in range(5)] + first[5:]
    for killed in (True, False):
        ledger = Ledger.open(tmp_path)
        ledger.clock = lambda: 2_000_000
        stager = ledger.stager()
        for item in changed:
            stager.add(FEEDS[0], item["id"], item)
        stager.close()
        diff = ledger.diff(FEEDS[0], FILE_DESTINATION)
        assert (diff.changed, diff.unchanged) == (5, 5)
        ledger.store_contents(FEEDS, FILE_DESTINATION)
        if killed:
            ledger.close()  # as if killed here: nothing refers to the new contents
            assert _dump(tmp_path / "ledger.db")[0] == before
            continue
        ledger.apply_file(FEEDS[0], FILE_DESTINATION, diff, kind="build",
                          contents_stored=True)
        ledger.collect()
        ledger.close()
    items, contents, _ = _dump(tmp_path / "ledger.db")
    assert {(h, t) for h, t, _ in contents} == {
        (content_hash(item_json(i)), item_json(i)) for i in changed}
    assert [row[4] for row in items] == [2_000_000] * 5 + [1_000_000] * 5
