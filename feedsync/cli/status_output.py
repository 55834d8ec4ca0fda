"""How `feedsync status` prints: per destination a summary line and a table grouped by the
channel's issue (count, new, attribute, the channel's words, feedsync's matching check, a
few item ids), or the JSON of the whole report."""

from __future__ import annotations

import json

from rich.table import Table
from rich.text import Text

from feedsync.api import DestinationStatus, IssueGroup, StatusReport
from feedsync.cli.output import Output

_STATUS_ORDER = ("approved", "warned", "pending", "disapproved", "unknown")


def status_json(report: StatusReport) -> str:
    """The report as indented JSON (one document)."""
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n"


def destination_summary(entry: DestinationStatus) -> str:
    """One line: what the channel holds and how it judges it."""
    head = f"{entry.channel} -> {entry.destination} ({entry.target})"
    if entry.error is not None:
        return f"{head}: could not be read: {entry.error}"
    if entry.kind == "file":
        last = entry.last_published
        if last is None:
            return f"{head}: nothing published yet"
        return f"{head}: {last['items']:,} items published at {last['at']}"
    counts = ", ".join(f"{entry.statuses[s]:,} {s}" for s in _STATUS_ORDER
                       if entry.statuses.get(s))
    line = f"{head}: {entry.items:,} items" + (f" ({counts})" if counts else "")
    if entry.new_disapprovals:
        line += (f"; {entry.new_disapprovals:,} newly disapproved: "
                 + ", ".join(entry.sample_new_disapprovals))
    if entry.expired or entry.expiring:
        line += f"; {entry.expired:,} expired, {entry.expiring:,} expiring within 3 days"
    return line


def _ledger_line(entry: DestinationStatus) -> str | None:
    if entry.kind != "merchant-api" or entry.error is not None:
        return None
    held = "no record" if entry.ledger_items is None else f"{entry.ledger_items:,} items"
    parts = [f"ledger: {held}"]
    if entry.not_listed:
        parts.append(f"{entry.not_listed:,} sent but not listed ("
                     + ", ".join(entry.sample_not_listed) + ")")
    if entry.unknown_to_ledger:
        parts.append(f"{entry.unknown_to_ledger:,} listed but not live in the ledger ("
                     + ", ".join(entry.sample_unknown) + ")")
    return "  " + "; ".join(parts)


def issue_table(entry: DestinationStatus) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for column, justify in (("Issue", "left"), ("Items", "right"), ("New", "right"),
                            ("Attribute", "left"), ("The channel says", "left"),
                            ("feedsync", "left"), ("Examples", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for group in entry.groups:
        words = group.description + (f" ({group.resolution})" if group.resolution else "")
        code = group.code + (f" [{group.severity}]" if group.severity else "")
        if group.scope == "catalog":
            code += " (catalog)"
        # Text cells: the channel's words are data, never rich markup.
        table.add_row(Text(code), f"{group.count:,}",
                      f"{group.new:,}" if group.scope == "item" else "-",
                      Text(group.attribute or "-"), Text(words),
                      Text(_feedsync_cell(group)),
                      Text(", ".join(group.sample_ids)))
    return table


def _feedsync_cell(group: IssueGroup) -> str:
    """feedsync's side: the issues it reported on these items, else what checks the field."""
    if group.feedsync_codes:
        return "found " + ", ".join(sorted(group.feedsync_codes))
    if group.checked_by:
        return "checks " + ", ".join(group.checked_by)
    return "-"


def print_status_table(output: Output, report: StatusReport) -> None:
    if not report.destinations:
        output.out.print("No channel publishes anywhere: give a channel `publish:` to "
                         "see what its destinations did with the items.", markup=False)
        return
    for entry in report.destinations:
        output.out.print(destination_summary(entry), markup=False, highlight=False,
                         soft_wrap=True)
        ledger = _ledger_line(entry)
        if ledger:
            output.out.print(ledger, markup=False, highlight=False,
                         soft_wrap=True)
        if entry.groups:
            output.out.print(issue_table(entry))
        for note in entry.notes:
            output.out.print(f"  note: {note}", markup=False, highlight=False,
                         soft_wrap=True)
        output.out.print("")
    if report.own_checks != "run":
        output.out.print(f"feedsync's own checks: {report.own_checks}", markup=False)

