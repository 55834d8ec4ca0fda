"""How results reach people and machines: stdout for results, stderr for logs and progress."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import quoteattr

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from feedsync.api import Explanation, IssueCode, OutputError, SpecSummary
from feedsync.checks.issue import Issue, Severity
from feedsync.products.product import to_plain
from feedsync.report import RunReport

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
            self.out = Console(soft_wrap=False, width=200)
        self.err = Console(stderr=True, soft_wrap=True)

    def log(self, message: str) -> None:
        if not self.quiet:
            self.err.print(message, highlight=False)

    def error(self, message: str) -> None:
        self.err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)

    @contextmanager
    def progress(self, label: str) -> Iterator[Any]:
        """A live row counter on stderr, only when stderr is a terminal."""
        if self.quiet or not self.err.is_terminal:
            yield None
            return
        with Progress(SpinnerColumn(), TextColumn("{task.description}"),
                      TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                      console=self.err, transient=True) as bar:
            task = bar.add_task(label, total=None)
            yield lambda rows: bar.update(task, completed=rows)


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


def print_report_table(output: Output, report: RunReport, built: bool) -> None:
    if output.quiet:
        return
    out = output.out
    shown = visible_issues(report, output.verbose)
    if shown and not (built and output.verbose == 0):
        out.print(issues_table(report, output.verbose))
        hidden = len(shown) - TABLE_ROW_LIMIT + report.issues_truncated
        if hidden > 0:
            out.print(f"... and {hidden:,} more; use --format json or --issues-file for all")
    if report.channels:
        out.print(summary_table(report, built))
    if any(c.rules for c in report.channels.values()):
        out.print(rules_table(report))
    counts = ", ".join(f"{n:,} {code}" for code, n in report.code_counts.most_common(8))
    out.print(
        f"{report.rows:,} rows read, {report.products:,} valid products, "
        f"{report.invalid:,} left out of every channel; {report.errors:,} errors, "
        f"{report.warnings:,} warnings" + (f" ({counts})" if counts else ""), highlight=False)
    if built and shown:
        out.print("Run `feedsync validate` to list each problem.", style="dim")


def print_json(report: RunReport, notify: list[dict[str, Any]] | None = None) -> None:
    """The report as JSON; with `notify`, what each webhook call did."""
    data = report.to_dict() | ({"notify": notify} if notify else {})
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


def junit_xml(report: RunReport) -> str:
    """One test suite per channel (`master` for the canonical checks), one case per issue."""
    suites: dict[str, list[Issue]] = {"master": []}
    for name in report.channels:
        suites[name] = []
    for issue in report.issues:
        if issue.severity is Severity.INFO:
            continue
        suites.setdefault(issue.channel or "master", []).append(issue)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<testsuites name="feedsync" tests="{report.rows}" '
             f'failures="{report.errors}">']
    for suite, issues in suites.items():
        failures = sum(1 for i in issues if i.is_error)
        lines.append(f"  <testsuite name={quoteattr(suite)} tests={quoteattr(str(len(issues)))} "
                     f"failures={quoteattr(str(failures))}>")
        for issue in issues:
            name = f"row {issue.row or '-'} {issue.product_id or ''} {issue.field or ''}".strip()
            lines.append(f"    <testcase classname={quoteattr('feedsync.' + suite)} "
                         f"name={quoteattr(name)}>")
            text = _xml_text(issue.message)
            if issue.is_error:
                lines.append(f"      <failure type={quoteattr(issue.code)} "
                             f"message={quoteattr(_xml_text(issue.message))}>{text}</failure>")
            else:
                lines.append(f"      <system-out>warning {issue.code}: {text}</system-out>")
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
    return "\n".join(lines) + "\n"


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
