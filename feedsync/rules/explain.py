"""`feedsync explain ID --channel NAME`: why each value of one product came out as it did.

The master row (with its row number) -> the canonical product -> every rule of the channel in
order, with the fields it changed (before -> after) or why it did not apply -> the channel item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feedsync.checks.issue import Issue
from feedsync.errors import FeedsyncError
from feedsync.products.product import Product, to_plain
from feedsync.rules.steps import TraceEntry


class ProductNotFound(FeedsyncError):
    """The id asked about is not in the master (exit code 2, like other usage errors)."""


@dataclass
class Explanation:
    product_id: str
    channel: str
    spec: str
    source: str
    row: int
    master: dict[str, str | None]
    product: Product | None
    steps: list[TraceEntry] = field(default_factory=list)
    result: Product | None = None
    item: dict[str, Any] | None = None
    issues: list[Issue] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if self.product is None:
            return "left out of every channel: the master row has errors"
        if self.result is None:
            return "dropped by a rule"
        if self.item is None:
            return f"left out of {self.channel}: the channel's checks failed"
        return f"in the {self.channel} feed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.product_id,
            "channel": self.channel,
            "spec": self.spec,
            "source": self.source,
            "row": self.row,
            "master": self.master,
            "product": self.product.to_dict() if self.product else None,
            "rules": [{"rule": t.label, "where": t.where, "depth": t.depth,
                       "outcome": t.outcome, "note": t.note,
                       "changes": [{"field": n, "before": to_plain(b), "after": to_plain(a)}
                                   for n, b, a in t.changes]} for t in self.steps],
            "outcome": self.outcome,
            "item": self.item,
            "issues": [i.to_dict() for i in self.issues],
        }


def explain(config: Any, product_id: str, channel: str,
            now: datetime | None = None) -> Explanation:
    """Find `product_id` in the master and trace it through `channel`'s rules and renderer."""
    from feedsync.api import make_renderer, prepare_rules, select_planned
    from feedsync.products.parse import RowParser
    from feedsync.sources import open_source

    planned = select_planned(config, channel)
    channel = planned.name
    source = open_source(config)
    parser = RowParser(config.source, source.columns, source.name)
    rules = prepare_rules(config, [planned], source, parser)[0]
    id_columns = parser.mapping["id"]
    wanted = product_id.strip()
    for source_row in source.rows():
        if id_columns and (source_row.data.get(id_columns[0]) or "").strip() == wanted:
            break
    else:
        column = f" (column {id_columns[0]})" if id_columns else ""
        raise ProductNotFound(f"no product with id {wanted!r} in {source.name}{column}")
    product, issues = parser.parse(source_row)
    explanation = Explanation(wanted, channel, planned.spec.name, source.name, source_row.row,
                              dict(source_row.data), product, issues=list(issues))
    if product is None:
        return explanation
    result, rule_issues = rules.apply(product, explanation.steps)
    explanation.result = result
    explanation.issues += rule_issues
    if result is not None:
        item, channel_issues = make_renderer(planned).render(result)
        explanation.item = item
        explanation.issues += channel_issues
    return explanation


def _short(value: Any, limit: int = 120) -> str:
    text = repr(to_plain(value)) if value is not None else "(empty)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _item_value(value: Any) -> str:
    if isinstance(value, list):
        return " | ".join(":".join(v.values()) if isinstance(v, dict) else str(v) for v in value)
    return str(value)


def format_text(explanation: Explanation) -> str:
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
