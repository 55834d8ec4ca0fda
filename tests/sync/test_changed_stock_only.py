"""A sync after a sync, with only the joined stock changed, re-reads only the products
whose stock rows changed (the stock snapshot), and still sends exactly their updates."""

from __future__ import annotations

import sqlite3
import time

import yaml

from feedsync.api import load_project
from feedsync.errors import ExitCode
from tests.ledger.helpers import set_prices
from tests.sync.test_store_sync import SKUS, _store_db, _sync_config, _with_google, merchant

__all__ = ["merchant"]  # the fixture, used by name


def _stock_config(tienda, merchant):
    config = _sync_config(tienda)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    del data["local_inventory"], data["stores"], data["channels"]["google_es"]["sync_output"]
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                      encoding="utf-8")
    return _with_google(config, merchant, local=False)


def test_only_the_changed_stock_rows_are_read_again(tienda, merchant):
    state = merchant[2]
    db = _store_db(tienda)
    config = _stock_config(tienda, merchant)
    assert load_project(config).push().exit_code == ExitCode.OK
    first = load_project(config).sync()  # no snapshot yet: the whole master
    assert first.exit_code == ExitCode.OK and first.build.rows == 40
    state.received.clear()

    with sqlite3.connect(db) as connection:
        connection.executemany("UPDATE stock SET cantidad = 0, disponibilidad = 'Agotado' "
                               "WHERE sku = ?", [(s,) for s in SKUS])
    second = load_project(config).sync()
    assert second.exit_code == ExitCode.OK
    assert second.build.rows == 3  # only the three products whose stock changed
    assert sorted(state.received) == sorted(("patch", s) for s in SKUS)
    assert second.outcomes[0].gone == 0  # unread products are not "gone"

    state.received.clear()
    assert load_project(config).sync().build.rows == 0  # nothing changed: nothing read
    assert state.received == []

    set_prices(config, {"CAM-BAS-BLA-S": "18,95"})  # the master changed: read it all
    third = load_project(config).sync()
    assert third.build.rows == 40 and state.received == [("patch", "CAM-BAS-BLA-S")]


def test_a_failed_sync_keeps_the_snapshot_so_the_rows_are_read_again(tienda, merchant):
    state = merchant[2]
    db = _store_db(tienda)
    config = _stock_config(tienda, merchant)
    assert load_project(config).push().exit_code == ExitCode.OK
    load_project(config).sync()
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE stock SET cantidad = 1 WHERE sku = ?", (SKUS[0],))
        connection.execute("UPDATE stock SET disponibilidad = 'Agotado' WHERE sku = ?",
                           (SKUS[1],))
    state.fail_batches = 99  # the Merchant API is down for this run
    failed = load_project(config).sync()
    assert failed.exit_code != ExitCode.OK
    state.fail_batches = 0
    state.received.clear()
    again = load_project(config).sync()
    assert again.exit_code == ExitCode.OK
    assert ("patch", SKUS[1]) in state.received  # not lost with the failed run


def test_history_counts_the_left_out_products_only_of_a_sync_that_read_them_all(tienda,
                                                                                 merchant):
    db = _store_db(tienda)
    config = _stock_config(tienda, merchant)
    assert load_project(config).push().exit_code == ExitCode.OK
    full = load_project(config).sync()  # no snapshot yet: the whole master
    assert full.build.rows == 40
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE stock SET cantidad = 0, disponibilidad = 'Agotado' "
                           "WHERE sku = ?", (SKUS[0],))
    partial = load_project(config).sync(started=time.monotonic() - 5)  # began 5 s ago
    assert partial.exit_code == ExitCode.OK and partial.build.rows == 1
    channel = full.build.channels["google_es"]
    assert channel.excluded == 1
    records = [r for r in load_project(config).history(["google_es"], limit=2)
               if r.kind == "sync"]
    assert [(r.excluded, r.excluded_by_reason) for r in records] == [
        (None, None),  # one product read: it cannot say what the feed left out
        (channel.excluded, channel.excluded_by_reason())]
    assert records[0].duration_ms >= 5000 and 0 < records[1].duration_ms < 5000
