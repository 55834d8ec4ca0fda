"""Fast encoders against the standard library they replace: the same text, or the same error.

The writers encode JSON with one C encoder built once (feedsync/writers/json.py) and
write a CSV row without the csv module when no cell needs quoting
(feedsync/writers/delimited.py); these tests hold each to what json.dumps and csv.writer
give on random values, including the characters that make them quote or escape.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from feedsync.channels.loader import load_spec
from feedsync.config import FeedInfo
from feedsync.templating import json_default
from feedsync.writers.delimited import FORMULA_STARTS, DelimitedWriter
from feedsync.writers.json import _dumps

# Text with the characters encoders treat specially mixed in often.
_SPECIAL = st.sampled_from(['"', "\\", ",", "\t", "\n", "\r", "\r\n", " ", "'", "|", ";",
                            "\x00", "\x1f", "\u2028", "\ud800", "é", "😀", ""])
_TEXT = st.lists(st.one_of(_SPECIAL, st.text(max_size=6)), max_size=6).map("".join)

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), _TEXT,
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
    st.decimals(allow_nan=False, allow_infinity=False, places=2))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(_TEXT, inner, max_size=4)),
    max_leaves=12)


def _reference(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=json_default)


@settings(max_examples=600, derandomize=True, deadline=None, database=None)
@given(_VALUES)
def test_json_text_is_json_dumps(value: Any) -> None:
    assert _dumps(value) == _reference(value)


def _outcome(encode: Any, value: Any) -> tuple[str, str]:
    try:
        return "text", encode(value)
    except Exception as exc:  # the error's type is the outcome
        return "error", type(exc).__name__


def test_json_text_fails_where_json_dumps_fails() -> None:
    values = [{"a": object()}, [1, {2, 3}], {(1, 2): "tuple key"}, b"bytes",
              Decimal("NaN"), {1: "int key", None: "null key", 2.5: "float key"}]
    for value in values:
        assert _outcome(_dumps, value) == _outcome(_reference, value)
    assert [_outcome(_dumps, v)[0] for v in values[:4]] == ["error"] * 4
    # An error leaves nothing behind: the next value encodes as before.
    assert _dumps({"a": [1, Decimal("2.50")]}) == '{"a": [1, 2.5]}'


def _csv_row(cells: list[str], delimiter: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n",
               quoting=csv.QUOTE_MINIMAL, escapechar=None).writerow(cells)
    return buffer.getvalue()


def _csv_writer(delimiter: str) -> DelimitedWriter:
    spec = load_spec("meta_catalog")
    fmt = spec.formats["csv"].model_copy(update={"delimiter": delimiter})
    writer = DelimitedWriter.for_encoding(Path("feed.csv"), spec, fmt, FeedInfo(title="T"))
    assert isinstance(writer, DelimitedWriter)
    return writer


_DELIMITERS = [",", ";", "|", " "]
_CELL = st.lists(st.one_of(_SPECIAL, st.sampled_from(_DELIMITERS), st.text(max_size=5)),
                 max_size=5).map("".join)


@settings(max_examples=800, derandomize=True, deadline=None, database=None)
@given(st.sampled_from(_DELIMITERS), st.lists(_CELL, max_size=6))
def test_csv_row_is_csv_writer(delimiter: str, cells: list[str]) -> None:
    writer = _csv_writer(delimiter)
    assert _outcome(writer._row_bytes, cells) == _outcome(
        lambda row: _csv_row(row, delimiter).encode("utf-8"), cells)


def test_csv_row_quotes_what_csv_quotes() -> None:
    writer = _csv_writer(",")
    for cells in ([""], [], ["", ""], [" a ", "b"], ["a,b"], ['say "hi"'], ["a\nb"],
                  ["a\rb"], ["plain", "", "text"], ["'=1+1"],
                  # only delimiters to quote for (the shortcut), then with a quote too
                  ["a,b", "c"], ["", "a,,b", ",", ""], [",", 'a"b,c']):
        assert writer._row_bytes(cells) == _csv_row(cells, ",").encode("utf-8"), cells


def _delimited_writer(spec_name: str, fmt_name: str, guard: bool) -> DelimitedWriter:
    spec = load_spec(spec_name)
    fmt = spec.formats[fmt_name].model_copy(update={"formula_guard": guard})
    writer = DelimitedWriter.for_encoding(Path("feed.txt"), spec, fmt, FeedInfo(title="T"))
    assert isinstance(writer, DelimitedWriter)
    return writer


# An item's cell values as renderers give them: text (often formula-like), typed scalars,
# lists of text and lists of groups (shipping rows).
_FORMULA_TEXT = st.one_of(_TEXT, st.sampled_from(["=1+1", "+49 30", "-5", "@me", "\tx",
                                                  "\rx", "a\tb", "a\nb", "a\r\nb"]))
_CELL_VALUE = st.one_of(
    st.none(), _FORMULA_TEXT, st.integers(), st.booleans(),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.lists(_FORMULA_TEXT, max_size=3),
    st.lists(st.dictionaries(st.sampled_from(["country", "region", "service", "price"]),
                             _FORMULA_TEXT, min_size=1, max_size=4), min_size=1, max_size=3))


def _encode_by_column_loop(writer: DelimitedWriter, item: dict[str, Any]) -> bytes:
    """A row the plain way, a loop over the columns (what `encode` did before its code was
    generated per output)."""
    cells: list[str] = []
    for name in writer.columns:
        value = item.get(name)
        if value is None:
            cells.append("")
        elif type(value) is str:
            if "\r" in value or (writer.tab and ("\t" in value or "\n" in value)) or (
                    writer.guard and value and value[0] in FORMULA_STARTS):
                value = writer._text(value)
            cells.append(value)
        else:
            cells.append(writer._cell(name, value))
    return writer._row_bytes(cells)


@settings(max_examples=400, derandomize=True, deadline=None, database=None)
@given(st.sampled_from([("meta_catalog", "csv"), ("google_merchant", "tsv"),
                        ("idealo", "csv")]),
       st.booleans(), st.data())
def test_generated_row_encoder_is_the_column_loop(output: tuple[str, str], guard: bool,
                                                   data: st.DataObject) -> None:
    writer = _delimited_writer(*output, guard)
    names = st.sampled_from([*writer.columns, "not_a_column"])
    item = data.draw(st.dictionaries(names, _CELL_VALUE, max_size=12))
    assert _outcome(writer.encode, item) == _outcome(
        lambda i: _encode_by_column_loop(writer, i), item)
