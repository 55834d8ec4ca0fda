from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from feedsync.products.dates import DateFormatError, format_iso_minutes, parse_datetime
from feedsync.products.numbers import (
    NumberFormatError,
    currency_decimals,
    format_amount,
    parse_decimal,
    split_money,
)


@pytest.mark.parametrize(("text", "locale", "expected"), [
    ("1.234,56", "es_ES", "1234.56"),
    ("1.234,56", None, "1234.56"),
    ("1,234.56", None, "1234.56"),
    ("1,234.56", "es_ES", "1234.56"),
    ("12,5", None, "12.5"),
    ("12,5", "es_ES", "12.5"),
    ("1.234", "es_ES", "1234"),
    ("1.234", None, "1.234"),
    ("1,234", None, "1234"),
    ("1 234,50", "fr_FR", "1234.50"),
    ("1'234.50", "de_CH", "1234.50"),
    ("1.234.567", None, "1234567"),
    ("-3", None, "-3"),
    (".5", None, "0.5"),
    ("15", None, "15"),
])
def test_parse_decimal_understands_how_merchants_write_numbers(text, locale, expected):
    assert parse_decimal(text, locale) == Decimal(expected)


@pytest.mark.parametrize("text", ["", "abc", "1,2,3.4.5", "12.5.", "1e5", "--3"])
def test_parse_decimal_rejects_non_numbers(text):
    with pytest.raises(NumberFormatError):
        parse_decimal(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("12,5 €", ("12,5", "EUR")),
    ("EUR 12.50", ("12.50", "EUR")),
    ("12.50 USD", ("12.50", "USD")),
    ("£9.99", ("9.99", "GBP")),
    ("R$ 10,00", ("10,00", "BRL")),
    ("19.99", ("19.99", None)),
])
def test_split_money_finds_codes_and_symbols(text, expected):
    assert split_money(text) == expected


def test_currency_decimals_come_from_iso_4217():
    assert currency_decimals("EUR") == 2
    assert currency_decimals("JPY") == 0
    assert currency_decimals("CLP") == 0
    assert format_amount(Decimal("15"), "EUR") == "15.00"
    assert format_amount(Decimal("1500"), "CLP") == "1500"


def test_dates_day_first_or_month_first_by_locale():
    assert parse_datetime("03/04/2026", locale="es_ES").month == 4
    assert parse_datetime("03/04/2026", locale="en_US").month == 3
    # Unambiguous either way:
    assert parse_datetime("31/12/2026", locale="en_US").day == 31


def test_dates_iso_forms_and_end_of_day():
    assert parse_datetime("2026-11-01T10:00+0100").utcoffset() == timedelta(hours=1)
    assert parse_datetime("2026-11-01T10:00Z").utcoffset() == timedelta(0)
    end = parse_datetime("2026-11-30", end_of_day=True)
    assert (end.hour, end.minute, end.second) == (23, 59, 59)
    assert parse_datetime("01.12.2026 18:30", locale="de_DE").hour == 18
    assert parse_datetime("2026/12/01", date_format="%Y/%m/%d").day == 1


@pytest.mark.parametrize("text", ["tomorrow", "2026-13-01", "32/01/2026", "2026-02-30"])
def test_bad_dates_raise(text):
    with pytest.raises(DateFormatError):
        parse_datetime(text)


def test_google_datetime_spelling():
    value = datetime(2026, 2, 24, 11, 7, tzinfo=timezone(timedelta(hours=1)))
    assert format_iso_minutes(value) == "2026-02-24T11:07+0100"
