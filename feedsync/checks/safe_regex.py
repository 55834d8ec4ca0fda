"""Regular expressions from configs, run with a time limit.

Patterns in rules (`regex_replace`) and templates (`regex_search`, `regex_replace`) are
written by users, and a pattern such as `(a+)+$` takes exponential time on some inputs
with Python's `re`. They are compiled here with the `regex` package, whose matching can be
interrupted: each search or substitution gets `MATCH_SECONDS` and then raises
`RegexTimeout`, which the callers report as an issue on that product. Syntax is `re`'s
(regex's VERSION0 is compatible), and compile errors are raised as `re.error`, so callers
handle one exception type whichever engine runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import regex  # type: ignore[import-untyped]

# A real pattern on a product's text runs in microseconds; a quarter of a second is four
# orders of magnitude of headroom, and bounds a catastrophic one per field per product.
MATCH_SECONDS = 0.25


class RegexTimeout(ValueError):
    """A pattern took longer than MATCH_SECONDS on one value (catastrophic backtracking)."""


class BadReplacement(re.error, ValueError):
    """A replacement naming a group the pattern lacks. An `re.error` for the compile-time
    check, a ValueError when met on a product (reported as that product's rule problem)."""


class SafePattern:
    """A compiled pattern whose `sub` and `search` stop after MATCH_SECONDS."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        try:
            self._compiled = regex.compile(pattern, flags | regex.VERSION0)
        except regex.error as exc:
            raise re.error(str(exc)) from exc

    def sub(self, replacement: str | Callable[[Any], str], text: str, count: int = 0) -> str:
        try:
            result: str = self._compiled.sub(replacement, text, count, timeout=MATCH_SECONDS)
        except TimeoutError as exc:
            raise self._timeout(text) from exc
        except (regex.error, IndexError) as exc:  # a bad group reference in the replacement
            raise BadReplacement(f"bad replacement {replacement!r}: {exc}") from exc
        return result

    def search(self, text: str) -> Any:
        try:
            return self._compiled.search(text, timeout=MATCH_SECONDS)
        except TimeoutError as exc:
            raise self._timeout(text) from exc

    def _timeout(self, text: str) -> RegexTimeout:
        return RegexTimeout(f"the regular expression /{self.pattern}/ took more than "
                            f"{MATCH_SECONDS} s on a value of {len(text):,} characters "
                            "(it backtracks catastrophically; simplify it)")


def compile_pattern(pattern: str, *, ignore_case: bool = False) -> SafePattern:
    """The time-limited pattern; `re.error` when it is not a valid regular expression."""
    return _cached(pattern, regex.IGNORECASE if ignore_case else 0)


@lru_cache(maxsize=256)
def _cached(pattern: str, flags: int) -> SafePattern:
    return SafePattern(pattern, flags)
