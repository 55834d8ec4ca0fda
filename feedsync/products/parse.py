"""SourceRow -> Product plus Issues. Never raises for data problems.

A `RowParser` is compiled once from the source config and the master's header: which
column feeds which canonical field, how each value is converted, what the defaults and
value maps are. Parsing a row is then a loop over that plan.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import MISSING, fields
from datetime import tzinfo
from decimal import Decimal
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Template, TemplateError, meta
from jinja2.exceptions import SecurityError

from feedsync.checks import codes
from feedsync.checks.issue import Issue, Severity, row_issue
from feedsync.checks.text import (
    collapse_whitespace,
    has_control_characters,
    has_control_or_invalid_characters,
    has_entity_debris,
    has_html,
    has_invalid_characters,
    needs_cleaning,
    remove_control_characters,
    remove_invalid_characters,
    repair_entity_debris,
    strip_html,
    strip_simple_html,
)
from feedsync.config import SourceConfig
from feedsync.errors import ConfigError
from feedsync.products.dates import DateFormatError, parse_datetime
from feedsync.products.numbers import (
    PLAIN_NUMBER,
    NumberFormatError,
    currency_decimals,
    iso_currencies,
    parse_decimal,
    split_money,
)
from feedsync.products.product import (
    CANONICAL_FIELDS,
    ENUMS,
    DateWindow,
    Measure,
    Money,
    Product,
    Shipping,
)
from feedsync.sources.base import SourceRow
from feedsync.templating import template_environment


class FieldProblem(Exception):
    """A value that cannot be used; becomes an error Issue for its field."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Warn = Callable[[str, str], None]
Converter = Callable[[str, Warn], Any]

TEXT_FIELDS = ("title", "brand", "mpn", "color", "size", "material", "pattern", "product_type",
               "item_group_id", "google_product_category", "custom_label_0", "custom_label_1",
               "custom_label_2", "custom_label_3", "custom_label_4")

# Spellings merchants and shop exports use, beyond the canonical ones.
ENUM_SYNONYMS: dict[str, dict[str, str]] = {
    "availability": {"instock": "in_stock", "available": "in_stock", "in_stock": "in_stock",
                     "outofstock": "out_of_stock", "sold_out": "out_of_stock",
                     "pre_order": "preorder", "available_for_order": "backorder",
                     "on_backorder": "backorder", "limited": "limited_availability"},
    "condition": {"nuevo": "new", "new_new": "new", "refurb": "refurbished"},
    "gender": {"men": "male", "man": "male", "m": "male", "mens": "male",
               "women": "female", "woman": "female", "f": "female", "womens": "female",
               "unisex": "unisex"},
    "age_group": {"kid": "kids", "children": "kids", "adults": "adult", "baby": "infant"},
}
_BOOL_TRUE = {"yes", "y", "true", "1", "si", "sí", "ja", "oui"}
_BOOL_FALSE = {"no", "n", "false", "0", "nein", "non"}
_SCIENTIFIC = re.compile(r"^\d(?:[.,]\d+)?[eE]\+?\d+$")
# In GTIN-13 form: restricted circulation 02x, 04x, 2xx; coupons 05x, 981-984, 99x
# (Google's Shoptimizer gtin_optimizer, support.google.com/merchants/answer/7000684 and
# /6286302, checked 2026-12-02).
_RESTRICTED_GTIN = re.compile(r"^(?:0[245]|2\d|98[1-4]|99)")
# The same prefixes, for str.startswith (ASCII digits: `\d` is one of 0-9 there).
_RESTRICTED_PREFIXES = ("02", "04", "05", "2", "981", "982", "983", "984", "99")
_WEIGHT_UNITS = {"kg": "kg", "kgs": "kg", "kilo": "kg", "kilos": "kg", "kilogram": "kg",
                 "kilograms": "kg", "g": "g", "gr": "g", "grs": "g", "gram": "g",
                 "grams": "g", "lb": "lb", "lbs": "lb", "pound": "lb", "pounds": "lb",
                 "oz": "oz", "ounce": "oz", "ounces": "oz"}
# What every built-in channel spec requires (`required: true` in each, checked by
# test_essential_fields_are_exactly_what_every_channel_requires): a value of these that
# cannot be read removes the product everywhere. Any other field that cannot be read
# (a GTIN, a date, a link, an availability, even the price: eBay's inventory items carry
# none) is left out with a warning, and only a channel that requires it leaves the
# product out with its own issue (a weight written `3 kgs` or a bad GTIN must not remove
# a product from every feed).
ESSENTIAL_FIELDS = frozenset({"id", "title"})
# A sale whose price or dates cannot be read is dropped whole: a sale price without its
# dates would be advertised for ever.
_SALE_FIELDS = ("sale_price", "sale_price_effective_date", "sale_price_start", "sale_price_end")
_POSTAL = re.compile(r"^[0-9*][0-9A-Za-z*\- ]*$")
# Groups are comma-separated, but prices may use decimal commas: split only before `CC:`.
_SHIPPING_GROUPS = re.compile(r",(?=\s*[A-Za-z]{2}:)")
_MEMOISED = frozenset({
    "shipping", "shipping_weight", "availability", "condition", "gender", "age_group",
    "google_product_category", "product_type", "brand", "color",
    "size", "material", "pattern", "identifier_exists", "currency", "item_group_id",
    "custom_label_0", "custom_label_1", "custom_label_2", "custom_label_3", "custom_label_4"})
_MEMO_SIZE = 4096
_GTIN_SEPARATORS = re.compile(r"[\s\-]")
_WEIGHT = re.compile(r"^\s*([0-9.,]+)\s*([A-Za-z]*)\.?\s*$")


class _FrozenList(tuple):  # type: ignore[type-arg]
    """A memoised list value, copied back into a fresh list for each product."""
_ABSOLUTE_HTTP = re.compile(r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\s]+(?:[/?#]|$)")
# `|`-separated URLs, each of a lower-case scheme and a host starting with a letter or a
# digit: in a cell without white space, each part one _ABSOLUTE_HTTP accepts.
_PLAIN_URL_LIST = re.compile(r"https?://[A-Za-z0-9][^|]*(?:\|https?://[A-Za-z0-9][^|]*)*")
_WHITESPACE = re.compile(r"\s")
_MULTI_SPLIT = re.compile(r"\s*[,|\n]\s*")


class ColumnTemplate:
    """A value computed from several master columns, e.g. a link built from the shop's id.

    Columns are available by name (`{{ ID }}`) when the name is a valid identifier, and
    always as `row['In stock?']`. Runs in Jinja2's sandbox; compiled once.
    """

    def __init__(self, template: Template, names: set[str], target: str = "") -> None:
        self.template = template
        self.names = names
        self.target = target

    def __call__(self, data: dict[str, str | None]) -> str:
        """The value; ConfigError when the template breaks the sandbox (a config problem,
        the same for every row), FieldProblem when it fails on this row's values."""
        context: dict[str, Any] = {n: data.get(n) or "" for n in self.names
                                   if n not in ("row", "extra")}
        # `row` (and `extra`, the name rules use) hold every column; a key a record lacks
        # (JSON records vary) is a missing value, printed as nothing like any other.
        context["row"] = context["extra"] = _Columns(data)
        try:
            return self.template.render(context)
        except SecurityError as exc:
            raise ConfigError(f"source.columns.{self.target}: the template is not allowed: "
                              f"{exc}") from exc
        except TemplateError as exc:
            raise FieldProblem(codes.TEMPLATE_FAILED,
                               f"source.columns.{self.target}: the template failed: {exc}"
                               ) from exc


class _Columns(dict):  # type: ignore[type-arg]
    """A row's cells, where a column the row does not have reads as None."""

    def __missing__(self, key: str) -> None:
        return None


_column_env = template_environment()


def compile_column_template(target: str, text: str, columns: list[str],
                            source_name: str) -> ColumnTemplate:
    try:
        template = _column_env.from_string(text)
        names = meta.find_undeclared_variables(_column_env.parse(text))
    except TemplateError as exc:
        raise ConfigError(f"source.columns.{target}: bad template {text!r}: {exc}") from exc
    unknown = sorted(n for n in names if n not in ("row", "extra") and n not in columns)
    if unknown:
        raise ConfigError(f"source.columns.{target}: {source_name} has no column "
                          f"{', '.join(repr(n) for n in unknown)}")
    return ColumnTemplate(template, names, target)


class _ParseState:
    """What the field loop of one row found, beyond the values themselves."""

    __slots__ = ("failed", "issues", "product_id", "row", "unreadable", "unreadable_sale")

    def __init__(self, row: int, product_id: str | None, issues: list[Issue],
                 failed: bool) -> None:
        self.row = row
        self.product_id = product_id
        self.issues = issues
        self.failed = failed
        # Fields whose value could not be read: no default stands in for them, since the
        # warning says the value is left out.
        self.unreadable: set[str] = set()
        self.unreadable_sale = False


class RowParser:
    """Turns SourceRows of one master into Products, collecting Issues as values."""

    def __init__(self, source: SourceConfig, columns: list[str], source_name: str) -> None:
        self.source = source
        self.locale = source.locale
        self.tz = _timezone(source.timezone)
        self.default_currency = str(source.defaults.get("currency", "")).upper() or None
        if self.default_currency and self.default_currency not in iso_currencies():
            raise ConfigError(f"source.defaults.currency: {self.default_currency} is not an "
                              "ISO 4217 currency code")
        self.weight_unit = source.defaults.get("weight_unit")
        self.templates: dict[str, ColumnTemplate] = {}
        self.list_split = (re.compile(re.escape(source.list_separator))
                           if source.list_separator else _MULTI_SPLIT)
        self.mapping = self._resolve_mapping(columns, source_name)
        used = {c for cols in self.mapping.values() for c in cols}
        self.extra_columns = [c for c in columns if c not in used]
        self.value_maps = {name: _normalised_map(m) for name, m in source.values.items()}
        self.defaults = {k: v for k, v in source.defaults.items() if k in CANONICAL_FIELDS}
        self.converters: dict[str, Converter] = self._converters()
        self.default_values = self._convert_defaults()
        self.id_column = self.mapping["id"][0] if self.mapping["id"] else None
        self._warnings: list[tuple[str, str]] = []
        self.plan = self._plan()
        self._parse_fields = self._compile_fields()
        # What parse() would otherwise look up on every row.
        self._id_template = self.templates.get("id")
        self._maps_images = "images" in self.mapping
        # Mapped fields that help build others and are no Product field.
        self._maps_helpers = not self.mapping.keys().isdisjoint(
            ("currency", "sale_price_start", "sale_price_end"))
        self._default_items = tuple(self.default_values.items())
        self._quanta: dict[str, Decimal] = {}  # a currency's smallest unit, by its code
        self._product = self._compile_product()

    def _convert_defaults(self) -> dict[str, Any]:
        converted: dict[str, Any] = {}
        problems = []
        for name, default in self.defaults.items():
            try:
                converted[name] = self.converters[name](default, lambda code, message: None)
            except (FieldProblem, DateFormatError) as problem:
                problems.append(f"source.defaults.{name}: {problem}")
        if problems:
            raise ConfigError("invalid default value(s):", problems)
        return converted

    def _resolve_mapping(self, columns: list[str], source_name: str) -> dict[str, list[str]]:
        by_lower = {c.lower(): c for c in columns}
        mapping: dict[str, list[str]] = {}
        missing = []
        for target, spec in self.source.columns.items():
            if isinstance(spec, str) and "{{" in spec:
                self.templates[target] = compile_column_template(target, spec, columns,
                                                                 source_name)
                mapping[target] = []
                continue
            wanted = [spec] if isinstance(spec, str) else list(spec)
            found = []
            for column in wanted:
                actual = column if column in columns else by_lower.get(column.lower())
                if actual is None:
                    missing.append(f"{column!r} (for {target})")
                else:
                    found.append(actual)
            mapping[target] = found
        if missing:
            raise ConfigError(
                f"{source_name} has no column {', '.join(missing)}; its header is: "
                + ", ".join(repr(c) for c in columns[:40]))
        # Columns already named after a canonical field need no mapping.
        for name in (*CANONICAL_FIELDS, "images"):
            if name not in mapping and name in by_lower:
                column = by_lower[name]
                if not any(column in cols for cols in mapping.values()):
                    mapping[name] = [column]
        if "id" not in mapping:
            raise ConfigError(
                f"no column of {source_name} is mapped to the product id; add "
                "`columns: {id: <your SKU column>}` under source in the config")
        return mapping

    def _converters(self) -> dict[str, Converter]:
        converters: dict[str, Converter] = dict.fromkeys(TEXT_FIELDS, self._text)
        converters.update(
            id=self._id, description=self._description, link=self._url,
            image_link=self._url, additional_image_link=self._url_list,
            price=self._money, sale_price=self._money, availability_date=self._datetime,
            sale_price_effective_date=self._window, gtin=self._gtin,
            identifier_exists=self._bool, shipping_weight=self._weight,
            shipping=self._shipping, quantity=self._int,
        )
        for name in ENUMS:
            converters[name] = self._enum_converter(name)
        return converters

    # -- the per-row loop -------------------------------------------------------------

    def _plan(self) -> list[tuple[str, str | None, list[str], Any, dict[str, str] | None,
                                  Converter, dict[str, Any] | None]]:
        """(target, column, columns, template, value map, converter, memo) per mapping.

        Fields whose values repeat across a catalog (shipping rules, enums, brands) keep a
        bounded memo of converted values; a list result is stored as a tuple and copied
        out, so products never share a mutable value.
        """
        special: dict[str, Converter] = {
            "images": self._url_list,
            "currency": lambda raw, warn: self._currency_code(raw),
            "sale_price_start": lambda raw, warn: self._date(raw, end_of_day=False),
            "sale_price_end": lambda raw, warn: self._date(raw, end_of_day=True),
        }
        return [(target, columns[0] if columns else None, columns, self.templates.get(target),
                 self.value_maps.get(target), special.get(target) or self.converters[target],
                 {} if target in _MEMOISED else None)
                for target, columns in self.mapping.items()]

    def _compile_fields(self) -> Callable[[dict[str, str | None], dict[str, Any],
                                           _ParseState], None]:
        """The per-row loop over `plan`, generated once per source mapping.

        Each mapped field becomes a few straight lines: its cell, stripped; its value map
        and memo where it has them; its converter. What is known when the mapping is
        compiled (which column, whether a value map or a memo exists, one column or
        several, a template, whether the value is a list) is decided here rather than on
        every row. Problems go to `_field_problem` and warnings to `_field_warnings`,
        which hold the one definition of what they mean; the tests of the parser run
        through this code.
        """
        namespace: dict[str, Any] = {
            "FieldProblem": FieldProblem, "DateFormatError": DateFormatError,
            "URL_LIST": _PLAIN_URL_LIST.fullmatch, "PLAIN_NUMBER": PLAIN_NUMBER.match,
            "Decimal": Decimal, "FrozenList": _FrozenList, "MEMO_SIZE": _MEMO_SIZE,
            "warn": self._warn, "warnings": self._warnings, "problem": self._field_problem,
            "template_failed": self._template_failed, "flush": self._field_warnings}
        lines = ["def parse_fields(data, values, state):"]
        for index, (target, column, columns, template, value_map, convert,
                    memo) in enumerate(self.plan):
            namespace[f"convert_{index}"] = convert
            namespace[f"column_{index}"] = column
            namespace[f"columns_{index}"] = columns
            # A memo of one plain column is keyed by the cell as read: a repeated cell is
            # then settled before it is even stripped. (The value is a function of the
            # cell alone: strip, value map, converter.)
            by_cell = memo is not None and template is None and len(columns) == 1
            key = "cell" if by_cell else "raw"
            # Which converters give lists is known: a memoised list is kept as a tuple
            # and copied out, so products never share a mutable value.
            lists = convert in (self._url_list, self._shipping)
            cached = "list(cached)" if lists else "cached"
            head: list[str] = []
            if template is not None:
                namespace[f"template_{index}"] = template
                head += ["try:",
                         f"    raw = template_{index}(data).strip()",
                         "except FieldProblem as failure:",
                         f"    template_failed(state, failure, {target!r})",
                         "    raw = ''"]
            elif by_cell:
                namespace[f"memo_{index}"] = memo
                head += [f"cell = data.get({column!r})",
                         f"cached = memo_{index}.get(cell)",
                         "if cached is not None:",
                         f"    values[{target!r}] = {cached}",
                         "else:",
                         "    raw = (cell or '').strip()"]
            elif len(columns) == 1:
                head.append(f"raw = (data.get({column!r}) or '').strip()")
            else:
                head.append(f"raw = '\\n'.join(v for c in columns_{index} "
                            "if (v := (data.get(c) or '').strip())).strip()")
            body = []
            if value_map:
                namespace[f"map_{index}"] = value_map
                body.append(f"raw = map_{index}.get(raw.casefold(), raw)")
            if memo is not None and not by_cell:
                namespace[f"memo_{index}"] = memo
                body += [f"cached = memo_{index}.get(raw)",
                         "if cached is not None:",
                         f"    values[{target!r}] = {cached}",
                         "else:"]
                indent = "    "
            else:
                indent = ""
            frozen = "FrozenList(value)" if lists else "value"
            store = ([f"if not warnings and len(memo_{index}) < MEMO_SIZE:",
                      f"    memo_{index}[{key}] = {frozen}"] if memo is not None else [])
            value = "value = " if memo is not None else ""
            general = ["try:",
                       f"    values[{target!r}] = {value}convert_{index}(raw, warn)",
                       *(f"    {line}" for line in store),
                       "except (FieldProblem, DateFormatError) as failure:",
                       f"    problem(state, failure, {target!r}, raw, column_{index})",
                       "if warnings:",
                       f"    flush(state, {target!r}, raw, column_{index})"]
            shortcut = self._shortcut(convert)
            if shortcut is not None:
                # The usual value, settled inline; any other goes through the converter.
                test, result = shortcut
                general = [f"if {test}:",
                           f"    values[{target!r}] = {value}{result}",
                           *(f"    {line}" for line in store),
                           "else:",
                           *(f"    {line}" for line in general)]
            body += [f"{indent}{line}" for line in general]
            field_lines = [*head, "if raw:", *(f"    {line}" for line in body)]
            if by_cell:
                # Everything after the memo's hit is its `else:`.
                field_lines = [*head, "    if raw:", *(f"        {line}" for line in body)]
            lines += [f"    {line}" for line in field_lines]
        lines.append("    return None")
        exec("\n".join(lines), namespace)
        return namespace["parse_fields"]  # type: ignore[no-any-return]

    def _compile_product(self) -> Callable[[dict[str, Any], int, dict[str, str]], Product]:
        """`Product(row=row, extra=extra, **values)`, generated for this mapping: the
        Product's fields positionally, each a `values.get` where parse() may have set it
        and its default where it cannot have. (Keywords cost ~20K instructions a row,
        matched against 36 parameters.) Where values could hold a key Product lacks, the
        keyword call is kept, TypeError and all."""
        possible = ({*self.mapping, *self.default_values}
                    - {"images", "currency", "sale_price_start", "sale_price_end"}
                    | {"id", "image_link", "additional_image_link", "price", "sale_price",
                       "sale_price_effective_date", "identifier_exists"})
        names = [f.name for f in fields(Product)]
        if not possible <= set(names) - {"row", "extra"}:
            return lambda values, row, extra: Product(row=row, extra=extra, **values)
        arguments = []
        for f in fields(Product):
            if f.name in ("row", "extra"):
                arguments.append(f.name)
            elif f.name not in possible:
                # Never in values: the field's own default (a fresh list where it has one).
                arguments.append("[]" if f.default_factory is list else repr(f.default))
            elif f.default_factory is list:
                arguments.append(f"values[{f.name!r}] if {f.name!r} in values else []")
            else:
                arguments.append(f"get({f.name!r})")
        assert all(f.default is None for f in fields(Product)
                   if f.name not in ("id", "row", "extra") and f.default_factory is MISSING)
        source = ("def product(values, row, extra):\n"
                  "    get = values.get\n"
                  f"    return Product({', '.join(arguments)})\n")
        namespace: dict[str, Any] = {"Product": Product}
        exec(source, namespace)
        return namespace["product"]  # type: ignore[no-any-return]

    def _shortcut(self, convert: Converter) -> tuple[str, str] | None:
        """(test, value) as Python expressions of `raw` (a stripped, non-empty cell): where
        the test holds, the value is what `convert` returns for `raw`, without a warning.

        Most cells of a catalog are plain: a title without markup, a URL of printable ASCII,
        a price of digits. Testing that inline saves the converter's call (and the calls it
        makes) on every row; the tests in test_parse_shortcuts run both on many values.
        """
        if convert == self._text:
            # needs_cleaning's own first test: when it holds, _clean_text returns raw.
            return ('raw.isprintable() and "  " not in raw and "<" not in raw and "&" not in '
                    'raw and ";" not in raw and "\\ufffd" not in raw', "raw")
        if convert == self._id:
            # A printable string has no control characters.
            return "raw.isprintable()", "raw"
        if convert == self._url:
            # _url's own test of a URL to leave as it is; printable ASCII without a space
            # has no white space, so _ABSOLUTE_HTTP matches where the scheme is followed
            # by a host (one starting with a letter or digit, here).
            return ('raw.isascii() and " " not in raw and raw.isprintable() and ('
                    'raw.startswith("https://") and raw[8:9].isalnum() or '
                    'raw.startswith("http://") and raw[7:8].isalnum())', "raw")
        if convert == self._url_list and self.list_split is _MULTI_SPLIT:
            # _url_list splits such a list at `|` and keeps every part as it is: each is
            # one the test above takes.
            return ('raw.isascii() and " " not in raw and "," not in raw and raw.isprintable()'
                    ' and URL_LIST(raw) is not None', 'raw.split("|")')
        if convert == self._money:
            # split_money and parse_decimal's plain number (the same in every locale, in
            # bounds up to 15 characters, no separator to warn about): no currency code.
            return ("len(raw) <= 15 and PLAIN_NUMBER(raw) is not None and "
                    "(amount := Decimal(raw)) > 0", "(amount, None)")
        if convert == self._int:
            # ASCII digits: parse_decimal's plain number, a whole one.
            return "len(raw) <= 15 and raw.isascii() and raw.isdigit()", "int(raw)"
        return None

    def _template_failed(self, state: _ParseState, problem: FieldProblem,
                         target: str) -> None:
        state.issues.append(Issue(problem.code, Severity.ERROR, problem.message,
                                  row=state.row, product_id=state.product_id,
                                  field=_public_name(target)))
        state.failed = True

    def _field_problem(self, state: _ParseState, problem: FieldProblem | DateFormatError,
                       target: str, raw: str, column: str | None) -> None:
        """A value that cannot be read: an error for the fields every channel needs, a
        warning (the value is left out) for the others."""
        code = problem.code if isinstance(problem, FieldProblem) else codes.INVALID_DATE
        soft = target not in ESSENTIAL_FIELDS
        message = str(problem)
        if target in _SALE_FIELDS:
            message += "; the sale price and its dates are left out"
            state.unreadable_sale = True
        elif soft:
            message += ("; it is left out, and only channels that need "
                        f"{_public_name(target)} leave the product out")
        state.unreadable.add(target)
        state.issues.append(Issue(code, Severity.WARNING if soft else Severity.ERROR,
                                  message, row=state.row, product_id=state.product_id,
                                  field=_public_name(target), value=raw[:200], column=column))
        state.failed = state.failed or not soft

    def _field_warnings(self, state: _ParseState, target: str, raw: str,
                        column: str | None) -> None:
        """The warnings a converter gave for one field, as issues."""
        # Positional arguments: a warning per product (HTML removed) is usual, and
        # keywords cost about a quarter of building the issue.
        row, product_id, field, value = state.row, state.product_id, _public_name(target), raw[:200]
        for code, message in self._warnings:
            state.issues.append(row_issue(code, Severity.WARNING, message, row, product_id,
                                          field, value, None, column))
        self._warnings.clear()

    def raw_id(self, data: dict[str, str | None]) -> str | None:
        """The row's product id as the master gives it (its column or its template)."""
        template = self.templates.get("id")
        try:
            raw = template(data) if template is not None else data.get(self.id_column or "")
        except FieldProblem:
            return None  # reported by parse() on the id field
        return (raw or "").strip() or None

    def _warn(self, code: str, message: str) -> None:
        self._warnings.append((code, message))

    def parse(self, source_row: SourceRow) -> tuple[Product | None, list[Issue]]:
        """The product, or None when the row is unusable; plus every issue found."""
        row = source_row.row
        data = source_row.data
        issues: list[Issue] = list(source_row.issues)
        values: dict[str, Any] = {}
        failed = any(i.is_error for i in issues) if issues else False
        if self._id_template is None:  # raw_id, without its call
            product_id = (data.get(self.id_column or "") or "").strip() or None
        else:
            product_id = self.raw_id(data)
        state = _ParseState(row, product_id, issues, failed)
        self._parse_fields(data, values, state)
        # Every error found from here on sets state.failed (_field_problem,
        # _template_failed); the ones _finish adds are warnings.
        failed = state.failed
        unreadable = state.unreadable

        if self._maps_images:
            images = values.pop("images", None)
            if images:
                values.setdefault("image_link", images[0])
                values.setdefault("additional_image_link", images[1:])
        if state.unreadable_sale:
            for name in _SALE_FIELDS:
                values.pop(name, None)
        for name, default in self._default_items:
            if values.get(name) in (None, "", []) and name not in unreadable:
                values[name] = default

        if not product_id:
            issues.append(Issue(codes.MISSING_ID, Severity.ERROR,
                                "the product has no id, so no channel can list it",
                                row=row, field="id", column=self.id_column))
            return None, issues

        self._finish(values, issues, row, product_id, "gtin" in unreadable)
        if failed:
            return None, issues
        extra = ({c: cell for c in self.extra_columns if (cell := data.get(c))}
                 if self.extra_columns else {})
        if self._maps_helpers:
            values.pop("currency", None)
            values.pop("sale_price_start", None)
            values.pop("sale_price_end", None)
        values["id"] = product_id
        return self._product(values, row, extra), issues

    def _date(self, raw: str, end_of_day: bool) -> Any:
        return parse_datetime(raw, locale=self.locale, tz=self.tz,
                              date_format=self.source.date_format, end_of_day=end_of_day)

    def _finish(self, values: dict[str, Any], issues: list[Issue], row: int,
                product_id: str, gtin_unreadable: bool = False) -> None:
        """Checks across fields: currencies, sale price and window, identifiers.

        A problem with the price removes the product everywhere (every channel needs a
        price); a problem with the sale leaves the sale out, with a warning."""

        currency = values.get("currency") or self.default_currency
        quanta = self._quanta
        for name in ("price", "sale_price"):
            amount = values.get(name)
            if not isinstance(amount, tuple):  # (Decimal, currency or None)
                continue
            value, code = amount
            code = code or currency
            if code and (quantum := quanta.get(code)) is None:
                quantum = quanta[code] = _quantum(currency_decimals(code))
            if not code:
                problem = (codes.MISSING_CURRENCY,
                           f"{name} {value} has no currency; write it in the cell "
                           "(15.00 EUR) or set source.defaults.currency")
            elif value != value.quantize(quantum):
                decimals = currency_decimals(code)
                problem = (codes.TOO_MANY_DECIMALS,
                           f"{name} {value} has more decimals than {code} allows ({decimals})")
            else:
                values[name] = Money(value, code)
                continue
            if name == "sale_price":
                self._drop_sale(values, issues, row, product_id, *problem, str(value))
                continue
            issues.append(Issue(
                problem[0], Severity.WARNING,
                f"{problem[1]}; it is left out, and only channels that need price leave "
                "the product out", row=row, product_id=product_id, field=name,
                value=str(value)))
            values.pop("price")
            for sale_name in _SALE_FIELDS:  # a sale price means nothing without a price
                values.pop(sale_name, None)
        price, sale = values.get("price"), values.get("sale_price")
        if isinstance(sale, Money) and isinstance(price, Money):
            if sale.currency != price.currency:
                self._drop_sale(values, issues, row, product_id, codes.CURRENCY_MISMATCH,
                                f"sale_price is in {sale.currency} but price in "
                                f"{price.currency}", str(sale))
            elif sale.amount >= price.amount:
                issues.append(Issue(codes.SALE_PRICE_NOT_LOWER, Severity.WARNING,
                                    f"sale_price {sale} is not lower than price {price}; "
                                    "the sale price is left out", row=row,
                                    product_id=product_id, field="sale_price", value=str(sale)))
                values.pop("sale_price")
                values.pop("sale_price_effective_date", None)
        start, end = values.get("sale_price_start"), values.get("sale_price_end")
        if start and end and "sale_price_effective_date" not in values:
            values["sale_price_effective_date"] = DateWindow(start, end)
        elif (start or end) and "sale_price_effective_date" not in values:
            issues.append(Issue(codes.INCOMPLETE_SALE_WINDOW, Severity.WARNING,
                                "a sale needs both a start and an end date; the dates are "
                                "left out", row=row, product_id=product_id,
                                field="sale_price_effective_date"))
        window = values.get("sale_price_effective_date")
        if window and window.end <= window.start:
            self._drop_sale(values, issues, row, product_id, codes.INVALID_SALE_WINDOW,
                            "the sale ends before it starts", None,
                            "sale_price_effective_date")
        # A product whose GTIN could not be read has one: saying identifier_exists=no
        # for it would be false (Google disapproves that), so it is left unsaid.
        if "identifier_exists" not in values and not gtin_unreadable and not values.get(
                "gtin") and not (values.get("brand") and values.get("mpn")):
            values["identifier_exists"] = False

    def _drop_sale(self, values: dict[str, Any], issues: list[Issue], row: int,
                   product_id: str, code: str, message: str, value: str | None,
                   field: str = "sale_price") -> None:
        """Leave the sale out of `values`, with a warning saying why. (A method, not a
        closure in _finish: its cells slowed every use of the names it shares.)"""
        issues.append(Issue(code, Severity.WARNING,
                            f"{message}; the sale price and its dates are left out",
                            row=row, product_id=product_id, field=field, value=value))
        for name in _SALE_FIELDS:
            values.pop(name, None)

    # -- converters: raw string -> typed value, or FieldProblem ------------------------

    def _id(self, raw: str, warn: Warn) -> str:
        if has_control_characters(raw):
            raise FieldProblem(codes.INVALID_ID, "the id contains control characters")
        return raw

    def _text(self, raw: str, warn: Warn) -> str:
        return _clean_text(raw, warn, keep_newlines=False)

    def _description(self, raw: str, warn: Warn) -> str:
        if "<" in raw and not has_control_or_invalid_characters(raw) and (
                ";" not in raw or not has_entity_debris(raw)):
            # Nothing for _clean_text to do before strip_html: for simple markup (a tag
            # at least, so both needs_cleaning and has_html hold), the same text at once.
            text = strip_simple_html(raw)
            if text is not None:
                warn(codes.HTML_IN_TEXT, _HTML_REMOVED)
                return text
        return _clean_text(raw, warn, keep_newlines=True)

    def _url(self, raw: str, warn: Warn) -> str:
        url = raw.strip()
        if _ABSOLUTE_HTTP.match(url) is None:
            raise FieldProblem(codes.INVALID_URL, f"{url[:80]!r} is not an absolute http(s) URL")
        # A printable ASCII URL without a space has no white space: the search (~0.3 us
        # a URL, three URLs a product) is only for the others.
        if not url.isascii() or ((" " in url or not url.isprintable())
                                 and _WHITESPACE.search(url)):
            url = quote(url, safe=":/?#[]@!$&'()*+,;=%~")
        return url

    def _url_list(self, raw: str, warn: Warn) -> list[str]:
        urls = []
        # Without white space or another separator, the default pattern splits where
        # str.split("|") does (a test checks both on many strings; the regex cost ~1 us).
        if (self.list_split is _MULTI_SPLIT and "," not in raw and " " not in raw
                and raw.isprintable()):
            parts = raw.split("|")
        else:
            parts = self.list_split.split(raw)
        for part in parts:
            if not part:
                continue
            try:
                urls.append(self._url(part, warn))
            except FieldProblem as problem:
                warn(codes.INVALID_URL, f"{problem.message}; that image is left out")
        return urls

    def _money(self, raw: str, warn: Warn) -> tuple[Decimal, str | None]:
        number, code = split_money(raw)
        if code and code not in iso_currencies():
            raise FieldProblem(codes.INVALID_CURRENCY, f"{code} is not an ISO 4217 currency code")
        try:
            amount = parse_decimal(number, self.locale)
        except NumberFormatError as exc:
            raise FieldProblem(codes.INVALID_PRICE, f"{raw!r} is not a price") from exc
        if self.locale is None and (number.count(".") + number.count(",") >= 2
                                    or "'" in number):
            # With no source.locale the separators were guessed: say how it was read.
            warn(codes.THOUSANDS_SEPARATOR,
                 f"{raw!r} has thousands separators and source.locale is not set; read as "
                 f"{amount}")
        if amount <= 0:
            raise FieldProblem(codes.INVALID_PRICE, f"price must be more than 0 (got {raw})")
        return amount, code

    def _currency_code(self, raw: str) -> str:
        code = raw.strip().upper()
        if code not in iso_currencies():
            raise FieldProblem(codes.INVALID_CURRENCY, f"{raw} is not an ISO 4217 currency code")
        return code

    def _datetime(self, raw: str, warn: Warn) -> Any:
        return parse_datetime(raw, locale=self.locale, tz=self.tz,
                              date_format=self.source.date_format)

    def _window(self, raw: str, warn: Warn) -> DateWindow:
        start, sep, end = raw.partition("/")
        if not sep:
            raise FieldProblem(codes.INVALID_DATE, f"{raw!r} is not a start/end interval "
                                               "(e.g. 2026-11-01/2026-11-30)")
        locale, tz, date_format = self.locale, self.tz, self.source.date_format
        return DateWindow(
            parse_datetime(start, locale=locale, tz=tz, date_format=date_format),
            parse_datetime(end, end_of_day=True, locale=locale, tz=tz, date_format=date_format))

    def _gtin(self, raw: str, warn: Warn) -> str:
        if raw.isascii() and raw.isdigit() and len(raw) != 10:
            # The usual GTIN: ASCII digits as they are, not an ISBN-10, and (without an
            # `e`) not a number a spreadsheet rewrote.
            digits = raw
        else:
            digits = self._gtin_digits(raw, warn)
        if len(digits) not in (8, 12, 13, 14):
            raise FieldProblem(codes.INVALID_GTIN, f"GTIN {raw} has {len(digits)} digits; "
                                               "a GTIN has 8, 12, 13 or 14")
        if gs1_check_digit(digits[:-1]) != digits[-1]:
            raise FieldProblem(codes.INVALID_GTIN, f"GTIN {raw} fails the GS1 check digit")
        if (digits.zfill(13) if len(digits) < 14 else digits[1:]).startswith(
                _RESTRICTED_PREFIXES):
            raise FieldProblem(codes.INVALID_GTIN, f"GTIN {raw} is a store-internal or coupon "
                                               "number, which channels reject")
        if len(digits) == 14 and digits[0] == "9":
            raise FieldProblem(codes.INVALID_GTIN, f"GTIN {raw} starts with the variable-measure "
                                               "indicator 9, which Google rejects")
        body = digits[:-1].lstrip("0")
        # (No set of the digits: one repeated digit is one whose count is the length.)
        if not body or body.count(body[0]) == len(body) or body.startswith("123456789"):
            raise FieldProblem(codes.INVALID_GTIN, f"GTIN {raw} is a placeholder (repeated or "
                                               "sequential digits), not a real GTIN")
        return digits

    def _gtin_digits(self, raw: str, warn: Warn) -> str:
        """The digits of a GTIN written otherwise than as plain ASCII digits (or of 10
        digits, maybe an ISBN-10), or FieldProblem."""
        if _SCIENTIFIC.match(raw):
            raise FieldProblem(codes.INVALID_GTIN, f"{raw} looks like a GTIN that a spreadsheet "
                                               "turned into a number; format the column as text")
        digits = raw if raw.isdigit() else _GTIN_SEPARATORS.sub("", raw)
        if not digits.isascii() and digits.isdecimal():
            # Another script's digits (Arabic-Indic, full-width): the same number, in the
            # digits channels read.
            digits = "".join(str(int(char)) for char in digits)
        if len(digits) == 10:
            # Imported here: python-stdnum pulls in ssl (~0.1 G instructions at start-up)
            # and only an ISBN-10 needs it.
            from stdnum import isbn

            if isbn.is_valid(digits):
                warn(codes.ISBN10_CONVERTED, "ISBN-10 converted to ISBN-13")
                digits = isbn.to_isbn13(digits).replace("-", "")
        # isdigit() alone also passes superscripts and circled digits ('²', '①'), which
        # int() refuses: such a GTIN crashed the build (exit 70).
        if not (digits.isascii() and digits.isdigit()):
            raise FieldProblem(codes.INVALID_GTIN, f"GTIN {raw} must contain only digits")
        return digits

    def _bool(self, raw: str, warn: Warn) -> bool:
        word = raw.strip().casefold()
        if word in _BOOL_TRUE:
            return True
        if word in _BOOL_FALSE:
            return False
        raise FieldProblem(codes.INVALID_VALUE, f"{raw!r} is not yes or no")

    def _int(self, raw: str, warn: Warn) -> int:
        try:
            number = parse_decimal(raw, self.locale)
        except NumberFormatError as exc:
            raise FieldProblem(codes.INVALID_NUMBER, f"{raw!r} is not a whole number") from exc
        if number != number.to_integral_value():
            raise FieldProblem(codes.INVALID_NUMBER, f"{raw!r} is not a whole number")
        return int(number)

    def _weight(self, raw: str, warn: Warn) -> Measure:
        number, space, written = raw.partition(" ")
        if (space and written in _WEIGHT_UNITS and number.isascii()
                and number.replace(".", "").isdigit()):
            # `0.5 kg`: what _WEIGHT reads as the number and a unit written as the table
            # spells it (lower case), without the pattern.
            try:
                return Measure(parse_decimal(number, self.locale), _WEIGHT_UNITS[written])
            except NumberFormatError as exc:
                raise FieldProblem(codes.INVALID_WEIGHT, f"{raw!r} is not a weight") from exc
        match = _WEIGHT.match(raw)
        if not match:
            raise FieldProblem(codes.INVALID_WEIGHT, f"{raw!r} is not a weight such as 0.5 kg")
        if match[2] and match[2].lower() not in _WEIGHT_UNITS:
            raise FieldProblem(codes.INVALID_WEIGHT, f"weight {raw!r}: {match[2]!r} is not a unit "
                                                 "feedsync knows (kg, g, lb, oz)")
        unit = _WEIGHT_UNITS[match[2].lower()] if match[2] else self.weight_unit
        if not unit:
            raise FieldProblem(codes.INVALID_WEIGHT, f"weight {raw!r} has no unit (kg, g, lb, oz); "
                                                 "write one or set source.defaults.weight_unit")
        try:
            return Measure(parse_decimal(match[1], self.locale), unit)
        except NumberFormatError as exc:
            raise FieldProblem(codes.INVALID_WEIGHT, f"{raw!r} is not a weight") from exc

    def _shipping(self, raw: str, warn: Warn) -> list[Shipping]:
        return parse_shipping(raw, self.locale, self.default_currency)

    def _enum_converter(self, name: str) -> Converter:
        allowed = ENUMS[name]
        synonyms = ENUM_SYNONYMS.get(name, {})

        def convert(raw: str, warn: Warn) -> str:
            key = re.sub(r"[\s\-]+", "_", raw.strip().casefold())
            if key in allowed:
                return key
            if key in synonyms:
                return synonyms[key]
            raise FieldProblem(
                codes.INVALID_VALUE,
                f"{raw!r} is not a known {name} (use one of {', '.join(allowed)}, or map it "
                f"under source.values.{name})")

        return convert


def parse_shipping(raw: str, locale: str | None,
                   default_currency: str | None) -> list[Shipping]:
    """Google's syntax: `ES::Standard:4.95 EUR`, several groups separated by commas.

    Raises FieldProblem for a group that cannot be used."""
    rules = []
    for group in (g.strip() for g in _SHIPPING_GROUPS.split(raw)):
        if not group:
            continue
        parts = group.split(":")
        if len(parts) < 4:
            raise FieldProblem(codes.INVALID_SHIPPING,
                               f"shipping {group!r} should be country:region:service:price")
        country, where, service, price_text = (p.strip() for p in parts[:4])
        times = [p.strip() for p in parts[4:8]]
        if len(country) != 2 or not country.isalpha():
            raise FieldProblem(codes.INVALID_SHIPPING, f"{country!r} is not a two-letter "
                                                   "country code")
        amount_text, code = split_money(price_text)
        try:
            amount = parse_decimal(amount_text, locale)
        except NumberFormatError as exc:
            raise FieldProblem(codes.INVALID_SHIPPING,
                               f"shipping price {price_text!r} is not a price") from exc
        code = code or default_currency
        if not code:
            raise FieldProblem(codes.INVALID_SHIPPING, f"shipping price {price_text!r} has no "
                                                   "currency")
        if amount < 0:
            raise FieldProblem(codes.INVALID_SHIPPING, f"shipping price {price_text!r} is "
                                                   "negative")
        if code not in iso_currencies():
            raise FieldProblem(codes.INVALID_SHIPPING, f"shipping currency {code} is not an "
                                                   "ISO 4217 code")
        # isdecimal, not isdigit: int() refuses '²', which isdigit() passes.
        handling = [int(t) if t.isdecimal() else None for t in times] + [None] * 4
        rules.append(Shipping(
            country=country.upper(), price=Money(amount, code),
            region=where if where and not _POSTAL.match(where) else None,
            postal_code=where if where and _POSTAL.match(where) else None,
            service=service or None,
            min_handling_time=handling[0], max_handling_time=handling[1],
            min_transit_time=handling[2], max_transit_time=handling[3]))
    return rules


@functools.cache
def _quantum(decimals: int) -> Decimal:
    """Decimal(1).scaleb(-decimals), built once per number of decimals (it was per price)."""
    return Decimal(1).scaleb(-decimals)


def gs1_check_digit(body: str) -> str:
    """The GS1 check digit of a GTIN without its last digit: `stdnum.ean.calc_check_digit`
    without its per-call overhead (about 10 us a product; a test compares both on many
    values). `body` is ASCII digits (RowParser._gtin checks); they weigh 3, 1, 3... from
    the right."""
    data = body.encode("ascii")  # sums of the bytes less '0' a digit: no int() per digit
    weighed, plain = data[::-2], data[-2::-2]
    total = 3 * (sum(weighed) - 48 * len(weighed)) + sum(plain) - 48 * len(plain)
    return str(-total % 10)


_HTML_REMOVED = "HTML markup was removed (channels want plain text)"


def _clean_text(raw: str, warn: Warn, *, keep_newlines: bool) -> str:
    """Plain text for channels: control characters and HTML removed (with a warning each),
    white space collapsed; line breaks kept only where the field allows them."""
    if not needs_cleaning(raw):
        return raw
    if has_control_or_invalid_characters(raw):
        if has_control_characters(raw):
            warn(codes.CONTROL_CHARACTERS, "control characters were removed")
            raw = remove_control_characters(raw)
        if has_invalid_characters(raw):
            warn(codes.INVALID_CHARACTERS, "characters channels reject (U+FFFD, private-use) "
                                           "were removed")
            raw = remove_invalid_characters(raw)
    if has_entity_debris(raw):
        warn(codes.ENTITY_DEBRIS, "remains of double-escaped HTML entities (amp;, #xD;) "
                                  "were repaired")
        raw = repair_entity_debris(raw)
    if has_html(raw):
        warn(codes.HTML_IN_TEXT, _HTML_REMOVED)
        text = strip_html(raw)
        return text if keep_newlines else collapse_whitespace(text)
    return collapse_whitespace(raw, keep_newlines=keep_newlines)


def _normalised_map(mapping: dict[str, str]) -> dict[str, str]:
    return {str(k).strip().casefold(): str(v) for k, v in mapping.items()}


_PUBLIC_NAMES = {"images": "image_link", "sale_price_start": "sale_price_effective_date",
                 "sale_price_end": "sale_price_effective_date"}


def _public_name(target: str) -> str:
    return _PUBLIC_NAMES.get(target, target)


def _timezone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"source.timezone: unknown time zone {name!r}") from exc
