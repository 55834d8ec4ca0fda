"""How results reach people and machines: stdout for results, stderr for logs and progress."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from feedsync.api import (
    EXCLUDED,
    ChannelWord,
    Explanation,
    IssueCode,
    OutputError,
    PreviewItem,
    RowOutcome,
    SpecSummary,
    Written,
    reads_no_items,
)
from feedsync.checks.issue import Issue, Severity
from feedsync.products.product import to_plain
from feedsync.report import EVERY_CHANNEL, ProblemGroup, RunReport

TABLE_ROW_LIMIT = 200
_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class Output:
    """stdout and stderr consoles plus the verbosity the user asked for."""

    def __init__(self, quiet: int = 0, verbose: int = 0) -> None:
        self.quiet = quiet
        self.verbose = verbose
        self.out = Console(soft_wrap=False)
        if not self.out.is_terminal:
            # Piped or redirected: wide rows, so each problem stays on one greppable line.
            self.out = Console(soft_wrap=False, width=240)
        self.err = Console(stderr=True, soft_wrap=True)

    def log(self, message: str) -> None:
        if not self.quiet:
            self.err.print(message, highlight=False)

    def error(self, message: str) -> None:
        # The message is plain text: a `[...]` in it (row['SKU'], a list) is not markup.
        self.err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)

    @contextmanager
    def progress(self, label: str, total: int | None = None,
                 feeds: list[str] | None = None) -> Iterator[LiveProgress | None]:
        """A live progress bar on stderr, only when stderr is a terminal: with `total` (an
        estimate of the rows), %, rows/s and time left; without, a row counter and rate;
        with `feeds`, each feed's items and products left out so far."""
        if self.quiet or not self.err.is_terminal:
            yield None
            return
        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
        if total:
            columns += [BarColumn(), TaskProgressColumn()]
        columns += [TextColumn("{task.completed:,} rows"), _RateColumn(), TimeElapsedColumn()]
        if total:
            columns += [TextColumn("left"), TimeRemainingColumn()]
        columns.append(TextColumn("{task.fields[feeds]}", style="dim"))
        with Progress(*columns, console=self.err, transient=True) as bar:
            task = bar.add_task(label, total=total, feeds="")
            yield LiveProgress(bar, task, total, feeds or [])


class LiveProgress:
    """The callbacks a run feeds the bar: `progress(rows)` every thousand rows, and (as a
    pipeline observer) each row's outcome, to count items and exclusions per feed."""

    def __init__(self, bar: Progress, task: TaskID, total: int | None,
                 feeds: list[str]) -> None:
        self.bar, self.task, self.total, self.feeds = bar, task, total, feeds
        self.items = [0] * len(feeds)
        self.left_out = [0] * len(feeds)

    def __call__(self, rows: int) -> None:
        # The total is an estimate: keep the bar short of 100% until the run ends.
        if self.total and rows >= self.total:
            self.total = rows + 1
            self.bar.update(self.task, total=self.total)
        counts = list(zip(self.feeds, self.items, self.left_out, strict=True))[:4]
        shown = "  ".join(f"{name} {items:,}" + (f" (-{out:,} left out)" if out else "")
                          for name, items, out in counts)
        self.bar.update(self.task, completed=rows, feeds=shown)

    @reads_no_items  # counts only: workers need not send items back for it
    def observe(self, outcome: RowOutcome) -> None:
        """Count one row's items and exclusions per feed."""
        for index, result in enumerate(outcome.feeds):
            if result is EXCLUDED:
                self.left_out[index] += 1
            elif isinstance(result, Written):
                self.items[index] += 1


class _RateColumn(ProgressColumn):
    """Rows per second, from rich's own speed estimate."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "", style="dim")


def visible_issues(report: RunReport, verbose: int) -> list[Issue]:
    shown = [i for i in report.issues if verbose or i.severity is not Severity.INFO]
    return sorted(shown, key=lambda i: (i.row or 0, i.severity.rank, i.channel or ""))


def issues_table(report: RunReport, verbose: int) -> Table:
    issues = visible_issues(report, verbose)
    table = Table(title="Problems found", title_justify="left", show_lines=False)
    for column in ("Row", "Product", "Channel", "Column", "Severity", "Problem"):
        table.add_column(column, overflow="fold")
    for issue in issues[:TABLE_ROW_LIMIT]:
        shown_column = issue.column if issue.column and issue.column != issue.field else None
        where = f"{issue.field} ({shown_column})" if shown_column else (issue.field or "")
        table.add_row(str(issue.row or ""), issue.product_id or "", issue.channel or "all",
                      where, f"[{_SEVERITY_STYLE[issue.severity.value]}]{issue.severity.value}",
                      issue.message)
    return table


def summary_table(report: RunReport, built: bool) -> Table:
    table = Table(title="Channels", title_justify="left")
    table.add_column("Channel")
    table.add_column("Spec")
    table.add_column("Items", justify="right")
    table.add_column("Left out", justify="right")
    with_rules = any(c.rules for c in report.channels.values())
    if with_rules:
        table.add_column("Filtered by rules", justify="right")
    if built:
        table.add_column("Written to")
    for channel in report.channels.values():
        cells = [channel.name, channel.spec, f"{channel.items:,}", f"{channel.excluded:,}"]
        if with_rules:
            cells.append(f"{channel.filtered:,}")
        if built:
            cells.append("\n".join(_display_path(o.path)
                                    + (f" ({o.parts} parts)" if o.parts > 1 else "")
                                    for o in channel.outputs) or "-")
        table.add_row(*cells)
    return table


def _display_path(path: str) -> str:
    """Relative to the working directory when the file is below it; else as it is."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


def rules_table(report: RunReport) -> Table:
    """Per channel and rule: how many products each rule changed and dropped."""
    table = Table(title="Rules", title_justify="left")
    for column in ("Channel", "Rule", "Where"):
        table.add_column(column, overflow="fold")
    table.add_column("Changed", justify="right")
    table.add_column("Dropped", justify="right")
    for channel in report.channels.values():
        for count in channel.rules:
            table.add_row(channel.name, "  " * count.depth + count.label, count.where,
                          f"{count.changed:,}", f"{count.dropped:,}")
    return table


def problems_table(report: RunReport, min_severity: Severity) -> Table:
    """Issues grouped by code x channel x field: how many, what it means, what to do, and
    a few rows to look at."""
    table = Table(title="Problems", title_justify="left", show_lines=True)
    for column in ("Severity", "Code", "Channel", "Field"):
        table.add_column(column, overflow="fold")
    table.add_column("Count", justify="right")
    table.add_column("Problem and what to do", overflow="fold")
    table.add_column("Sample rows", overflow="fold")
    for group in report.problems(min_severity)[:TABLE_ROW_LIMIT]:
        text = escape(group.title) + (f"\n[dim]→ {escape(group.hint)}[/]" if group.hint else "")
        table.add_row(f"[{_SEVERITY_STYLE[group.severity.value]}]{group.severity.value}",
                      group.code, group.channel or "all", group.field or "",
                      f"{group.count:,}", text, escape(sample_text(group)))
    return table


def sample_text(group: ProblemGroup) -> str:
    """`row 41 AUR-IN-EAR: GTIN ... fails the GS1 check digit`, one sample a line: the first
    with its message, the others with theirs only when it differs."""
    parts = []
    for number, sample in enumerate(group.samples):
        where = " ".join(p for p in (f"row {sample.row}" if sample.row else "",
                                     sample.product_id or "") if p) or "-"
        same = number and sample.message == group.samples[0].message
        parts.append(where if same else f"{where}: {sample.message}")
    more = group.count - len(group.samples)
    return "\n".join(parts) + (f"\n… {more:,} more" if more > 0 else "")


def left_out_lines(report: RunReport, limit: int = 3) -> list[str]:
    """Per channel, the top reasons products were left out, most frequent first."""
    lines = []
    names = [EVERY_CHANNEL, *report.channels]
    for name in names:
        reasons = report.left_out_reasons(name)
        if not reasons:
            continue
        total = report.invalid if name == EVERY_CHANNEL else report.channels[name].excluded
        shown = ", ".join(f"{r.products:,} {r.code}" + (f" ({r.field})" if r.field else "")
                          for r in reasons[:limit])
        extra = f", and {len(reasons) - limit} more reason(s)" if len(reasons) > limit else ""
        lines.append(f"  {name}: {total:,} left out: {shown}{extra}")
    return lines


def timing_text(report: RunReport) -> str:
    """`in 2.4 s (83,000 rows/s), feedsync 0.1.0`."""
    rate = f" ({report.rows_per_second:,.0f} rows/s)" if report.rows_per_second else ""
    seconds = f"{report.duration:.2f}" if report.duration < 10 else f"{report.duration:,.0f}"
    return f"in {seconds} s{rate}, feedsync {report.version}"


def print_report_table(output: Output, report: RunReport, built: bool,
                       min_severity: Severity | None = None) -> None:
    """The human report: why products were left out (first: it is what costs sales),
    the grouped problems, the channels, the rules, one summary line."""
    if output.quiet:
        # `validate -q` in a script: one line saying what failed, only when something did.
        if output.quiet == 1 and report.errors and not built:
            output.out.print(summary_line(report), highlight=False)
        return
    out = output.out
    if min_severity is None:
        min_severity = Severity.INFO if output.verbose else Severity.WARNING
    left_out = left_out_lines(report)
    if left_out:
        out.print("[bold]Why products were left out[/]")
        for line in left_out:
            out.print(escape(line), highlight=False)
    if report.problems(min_severity):
        out.print(problems_table(report, min_severity))
        hidden = len(report.problems(min_severity)) - TABLE_ROW_LIMIT
        if hidden > 0:
            out.print(f"... and {hidden:,} more kinds of problem; use --format json for all")
    if output.verbose and report.issues:
        out.print(issues_table(report, output.verbose))
        shown = visible_issues(report, output.verbose)
        hidden = len(shown) - TABLE_ROW_LIMIT + report.issues_truncated
        if hidden > 0:
            out.print(f"... and {hidden:,} more; use --format json or --issues-file for all")
    if report.channels:
        out.print(summary_table(report, built))
    if any(c.rules for c in report.channels.values()):
        out.print(rules_table(report))
    if report.ignored:
        out.print("Ignored by the config's `issues:` section: " + ", ".join(
            f"{n:,} {code}" for code, n in sorted(report.ignored.items())), highlight=False)
    out.print(summary_line(report), highlight=False)


def summary_line(report: RunReport) -> str:
    """One line: rows, products, left out, errors and warnings, time and version."""
    counts = ", ".join(f"{n:,} {code}" for code, n in report.code_counts.most_common(8))
    return (f"{report.rows:,} rows read, {report.products:,} valid products, "
            f"{report.invalid:,} left out of every channel; {report.errors:,} errors, "
            f"{report.warnings:,} warnings" + (f" ({counts})" if counts else "")
            + f"; {timing_text(report)}")


def print_json(report: RunReport, min_severity: Severity = Severity.INFO,
               notify: list[dict[str, Any]] | None = None) -> None:
    """The report as JSON (`min_severity` filters the listed problems and issues); with
    `notify`, what each webhook call did."""
    data = report.to_dict(min_severity) | ({"notify": notify} if notify else {})
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def issue_codes_table(issue_codes: list[IssueCode]) -> Table:
    """Code, severity, title and, for codes a channel spec declares, the spec's name."""
    table = Table(title="Issue codes", title_justify="left")
    for column in ("Code", "Severity", "Title", "Spec"):
        table.add_column(column, overflow="fold")
    for issue_code in issue_codes:
        severity = issue_code.severity.value
        # Titles of a project's own specs are the user's text: never rich markup.
        table.add_row(escape(issue_code.code), f"[{_SEVERITY_STYLE[severity]}]{severity}",
                      escape(issue_code.title), escape(issue_code.spec or ""))
    return table


def print_issue_codes_json(issue_codes: list[IssueCode]) -> None:
    listed = [{"code": c.code, "severity": c.severity.value, "title": c.title, "spec": c.spec}
              for c in issue_codes]
    sys.stdout.write(json.dumps({"codes": listed}, ensure_ascii=False, indent=2) + "\n")


def issue_codes_markdown(issue_codes: list[IssueCode]) -> str:
    """The README's table of codes (a test keeps the README equal to this)."""
    lines = ["| code | severity | meaning |", "|---|---|---|"]
    for issue_code in issue_codes:
        title = issue_code.title.replace("|", "\\|")
        if issue_code.spec:
            title += f" (declared by the `{issue_code.spec}` spec)"
        lines.append(f"| `{issue_code.code}` | {issue_code.severity.value} | {title} |")
    return "\n".join(lines) + "\n"


def junit_xml(report: RunReport, min_severity: Severity = Severity.WARNING) -> str:
    """One test suite per channel (`master` for the canonical checks), one case per grouped
    problem (code x field), its failure text saying what to do and which rows."""
    # Imported here: xml.sax.saxutils pulls in urllib.request, http.client and ssl
    # (~0.15 G instructions), which a run without JUnit output never needs.
    from xml.sax.saxutils import quoteattr

    suites: dict[str, list[ProblemGroup]] = {"master": []}
    for name in report.channels:
        suites[name] = []
    for group in report.problems(min_severity):
        suites.setdefault(group.channel or "master", []).append(group)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<testsuites name="feedsync" tests="{report.rows}" '
             f'failures="{report.errors}">']
    for suite, groups in suites.items():
        failures = sum(1 for g in groups if g.severity is Severity.ERROR)
        lines.append(f"  <testsuite name={quoteattr(suite)} tests={quoteattr(str(len(groups)))} "
                     f"failures={quoteattr(str(failures))}>")
        for group in groups:
            name = f"{group.code} {group.field or ''} ({group.count} rows)".replace("  ", " ")
            lines.append(f"    <testcase classname={quoteattr('feedsync.' + suite)} "
                         f"name={quoteattr(name)}>")
            samples = sample_text(group).replace("\n", "; ")
            text = _xml_text(f"{group.title}. {group.hint} {samples}".strip())
            if group.severity is Severity.ERROR:
                lines.append(f"      <failure type={quoteattr(group.code)} "
                             f"message={quoteattr(_xml_text(group.title))}>{text}</failure>")
            else:
                lines.append(f"      <system-out>{group.severity.value} {group.code}: {text}"
                             "</system-out>")
            lines.append("    </testcase>")
        lines.append("  </testsuite>")
    lines.append("</testsuites>")
    return "\n".join(lines) + "\n"


def _xml_text(text: str) -> str:
    from feedsync.writers.xml import escape_text

    return escape_text(text)


ISSUE_COLUMNS = ("severity", "code", "channel", "row", "product_id", "field", "column", "value",
                 "message")


def neutralise_cell(value: Any) -> str:
    """Spreadsheet-bound output: a cell that starts like a formula is prefixed with '."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


class IssueFile:
    """Streams every issue to a CSV file (all of them, not only the ones kept in memory)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fh: IO[str] = path.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise OutputError(f"cannot write the issues file {path}: "
                              f"{exc.strerror or exc}") from exc
        self._writer = csv.writer(self._fh)
        self._writer.writerow(ISSUE_COLUMNS)

    def __call__(self, issue: Issue) -> None:
        data = issue.to_dict()
        self._writer.writerow([neutralise_cell(data.get(c)) for c in ISSUE_COLUMNS])

    def close(self) -> None:
        self._fh.close()


# -- preview ---------------------------------------------------------------------------------

def print_preview(output: Output, channel: str, previews: list[PreviewItem]) -> None:
    """`feedsync preview`: one block per row: its outcome, the item's fields, its issues."""
    out = output.out
    for preview in previews:
        out.print(f"[bold]row {preview.row}[/] {escape(preview.product_id or '(no id)')}: "
                  f"{preview.outcome} ({channel})", highlight=False)
        if preview.item is not None:
            table = Table(show_header=False, box=None, pad_edge=False)
            table.add_column(style="cyan")
            table.add_column(overflow="fold")
            for name, value in preview.item.items():
                table.add_row(name, escape(_item_value(to_plain(value))))
            out.print(table)
        for issue in preview.issues:
            out.print(f"  [{_SEVERITY_STYLE[issue.severity.value]}]{issue.severity.value}[/] "
                      f"{issue.code}" + (f" ({issue.field})" if issue.field else "")
                      + f": {escape(issue.message)}", highlight=False)
        out.print("")


# -- explain ---------------------------------------------------------------------------------

def _short(value: Any, limit: int = 120) -> str:
    text = repr(to_plain(value)) if value is not None else "(empty)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _item_value(value: Any) -> str:
    if isinstance(value, list):
        return " | ".join(":".join(v.values()) if isinstance(v, dict) else str(v) for v in value)
    return str(value)


def explanation_text(explanation: Explanation) -> str:
    """The human-readable explanation, as plain lines."""
    e = explanation
    lines = [f"{e.product_id}: row {e.row} of {e.source}, channel {e.channel} ({e.spec})", "",
             "Master row:"]
    width = max((len(k) for k in e.master), default=0)
    lines += [f"  {k.ljust(width)}  {v}" for k, v in e.master.items() if v not in (None, "")]
    lines += ["", "Rules:" if e.steps else "Rules: (none for this channel)"]
    for number, t in enumerate(e.steps, 1):
        indent = "  " + "  " * t.depth
        lines.append(f"{indent}{number}. {t.label} ({t.where}): {t.outcome}"
                     + (f" - {t.note}" if t.note else ""))
        for name, before, after in t.changes:
            lines.append(f"{indent}     {name}: {_short(before)} -> {_short(after)}")
    lines += ["", f"Result: {e.outcome}"]
    if e.item is not None:
        lines.append(f"Channel item ({e.spec}):")
        width = max((len(k) for k in e.item), default=0)
        for name, value in e.item.items():
            lines.append(f"  {name.ljust(width)}  {_item_value(value)}")
    if e.issues:
        lines += ["", "Issues:"]
        lines += [f"  {i.severity.value} {i.code}"
                  + (f" [{i.channel}]" if i.channel else "") + f": {i.message}"
                  for i in e.issues]
    lines += channel_words_lines(e.channel_words)
    return "\n".join(lines) + "\n"


def channel_words_lines(words: list[ChannelWord]) -> list[str]:
    """The explain section: what each destination last said about the item."""
    if not words:
        return []
    lines = ["", "What the channel last said (feedsync status):"]
    for word in words:
        if word.view is None:
            lines.append(f"  {word.destination} at {word.checked_at}: not listed")
            continue
        view = word.view
        lines.append(f"  {word.destination} at {word.checked_at}: {word.status}"
                     + (f", expires {view['expires_at']}" if view.get("expires_at") else ""))
        for destination in view.get("destinations") or []:
            lines.append(f"    {destination}")
        for issue in view.get("issues") or []:
            about = f" ({issue['attribute']})" if issue.get("attribute") else ""
            lines.append(f"    {issue.get('severity') or 'issue'} {issue['code']}{about}: "
                         f"{issue['description']}"
                         + (f"; {issue['resolution']}" if issue.get("resolution") else ""))
    return lines


# -- channel specs ---------------------------------------------------------------------------

def print_spec_list(output: Output, specs: list[SpecSummary]) -> None:
    """`feedsync channels`: one row per spec."""
    table = Table(title="Channel specs", title_justify="left")
    for column in ("Name", "Channel", "Formats", "Fields"):
        table.add_column(column)
    for spec in specs:
        table.add_row(spec.name, spec.title, ", ".join(spec.formats), str(len(spec.fields)))
    output.out.print(table)


def print_spec(output: Output, spec: SpecSummary) -> None:
    """`feedsync channels show NAME`: formats, settings, fields with limits, rules."""
    out = output.out
    out.print(f"[bold]{spec.title}[/] ({spec.name}): {spec.description}")
    if spec.reference:
        out.print(f"Reference: {spec.reference}", highlight=False)
    out.print("Formats: " + ", ".join(f"{n} ({ext})" for n, ext in spec.formats.items()))
    if spec.settings:
        out.print("Settings: " + ", ".join(
            f"{k} (required)" if v is None else f"{k}={v!r}"
            for k, v in spec.settings.items()), highlight=False)
    table = Table(title="Fields", title_justify="left")
    for column in ("Field", "From", "Status", "Format", "Limits", "Values"):
        table.add_column(column, overflow="fold")
    for f in spec.fields:
        table.add_row(f.name, f.origin, f.status, f.format, "; ".join(f.limits), f.values)
    out.print(table)
    for rule in spec.rules:
        out.print(rule, highlight=False)
