"""Excel masters: typed cells, header detection, Excel row numbers, both readers alike."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from feedsync.errors import SourceError
from feedsync.sources.excel import ExcelSource

READERS = ("openpyxl", "calamine")


def _workbook(path: Path) -> Path:
    workbook = Workbook()
    notes = workbook.active
    notes.title = "Notas"
    notes.append(["nothing to see"])
    sheet = workbook.create_sheet("Productos")
    sheet.append([])
    sheet.append(["Catálogo de invierno"])  # a title row above the headers
    sheet.append(["SKU", "Precio", "Alta", "Activo", "EAN", "Stock", None, None])
    sheet.append(["A-1", 19.95, date(2026, 11, 20), True, "0012345678905", 3])
    sheet.append([])  # a blank row in the middle is skipped, numbering continues
    sheet.append(["B-2", 1.234, datetime(2026, 11, 20, 9, 30), False, None, 0])
    sheet.append([None, None, None, None, None, None])  # trailing empty rows
    workbook.save(path)
    return path


@pytest.mark.parametrize("reader", READERS)
def test_typed_cells_and_excel_row_numbers(tmp_path: Path, reader: str) -> None:
    source = ExcelSource(_workbook(tmp_path / "m.xlsx"), sheet="Productos", header_row=3,
                         reader=reader, locale="es_ES")
    assert source.columns == ["SKU", "Precio", "Alta", "Activo", "EAN", "Stock"]
    rows = list(source.rows())
    assert [r.row for r in rows] == [4, 6]
    assert rows[0].data == {"SKU": "A-1", "Precio": "19,95", "Alta": "2026-11-20",
                            "Activo": "TRUE", "EAN": "0012345678905", "Stock": "3"}
    assert rows[1].data["Precio"] == "1,234"
    assert rows[1].data["Alta"] == "2026-11-20T09:30:00"
    assert rows[1].data["EAN"] is None


def test_both_readers_give_the_same_rows(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "m.xlsx")
    results = [[(r.row, r.data) for r in ExcelSource(path, sheet=2, reader=reader).rows()]
               for reader in READERS]
    assert results[0] == results[1]
    # Without header_row the first non-empty row is the header (here the title row).
    assert ExcelSource(path, sheet=2).columns == ["Catálogo de invierno"]


def test_sheet_by_position_and_case_insensitive_name(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "m.xlsx")
    assert ExcelSource(path, sheet=1).sheet == "Notas"
    assert ExcelSource(path, sheet="productos").sheet == "Productos"


# -- a workbook written the way LibreOffice writes it --------------------------------------

_NAMES = {
    "CT": "http://schemas.openxmlformats.org/package/2006/content-types",
    "RELS_XML": "application/vnd.openxmlformats-package.relationships+xml",
    "SML": "application/vnd.openxmlformats-officedocument.spreadsheetml.",
    "PKG_RELS": "http://schemas.openxmlformats.org/package/2006/relationships",
    "REL": "http://schemas.openxmlformats.org/officeDocument/2006/relationships/",
    "R_NS": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "MAIN": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
}
_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="{CT}">
<Default Extension="rels" ContentType="{RELS_XML}"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="{SML}sheet.main+xml"/>
<Override PartName="/xl/styles.xml" ContentType="{SML}styles+xml"/>
<Override PartName="/xl/sharedStrings.xml" ContentType="{SML}sharedStrings+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{SML}worksheet+xml"/>
</Types>"""
_RELS = """<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="{PKG_RELS}">
<Relationship Id="rId1" Type="{REL}officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""
_WORKBOOK = """<?xml version="1.0" encoding="UTF-8"?>
<workbook xmlns="{MAIN}" xmlns:r="{R_NS}">
<sheets><sheet name="Hoja1" sheetId="1" state="visible" r:id="rId2"/></sheets>
</workbook>"""
_WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="{PKG_RELS}">
<Relationship Id="rId1" Type="{REL}styles" Target="styles.xml"/>
<Relationship Id="rId2" Type="{REL}worksheet" Target="worksheets/sheet1.xml"/>
<Relationship Id="rId3" Type="{REL}sharedStrings" Target="sharedStrings.xml"/>
</Relationships>"""
_STYLES = """<?xml version="1.0" encoding="UTF-8"?>
<styleSheet xmlns="{MAIN}">
<numFmts count="1"><numFmt numFmtId="164" formatCode="DD/MM/YYYY"/></numFmts>
<fonts count="1"><font><sz val="10"/><name val="Arial"/></font></fonts>
<fills count="1"><fill><patternFill patternType="none"/></fill></fills>
<borders count="1"><border/></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="true"/>
</cellXfs>
</styleSheet>"""
_SHARED = """<?xml version="1.0" encoding="UTF-8"?>
<sst xmlns="{MAIN}" count="5" uniqueCount="5">
<si>
<t>SKU</t>
</si>
<si>
<t>Precio</t>
</si>
<si>
<t>Alta</t>
</si>
<si>
<t>Total</t>
</si>
<si>
<t>A-1</t>
</si>
</sst>"""
# LibreOffice's habits: a dimension of A1 only, shared strings, booleans as t="b", dates as
# serial numbers with a date style, formula results cached (t="str" for text results), and
# styled but empty rows down the sheet. Cell D3 is a formula saved without a cached value.
_SHEET = """<?xml version="1.0" encoding="UTF-8"?>
<worksheet xmlns="{MAIN}">
<dimension ref="A1"/>
<sheetData>
<row r="1">
<c r="A1" t="s"><v>0</v></c>
<c r="B1" t="s"><v>1</v></c>
<c r="C1" t="s"><v>2</v></c>
<c r="D1" t="s"><v>3</v></c>
<c r="E1" t="s"><v>3</v></c></row>
<row r="2">
<c r="A2" t="s"><v>4</v></c>
<c r="B2"><v>19.95</v></c>
<c r="C2" s="1"><v>46346</v></c>
<c r="D2"><f>B2*2</f><v>39.9</v></c>
<c r="E2" t="str"><f>A2&amp;"-X"</f><v>A-1-X</v></c></row>
<row r="3">
<c r="A3" t="inlineStr"><is><t>B-2</t></is></c>
<c r="B3" t="b"><v>1</v></c>
<c r="D3"><f>B3*2</f></c></row>
<row r="4" customFormat="1" s="1"/><row r="5" customFormat="1" s="1"/>
</sheetData>
</worksheet>"""


def _libreoffice_style(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in [("[Content_Types].xml", _CONTENT_TYPES), ("_rels/.rels", _RELS),
                           ("xl/workbook.xml", _WORKBOOK),
                           ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
                           ("xl/styles.xml", _STYLES), ("xl/sharedStrings.xml", _SHARED),
                           ("xl/worksheets/sheet1.xml", _SHEET)]:
            archive.writestr(name, text.format(**_NAMES))
    return path


@pytest.mark.parametrize("reader", READERS)
def test_libreoffice_style_workbook(tmp_path: Path, reader: str) -> None:
    source = ExcelSource(_libreoffice_style(tmp_path / "lo.xlsx"), reader=reader)
    assert source.columns == ["SKU", "Precio", "Alta", "Total", "Total_"]
    rows = list(source.rows())
    assert [r.row for r in rows] == [2, 3]
    assert rows[0].data == {"SKU": "A-1", "Precio": "19.95", "Alta": "2026-11-20",
                            "Total": "39.9", "Total_": "A-1-X"}
    assert rows[1].data["Precio"] == "TRUE" and rows[1].data["Total"] is None


def test_formula_without_cached_value_is_a_warning_on_its_row(tmp_path: Path) -> None:
    # `auto` hands a workbook with formulas to openpyxl, the reader that can tell.
    source = ExcelSource(_libreoffice_style(tmp_path / "lo.xlsx"))
    assert source.reader == "openpyxl"
    rows = list(source.rows())
    assert rows[0].issues == []
    [issue] = rows[1].issues
    assert issue.code == "formula-without-value" and issue.row == 3
    assert "cell D3" in issue.message


def test_workbook_without_formulas_uses_calamine_when_small(tmp_path: Path) -> None:
    assert ExcelSource(_workbook(tmp_path / "m.xlsx")).reader == "calamine"


# -- bad input ----------------------------------------------------------------------------

def test_wrong_sheet_name(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        ExcelSource(_workbook(tmp_path / "m.xlsx"), sheet="Precios")
    assert caught.value.message == ("m.xlsx has no sheet named 'Precios'; its sheets are: "
                                    "'Notas', 'Productos'")


def test_password_protected_workbook(tmp_path: Path) -> None:
    """Excel saves an encrypted workbook as an OLE2 compound file (MS-OFFCRYPTO) instead of
    a zip; its first 8 bytes are the OLE2 signature, which is what is checked here."""
    path = tmp_path / "secreto.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    with pytest.raises(SourceError, match=r"secreto\.xlsx is password-protected"):
        ExcelSource(path)


def test_unreadable_workbook(tmp_path: Path) -> None:
    path = tmp_path / "roto.xlsx"
    path.write_text("SKU;Precio\n")
    with pytest.raises(SourceError, match=r"roto\.xlsx is not an Excel \.xlsx workbook"):
        ExcelSource(path)
    damaged = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(damaged, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    with pytest.raises(SourceError, match=r"damaged\.xlsx cannot be read as a workbook"):
        ExcelSource(damaged)


def test_empty_sheet(tmp_path: Path) -> None:
    workbook = Workbook()
    workbook.save(tmp_path / "vacio.xlsx")
    with pytest.raises(SourceError, match="is empty: there is no header row"):
        _ = ExcelSource(tmp_path / "vacio.xlsx").columns


def test_zip_bomb_is_refused_before_parsing(tmp_path: Path) -> None:
    """A sheet part that unpacks to ~300 MiB from a few hundred KiB is never opened."""
    bomb = tmp_path / "bomba.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (300 * 2**20))
    with pytest.raises(SourceError, match=r"bomba\.xlsx would unpack to 300 MiB .* zip bomb"):
        ExcelSource(bomb)


def test_a_real_password_protected_workbook(tmp_path: Path) -> None:
    """tests/data/password_protected.xlsx was encrypted with the password `feedsync-test`
    by msoffcrypto-tool (ECMA-376 agile encryption, as Excel does), not hand-made."""
    from typer.testing import CliRunner

    from feedsync.cli.app import app
    from tests.conftest import DATA

    config = tmp_path / "feedsync.yaml"
    config.write_text(f"source: {{path: '{DATA / 'password_protected.xlsx'}'}}\n"
                      "channels: {g: {spec: google_merchant, output: g.xml}}\n")
    result = CliRunner().invoke(app, ["validate", "-c", str(config)])
    assert result.exit_code == 3
    assert "password_protected.xlsx is password-protected" in result.stderr
    assert "Traceback" not in result.output


def _excel_style(path: Path) -> Path:
    """The workbook that LibreOffice 7.4 opened and saved as tests/data/libreoffice_saved.xlsx
    (soffice --headless --convert-to xlsx), rebuilt here with openpyxl."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Productos"
    sheet.append(["Catálogo de invierno"])
    sheet.append(["SKU", "Nombre", "PVP", "Alta", "Activo", "EAN", "Stock", "Notas"])
    sheet.append(["A-1", "Taza grande", 19.95, date(2026, 11, 20), True, "0012345678905", 3,
                  None])
    sheet.append(["B-2", "Manta de lana", 1234.5, datetime(2026, 11, 20, 9, 30), False,
                  "4006381333931", 0, "última unidad"])
    sheet.append(["C-3", "Vela", 7, date(2027, 1, 15), True, None, 12, "=1+1"])
    workbook.save(path)
    return path


@pytest.mark.parametrize("reader", READERS)
def test_a_workbook_saved_by_libreoffice_reads_like_one_saved_by_excel_tools(
        tmp_path: Path, reader: str) -> None:
    """A real LibreOffice save (tests/data/libreoffice_saved.xlsx): same header detection,
    row numbers, typed values; only the formula differs, as LibreOffice stores its result."""
    from tests.conftest import DATA

    saved_by_libreoffice = ExcelSource(DATA / "libreoffice_saved.xlsx", reader=reader,
                                       header_row=2)
    saved_by_openpyxl = ExcelSource(_excel_style(tmp_path / "m.xlsx"), reader="openpyxl",
                                    header_row=2)
    office_rows = list(saved_by_libreoffice.rows())
    tool_rows = list(saved_by_openpyxl.rows())
    assert saved_by_libreoffice.columns == saved_by_openpyxl.columns
    assert [r.row for r in office_rows] == [r.row for r in tool_rows] == [3, 4, 5]
    assert [r.data for r in office_rows[:2]] == [r.data for r in tool_rows[:2]]
    assert office_rows[1].data["PVP"] == "1234.5"
    assert office_rows[1].data["Alta"] == "2026-11-20T09:30:00"
    assert office_rows[2].data["Notas"] == "2"  # LibreOffice saved the formula's result
    assert tool_rows[2].data["Notas"] is None   # openpyxl saved none: a warning instead
    assert [i.code for i in tool_rows[2].issues] == ["formula-without-value"]
