"""How `feedsync push` reports: the build summary, then one row per channel and destination."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.table import Table

from feedsync.api import PublishStatus, PushReport
from feedsync.cli.output import Output, print_report_table

_STYLE = {PublishStatus.PUBLISHED: "green", PublishStatus.DRY_RUN: "cyan",
          PublishStatus.GUARD: "yellow", PublishStatus.TEMPORARY: "red",
          PublishStatus.FATAL: "bold red"}


def print_push_table(output: Output, report: PushReport) -> None:
    print_report_table(output, report.build, built=not report.dry_run)
    if output.quiet or not report.outcomes:
        return
    table = Table(title="Publish (dry run: nothing sent)" if report.dry_run else "Publish",
                  title_justify="left")
    for column in ("Channel", "Destination", "Target", "Items", "Result", "Detail"):
        table.add_column(column, overflow="fold")
    for o in report.outcomes:
        detail = o.message
        if o.status is PublishStatus.PUBLISHED:
            parts = [f"{o.attempts} attempt(s)"]
            if o.diff is not None and o.sent != o.items:  # a delta publish
                parts.insert(0, f"{o.sent:,} sent ({o.diff.added:,} new, {o.diff.changed:,} "
                                f"changed, {o.diff.refresh:,} refreshed)")
            if o.deleted:
                parts.append(f"{o.deleted:,} deleted")
            if o.rejected:
                parts.append(f"{o.rejected_count:,} item(s) rejected, e.g. {o.rejected[0]}")
            detail = ", ".join(parts)
        table.add_row(o.channel, o.destination, o.target, f"{o.items:,}",
                      f"[{_STYLE.get(o.status, '')}]{o.status.value}", detail)
    output.out.print(table)


def print_push_json(report: PushReport, notify: list[dict[str, Any]] | None = None) -> None:
    """The push report as JSON; with `notify`, what each webhook call did."""
    data = report.to_dict() | ({"notify": notify} if notify else {})
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
