"""`feedsync explain ID --channel NAME`: why each value of one product came out as it did.

The master row (with its row number) -> the canonical product -> every rule of the channel in
order, with the fields it changed (before -> after) or why it did not apply -> the channel item.
It is a trace of the same row processor a build runs (feedsync.pipeline), so it finds the
product by the id the parser computes and can never disagree with the feed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from feedsync.checks.issue import Issue
from feedsync.config import Config
from feedsync.pipeline import Pipeline, select_planned
from feedsync.products.product import Product, to_plain
from feedsync.rules.steps import TraceEntry


@dataclass
class Explanation:
    """One product traced through one feed: the master row, each rule step, the item."""

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
        """In one sentence: where the product ended up."""
        if self.product is None:
            return "left out of every channel: the master row has errors"
        if self.result is None:
            return "dropped by a rule"
        if self.item is None:
            return f"left out of {self.channel}: the channel's checks failed"
        return f"in the {self.channel} feed"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (`explain --format json`)."""
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


def explain(config: Config, product_id: str, channel: str) -> Explanation:
    """Find `product_id` in the master and trace it through `channel`'s rules and renderer."""
    feed = select_planned(config, channel)
    pipeline = Pipeline(config, feeds=[feed])
    source_row, trace = pipeline.trace(product_id)
    return Explanation(product_id.strip(), feed.name, feed.spec.name, pipeline.source.name,
                       source_row.row, dict(source_row.data), trace.product, trace.steps,
                       trace.result, trace.item, trace.issues)
