"""RunReport: what a run read, wrote and found; every output mode renders this one object."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from feedsync.checks.issue import Issue, Severity
from feedsync.rules.compile import RuleCount

DEFAULT_MAX_ISSUES = 10_000


@dataclass
class OutputReport:
    path: str
    format: str
    items: int = 0
    parts: int = 1  # numbered files, when the format splits by item count


@dataclass
class ChannelReport:
    name: str
    spec: str
    items: int = 0
    excluded: int = 0
    outputs: list[OutputReport] = field(default_factory=list)
    # Left out on purpose by the channel's rules (filters, variant parents): not a problem.
    filtered: int = 0
    rules: list[RuleCount] = field(default_factory=list)
    # Why products were left out of this feed: issue code -> products (complete counts,
    # unlike `RunReport.issues`, which keeps the first `max_issues`).
    left_out_by_code: Counter[str] = field(default_factory=Counter)

    def count_left_out(self, issues: list[Issue]) -> None:
        """Count the reasons one product was left out of this feed: its errors on this
        channel, or, when a rule excluded it mildly (idealo's not-offered), that rule's."""
        mine = [i for i in issues if i.channel == self.name]
        reasons = [i for i in mine if i.is_error] or mine
        for code in {i.code for i in reasons}:
            self.left_out_by_code[code] += 1


@dataclass
class RunReport:
    """Counts are always complete; `issues` keeps the first `max_issues` in full."""

    source: str = ""
    rows: int = 0
    products: int = 0
    invalid: int = 0
    channels: dict[str, ChannelReport] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    max_issues: int = DEFAULT_MAX_ISSUES
    severity_counts: Counter[str] = field(default_factory=Counter)
    code_counts: Counter[str] = field(default_factory=Counter)
    sink: Callable[[Issue], None] | None = None
    # Why rows were left out of every feed: issue code -> rows (complete counts).
    invalid_by_code: Counter[str] = field(default_factory=Counter)

    def count_invalid(self, issues: list[Issue]) -> None:
        """Count the errors that made one row invalid for every channel."""
        for code in {i.code for i in issues if i.is_error}:
            self.invalid_by_code[code] += 1

    def add(self, issues: list[Issue]) -> None:
        for issue in issues:
            self.severity_counts[issue.severity.value] += 1
            self.code_counts[issue.code] += 1
            if len(self.issues) < self.max_issues:
                self.issues.append(issue)
            if self.sink is not None:
                self.sink(issue)

    @property
    def errors(self) -> int:
        return self.severity_counts[Severity.ERROR.value]

    @property
    def warnings(self) -> int:
        return self.severity_counts[Severity.WARNING.value]

    @property
    def issues_truncated(self) -> int:
        return sum(self.severity_counts.values()) - len(self.issues)

    @property
    def excluded_somewhere(self) -> bool:
        return self.invalid > 0 or any(c.excluded for c in self.channels.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "products": self.products,
            "invalid_products": self.invalid,
            "invalid_by_code": dict(self.invalid_by_code.most_common()),
            "summary": {"errors": self.errors, "warnings": self.warnings,
                        "infos": self.severity_counts[Severity.INFO.value],
                        "by_code": dict(sorted(self.code_counts.items()))},
            "channels": {
                name: {"spec": c.spec, "items": c.items, "excluded": c.excluded,
                       "outputs": [vars(o) for o in c.outputs],
                       "filtered_by_rules": c.filtered,
                       "left_out_by_code": dict(c.left_out_by_code.most_common()),
                       "rules": [r.to_dict() for r in c.rules]}
                for name, c in self.channels.items()
            },
            "issues": [i.to_dict() for i in self.issues],
            "issues_not_listed": self.issues_truncated,
        }
