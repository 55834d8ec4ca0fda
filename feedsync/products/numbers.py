"""Numbers, prices and currencies as merchants write them: `1.234,56`, `12,5 €`, `EUR 12.50`.

Locale data (decimal and group symbols, currency decimals, the ISO 4217 list) comes from
babel rather than hand-kept tables, so `es_ES`, `de_CH` or `pt_BR` behave as their users
expect.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import get_currency_precision, list_currencies

_SYMBOLS = {"€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₺": "TRY", "₽": "RUB", "zł": "PLN",
            "R$": "BRL", "US$": "USD", "kr": None, "$": None}
_SYMBOLS_LONGEST_FIRST = sorted(_SYMBOLS, key=len, reverse=True)
_CURRENCY_RE = re.compile(r"(?<![A-Za-z])([A-Z]{3})(?![A-Za-z])")
# A number the same in every locale (15, 15.5, 15.50); parse.py's shortcuts test it too.
PLAIN_NUMBER = re.compile(r"^\d+(?:\.\d{1,2})?$")
# At most 15 integer and 12 fraction digits: always within _bounded's limits.
_DOTTED_NUMBER = re.compile(r"([0-9]{1,15})\.([0-9]{1,12})")
_NUMBER_CHARS = re.compile(r"[^0-9.,'\u00a0\u202f +\-]")
# No price, weight or quantity needs more: 15 integer digits is a quadrillion, and together
# with at most 12 decimals every value stays exact inside Decimal's default 28-digit context,
# so later arithmetic (quantize, currency conversion) can never overflow on master input.
MAX_INTEGER_DIGITS = 15
MAX_FRACTION_DIGITS = 12


class NumberFormatError(ValueError):
    """A value that is not a number in any format feedsync understands."""


@lru_cache(maxsize=64)
def locale_separators(locale: str | None) -> tuple[str, str]:
    """(decimal symbol, group symbol) for a locale such as `es_ES`; `.`/`,` when unset."""
    if not locale:
        return ".", ","
    try:
        loc = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError(f"unknown locale {locale!r}") from exc
    symbols = loc.number_symbols.get("latn", loc.number_symbols)
    return symbols.get("decimal", "."), symbols.get("group", ",")


@lru_cache(maxsize=1)
def iso_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


@lru_cache(maxsize=512)
def currency_decimals(currency: str) -> int:
    return int(get_currency_precision(currency))


@lru_cache(maxsize=256)
def currency_quantum(currency: str) -> Decimal:
    """The smallest amount of `currency` (`Decimal('0.01')` for EUR, `1` for CLP), what
    its prices are quantized to; built once per currency (rendering and market
    conversion quantize every price)."""
    return Decimal(1).scaleb(-currency_decimals(currency))


def parse_decimal(text: str, locale: str | None = None) -> Decimal:
    """Parse a number written by a person or a spreadsheet export.

    When both `.` and `,` occur, the last one is the decimal separator (`1.234,56` and
    `1,234.56` both work whatever the locale). When only one kind occurs, the locale
    decides: in `es_ES` `12,5` is twelve and a half and `1.234` is one thousand two hundred
    and thirty-four; a separator followed by other than three digits is always decimal.
    """
    if PLAIN_NUMBER.match(text):  # 15, 15.5, 15.50: the same in every locale
        # Up to 15 characters it has at most 15 integer and 2 fraction digits: in bounds.
        number = Decimal(text)
        return number if len(text) <= MAX_INTEGER_DIGITS else _bounded(number, text)
    dotted = _DOTTED_NUMBER.fullmatch(text)
    # (The locale is looked up first, as below: an unknown one fails the same way.)
    if dotted is not None and not (_dot_groups(locale) and len(dotted[2]) == 3):
        # 0.074, 1.2345: what the general path below makes of one dot between ASCII
        # digits (a decimal point, unless three digits follow it in a locale that groups
        # with dots), already in bounds.
        return Decimal(text)
    raw = text.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    raw = raw.replace("'", "")  # Swiss grouping: 1'234.50
    if not raw or _NUMBER_CHARS.search(raw):
        raise NumberFormatError(f"{text!r} is not a number")
    sign = ""
    if raw[0] in "+-":
        sign, raw = ("-" if raw[0] == "-" else ""), raw[1:]
    has_dot, has_comma = "." in raw, "," in raw
    if has_dot and has_comma:
        decimal_sep = "." if raw.rfind(".") > raw.rfind(",") else ","
    elif has_dot or has_comma:
        sep = "." if has_dot else ","
        decimal_symbol, group_symbol = locale_separators(locale)
        tail = raw.rsplit(sep, 1)[1]
        if raw.count(sep) > 1:
            decimal_sep = "," if sep == "." else "."  # repeated: must be grouping
        elif len(tail) != 3:
            decimal_sep = sep
        elif sep == group_symbol and sep != decimal_symbol:
            decimal_sep = "," if sep == "." else "."
        else:
            decimal_sep = sep
    else:
        decimal_sep = "."
    group_sep = "," if decimal_sep == "." else "."
    groups = raw.split(decimal_sep)
    if len(groups) > 2:
        raise NumberFormatError(f"{text!r} has more than one decimal separator")
    grouped = groups[0].split(group_sep)
    if len(grouped) > 1 and (not 1 <= len(grouped[0]) <= 3
                             or any(len(g) != 3 for g in grouped[1:])):
        raise NumberFormatError(f"{text!r} is not a number (odd digit grouping)")
    integer = "".join(grouped)
    fraction = groups[1] if len(groups) == 2 else ""
    if group_sep in fraction or not (integer or fraction):
        raise NumberFormatError(f"{text!r} is not a number")
    try:
        number = Decimal(f"{sign}{integer or '0'}.{fraction}" if fraction
                         else f"{sign}{integer}")
    except InvalidOperation as exc:
        raise NumberFormatError(f"{text!r} is not a number") from exc
    return _bounded(number, text)


@lru_cache(maxsize=64)
def _dot_groups(locale: str | None) -> bool:
    """Whether `locale` reads `1.234` as one thousand two hundred and thirty-four."""
    decimal_symbol, group_symbol = locale_separators(locale)
    return group_symbol == "." and decimal_symbol != "."


def _bounded(number: Decimal, text: str) -> Decimal:
    """`number`, or NumberFormatError when it has more digits than any real value has."""
    digits, exponent = len(number.as_tuple().digits), int(number.as_tuple().exponent)
    integer_digits = digits + exponent
    if integer_digits > MAX_INTEGER_DIGITS:
        shown = text if len(text) <= 40 else text[:20] + "..." + text[-8:]
        raise NumberFormatError(f"{shown!r} is too large to be a price or a quantity "
                                f"(more than {MAX_INTEGER_DIGITS} digits)")
    if -exponent > MAX_FRACTION_DIGITS:
        number = number.quantize(Decimal(1).scaleb(-MAX_FRACTION_DIGITS))
    return number


def split_money(text: str) -> tuple[str, str | None]:
    """Separate the number from a currency code or symbol: `12,5 €` -> (`12,5`, `EUR`)."""
    value = text.strip()
    if PLAIN_NUMBER.match(value):
        return value, None
    code: str | None = None
    match = _CURRENCY_RE.search(value)
    if match:
        code = match.group(1)
        value = (value[: match.start()] + value[match.end():]).strip()
    else:
        for symbol in _SYMBOLS_LONGEST_FIRST:
            if symbol in value:
                code = _SYMBOLS[symbol]
                value = value.replace(symbol, "").strip()
                break
    return value, code


def format_amount(amount: Decimal, currency: str) -> str:
    """`15.00` for EUR, `1500` for CLP: the currency's own number of decimals."""
    return str(amount.quantize(_quantum(currency)))


@lru_cache(maxsize=512)
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_decimals(currency))
