"""`feedsync explain ID --channel NAME`: why each value of one product came out as it did.

The master row (with its row number) -> the canonical product -> every rule of the channel in
order, with the fields it changed (before -> after) or why it did not apply -> the channel item.
It is a trace of the same row processor a build runs (feedsync.pipeline), so it finds the
product by the id the parser computes and can never disagree with the feed. After it comes
what each of the feed's destinations last said about the item, as `feedsync status`
remembered it (nothing is fetched: explain works offline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from feedsync.checks.issue import Issue
from feedsync.config import Config
from feedsync.pipeline import Pipeline, select_planned
from feedsync.products.product import Product, to_plain
from feedsync.rules.steps import TraceEntry
from feedsync.state.store import STATE_NAME, StateStore


@dataclass
class ChannelWord:
    """What one destination said about the item when `feedsync status` last read it;
    `view` is None when the channel did not list the item then."""

    destination: str
    checked_at: str
    status: str | None
    view: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"destination": self.destination, "checked_at": self.checked_at,
                "status": self.status, "view": self.view}


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
    channel_words: list[ChannelWord] = field(default_factory=list)

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
            "channel_says": [w.to_dict() for w in self.channel_words],
        }


def explain(config: Config, product_id: str, channel: str) -> Explanation:
    """Find `product_id` in the master and trace it through `channel`'s rules and renderer."""
    feed = select_planned(config, channel)
    pipeline = Pipeline(config, feeds=[feed])
    source_row, trace = pipeline.trace(product_id)
    explanation = Explanation(product_id.strip(), feed.name, feed.spec.name,
                              pipeline.source.name, source_row.row, dict(source_row.data),
                              trace.product, trace.steps, trace.result, trace.item,
                              trace.issues)
    explanation.channel_words = channel_words(config, feed.name, feed.config.publish,
                                              explanation.product_id)
    return explanation


def channel_words(config: Config, feed: str, destinations: list[str],
                  item_id: str) -> list[ChannelWord]:
    """What each destination said about `item_id` at the last `feedsync status`, for the
    destinations status has read (none when it never ran; the state is not created)."""
    path = config.resolve(config.state_dir) / STATE_NAME
    if not path.exists():
        return []
    store = StateStore(path)
    try:
        words = []
        for destination in destinations:
            checked = store.last_seen_at(feed, destination)
            if checked is None:
                continue
            seen = store.seen(feed, destination, item_id)
            words.append(ChannelWord(destination, checked, seen.status if seen else None,
                                     seen.view if seen else None))
        return words
    finally:
        store.close()
