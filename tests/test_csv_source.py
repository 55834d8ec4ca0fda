"""The quirk corpus: each file in tests/data is named after the quirk it exercises."""

from pathlib import Path

import pytest

from feedsync.errors import SourceError
from feedsync.sources.csv import CsvSource, detect_encoding, sniff_delimiter
from tests.conftest import DATA


def rows(name: str, **kwargs):
    return list(CsvSource(DATA / name, **kwargs).rows())


def test_utf8_bom_is_detected_and_stripped_from_the_header():
    source = CsvSource(DATA / "utf8_bom.csv")
    assert source.encoding == "utf-8-sig"
    assert source.columns[0] == "id"
    assert rows("utf8_bom.csv")[0].data["title"] == "Camiseta añil"


def test_cp1252_is_detected():
    source = CsvSource(DATA / "cp1252.csv")
    assert source.encoding == "cp1252"
    record = next(source.rows())
    assert record.data["title"] == "Café crème 12 €"
    assert source.delimiter == ";"


def test_encoding_can_be_overridden():
    record = rows("cp1252.csv", encoding="latin-1")[0]
    assert record.data["title"].startswith("Café")


@pytest.mark.parametrize(("name", "delimiter"), [
    ("semicolon_decimal_comma.csv", ";"),
    ("tab_separated.tsv", "\t"),
    ("pipe_separated.csv", "|"),
    ("utf8_bom.csv", ","),
])
def test_delimiter_is_sniffed(name, delimiter):
    assert CsvSource(DATA / name).delimiter == delimiter


def test_sniffing_ignores_delimiters_inside_quotes():
    assert sniff_delimiter('"a;b;c;d",x,y\n1,2,3') == ","


def test_multiline_quoted_cells_keep_spreadsheet_row_numbers():
    records = rows("multiline_quoted.csv")
    assert [r.row for r in records] == [2, 3, 4]
    assert records[0].data["description"] == "Line one\nLine two, with comma\nLine three"
    assert records[2].data["title"] == 'Quoted "title"'


def test_ragged_rows_too_many_cells_is_an_error_too_few_are_padded():
    records = rows("ragged_rows.csv")
    by_id = {r.data["id"]: r for r in records}
    assert [i.code for i in by_id["SKU-2"].issues] == ["ragged-row"]
    assert "has 11 cells but the header has 9" in by_id["SKU-2"].issues[0].message
    assert by_id["SKU-3"].issues == []
    assert by_id["SKU-3"].data["brand"] == ""
    assert by_id["SKU-4"].row == 5


def test_header_only_yields_no_rows():
    assert rows("header_only.csv") == []


@pytest.mark.parametrize(("name", "words"), [
    ("empty.csv", "is empty"),
    ("binary.csv", "binary"),
    ("does_not_exist.csv", "does not exist"),
])
def test_unreadable_files_raise_one_clear_sentence(name, words):
    with pytest.raises(SourceError, match=words):
        CsvSource(DATA / name)


def test_a_directory_is_not_a_master(tmp_path: Path):
    with pytest.raises(SourceError, match="is a directory"):
        CsvSource(tmp_path)


def test_encoding_detection_tolerates_a_sample_cut_inside_a_character():
    sample = ("x" * 10 + "é").encode("utf-8")[:-1]
    assert detect_encoding(sample, truncated=True) == "utf-8"
    assert detect_encoding("é".encode("cp1252")) == "cp1252"


def test_invalid_utf8_after_the_sample_is_a_source_error(tmp_path: Path):
    path = tmp_path / "late_cp1252.csv"
    body = b"id,title\n" + b"A,plain\n" * 200_000 + "B,caf\u00e9\n".encode("cp1252")
    path.write_bytes(body)
    source = CsvSource(path)
    assert source.encoding == "utf-8"
    with pytest.raises(SourceError, match=r"set source\.encoding"):
        list(source.rows())
