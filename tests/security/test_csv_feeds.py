"""CSV/TSV feeds keep every record whole (a bare carriage return cannot split one) and,
where the channel allows, defuse cells a spreadsheet would run as formulas."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from feedsync import api
from feedsync.config import load_config
from tests.security.masters import csv_bytes, good_row, project

CSV_CHANNELS = {
    "meta": {"spec": "meta_catalog", "outputs": ["feeds/meta.csv"]},
    "tiktok": {"spec": "tiktok_catalog", "outputs": ["feeds/tiktok.csv"]},
    "idealo": {"spec": "idealo", "outputs": ["feeds/idealo.csv"],
               "settings": {"delivery_costs": "4.95"}},
    "openai": {"spec": "openai_products", "outputs": ["feeds/openai.csv"],
               "settings": {"target_countries": "ES", "store_country": "ES"}},
    "pinterest": {"spec": "pinterest_catalog", "outputs": ["feeds/pinterest.csv"]},
}


def _records(path: Path) -> list[list[str]]:
    # newline="" plus splitlines-style readers: a bare \r must not end a record.
    text = path.read_bytes().decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def _build(tmp_path: Path, *rows: list[str], channels: dict | None = None) -> None:
    config = project(tmp_path, "m.csv", csv_bytes(*rows), channels=channels or CSV_CHANNELS)
    report = api.run_build(load_config(config))
    assert report.products == len(rows)


@pytest.mark.parametrize("channel", sorted(CSV_CHANNELS))
def test_bare_carriage_return_stays_inside_its_record(tmp_path: Path, channel: str) -> None:
    _build(tmp_path, good_row(description="línea uno\rlínea dos"), good_row("A2"))
    output = tmp_path / CSV_CHANNELS[channel]["outputs"][0]
    records = _records(output)
    assert len(records) == 3, records  # header + two products
    assert "\r" not in output.read_bytes().decode().replace("\r\n", "")
    for line in output.read_bytes().decode().split("\n")[1:-1]:
        assert "\r" not in line or line.count('"') >= 2


@pytest.mark.parametrize("channel", sorted(CSV_CHANNELS))
def test_formula_cells_are_defused_in_csv_feeds(tmp_path: Path, channel: str) -> None:
    _build(tmp_path, good_row(title="=HYPERLINK(\"http://evil.example\",\"x\")"),
           good_row("A2", title="@SUM(A1:A9)"))
    text = (tmp_path / CSV_CHANNELS[channel]["outputs"][0]).read_text(encoding="utf-8")
    cells = [cell for record in csv.reader(io.StringIO(text)) for cell in record]
    assert not any(cell[:1] in ("=", "+", "-", "@") for cell in cells), cells
    assert any(cell.startswith("'=HYPERLINK") for cell in cells)


def test_formula_guard_can_be_turned_off_per_channel(tmp_path: Path) -> None:
    _build(tmp_path, good_row(title="=1+1"), channels={
        "meta": {"spec": "meta_catalog", "outputs": ["feeds/meta.csv"],
                 "csv_formula_guard": False}})
    assert "=1+1" in (tmp_path / "feeds/meta.csv").read_text().replace("'=1+1", "")


def test_google_tsv_keeps_values_verbatim(tmp_path: Path) -> None:
    _build(tmp_path, good_row(title="-50% Camiseta"), channels={
        "google": {"spec": "google_merchant", "outputs": ["feeds/google.tsv"]}})
    assert "\t-50% Camiseta\t" in (tmp_path / "feeds/google.tsv").read_text()
