"""Fast paths agree with the one readable definition of their rule, on many values."""

from __future__ import annotations

import random

from stdnum import ean

from feedsync.checks.text import collapse_by_regex, collapse_whitespace
from feedsync.products.parse import gs1_check_digit


def test_gs1_check_digit_agrees_with_python_stdnum() -> None:
    rng = random.Random(13)
    for _ in range(50_000):
        body = "".join(rng.choice("0123456789") for _ in range(rng.choice([7, 11, 12, 13])))
        assert gs1_check_digit(body) == ean.calc_check_digit(body), body
        number = body + rng.choice("0123456789")  # a valid GTIN about 1 time in 10
        assert (gs1_check_digit(number[:-1]) == number[-1]) == ean.is_valid(number), number


def test_collapsing_white_space_keeping_line_breaks_agrees_with_the_regexes() -> None:
    rng = random.Random(5)
    alphabet = [" ", " ", "\t", "\u00a0", "\n", "\r", "\x0b", "\x0c", "\u2003", "\x1c",
                "a", "b", "ñ", "-"]
    for _ in range(200_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 14)))
        assert collapse_whitespace(text, keep_newlines=True) == collapse_by_regex(text), text
