"""Bad input through the CLI: one clear sentence, exit code 3, no traceback, no password."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedsync.cli.app import app
from feedsync.errors import ExitCode
from tests.sources.helpers import write_config
from tests.sources.postgres import free_port
from tests.sources.test_excel import _workbook
from tests.sources.test_feed_xml import BOMB

PASSWORD = "Hunter2-Very-Secret"


def _run(folder: Path, source: dict) -> tuple[int, str]:
    config = write_config(folder / "feedsync.yaml", {
        "source": {"columns": {"id": "sku"}, **source}, "channels": {}})
    result = CliRunner().invoke(app, ["validate", "-c", str(config.file)])
    return result.exit_code, result.output


def _one_sentence(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def test_unreadable_workbook(tmp_path: Path) -> None:
    (tmp_path / "m.xlsx").write_bytes(b"PK\x03\x04 truncated")
    code, output = _run(tmp_path, {"path": "m.xlsx"})
    assert code == ExitCode.SOURCE_UNREADABLE
    assert "m.xlsx" in _one_sentence(output)


def test_password_protected_workbook(tmp_path: Path) -> None:
    (tmp_path / "m.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)
    code, output = _run(tmp_path, {"path": "m.xlsx"})
    assert code == ExitCode.SOURCE_UNREADABLE
    assert "password-protected" in _one_sentence(output)


def test_wrong_sheet_name(tmp_path: Path) -> None:
    _workbook(tmp_path / "m.xlsx")
    code, output = _run(tmp_path, {"path": "m.xlsx", "sheet": "Precios"})
    assert code == ExitCode.SOURCE_UNREADABLE
    assert "has no sheet named 'Precios'" in _one_sentence(output)


def test_refused_database_connection_hides_the_password(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    url = f"postgresql://shop:{PASSWORD}@127.0.0.1:{free_port()}/shop"
    code, output = _run(tmp_path, {"url": url, "table": "products"})
    assert code == ExitCode.SOURCE_UNREADABLE
    line = _one_sentence(output)
    assert "connection was refused" in line and "shop:***@127.0.0.1" in line
    assert PASSWORD not in output


def test_missing_table(tmp_path: Path) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "c.db").execute("CREATE TABLE t (sku TEXT)").connection.close()
    code, output = _run(tmp_path, {"url": "sqlite:///c.db", "table": "products"})
    assert code == ExitCode.SOURCE_UNREADABLE
    assert "has no table 'products'" in _one_sentence(output)


def test_json_syntax_error(tmp_path: Path) -> None:
    (tmp_path / "p.jsonl").write_text('{"sku": "A"}\n{"sku": "B"\n')
    code, output = _run(tmp_path, {"path": "p.jsonl"})
    assert code == ExitCode.SOURCE_UNREADABLE
    assert "p.jsonl: line 2 is not valid JSON" in _one_sentence(output)


def test_xml_entity_bomb(tmp_path: Path) -> None:
    (tmp_path / "feed.xml").write_text(BOMB)
    code, output = _run(tmp_path, {"path": "feed.xml"})
    assert code == ExitCode.SOURCE_UNREADABLE
    assert "declares XML entities" in _one_sentence(output)
