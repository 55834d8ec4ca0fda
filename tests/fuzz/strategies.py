"""Hypothesis strategies for hostile product masters, configs and rule templates.

Each strategy starts from something close to a real master (the shape of the header and a
few products), fills cells with hostile text and numbers, then may damage the bytes
(truncate, splice in random bytes, change the encoding): feedsync must meet every input as
a merchandiser's broken export, never with an internal error.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
import zipfile
from typing import Any

from hypothesis import strategies as st

from tests.security.masters import HEADER, good_row

# Text that has broken feedsync or CSV/XML/JSON writers before, mixed with random text.
NASTY_TEXT = [
    "", " ", "\r", "\n", "\r\n", "\t", '"', '""', ",", ";", "|", "\\", "\x00", "\x01", "\x1b",
    "\u2028", "\u00a0", "\ufeff", "\ufffe", "=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)",
    "<b>bold</b>", "&amp;", "&#0;", "<![CDATA[x]]>", "]]>", "{{ 7*7 }}", "{% for %}",
    "9" * 40, "1e30", "1e-30", "-0", "NaN", "inf", "1.234,56", "1,234.56", "12,5 €",
    "EUR 10", "0x1F", "１２３", "٣", "a" * 6000, "ä" * 3000, "💥" * 200, "\u0301" * 50,
    "https://", "javascript:alert(1)", "http://[::1]:99999/", "../../etc/passwd",
]

text_value = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=20),
    st.builds(lambda a, b: a + b, st.sampled_from(NASTY_TEXT), st.text(max_size=10)),
)
price_value = st.one_of(
    st.sampled_from(["10.00", "0", "-5", "1" * 31, "9" * 400, "1e30", "12,50", "€", "10 EUR",
                     "10.00 XXX", "NaN", "", "1.2.3", "١٠"]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers().map(str),
    st.floats().map(str),
)


@st.composite
def product_rows(draw: st.DrawFn) -> list[list[str]]:
    """1-8 products, each a good row with some cells replaced by hostile values."""
    rows = []
    for index in range(draw(st.integers(1, 8))):
        row = good_row(f"P{index}")
        for column in draw(st.sets(st.sampled_from(range(len(HEADER))), max_size=5)):
            row[column] = draw(price_value if HEADER[column] == "price" else text_value)
        if draw(st.booleans()) and index:  # a duplicate id now and then
            row[0] = "P0"
        rows.append(row)
    return rows


def _csv_text(rows: list[list[str]], delimiter: str, quote_all: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n",
                        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue()


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """The bytes, perhaps truncated, spliced with random bytes or given a BOM."""
    how = draw(st.sampled_from(["none", "none", "truncate", "splice", "bom", "flip"]))
    if how == "truncate" and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if how == "splice":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    if how == "bom":
        return draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff",
                                     b"\xef\xbb\xbf\xff"])) + data
    if how == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    return data


@st.composite
def csv_masters(draw: st.DrawFn) -> tuple[str, bytes, dict[str, Any]]:
    rows = draw(product_rows())
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    text = _csv_text(rows, delimiter, draw(st.booleans()))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "cp1252"]))
    data = text.encode(encoding, errors="replace")
    source: dict[str, Any] = {}
    if draw(st.booleans()):
        source["encoding"] = draw(st.sampled_from(["utf-8", "latin-1", "utf-16", "cp1252"]))
    name = "m.tsv" if delimiter == "\t" and draw(st.booleans()) else "m.csv"
    return name, draw(damaged(data)), source


cell_value = st.one_of(
    text_value.map(lambda t: t.replace("\x00", "")),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.booleans(), st.none(),
    st.datetimes(min_value=datetime.datetime(1900, 3, 1),
                 max_value=datetime.datetime(2200, 1, 1)),
    st.timedeltas(min_value=datetime.timedelta(0), max_value=datetime.timedelta(days=999)),
)


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _workbook_bytes(rows: list[list[Any]]) -> bytes:
    import openpyxl
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        cleaned = []
        for value in row:
            if isinstance(value, float) and value != value:
                value = None  # openpyxl cannot write NaN
            elif isinstance(value, str):  # nor control characters, nor what XML refuses
                value = _NOT_XML.sub("", ILLEGAL_CHARACTERS_RE.sub("", value))
            cleaned.append(value)
        sheet.append(cleaned)
    # The same rows must give the same bytes (hypothesis replays a case and draws from its
    # length and bytes): no time of saving, in the document's properties or the archive.
    book.properties.created = datetime.datetime(2020, 1, 1)
    buffer = io.BytesIO()
    book.save(buffer)
    fixed = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as saved, \
            zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as target:
        for member in saved.infolist():
            content = saved.read(member)
            if member.filename == "docProps/core.xml":  # openpyxl stamps `modified` itself
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2020-01-01T00:00:00Z",
                                 content)
            target.writestr(zipfile.ZipInfo(member.filename, (2020, 1, 1, 0, 0, 0)), content,
                            zipfile.ZIP_DEFLATED)
    return fixed.getvalue()


@st.composite
def xlsx_masters(draw: st.DrawFn) -> tuple[str, bytes, dict[str, Any]]:
    rows: list[list[Any]] = [list(HEADER)]
    for index in range(draw(st.integers(1, 5))):
        row: list[Any] = list(good_row(f"P{index}"))
        for column in draw(st.sets(st.sampled_from(range(len(HEADER))), max_size=4)):
            row[column] = draw(cell_value)
        rows.append(row)
    data = _workbook_bytes(rows)
    how = draw(st.sampled_from(["none", "none", "member", "drop", "bytes"]))
    if how in ("member", "drop"):
        source_zip = zipfile.ZipFile(io.BytesIO(data))
        names = source_zip.namelist()
        victim = draw(st.sampled_from(names))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for member in names:
                if member == victim and how == "drop":
                    continue
                content = source_zip.read(member)
                if member == victim:
                    content = draw(st.sampled_from([
                        b"", b"<x/>", b"<?xml version='1.0'?><worksheet>", content[:50],
                        content.replace(b'r="A', b'r="XFD'), content + b"garbage"]))
                target.writestr(member, content)
        data = out.getvalue()
    elif how == "bytes":
        data = draw(damaged(data))
    source: dict[str, Any] = {}
    if draw(st.booleans()):
        source["reader"] = draw(st.sampled_from(["calamine", "openpyxl", "auto"]))
    if draw(st.integers(0, 5)) == 0:
        source["sheet"] = draw(st.sampled_from(["Sheet", "Nope", 2, 1]))
    return "m.xlsx", data, source


json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), text_value)
json_value = st.recursive(json_scalar, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12)


@st.composite
def json_masters(draw: st.DrawFn) -> tuple[str, bytes, dict[str, Any]]:
    products: list[Any] = []
    for row in draw(product_rows()):
        product: dict[str, Any] = dict(zip(HEADER, row, strict=True))
        for key in draw(st.sets(st.sampled_from(HEADER), max_size=2)):
            product[key] = draw(json_value)
        products.append(product)
    if draw(st.integers(0, 6)) == 0:
        products.append(draw(json_value))  # not an object at all
    lines = draw(st.booleans())
    if lines:
        text = "\n".join(json.dumps(p, ensure_ascii=draw(st.booleans())) for p in products)
        name = "m.jsonl"
    else:
        text = json.dumps(products, indent=draw(st.sampled_from([None, 1])))
        name = "m.json"
    extra = draw(st.sampled_from(["", "", "", " [1]", "\n{}", ",", "]", '"\\ud800"',
                                  "[" * 3000, "9" * 5000]))
    data = (text + extra).encode()
    return name, draw(damaged(data)), {}


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .encode("utf-8", "replace").decode("utf-8"))


@st.composite
def xml_masters(draw: st.DrawFn) -> tuple[str, bytes, dict[str, Any]]:
    atom = draw(st.booleans())
    items = []
    for row in draw(product_rows()):
        values = dict(zip(HEADER, row, strict=True))
        parts = []
        for key, value in values.items():
            raw = draw(st.integers(0, 9)) == 0
            text = value if raw else _escape(value)
            tag = draw(st.sampled_from([f"g:{key}", f"g:{key}", key, f"x:{key}"]))
            parts.append(f"<{tag}>{text}</{tag}>")
        items.append(f"<{'entry' if atom else 'item'}>{''.join(parts)}"
                     f"</{'entry' if atom else 'item'}>")
    declare = "" if draw(st.integers(0, 5)) == 0 else ' xmlns:g="http://base.google.com/ns/1.0"'
    prolog = draw(st.sampled_from([
        "", "", '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">]>',
        '<!DOCTYPE rss SYSTEM "http://127.0.0.1:9/x.dtd">',
        '<?xml version="1.0" encoding="ISO-8859-1"?>']))
    if atom:
        body = f'<feed xmlns="http://www.w3.org/2005/Atom"{declare}>{"".join(items)}</feed>'
    else:
        body = f'<rss version="2.0"{declare}><channel>{"".join(items)}</channel></rss>'
    data = (prolog + body).encode("utf-8")
    return draw(st.sampled_from(["m.xml", "m.rss", "m.atom"])), draw(damaged(data)), {}


# -- configs and rule templates -----------------------------------------------------------

yaml_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                        text_value, st.sampled_from(["../../x", "/etc", "{{ x }}", "${HOME}",
                                                     "${UNSET_VARIABLE_XYZ}"]))
yaml_value = st.recursive(yaml_scalar, lambda c: st.one_of(
    st.lists(c, max_size=3), st.dictionaries(st.sampled_from(
        ["spec", "output", "outputs", "markets", "country", "language", "currency", "rules",
         "path", "format", "columns", "settings", "id", "title", "x"]), c, max_size=4)),
    max_leaves=10)

SOURCE_KEYS = ["path", "format", "encoding", "delimiter", "columns", "defaults", "values",
               "locale", "timezone", "sheet", "header_row", "records", "translate", "join",
               "list_separator", "preset", "reader", "bogus"]
CHANNEL_KEYS = ["spec", "output", "outputs", "markets", "rules", "settings", "rates",
                "localized_columns", "feed", "enabled", "csv_formula_guard", "bogus"]


@st.composite
def configs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """(source overrides, channels) with some keys set to hostile values."""
    source: dict[str, Any] = {}
    for key in draw(st.sets(st.sampled_from(SOURCE_KEYS), max_size=3)):
        source[key] = draw(yaml_value)
    channel: dict[str, Any] = {"spec": "google_merchant", "outputs": ["feeds/google.xml"]}
    for key in draw(st.sets(st.sampled_from(CHANNEL_KEYS), max_size=3)):
        channel[key] = draw(yaml_value)
    if draw(st.booleans()):
        channel["markets"] = [{"country": draw(st.sampled_from(["ES", "MX", "../x", "e", "ESP",
                                                                  "/"])),
                               "language": draw(st.sampled_from(["es", "../../", "ES", "x" * 9])),
                               "currency": draw(st.sampled_from(["EUR", "MXN", "XXX", "eur"]))}]
        channel["output"] = "feeds/g_{country}_{language}.xml"
        channel.pop("outputs", None)
        channel["rates"] = {"MXN": 20}
    name = draw(st.sampled_from(["google", "google", "g/../..", "..", "a.b"]))
    return source, {name: channel}


TEMPLATE_PIECES = [
    "{{ title }}", "{{ brand }}", "{{ price }}", "{{ title | upper }}", "{{ 'a' * 10**9 }}",
    "{{ [1] * 10**8 }}", "{{ title | center(10**9) }}", "{{ '%999999999d' | format(1) }}",
    "{% for i in range(100000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
    "{{ title | regex_replace('(a|aa)+$', '') }}", "{{ title | regex_replace('(', '') }}",
    "{{ ''.__class__ }}", "{{ title.__init__ }}", "{{ lipsum }}", "{{ undefined_name }}",
    "{{ 1/0 }}", "{{ title ~ title ~ title }}", "{% if title %}x{% endif %}", "{{",
    "{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f(title) }}", "{{ range(10**9) | list }}",
    "{{ title | replace('a', 'a' * 10000) }}", "{{ title | truncate(10**9) }}", "x", "",
]


@st.composite
def rule_templates(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Channel rules whose templates and regexes are hostile."""
    template = "".join(draw(st.lists(st.sampled_from(TEMPLATE_PIECES), min_size=1,
                                     max_size=3)))
    steps: list[dict[str, Any]] = [{"set": {"custom_label_0": template}}]
    if draw(st.booleans()):
        steps.append({"regex_replace": {
            "field": "title", "pattern": draw(st.sampled_from(
                ["(a|aa)+$", "(x+x+)+y", "[", "\\", "(?P<n>a)(?P=n)", ".*", "^$", "(a*)*b"])),
            "replacement": draw(st.sampled_from(["", "\\1", "\\g<n>", "x"]))}})
    if draw(st.booleans()):
        steps.append({"when": draw(st.sampled_from([
            "price > 10", "title ~ 'x'", "[1] * 10**9", "1/0", "brand ==", "''.__class__"])),
            "then": [{"set": {"custom_label_1": "x"}}]})
    return steps
