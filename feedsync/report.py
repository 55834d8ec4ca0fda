"""RunReport: what a run read, wrote and found; every output mode renders this one object.

Issues are counted three ways as they arrive, so every output (table, JSON, JUnit, HTML) can
show problems a merchandiser can act on without holding every issue in memory:
`problems` groups them by code x channel x field with a count and a few sample rows;
`left_out` counts, per channel, the reasons products were left out; `ignored` counts what
the config's `issues:` section silenced.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from feedsync.checks.codes import REGISTRY
from feedsync.checks.issue import Issue, Severity
from feedsync.rules.compile import RuleCount

DEFAULT_MAX_ISSUES = 10_000
SAMPLES_PER_PROBLEM = 3
EVERY_CHANNEL = "(every channel)"  # `left_out` key for rows no channel could use

# What the config's `issues:` section can do to a code: a milder severity, or silence.
IGNORE = "ignore"
IssueAction = Severity | None  # None: ignored
ProblemKey = tuple[str, str | None, str | None, Severity]  # code, channel, field, severity
_SEVERITY_NAMES = {severity: severity.value for severity in Severity}


@dataclass
class ProblemSample:
    """One row behind a grouped problem, to look it up in the master."""

    row: int | None
    product_id: str | None
    value: str | None
    message: str


@dataclass
class ProblemGroup:
    """Issues of one code, in one channel (None: every channel), on one field."""

    code: str
    severity: Severity
    channel: str | None
    field: str | None
    count: int = 0
    # `field` is an attribute here, so the dataclass helper goes by its module's name.
    samples: list[ProblemSample] = dataclasses.field(default_factory=list)

    @property
    def title(self) -> str:
        known = REGISTRY.get(self.code)
        return known.title if known else (self.samples[0].message if self.samples else "")

    @property
    def hint(self) -> str:
        known = REGISTRY.get(self.code)
        return known.hint if known else ""

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity.value, "channel": self.channel,
                "field": self.field, "count": self.count, "title": self.title,
                "what_to_do": self.hint, "samples": [vars(s) for s in self.samples]}


@dataclass
class LeftOutReason:
    """Why products were left out of one channel: a code on a field, and how many."""

    code: str
    field: str | None
    products: int

    @property
    def title(self) -> str:
        known = REGISTRY.get(self.code)
        return known.title if known else self.code

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "field": self.field, "products": self.products,
                "title": self.title}


@dataclass
class OutputReport:
    path: str
    format: str
    items: int = 0
    parts: int = 1  # numbered files, when the format splits by item count


@dataclass
class FeedChanges:
    """What a run changed in a feed at one destination, by the ledger's diff: items added,
    changed and removed, and the deletes the destination confirmed."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    deleted: int = 0

    def __add__(self, other: FeedChanges) -> FeedChanges:
        """The changes at two destinations together."""
        return FeedChanges(self.added + other.added, self.changed + other.changed,
                           self.removed + other.removed, self.deleted + other.deleted)

    def to_dict(self) -> dict[str, int]:
        """Plain JSON-ready data."""
        return dataclasses.asdict(self)


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

    def excluded_by_reason(self, limit: int | None = None) -> dict[str, int]:
        """Why products were left out of this feed: issue code -> products, most first,
        then by code (what the JSON report, the webhooks and `history` show)."""
        ordered = sorted(self.left_out_by_code.items(), key=lambda kv: (-kv[1], kv[0]))
        return dict(ordered[:limit])

    def count_left_out(self, issues: list[Issue]) -> None:
        """Count the reasons one product was left out of this feed: its errors on this
        channel, or, when a rule excluded it mildly (idealo's not-offered), that rule's."""
        mine = [i for i in issues if i.channel == self.name]
        reasons = [i for i in mine if i.is_error] or mine
        for code in {i.code for i in reasons}:
            self.left_out_by_code[code] += 1
    # Why this feed's new outputs did not replace the old ones (a guard tripped), if so.
    held: str | None = None
    # What the run changed in the feed's own files (the ledger's record of them: a build,
    # a push that replaced them); None when it does not know (a validate, a dry run).
    changes: FeedChanges | None = None


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
    groups: dict[ProblemKey, ProblemGroup] = field(default_factory=dict)
    # channel (or EVERY_CHANNEL) -> (code, field) -> products left out for it
    left_out_counts: dict[str, Counter[tuple[str, str | None]]] = field(default_factory=dict)
    # The config's `issues:` section: code -> action, and per feed name code -> action.
    overrides: dict[str, IssueAction] = field(default_factory=dict)
    channel_overrides: dict[str, dict[str, IssueAction]] = field(default_factory=dict)
    ignored: Counter[str] = field(default_factory=Counter)
    # Timing, filled in by the run: seconds, and the feedsync version that ran.
    duration: float = 0.0
    version: str = ""
    # Why rows were left out of every feed: issue code -> rows (complete counts).
    invalid_by_code: Counter[str] = field(default_factory=Counter)

    def count_invalid(self, issues: list[Issue]) -> None:
        """Count the errors that made one row invalid for every channel."""
        for code in {i.code for i in issues if i.is_error}:
            self.invalid_by_code[code] += 1

    def add(self, issues: list[Issue]) -> None:
        """Count `issues` (after the config's overrides), group them, keep the first ones."""
        # Runs for nearly every product (the HTML warning): what the loop uses is looked
        # up once, and a severity's name comes from a dict, not Enum.value (a Python-level
        # property, a third of this method's cost).
        overriding = bool(self.overrides or self.channel_overrides)
        groups, kept, sink = self.groups, self.issues, self.sink
        severity_counts, code_counts = self.severity_counts, self.code_counts
        for issue in issues:
            severity = issue.severity
            if overriding and severity is not Severity.ERROR:
                action = self._action(issue)
                if action is None:
                    self.ignored[issue.code] += 1
                    continue
                if action is not severity:
                    issue = replace(issue, severity=action)
                    severity = action
            code = issue.code
            key = (code, issue.channel, issue.field, severity)
            group = groups.get(key)
            if group is None:
                group = groups[key] = ProblemGroup(code, severity, issue.channel, issue.field)
            group.count += 1
            if len(group.samples) < SAMPLES_PER_PROBLEM:
                group.samples.append(ProblemSample(issue.row, issue.product_id, issue.value,
                                                   issue.message))
            severity_counts[_SEVERITY_NAMES[severity]] += 1
            code_counts[code] += 1
            if len(kept) < self.max_issues:
                kept.append(issue)
            if sink is not None:
                sink(issue)

    def _action(self, issue: Issue) -> IssueAction:
        """Errors leave products out, so only warnings and infos are downgraded or ignored."""
        if issue.channel is not None:
            per_channel = self.channel_overrides.get(issue.channel)
            if per_channel is not None and issue.code in per_channel:
                return per_channel[issue.code]
        return self.overrides.get(issue.code, issue.severity)

    def left_out(self, channel: str, issues: list[Issue]) -> None:
        """Count why one product was left out of `channel` (EVERY_CHANNEL: of all)."""
        reasons = self.left_out_counts.setdefault(channel, Counter())
        wanted = None if channel == EVERY_CHANNEL else channel
        mine = [i for i in issues if i.channel == wanted]
        # A rule may leave a product out mildly (idealo's not-offered is an info): then
        # that is the reason, as ChannelReport.count_left_out counts it too.
        causes = [i for i in mine if i.is_error] or (mine if wanted is not None else [])
        for key in {(i.code, i.field) for i in causes}:
            reasons[key] += 1

    def left_out_reasons(self, channel: str, limit: int | None = None) -> list[LeftOutReason]:
        """The reasons products were left out of one channel, most frequent first."""
        counts = self.left_out_counts.get(channel, Counter())
        return [LeftOutReason(code, field_name, n)
                for (code, field_name), n in counts.most_common(limit)]

    def problems(self, min_severity: Severity = Severity.INFO) -> list[ProblemGroup]:
        """Grouped problems at least as bad as `min_severity`: errors first, then by count."""
        return sorted((g for g in self.groups.values()
                       if g.severity.rank <= min_severity.rank),
                      key=lambda g: (g.severity.rank, -g.count, g.code, g.channel or "",
                                     g.field or ""))

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.duration if self.duration > 0 else 0.0

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
    def held_back(self) -> list[str]:
        """Feeds whose outputs were not replaced because a guard tripped."""
        return [name for name, c in self.channels.items() if c.held is not None]

    @property
    def excluded_somewhere(self) -> bool:
        return self.invalid > 0 or any(c.excluded for c in self.channels.values())

    def to_dict(self, min_severity: Severity = Severity.INFO) -> dict[str, Any]:
        """Plain JSON-ready data; `min_severity` filters `problems` and `issues`."""
        return {
            "feedsync_version": self.version,
            "duration_seconds": round(self.duration, 3),
            "rows_per_second": round(self.rows_per_second, 1),
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
                       "left_out_by_code": c.excluded_by_reason(),
                       "rules": [r.to_dict() for r in c.rules],
                       **({"held": c.held} if c.held is not None else {})}
                for name, c in self.channels.items()
            },
            "left_out": {name: [r.to_dict() for r in self.left_out_reasons(name)]
                         for name in self.left_out_counts},
            "problems": [g.to_dict() for g in self.problems(min_severity)],
            "ignored_by_config": dict(sorted(self.ignored.items())),
            "issues": [i.to_dict() for i in self.issues
                       if i.severity.rank <= min_severity.rank],
            "issues_not_listed": self.issues_truncated,
        }
