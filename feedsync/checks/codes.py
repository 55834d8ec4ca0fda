"""Every issue code feedsync reports, in one registry: code, default severity, a title.

A code is part of feedsync's interface (users filter and silence by it, CI greps for it), so
each one is declared here once, as a constant, and code elsewhere refers to the constant:
`Issue(codes.DUPLICATE_ID, ...)`. `feedsync codes` lists the registry and the README's list
is checked against it by a test.
"""

from __future__ import annotations

from dataclasses import dataclass

from feedsync.checks.issue import Severity


@dataclass(frozen=True, slots=True)
class IssueCode:
    """One registered code: what it is called, how bad it is by default, what it means."""

    code: str
    severity: Severity
    title: str


REGISTRY: dict[str, IssueCode] = {}


def register(code: str, severity: Severity, title: str) -> str:
    """Declare a code once; returns the code so modules can keep it as a constant."""
    known = REGISTRY.get(code)
    if known is not None and known != IssueCode(code, severity, title):
        raise ValueError(f"issue code {code!r} registered twice with different meanings")
    REGISTRY[code] = IssueCode(code, severity, title)
    return code


def all_codes() -> list[IssueCode]:
    """Every registered code, sorted by name."""
    return [REGISTRY[name] for name in sorted(REGISTRY)]


# pipeline (feedsync/pipeline.py)
DUPLICATE_ID = register("duplicate-id", Severity.ERROR,
                        "Two rows of the master share one product id")
EMPTY_SOURCE = register("empty-source", Severity.WARNING,
                        "The master has a header but no products")
