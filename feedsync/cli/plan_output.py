"""How `feedsync plan` and `feedsync history` print: a table, JSON or GitHub markdown."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.table import Table

from feedsync.api import Plan, RunRecord
from feedsync.cli.output import Output, neutralise_cell

_COUNTS = ("added", "changed", "removed", "unchanged", "refresh")


def _value(value: Any) -> str:
    return "(none)" if value in (None, "") else str(value)


def change_lines(entry: dict[str, Any]) -> list[str]:
    """One line per example item of one feed and destination: what happens to it."""
    examples = entry["examples"]
    lines = [f"+ {item_id}" for item_id in examples["added"]]
    for change in examples["changed"]:
        parts = [f"{name} {_value(v['old'])} -> {_value(v['new'])}"
                 for name, v in change["values"].items()]
        others = [f for f in change["fields"] if f not in change["values"]]
        if others:
            parts.append("also " + ", ".join(others))
        lines.append(f"~ {change['id']}: " + ("; ".join(parts) or "content"))
    lines += [f"- {item_id}" for item_id in examples["removed"]]
    return lines


def _more(entry: dict[str, Any]) -> int:
    examples = entry["examples"]
    shown = len(examples["added"]) + len(examples["changed"]) + len(examples["removed"])
    return int(entry["added"] + entry["changed"] + entry["removed"]) - shown


def _summary(data: dict[str, Any]) -> str:
    t = data["totals"]
    if not data["has_changes"]:
        return "No changes: every destination already holds these items."
    return (f"Plan: {t['added']:,} to add, {t['changed']:,} to change, {t['removed']:,} to "
            f"remove, {t['refresh']:,} to refresh; {t['unchanged']:,} unchanged.")


def print_plan_table(output: Output, plan: Plan) -> None:
    data = plan.to_dict()
    table = Table(title="Plan", title_justify="left")
    for column in ("Channel", "Destination", "Items", "Added", "Changed", "Removed",
                   "Unchanged", "Refresh"):
        table.add_column(column, justify="left" if column in ("Channel", "Destination")
                         else "right")
    for entry in data["feeds"]:
        destination = entry["destination"] + (" (first run)" if entry["first_run"] else "")
        table.add_row(entry["channel"], destination, f"{entry['items']:,}",
                      *(f"{entry[k]:,}" for k in _COUNTS))
    output.out.print(table)
    for entry in data["feeds"]:
        lines = change_lines(entry)
        if not lines:
            continue
        output.out.print(f"{entry['channel']} -> {entry['destination']}:", highlight=False)
        for line in lines:
            output.out.print(f"  {line}", highlight=False, markup=False)
        if _more(entry) > 0:
            output.out.print(f"  ... and {_more(entry):,} more", highlight=False)
    output.out.print(_summary(data), highlight=False)


def plan_markdown(plan: Plan) -> str:
    """The plan as GitHub-flavoured markdown (for $GITHUB_STEP_SUMMARY or a PR comment)."""
    data = plan.to_dict()
    lines = ["## feedsync plan", "", _summary(data), "",
             "| Channel | Destination | Items | Added | Changed | Removed | Unchanged "
             "| Refresh |", "|---|---|--:|--:|--:|--:|--:|--:|"]
    for entry in data["feeds"]:
        destination = entry["destination"] + (" (first run)" if entry["first_run"] else "")
        lines.append(f"| {entry['channel']} | {destination} | {entry['items']:,} | "
                     + " | ".join(f"{entry[k]:,}" for k in _COUNTS) + " |")
    for entry in data["feeds"]:
        changes = change_lines(entry)
        if not changes:
            continue
        lines += ["", f"<details><summary>{entry['channel']} → {entry['destination']}"
                      "</summary>", "", "```diff", *changes]
        if _more(entry) > 0:
            lines.append(f"# ... and {_more(entry):,} more")
        lines += ["```", "", "</details>"]
    return "\n".join(lines) + "\n"


def plan_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), ensure_ascii=False, indent=2) + "\n"


def print_history_table(output: Output, records: list[RunRecord]) -> None:
    """The runs as a table: counts, products left out ("-": not counted), time taken."""
    if not records:
        output.out.print("No runs recorded yet (`feedsync build` or `push` records them).")
        return
    table = Table(title="History", title_justify="left")
    for column in ("When", "Channel", "Destination", "Run", "Items", "Added", "Changed",
                   "Removed", "Sent", "Deleted", "Left out", "Took", "Result"):
        table.add_column(column, overflow="fold")
    for r in records:
        data = r.to_dict()
        result = r.result + (f": {r.message}" if r.message else "")
        table.add_row(data["at"], r.feed, r.destination, r.kind, f"{r.items:,}",
                      f"{r.added:,}", f"{r.changed:,}", f"{r.removed:,}", f"{r.sent:,}",
                      f"{r.deleted:,}", "-" if r.excluded is None else f"{r.excluded:,}",
                      f"{r.duration_s:.1f}s", result)
    output.out.print(table)


# New columns go at the end, so a BI import that reads them by position keeps working.
HISTORY_CSV_COLUMNS = ("at", "command", "channel", "destination", "items", "added", "changed",
                       "removed", "refreshed", "sent", "deleted", "result", "message",
                       "excluded", "excluded_by_reason", "duration_s")


def reasons_cell(reasons: dict[str, int] | None) -> str:
    """Products left out per issue code as one CSV cell, `code=count;code=count`, in the
    record's order (the ledger keeps them most first, then by code); empty when the run
    did not count them."""
    return ";".join(f"{code}={count}" for code, count in (reasons or {}).items())


def history_csv(records: list[RunRecord]) -> str:
    """One row per run x channel x destination, for a BI tool (columns: the README's)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HISTORY_CSV_COLUMNS)
    for r in records:
        data = r.to_dict()
        writer.writerow([data["at"], r.kind, r.feed, r.destination, r.items, r.added,
                         r.changed, r.removed, r.refreshed, r.sent, r.deleted, r.result,
                         # A guard's message names items by id, from the master: a
                         # spreadsheet must show it as text, never run it as a formula.
                         neutralise_cell(r.message), "" if r.excluded is None else r.excluded,
                         reasons_cell(r.excluded_by_reason), f"{r.duration_s:.3f}"])
    return buffer.getvalue()


def history_json(records: list[RunRecord]) -> str:
    """`{"runs": [...]}`, each run's reasons as an object and its duration in seconds."""
    return json.dumps({"runs": [r.to_dict() for r in records]}, ensure_ascii=False,
                      indent=2) + "\n"
