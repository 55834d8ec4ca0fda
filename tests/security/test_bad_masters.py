"""Bad masters of every format: one clear sentence and exit 2 or 3, never an internal error
(exit 70) or a traceback; bad values are issues on their row, never a crash."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedsync.cli.app import app
from tests.security.masters import csv_bytes, good_row, project, rezip, workbook

XLSX_HEADER = ["id", "title", "description", "link", "image_link", "price", "availability"]


def _xlsx_row(price: object) -> list[object]:
    return ["A1", "T", "d", "https://shop.example/a", "https://shop.example/a.jpg", price,
            "in_stock"]


def _cli(config: Path, command: str = "build") -> tuple[int, str]:
    result = CliRunner().invoke(app, [command, "-c", str(config)])
    return result.exit_code, result.output


def _one_sentence(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert "Traceback" not in output
    assert len(lines) == 1, output
    return lines[0]


def _far_cell_workbook() -> bytes:
    import io

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(XLSX_HEADER)
    sheet.append(_xlsx_row(10))
    sheet["XFD1048576"] = "x"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _bad_crc(data: bytes) -> bytes:
    raw = bytearray(data)
    name = b"xl/worksheets/sheet1.xml"
    local = raw.rfind(b"PK\x03\x04", 0, raw.find(name))
    raw[local + 14] ^= 0xFF
    central = raw.rfind(b"PK\x01\x02", 0, raw.find(name, raw.find(name) + 10))
    raw[central + 16] ^= 0xFF
    return bytes(raw)


RUN_STOPPING = {
    "bom-then-invalid-byte": ("m.csv", b"\xef\xbb\xbf\xff\xfe" + csv_bytes(good_row()), {},
                              "not valid utf-8"),
    "csv-cut-inside-quotes": ("m.csv", csv_bytes(good_row()) + b'"A2","unterminated', {},
                              "cut short"),
    "json-data-after-array": ("m.json", b'[{"id": "A1"}] [{"id": "A2"}]', {},
                              "data after the end of the array"),
    "json-deeply-nested": ("m.json", b"[" * 100_000 + b"]" * 100_000, {}, "nested too deeply"),
    "jsonl-deeply-nested": ("m.jsonl", b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"\n", {},
                            "nested too deeply"),
    "xml-undeclared-prefix": ("m.xml", b"<rss><channel><item><g:id>A1</g:id></item></channel>"
                              b"</rss>", {}, "without declaring it"),
    "xlsx-bad-crc": ("m.xlsx", _bad_crc(workbook([XLSX_HEADER, _xlsx_row(10)])), {},
                     "damaged"),
    "xlsx-missing-sheet-part": ("m.xlsx", rezip(workbook([XLSX_HEADER, _xlsx_row(10)]),
                                                drop="xl/worksheets/sheet1.xml"), {}, "m.xlsx"),
    "columns-template-sandbox": ("m.csv", csv_bytes(good_row()),
                                 {"columns": {"title": "{{ ''.__class__.__mro__ }}"}},
                                 "source.columns.title"),
}


@pytest.mark.parametrize("case", sorted(RUN_STOPPING))
def test_run_stopping_master_is_one_sentence(tmp_path: Path, case: str) -> None:
    name, data, source, expected = RUN_STOPPING[case]
    config = project(tmp_path, name, data, source=source)
    for command in ("validate", "build"):
        code, output = _cli(config, command)
        assert code in (2, 3), output
        assert expected in _one_sentence(output)
    assert not (tmp_path / "feeds").exists() or not any((tmp_path / "feeds").iterdir())


ROW_PROBLEMS = {
    "price-31-digits": ("m.csv", csv_bytes(good_row(price="1" * 31), good_row("A2")), {}),
    "price-400-digits": ("m.csv", csv_bytes(good_row(price="9" * 400), good_row("A2")), {}),
    "json-huge-integer": ("m.json", json.dumps([
        {"id": "A1", "title": "T", "description": "d", "link": "https://s.example/a",
         "image_link": "https://s.example/a.jpg", "availability": "in_stock",
         "brand": "B", "condition": "new"}]).replace('"T"', '"T", "price": ' + "9" * 5000)
        .encode(), {}),
    "xlsx-huge-number": ("m.xlsx", workbook([XLSX_HEADER, _xlsx_row(1e300)]), {}),
    "xlsx-timedelta": ("m.xlsx", workbook([XLSX_HEADER, _xlsx_row(datetime.timedelta(3))]),
                       {}),
}


@pytest.mark.parametrize("case", sorted(ROW_PROBLEMS))
def test_bad_value_is_an_issue_on_its_row(tmp_path: Path, case: str) -> None:
    name, data, source = ROW_PROBLEMS[case]
    config = project(tmp_path, name, data, source=source)
    result = CliRunner().invoke(app, ["validate", "-c", str(config), "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert any(i["row"] in (1, 2) and i["field"] == "price" for i in report["issues"]), report


def test_far_away_cell_does_not_exhaust_memory(tmp_path: Path) -> None:
    """calamine would allocate the whole A1:XFD1048576 rectangle (abort: 512 GiB)."""
    config = project(tmp_path, "m.xlsx", _far_cell_workbook())
    code, output = _cli(config, "validate")
    assert code in (0, 1), output


def test_lone_surrogates_reach_no_writer(tmp_path: Path) -> None:
    line = {"id": "A1", "title": "T\ud800x", "description": "d", "link": "https://s.example/a",
            "image_link": "https://s.example/a.jpg", "price": "10", "availability": "in_stock",
            "brand": "B", "condition": "new"}
    config = project(tmp_path, "m.jsonl", json.dumps(line).encode() + b"\n", channels={
        "ebay": {"spec": "ebay_inventory", "outputs": ["feeds/ebay.json"]},
        "openai": {"spec": "openai_products", "outputs": ["feeds/openai.jsonl"],
                   "settings": {"target_countries": "ES", "store_country": "ES"}}})
    code, output = _cli(config)
    assert code in (0, 1), output
    assert len(list((tmp_path / "feeds").iterdir())) == 2
    for written in (tmp_path / "feeds").iterdir():
        written.read_bytes().decode("utf-8")  # strict: no surrogate survived


@pytest.mark.parametrize("link", ["run.lock", "state.db"])
def test_planted_symlink_in_state_folder_is_refused(tmp_path: Path, link: str) -> None:
    target = tmp_path / "victim.txt"
    target.write_text("keep me")
    config = project(tmp_path, "m.csv", csv_bytes(good_row()), channels={
        "google": {"spec": "google_merchant", "outputs": ["feeds/google.xml"],
                   "publish": ["folder"]}},
        extra={"publish": {"folder": {"url": f"file://{tmp_path / 'out'}"}}})
    (tmp_path / ".feedsync").mkdir()
    os.symlink(target, tmp_path / ".feedsync" / link)
    result = CliRunner().invoke(app, ["push", "-c", str(config)])
    assert result.exit_code == 2, result.output
    assert "symbolic link" in _one_sentence(result.output)
    assert target.read_text() == "keep me"


def test_a_huge_cell_is_reported_briefly(tmp_path: Path) -> None:
    """A 5 MB price cell used to be quoted whole in its issue: validate took minutes."""
    config = project(tmp_path, "m.csv", csv_bytes(good_row(price="&" * 5_000_000)))
    for report_format in ("table", "json", "junit"):
        result = CliRunner().invoke(app, ["validate", "-c", str(config), "--format",
                                          report_format])
        assert result.exit_code == 1, result.output[:500]
        assert len(result.output) < 20_000
