"""SQL masters: SQLite (embedded) and a real PostgreSQL server started by the tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedsync.cli.app import app
from feedsync.config import load_config
from feedsync.errors import ExitCode, SourceError
from feedsync.sources import open_source
from feedsync.sources.convert import typed_records
from feedsync.sources.sql import SqlSource
from tests.sources.helpers import render_items, with_source
from tests.sources.postgres import PostgresServer, postgres_bin, running_postgres


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed; "
                    "apt-get install postgresql (.ci/packages-postgres.txt) to run these")
    with running_postgres() as server:
        yield server


def _sqlite_db(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT, price REAL, "
                   "stock INTEGER, updated DATE)")
        db.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?)", [
            ("B-2", "Bolso", 1.234, 3, "2026-11-20"),
            ("A-1", "Abrigo", 49.9, None, None)])
    return path


def test_sqlite_rows_are_typed_text_in_primary_key_order(tmp_path: Path) -> None:
    source = SqlSource(f"sqlite:///{_sqlite_db(tmp_path / 'c.db')}", table="products",
                       locale="es_ES")
    assert source.columns == ["sku", "name", "price", "stock", "updated"]
    rows = list(source.rows())
    assert [r.row for r in rows] == [1, 2]
    assert rows[0].data == {"sku": "A-1", "name": "Abrigo", "price": "49,9", "stock": None,
                            "updated": None}
    # 1.234 must not become one thousand two hundred and thirty-four in es_ES.
    assert rows[1].data["price"] == "1,234"


def test_sqlite_query_and_relative_path(tmp_path: Path) -> None:
    _sqlite_db(tmp_path / "c.db")
    source = SqlSource("sqlite:///c.db", query="SELECT sku AS id FROM products ORDER BY sku "
                       "DESC", base_dir=tmp_path)
    assert [r.data["id"] for r in source.rows()] == ["B-2", "A-1"]


def test_missing_sqlite_file_is_not_silently_created(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        SqlSource("sqlite:///nope.db", table="products", base_dir=tmp_path)
    assert not (tmp_path / "nope.db").exists()


def test_missing_table(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="has no table 'produits'"):
        SqlSource(f"sqlite:///{_sqlite_db(tmp_path / 'c.db')}", table="produits")


# -- ids the database keeps unique: no set of seen ids --------------------------------------

@pytest.mark.parametrize(("declaration", "unique"), [
    ("id INTEGER PRIMARY KEY, title TEXT", {"id"}),  # a rowid alias: integers only
    ("id INT PRIMARY KEY, title TEXT", set()),  # not an alias: may hold text (' 7', '7')
    ("id INTEGER PRIMARY KEY, title TEXT) WITHOUT ROWID; --", set()),
    ("id TEXT PRIMARY KEY, title TEXT", set()),
    ("id INTEGER, shop INTEGER, title TEXT, PRIMARY KEY (id, shop)", set()),
    ("id INTEGER, title TEXT", set()),
])
def test_only_an_integer_rowid_key_counts_as_unique_ids(tmp_path: Path, declaration: str,
                                                        unique: set[str]) -> None:
    path = tmp_path / "u.db"
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE items ({declaration})")
    source = SqlSource(f"sqlite:///{path}", table="items")
    assert source.unique_integer_columns() == unique
    assert SqlSource(f"sqlite:///{path}", query="SELECT * FROM items"
                     ).unique_integer_columns() == frozenset()


def _keyed_master(tmp_path: Path, key: str) -> Path:
    with sqlite3.connect(tmp_path / "shop.db") as db:
        db.execute(f"CREATE TABLE items (id {key} PRIMARY KEY, title TEXT, link TEXT, "
                   "image TEXT, price TEXT)")
        db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?)", [
            (n, f"Producto {n}", f"https://shop.example/p/{n}", f"https://cdn.example/{n}.jpg",
             "9.95 EUR") for n in range(1, 6)])
    config = tmp_path / "feedsync.yaml"
    config.write_text(
        "source: {url: 'sqlite:///shop.db', table: items, columns: {image_link: image}}\n"
        "channels:\n  google: {spec: google_merchant, output: feeds/google.xml,\n"
        "    feed: {title: Shop, link: 'https://shop.example/', description: All}}\n",
        encoding="utf-8")
    return config


def test_a_build_from_an_integer_keyed_table_remembers_no_ids(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from feedsync import pipeline

    class NoSeenIds:
        def __init__(self, *args: object) -> None:
            raise AssertionError("the ids were remembered although the key is unique")

    monkeypatch.setattr(pipeline, "SeenIds", NoSeenIds)
    config = load_config(_keyed_master(tmp_path, "INTEGER"))
    built = pipeline.Pipeline(config)
    assert built.ids_unique_by_source()
    outcomes = list(built.outcomes())
    assert [o.product_id for o in outcomes] == ["1", "2", "3", "4", "5"]
    assert all(o.valid for o in outcomes)


def test_a_text_keyed_table_still_has_its_ids_checked(tmp_path: Path) -> None:
    from feedsync.pipeline import Pipeline

    built = Pipeline(load_config(_keyed_master(tmp_path, "TEXT")))
    assert not built.ids_unique_by_source()
    assert len(list(built.outcomes())) == 5


# -- PostgreSQL ----------------------------------------------------------------------------

def _load_tienda(server: PostgresServer, tienda: Path) -> None:
    from sqlalchemy import Column, MetaData, Numeric, Table, Text, create_engine, insert

    columns, records = typed_records(load_config(tienda))
    engine = create_engine(server.url())
    metadata = MetaData()
    kinds = {"PVP": Numeric(10, 2), "PrecioOferta": Numeric(10, 2), "Peso": Numeric(6, 3),
             "Cantidad": Numeric(8, 0)}
    table = Table("productos", metadata, *(Column(c, kinds.get(c, Text)) for c in columns))
    with engine.begin() as connection:
        metadata.drop_all(connection)
        metadata.create_all(connection)
        rows = [{c: (str(v) if v is not None and c not in kinds else v) for c, v in r.items()}
                for r in records]
        connection.execute(insert(table), rows)
    engine.dispose()


def test_postgres_builds_the_same_items_as_the_csv(postgres: PostgresServer, tienda: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _load_tienda(postgres, tienda)
    monkeypatch.setenv("PGPASSWORD_TEST", postgres.password)
    url = postgres.url(password="${PGPASSWORD_TEST}")
    config = with_source(tienda, tienda.parent / "pg.yaml", path=None, url=url,
                         query="SELECT * FROM productos ORDER BY ctid")
    expected, _ = render_items(load_config(tienda))
    items, _ = render_items(config)
    assert items == expected


def test_postgres_integer_primary_key_counts_as_unique_ids(postgres: PostgresServer) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres.url())
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS keyed, texted"))
        connection.execute(text("CREATE TABLE keyed (id BIGINT PRIMARY KEY, title TEXT)"))
        connection.execute(text("CREATE TABLE texted (id TEXT PRIMARY KEY, title TEXT)"))
    engine.dispose()
    assert SqlSource(postgres.url(), table="keyed").unique_integer_columns() == {"id"}
    assert SqlSource(postgres.url(), table="texted").unique_integer_columns() == frozenset()


def test_postgres_streams_a_table(postgres: PostgresServer, tienda: Path) -> None:
    _load_tienda(postgres, tienda)
    config = with_source(tienda, tienda.parent / "pg.yaml", path=None, url=postgres.url(),
                         table="productos")
    source = open_source(config)
    assert source.columns[0] == "SKU"
    rows = list(source.rows())
    assert len(rows) == 40 and rows[-1].row == 40


def _cli_error(config_file: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", "-c", str(config_file)])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def test_wrong_password_is_one_line_without_the_password(postgres: PostgresServer,
                                                         tienda: Path) -> None:
    wrong = "Wr0ng-Secret-Value"
    config = with_source(tienda, tienda.parent / "pg.yaml", path=None, table="productos",
                         url=postgres.url(password=wrong))
    code, output = _cli_error(config.file)
    assert code == ExitCode.SOURCE_UNREADABLE
    assert "refused the login for user 'feedsync'" in output
    assert wrong not in output and "Traceback" not in output


def test_refused_connection_is_one_line_without_the_password(postgres: PostgresServer,
                                                             tienda: Path) -> None:
    from tests.sources.postgres import free_port

    config = with_source(tienda, tienda.parent / "pg.yaml", path=None, table="productos",
                         url=postgres.url(port=free_port()))
    code, output = _cli_error(config.file)
    assert code == ExitCode.SOURCE_UNREADABLE
    assert "connection was refused" in output
    assert postgres.password not in output and "Traceback" not in output


def test_postgres_missing_table(postgres: PostgresServer, tienda: Path) -> None:
    config = with_source(tienda, tienda.parent / "pg.yaml", path=None, table="nada",
                         url=postgres.url())
    code, output = _cli_error(config.file)
    assert code == ExitCode.SOURCE_UNREADABLE
    assert "has no table 'nada'" in output and postgres.password not in output


def test_a_successful_run_never_shows_the_password(postgres: PostgresServer,
                                                   tienda: Path) -> None:
    _load_tienda(postgres, tienda)
    config = with_source(tienda, tienda.parent / "pg.yaml", path=None, table="productos",
                         url=postgres.url())
    for options in ([], ["--format", "json"]):
        result = CliRunner().invoke(app, ["validate", "-c", str(config.file), *options])
        assert result.exit_code == ExitCode.DATA_ERRORS, result.output  # the CSV's 2 errors
        assert postgres.password not in result.output
        if options:  # the JSON report names its source, with the password hidden
            assert "feedsync:***@127.0.0.1" in result.output
