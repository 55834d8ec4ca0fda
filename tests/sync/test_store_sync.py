"""Stock from the shop's store database, in step every few minutes: the example's
SQLite store database, the same tables in a real PostgreSQL, local inventories through
the fake Inventories API, and exactly what `sync` sent after a few stock changes."""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from feedsync.api import load_project
from feedsync.errors import ExitCode
from tests.publish import servers
from tests.publish.conftest import FAST_RETRY
from tests.publish.test_channel_apis import DISCOVERY, _google
from tests.sources.postgres import PostgresServer, postgres_bin, running_postgres

SKUS = ["CAM-BAS-BLA-S", "CAM-BAS-BLA-M", "CAM-BAS-BLA-L"]


def _store_db(tienda: Path) -> Path:
    sys.path.insert(0, str(tienda.parent))
    try:
        from build_catalog import write_store_db  # the example's own script
    finally:
        sys.path.pop(0)
    path = tienda.parent / "tienda.db"
    write_store_db(path, tienda.parent / "productos.csv")
    return path


def _sync_config(tienda: Path, **changes: Any) -> Path:
    config = tienda.parent / "feedsync.sync.yaml"
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    for key, value in changes.items():
        data[key] = value
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                      encoding="utf-8")
    return config


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_the_example_syncs_its_store_database(tienda):
    db = _store_db(tienda)
    config = _sync_config(tienda)
    project = load_project(config)
    assert project.build().channels["google_es"].items == 39
    report = project.sync()
    assert report.exit_code == ExitCode.OK
    feeds = tienda.parent / "feeds"
    assert _rows(feeds / "google_es.supplemental.tsv") == []  # nothing changed since build
    local = _rows(feeds / "inventario_local.tsv")
    assert {r["store_code"] for r in local} == {"MAD-01", "BCN-01"}
    assert report.local is not None and report.local.entries == len(local)

    with sqlite3.connect(db) as connection:  # three sales empty three products
        connection.executemany("UPDATE stock SET cantidad = 0, disponibilidad = 'Agotado' "
                               "WHERE sku = ?", [(s,) for s in SKUS])
        connection.executemany("DELETE FROM stock_tiendas WHERE sku = ?", [(s,) for s in SKUS])
    report = load_project(config).sync()
    assert report.exit_code == ExitCode.OK
    overrides = _rows(feeds / "google_es.supplemental.tsv")
    assert [(r["id"], r["availability"]) for r in overrides] == [
        (s, "out_of_stock") for s in sorted(SKUS)]
    assert not {r["id"] for r in _rows(feeds / "inventario_local.tsv")} & set(SKUS)
    assert report.local is not None and set(SKUS) <= set(report.local.sample_in_no_store)


def test_unknown_store_codes_are_reported_and_skipped(tienda):
    db = _store_db(tienda)
    with sqlite3.connect(db) as connection:
        connection.execute("INSERT INTO stock_tiendas VALUES ('VAL-09', 'ALT-MINI', 4, "
                           "'buy', 'same day')")
    project = load_project(_sync_config(tienda))
    project.build()
    report = project.sync()
    assert report.local is not None
    assert report.local.unknown_stores == 1 and report.local.sample_unknown_stores == ["VAL-09"]
    assert [i.code for i in report.local.issues if i.code == "unknown-store-code"]
    rows = _rows(tienda.parent / "feeds" / "inventario_local.tsv")
    assert "VAL-09" not in {r["store_code"] for r in rows}


@pytest.fixture
def merchant(tmp_path, monkeypatch):
    from google.oauth2 import service_account

    monkeypatch.setattr(service_account.Credentials,
                        "_is_regional_access_boundary_lookup_required", lambda self: False)
    with servers.start_merchant_api(tmp_path, DISCOVERY) as fake:
        yield fake


def _with_google(config: Path, merchant: Any, *, local: bool) -> Path:
    base, account_file, _ = merchant
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["publish"] = {"google": {"timeout": 5, "retry": dict(FAST_RETRY),
                                  **_google(base, account_file)}}
    data["channels"]["google_es"]["publish"] = ["google"]
    if local:
        data["local_inventory"]["publish"] = ["google"]
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                      encoding="utf-8")
    return config


def test_local_inventories_go_through_the_inventories_api_only_when_changed(tienda,
                                                                            merchant):
    state = merchant[2]
    db = _store_db(tienda)
    config = _with_google(_sync_config(tienda), merchant, local=True)
    project = load_project(config)
    assert project.push().exit_code == ExitCode.OK
    state.received.clear()
    report = project.sync()
    assert report.exit_code == ExitCode.OK, report.to_dict()
    assert report.local is not None
    sent = [key for method, key in state.received if method == "local"]
    assert len(sent) == report.local.entries and state.errors == []
    assert state.local_inventories[("MAD-01", "ALT-MINI")]["pickupSla"] == "SAME_DAY"

    state.received.clear()
    assert load_project(config).sync().exit_code == ExitCode.OK
    assert state.received == []  # nothing changed: nothing sent
    with sqlite3.connect(db) as connection:
        connection.executemany("UPDATE stock_tiendas SET cantidad = cantidad + 1 WHERE "
                               "tienda = 'MAD-01' AND sku = ?", [(s,) for s in SKUS])
    assert load_project(config).sync().exit_code == ExitCode.OK
    assert sorted(state.received) == sorted(("local", f"MAD-01~{s}") for s in SKUS)


# -- the store database in PostgreSQL ------------------------------------------------------

@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    with running_postgres() as server:
        yield server


def _postgres_store(postgres: PostgresServer, sqlite_db: Path) -> Any:
    """Copy the example's store database into PostgreSQL (a fresh database)."""
    from sqlalchemy import create_engine, text

    admin = create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS tienda WITH (FORCE)"))
        connection.execute(text("CREATE DATABASE tienda"))
    admin.dispose()
    engine = create_engine(postgres.url("tienda"))
    with sqlite3.connect(sqlite_db) as source, engine.begin() as connection:
        connection.execute(text("CREATE TABLE stock (sku TEXT PRIMARY KEY, cantidad INTEGER, "
                                "disponibilidad TEXT, precio TEXT)"))
        prices = {}
        with (sqlite_db.parent / "productos.csv").open(encoding="utf-8-sig") as fh:
            for row in csv.DictReader(fh, delimiter=";"):
                prices[row["SKU"]] = row["PVP"]  # as the till keeps it: 1.249,00
        for sku, quantity, availability in source.execute("SELECT * FROM stock"):
            connection.execute(text("INSERT INTO stock VALUES (:s, :q, :a, :p)"),
                               {"s": sku, "q": quantity, "a": availability,
                                "p": prices[sku] or None})
    return engine


def test_postgres_stock_changes_send_exactly_those_partial_updates(tienda, merchant,
                                                                   postgres, monkeypatch):
    from sqlalchemy import text

    state = merchant[2]
    engine = _postgres_store(postgres, _store_db(tienda))
    monkeypatch.setenv("STORE_DB_PASSWORD", postgres.password)
    config = _sync_config(tienda)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["source"]["join"] = [{
        "url": postgres.url("tienda", password="${STORE_DB_PASSWORD}"), "table": "stock",
        "key": "sku", "columns": {"cantidad": "Cantidad", "disponibilidad": "Stock"}}]
    del data["local_inventory"], data["stores"], data["channels"]["google_es"]["sync_output"]
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                      encoding="utf-8")
    config = _with_google(config, merchant, local=False)
    assert load_project(config).push().exit_code == ExitCode.OK
    assert load_project(config).sync().build.rows == 40  # reads all, leaves the snapshot
    state.received.clear()

    with engine.begin() as connection:  # three stock values change in the store database
        for sku in SKUS:
            connection.execute(text("UPDATE stock SET cantidad = 0, disponibilidad = "
                                    "'Agotado' WHERE sku = :s"), {"s": sku})
    report = load_project(config).sync()
    assert report.exit_code == ExitCode.OK, report.to_dict()
    assert sorted(state.received) == sorted(("patch", s) for s in SKUS)  # and nothing else
    assert report.build.rows == 3  # only those products were read again, from PostgreSQL
    assert all(mask == ["price", "availability"] for _, mask, _ in state.patches)
    assert state.errors == []
    engine.dispose()


def test_postgres_price_past_the_guard_is_held_back(tienda, merchant, postgres, monkeypatch):
    from sqlalchemy import text

    state = merchant[2]
    engine = _postgres_store(postgres, _store_db(tienda))
    monkeypatch.setenv("STORE_DB_PASSWORD", postgres.password)
    config = _sync_config(tienda)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["source"]["join"] = [{
        "url": postgres.url("tienda", password="${STORE_DB_PASSWORD}"), "table": "stock",
        "key": "sku", "columns": {"precio": "PVP"}}]
    del data["local_inventory"], data["stores"]
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                      encoding="utf-8")
    config = _with_google(config, merchant, local=False)
    assert load_project(config).push().exit_code == ExitCode.OK
    state.received.clear()
    with engine.begin() as connection:
        connection.execute(text("UPDATE stock SET precio = '1995' WHERE sku = :s"),
                           {"s": SKUS[0]})  # 19,95 with its decimal comma lost in the till
        connection.execute(text("UPDATE stock SET precio = '18,95' WHERE sku = :s"),
                           {"s": SKUS[1]})
    report = load_project(config).sync()
    assert report.exit_code == ExitCode.PARTIAL
    assert state.received == [("patch", SKUS[1])]
    outcome = json.loads(json.dumps(report.to_dict()))["publish"][0]
    assert outcome["held"] == [SKUS[0]]
    engine.dispose()
