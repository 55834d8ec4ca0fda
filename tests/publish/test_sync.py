"""`feedsync sync` against the fake Merchant and Graph APIs: partial updates only.

The fakes (tests/publish/servers.py) speak the documented shapes: a Merchant API
`productInputs.patch` needs an `updateMask` of top-level attributes and a product that
exists; a Graph `UPDATE` with `allow_upsert=false` changes only the fields given, of an
item that exists. They record every request, so these tests assert exactly what a sync
sent: after 3 stock changes, 3 partial updates per destination and nothing else.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from feedsync.errors import ExitCode
from tests.ledger.helpers import _rows, _write, remove_products, set_prices
from tests.publish.conftest import configure, invoke
from tests.publish.test_channel_apis import _google, _meta

SOLD_OUT = ["CAM-BAS-BLA-S", "CAM-BAS-BLA-M", "CAM-BAS-BLA-L"]




def set_stock(config: Path, stock: dict[str, str]) -> None:
    """Set the Stock column (Disponible / Agotado) of some products, as the shop would."""
    header, rows = _rows(config)
    column = header.split(";").index("Stock")
    for row in rows:
        if row[0] in stock:
            row[column] = stock[row[0]]
    _write(config, header, rows)


def _run(cli, command, config, *args):
    result = invoke(cli, command, "-c", str(config), "--format", "json", *args)
    return result, json.loads(result.stdout) if result.stdout.startswith("{") else None


def _google_config(tienda, merchant):
    base, account_file, _ = merchant
    return configure(tienda, {"google": _google(base, account_file)})


def test_three_stock_changes_send_three_patches_and_nothing_else(merchant, tienda, cli):
    state = merchant[2]
    config = _google_config(tienda, merchant)
    result, _ = _run(cli, "push", config)
    assert result.exit_code == ExitCode.OK, result.output
    state.received.clear()

    result, data = _run(cli, "sync", config)  # nothing changed: nothing sent
    assert result.exit_code == ExitCode.OK, result.output
    assert state.received == [] and data["publish"][0]["sent"] == 0

    set_stock(config, dict.fromkeys(SOLD_OUT, "Agotado"))
    result, data = _run(cli, "sync", config)
    assert result.exit_code == ExitCode.OK, result.output
    assert sorted(state.received) == sorted(("patch", sku) for sku in SOLD_OUT)
    assert state.errors == []
    for offer, mask, body in state.patches:
        assert mask == ["price", "availability"]
        assert set(body["productAttributes"]) == {"price", "availability"}
        assert body["productAttributes"]["availability"] == "OUT_OF_STOCK"
        product = state.products[f"es~ES~{offer}"]
        assert product["productAttributes"]["availability"] == "OUT_OF_STOCK"
        assert product["productAttributes"]["title"]  # the rest of the product stays
    assert data["publish"][0]["sent"] == 3

    # The ledger now knows: neither a second sync nor a push sends them again.
    state.received.clear()
    result, _ = _run(cli, "sync", config)
    assert result.exit_code == ExitCode.OK and state.received == []
    result, data = _run(cli, "push", config)
    assert result.exit_code == ExitCode.OK, result.output
    assert state.received == []


def test_meta_gets_updates_of_only_the_synced_fields(graph, tienda, cli):
    base, state = graph
    config = configure(tienda, {"meta": _meta(base)})
    result, _ = _run(cli, "push", config)
    assert result.exit_code == ExitCode.OK, result.output
    state.received.clear()
    set_stock(config, dict.fromkeys(SOLD_OUT, "Agotado"))
    result, _data = _run(cli, "sync", config)
    assert result.exit_code == ExitCode.OK, result.output
    assert sorted(state.received) == sorted(("UPDATE", sku) for sku in SOLD_OUT)
    for update in state.partial_updates:
        assert set(update) == {"id", "price", "availability"}
        assert update["availability"] == "out of stock"
    assert state.errors == []


def test_new_and_gone_products_are_left_to_push(merchant, tienda, cli):
    state = merchant[2]
    config = _google_config(tienda, merchant)
    assert _run(cli, "push", config)[0].exit_code == ExitCode.OK
    state.received.clear()
    remove_products(config, {"CAM-BAS-BLA-S"})
    result, data = _run(cli, "sync", config)
    assert result.exit_code == ExitCode.OK, result.output
    assert state.received == []  # no delete, no insert
    outcome = data["publish"][0]
    assert outcome["gone"] == 1 and outcome["sample_gone"] == ["CAM-BAS-BLA-S"]
    assert "left to `feedsync push`" in result.stderr


def test_a_price_past_the_guard_is_held_back_the_rest_goes(merchant, tienda, cli):
    state = merchant[2]
    config = _google_config(tienda, merchant)
    assert _run(cli, "push", config)[0].exit_code == ExitCode.OK
    state.received.clear()
    set_prices(config, {"CAM-BAS-BLA-S": "1995", "CAM-BAS-BLA-M": "18,95"})  # decimal comma lost
    result, data = _run(cli, "sync", config)
    assert result.exit_code == ExitCode.PARTIAL, result.output
    assert state.received == [("patch", "CAM-BAS-BLA-M")]
    assert data["publish"][0]["held"] == ["CAM-BAS-BLA-S"]
    state.received.clear()
    result, _ = _run(cli, "sync", config, "--force")
    assert result.exit_code == ExitCode.OK and state.received == [("patch", "CAM-BAS-BLA-S")]


def test_mass_out_of_stock_is_refused_unless_forced(merchant, tienda, cli):
    state = merchant[2]
    config = _google_config(tienda, merchant)
    assert _run(cli, "push", config)[0].exit_code == ExitCode.OK
    state.received.clear()
    _header, rows = _rows(config)
    set_stock(config, {row[0]: "Agotado" for row in rows})  # a broken stock export
    result, data = _run(cli, "sync", config)
    assert result.exit_code == ExitCode.GUARD_TRIPPED, result.output
    assert state.received == [] and "out of stock" in data["publish"][0]["message"]
    result, _ = _run(cli, "sync", config, "--force")
    assert result.exit_code == ExitCode.OK and state.received


def test_sync_takes_the_run_lock(merchant, tienda, cli):
    from feedsync.state.lock import RunLock

    config = _google_config(tienda, merchant)
    assert _run(cli, "push", config)[0].exit_code == ExitCode.OK
    with RunLock(tienda.parent / ".feedsync"):
        result = invoke(cli, "sync", "-c", str(config))
    assert result.exit_code == ExitCode.LOCK_HELD


def test_sync_is_recorded_in_history(merchant, tienda, cli):
    config = _google_config(tienda, merchant)
    assert _run(cli, "push", config)[0].exit_code == ExitCode.OK
    set_stock(config, {"CAM-BAS-BLA-S": "Agotado"})
    assert _run(cli, "sync", config)[0].exit_code == ExitCode.OK
    with sqlite3.connect(tienda.parent / ".feedsync" / "ledger.db") as db:
        kind, sent = db.execute("SELECT kind, sent FROM runs ORDER BY id DESC").fetchone()
    assert (kind, sent) == ("sync", 1)
