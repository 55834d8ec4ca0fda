"""`feedsync report` / `build --report`: one self-contained HTML page for a merchandiser.

Everything is inside the file (styles, inline SVG charts, a few lines of script for the
problems table's search and sort): no CDN and no network, so it can be mailed or opened
from a shared drive. The run's JSON report is embedded too (`#feedsync-report`), so a
tool, or a test, can check that the page shows the same counts.

`FillRates` is a pipeline observer: it counts, per feed, how many items have each field.
The section "Changes since the last publish" appears when the caller passes them (the
ledger's API, when the project has one); "What the channels said" shows what the last
`feedsync status` remembered (nothing is fetched for the page).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from html import escape
from typing import Any

from feedsync.pipeline import PlannedChannel, RowOutcome, Written
from feedsync.report import EVERY_CHANNEL, RunReport

_SEVERITY_COLOUR = {"error": "#c62828", "warning": "#b26a00", "info": "#607d8b"}


class FillRates:
    """Per feed: items written, and how many of them have each field filled."""

    def __init__(self, feeds: Iterable[PlannedChannel]) -> None:
        self.names = [f.name for f in feeds]
        self.fields = {f.name: [spec_field.name for spec_field in f.spec.fields]
                       for f in feeds}
        self.items: Counter[str] = Counter()
        self.filled: dict[str, Counter[str]] = {name: Counter() for name in self.names}

    def __call__(self, outcome: RowOutcome) -> None:
        for name, result in zip(self.names, outcome.feeds, strict=False):
            if isinstance(result, Written):
                self.items[name] += 1
                counts = self.filled[name]
                assert result.item is not None  # it does not say it reads none
                for key, value in result.item.items():
                    if value not in (None, "", [], {}):
                        counts[key] += 1

    def rate(self, channel: str, field_name: str) -> float | None:
        """Share of the channel's items that have the field (None: no items)."""
        items = self.items[channel]
        return self.filled[channel][field_name] / items if items else None


def render_html(report: RunReport, fill: FillRates, *, unmapped: list[str],
                changes: Mapping[str, Any] | None = None, title: str = "",
                channel_status: list[dict[str, Any]] | None = None) -> str:
    """The whole page as one string."""
    data = report.to_dict()
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [_HEAD.replace("{title}", escape(title or f"feedsync report: {report.source}")),
             f"<header><h1>{escape(title or 'Feed report')}</h1>"
             f"<p class='meta'>{escape(report.source)} · {generated} · feedsync "
             f"{escape(report.version)} · {report.duration:.2f} s "
             f"({report.rows_per_second:,.0f} rows/s)</p></header>",
             _kpis(report), _channels_section(report), _left_out_section(report),
             _fill_section(report, fill), _unmapped_section(unmapped),
             _rules_section(report), _problems_section(report),
             _changes_section(changes), _channel_status_section(channel_status),
             "<script type='application/json' id='feedsync-report'>"
             + json.dumps(data, ensure_ascii=False).replace("</", "<\\/") + "</script>",
             _SCRIPT, "</body></html>\n"]
    return "\n".join(parts)


def _kpis(report: RunReport) -> str:
    cells = [("rows", "Rows read", report.rows), ("products", "Valid products", report.products),
             ("invalid", "Left out of every channel", report.invalid),
             ("errors", "Errors", report.errors), ("warnings", "Warnings", report.warnings)]
    return "<section class='kpis'>" + "".join(
        f"<div class='kpi'><span class='n' data-count='{key}'>{value:,}</span>"
        f"<span>{label}</span></div>" for key, label, value in cells) + "</section>"


def _bar_chart(rows: list[tuple[str, list[tuple[int, str, str]]]], unit: str) -> str:
    """Horizontal stacked bars in inline SVG: (label, [(value, colour, legend)])."""
    if not rows:
        return "<p class='empty'>Nothing to show.</p>"
    biggest = max((sum(v for v, _, _ in bars) for _, bars in rows), default=0) or 1
    height = 26 * len(rows) + 10
    out = [f"<svg class='chart' viewBox='0 0 760 {height}' role='img' "
           f"aria-label='{escape(unit)}'>"]
    for index, (label, bars) in enumerate(rows):
        y = 8 + 26 * index
        out.append(f"<text x='0' y='{y + 14}' class='label'>{escape(label[:34])}</text>")
        x = 240.0
        for value, colour, legend in bars:
            width = 440 * value / biggest
            if width > 0:
                out.append(f"<rect x='{x:.1f}' y='{y}' width='{width:.1f}' height='18' "
                           f"fill='{colour}'><title>{escape(legend)}: {value:,}</title></rect>")
            x += width
        total = sum(v for v, _, _ in bars)
        out.append(f"<text x='{x + 6:.1f}' y='{y + 14}' class='value'>{total:,}</text>")
    out.append("</svg>")
    return "".join(out)


def _channels_section(report: RunReport) -> str:
    rows = [(c.name, [(c.items, "#2e7d32", "items"), (c.excluded, "#c62828", "left out"),
                      (c.filtered, "#90a4ae", "filtered by rules")])
            for c in report.channels.values()]
    table = ["<table><thead><tr><th>Channel</th><th>Spec</th><th>Items</th><th>Left out</th>"
             "<th>Filtered by rules</th></tr></thead><tbody>"]
    for c in report.channels.values():
        table.append(f"<tr data-channel='{escape(c.name)}'><td>{escape(c.name)}</td>"
                     f"<td>{escape(c.spec)}</td><td class='num' data-count='items'>{c.items:,}"
                     f"</td><td class='num' data-count='excluded'>{c.excluded:,}</td>"
                     f"<td class='num'>{c.filtered:,}</td></tr>")
    table.append("</tbody></table>")
    legend = ("<p class='legend'><i style='background:#2e7d32'></i>items "
              "<i style='background:#c62828'></i>left out "
              "<i style='background:#90a4ae'></i>filtered by rules</p>")
    return ("<section><h2>Items per channel</h2>" + _bar_chart(rows, "items per channel")
            + legend + "".join(table) + "</section>")


def _left_out_section(report: RunReport) -> str:
    blocks = []
    for name in [EVERY_CHANNEL, *report.channels]:
        reasons = report.left_out_reasons(name)
        if not reasons:
            continue
        rows = [(f"{r.code}" + (f" ({r.field})" if r.field else ""),
                 [(r.products, "#c62828", r.title)]) for r in reasons[:10]]
        blocks.append(f"<h3>{escape(name)}</h3>" + _bar_chart(rows, f"left out of {name}"))
    body = "".join(blocks) or "<p class='empty'>No product was left out.</p>"
    return "<section><h2>Why products were left out</h2>" + body + "</section>"


def _fill_section(report: RunReport, fill: FillRates) -> str:
    channels = [n for n in fill.names if n in report.channels]
    fields: list[str] = []
    for name in channels:
        fields += [f for f in fill.fields[name] if f not in fields]
    if not channels or not fields:
        return ""
    head = "".join(f"<th>{escape(n)}</th>" for n in channels)
    rows = []
    for field_name in fields:
        cells = []
        for name in channels:
            if field_name not in fill.fields[name]:
                cells.append("<td class='na'>-</td>")
                continue
            rate = fill.rate(name, field_name)
            if rate is None:
                cells.append("<td class='na'>no items</td>")
                continue
            hue = int(120 * rate)  # red (0%) to green (100%)
            cells.append(f"<td class='num' style='background:hsl({hue},60%,88%)' "
                         f"title='{fill.filled[name][field_name]:,} of {fill.items[name]:,}'>"
                         f"{rate:.0%}</td>")
        rows.append(f"<tr><td>{escape(field_name)}</td>{''.join(cells)}</tr>")
    return ("<section><h2>Fill rate per field</h2><p class='hint'>Share of each channel's "
            "items with the field filled in.</p><table class='fill'><thead><tr><th>Field</th>"
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>")


def _unmapped_section(unmapped: list[str]) -> str:
    if not unmapped:
        body = "<p class='empty'>Every master column is used.</p>"
    else:
        body = ("<p class='hint'>Columns of the master no field reads (rules can use them as "
                "<code>row['…']</code>; map the ones a channel wants).</p><ul class='cols'>"
                + "".join(f"<li>{escape(c)}</li>" for c in unmapped) + "</ul>")
    return "<section><h2>Master columns not mapped</h2>" + body + "</section>"


def _rules_section(report: RunReport) -> str:
    rows = [f"<tr><td>{escape(c.name)}</td><td>{'&nbsp;' * 4 * r.depth}{escape(r.label)}</td>"
            f"<td>{escape(r.where)}</td><td class='num'>{r.changed:,}</td>"
            f"<td class='num'>{r.dropped:,}</td></tr>"
            for c in report.channels.values() for r in c.rules]
    if not rows:
        return ""
    return ("<section><h2>Rules</h2><table><thead><tr><th>Channel</th><th>Rule</th>"
            "<th>Where</th><th>Changed</th><th>Dropped</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></section>")


def _problems_section(report: RunReport) -> str:
    rows = []
    for group in report.problems():
        samples = "<br>".join(escape(
            " ".join(p for p in (f"row {s.row}" if s.row else "", s.product_id or "") if p)
            + f": {s.message}") for s in group.samples)
        colour = _SEVERITY_COLOUR[group.severity.value]
        rows.append(f"<tr class='problem'><td style='color:{colour}' "
                    f"data-sort='{group.severity.rank}'>{group.severity.value}</td>"
                    f"<td>{escape(group.code)}</td><td>{escape(group.channel or 'all')}</td>"
                    f"<td>{escape(group.field or '')}</td>"
                    f"<td class='num' data-sort='{group.count}'>{group.count:,}</td>"
                    f"<td>{escape(group.title)}<div class='hint'>{escape(group.hint)}</div></td>"
                    f"<td class='samples'>{samples}</td></tr>")
    ignored = ""
    if report.ignored:
        ignored = ("<p class='hint'>Ignored by the config's <code>issues:</code> section: "
                   + ", ".join(f"{n:,} {escape(c)}" for c, n in sorted(report.ignored.items()))
                   + "</p>")
    if not rows:
        return "<section><h2>Problems</h2><p class='empty'>No problems.</p>" + ignored + \
            "</section>"
    return ("<section><h2>Problems</h2>" + ignored
            + "<input id='search' type='search' placeholder='Search problems…' "
              "aria-label='Search problems'>"
            "<table id='problems' class='sortable'><thead><tr><th>Severity</th><th>Code</th>"
            "<th>Channel</th><th>Field</th><th>Count</th><th>Problem and what to do</th>"
            "<th>Sample rows</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table></section>")


def _changes_section(changes: Mapping[str, Any] | None) -> str:
    """Changes since the last publish (from the ledger, when the project offers them)."""
    if changes is None:
        return ("<section id='changes'><h2>Changes since the last publish</h2>"
                "<p class='empty'>No publish record to compare with.</p></section>")
    rows = "".join(f"<tr><td>{escape(str(k))}</td><td>{escape(_plain(v))}</td></tr>"
                   for k, v in changes.items())
    return ("<section id='changes'><h2>Changes since the last publish</h2><table><tbody>"
            + rows + "</tbody></table></section>")


def _channel_status_section(summaries: list[dict[str, Any]] | None) -> str:
    """What each destination said at the last `feedsync status` (its remembered view)."""
    head = "<section id='channel-status'><h2>What the channels said</h2>"
    if not summaries:
        return head + ("<p class='empty'>No channel status yet: run <code>feedsync status"
                       "</code> to read what the channels did with the items.</p></section>")
    parts = [head]
    for entry in summaries:
        counts = ", ".join(f"{n:,} {escape(s)}" for s, n in sorted(entry["statuses"].items()))
        parts.append(f"<h3>{escape(entry['channel'])} → {escape(entry['destination'])}</h3>"
                     f"<p class='meta'>checked {escape(entry['checked_at'])}: "
                     f"{entry['items']:,} items ({counts or 'none'})</p>")
        if not entry["issues"]:
            continue
        rows = "".join(
            f"<tr><td>{escape(g['code'])}</td><td>{escape(g['severity'])}</td>"
            f"<td>{escape(g['attribute'] or '-')}</td><td>{g['count']:,}</td>"
            f"<td>{escape(g['description'])}</td><td>{escape(', '.join(g['ids']))}</td></tr>"
            for g in entry["issues"])
        parts.append("<table><thead><tr><th>Issue</th><th>Severity</th><th>Attribute</th>"
                     "<th>Items</th><th>The channel says</th><th>Examples</th></tr></thead>"
                     "<tbody>" + rows + "</tbody></table>")
    return "".join(parts) + "</section>"


def _plain(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value[:50])) + (" …" if len(value) > 50 else "")
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1200px;padding:0 24px 48px;color:#1f2933;background:#fafbfc}
h1{margin:24px 0 4px;font-size:24px}h2{margin-top:32px;font-size:18px;border-bottom:1px solid
#dde3ea;padding-bottom:4px}h3{font-size:15px;margin:16px 0 4px}.meta,.hint,.empty{color:#5f6b7a}
.hint{font-size:12px}.kpis{display:flex;gap:12px;flex-wrap:wrap;margin-top:16px}
.kpi{background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:10px 16px;min-width:140px}
.kpi .n{display:block;font-size:24px;font-weight:600}table{border-collapse:collapse;width:100%;
background:#fff;margin-top:8px}th,td{border:1px solid #e3e8ee;padding:5px 8px;text-align:left;
vertical-align:top}th{background:#f0f3f6;cursor:default}.sortable th{cursor:pointer}
.num{text-align:right;font-variant-numeric:tabular-nums}.na{color:#9aa5b1;text-align:center}
.chart{width:100%;max-width:760px;height:auto}.chart .label,.chart .value{font-size:12px;
fill:#1f2933}.legend i{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
.samples{font-size:12px;color:#3e4c59}#search{margin:8px 0;padding:6px 10px;width:320px;
border:1px solid #c5ced8;border-radius:6px}ul.cols{columns:3;font-size:13px}
</style></head><body>"""

# Search and sort for the problems table: a few lines, no library, no network.
_SCRIPT = """<script>
(function () {
  var table = document.getElementById('problems');
  if (!table) { return; }
  var body = table.tBodies[0];
  var search = document.getElementById('search');
  search.addEventListener('input', function () {
    var words = search.value.toLowerCase();
    Array.prototype.forEach.call(body.rows, function (row) {
      row.style.display = row.textContent.toLowerCase().indexOf(words) >= 0 ? '' : 'none';
    });
  });
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell, index) {
    var ascending = true;
    cell.addEventListener('click', function () {
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[index].getAttribute('data-sort') || a.cells[index].textContent;
        var y = b.cells[index].getAttribute('data-sort') || b.cells[index].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return ascending ? order : -order;
      });
      ascending = !ascending;
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
})();
</script>"""
