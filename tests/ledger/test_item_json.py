"""The ledger's item encoding: orjson on the hot path, byte for byte what json writes.

Ledgers written before orjson compare items by the hash of json's text, so any difference
would show every item as changed on the first build after an upgrade (and trip guards).
"""

from __future__ import annotations

import enum
import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from feedsync.state.ledger import (
    _encode_bytes,
    _floatless,
    content_hash,
    item_json,
    item_json_bytes,
)

_REFERENCE = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                              default=str).encode


class Colour(str, enum.Enum):
    RED = "red"


_scalars = (st.text() | st.integers() | st.booleans() | st.none()
            | st.floats(allow_nan=False) | st.decimals(allow_nan=False, allow_infinity=False)
            | st.integers(min_value=2**63, max_value=2**70)
            | st.sampled_from([Markup("<b>x</b>"), Colour.RED,
                               datetime(2026, 12, 2, 8, 30, tzinfo=timezone.utc), 1e-05,
                               "\x7f\x1f\u2028\ufeff", "\ud800"]))
_values = st.recursive(_scalars, lambda children: st.lists(children, max_size=4)
                       | st.dictionaries(st.text(max_size=8), children, max_size=4),
                       max_leaves=12)


def _reference_or_error(value: Any) -> bytes | type[Exception]:
    """What the ledger stored before orjson: json's text, UTF-8 encoded (the hash's input)."""
    try:
        return _REFERENCE(value).encode("utf-8")
    except Exception as exc:  # the error type is what is compared
        return type(exc)


def _floatless_reference(value: Any) -> bool:
    """The definition `_floatless` (a plain loop, for speed) follows."""
    kind = type(value)
    if kind is float:
        return False
    if kind is list or kind is tuple:
        return all(type(v) is str or _floatless_reference(v) for v in value)
    if kind is dict:
        return all(type(v) is str or _floatless_reference(v) for v in value.values())
    return True


@settings(max_examples=1500, deadline=None)
@given(_values | st.tuples(_values, _values))
def test_the_float_search_finds_what_its_definition_finds(value: Any) -> None:
    assert _floatless(value) == _floatless_reference(value)


@settings(max_examples=1500, deadline=None)
@given(_values)
def test_encoding_is_byte_for_byte_what_json_writes(value: Any) -> None:
    expected = _reference_or_error(value)
    if isinstance(expected, bytes):
        assert _encode_bytes(value) == expected
    else:
        try:
            _encode_bytes(value)
        except Exception as exc:
            assert type(exc) is expected or isinstance(exc, ValueError)
        else:
            raise AssertionError(f"json refused {value!r} but the ledger encoded it")


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "title", "price", "link", "description",
                                        "additional_image_link", "shipping", "weight"]),
                       _values, max_size=8))
def test_item_json_text_and_bytes_agree_and_hash_alike(item: dict[str, Any]) -> None:
    try:
        text = item_json(item)
    except (UnicodeEncodeError, ValueError):
        return  # a lone surrogate cannot be stored either way
    assert item_json_bytes(item) == text.encode("utf-8")
    assert content_hash(text) == content_hash(text.encode("utf-8"))


def test_long_values_are_kept_as_a_digest_and_headline_fields_whole() -> None:
    item = {"id": "A1", "title": "t" * 100, "description": "d" * 100, "price": Decimal("9.50"),
            "additional_image_link": [f"https://shop.example/{n}.jpg" for n in range(5)]}
    kept = json.loads(item_json(item))
    assert kept["title"] == "t" * 100 and kept["price"] == "9.50"
    assert kept["description"].startswith("#") and len(kept["description"]) == 9
    assert kept["additional_image_link"].startswith("#")


class Size(enum.IntEnum):
    M = 2


@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "title", "price", "link", "description",
                                        "additional_image_link", "shipping", "weight",
                                        "quantity"]),
                       _values | st.sampled_from([Size.M, None, "x" * 70, "é" * 40,
                                                  ["é" * 30], [1e-05] * 9]), max_size=9))
def test_item_json_is_byte_for_byte_the_reference_encoding(item: dict[str, Any]) -> None:
    from feedsync.state.ledger import _item_json_reference

    try:
        expected = _item_json_reference(item).encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError) as exc:
        try:
            item_json_bytes(item)
        except type(exc):
            return
        raise AssertionError(f"the reference refused {item!r}, the fast path did not") from exc
    assert item_json_bytes(item) == expected


def test_remembered_digests_are_the_reference_digests() -> None:
    """Long values' digests are remembered by value (`_DIGESTS`): a value met again, in
    another field or item, as text or as a list, before and after the memo was emptied,
    gives what the reference computes; equal-looking text and encodings do not mix."""
    from feedsync.state import ledger as ledger_module
    from feedsync.state.ledger import _item_json_reference

    texts = ["d" * 65, "é" * 65, "<b>x</b> & " * 9, '["' + "u" * 70 + '"]', "\ud800" * 70]
    lists = [["u" * 70], [{"country": "ES", "price": "4.95 EUR", "service": "é" * 60}]]
    items = []
    for n in range(3 * ledger_module._DIGESTS_KEPT):
        long = texts[n % len(texts)] if n % 7 else f"{n:05d}" * 20
        items.append({"id": f"SKU-{n}", "description": long, "other": long,
                      "images": lists[n % 2], "shipping": [long], "title": long})
    for item in items + items[::-1]:
        try:
            expected = _item_json_reference(item).encode("utf-8")
        except UnicodeEncodeError:
            continue
        assert item_json_bytes(item) == expected
    assert len(ledger_module._DIGESTS) <= ledger_module._DIGESTS_KEPT
