"""Sanity gates between a built feed and a channel: an empty or shrunken master must never
wipe a catalog (peers' #2 complaint; feedloader's deletes threshold is the precedent)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from feedsync.config import GuardConfig
from feedsync.state.ledger import Diff
from feedsync.state.store import PublishRecord


def check_guards(items: int, last: PublishRecord | None, *, max_drop: float,
                 allow_empty: bool, force: bool) -> str | None:
    """Why this feed must not be published, or None when it may be."""
    if items == 0 and not allow_empty:
        return "the feed has no items (use --allow-empty to publish it anyway)"
    if last is None or force or last.items == 0:
        return None
    drop = (last.items - items) / last.items
    if drop > max_drop:
        return (f"the feed has {items:,} items, {drop:.0%} fewer than the {last.items:,} "
                f"published on {last.published_at} (limit {max_drop:.0%}; use --force to "
                "publish it anyway)")
    return None


# -- guards on the change set (the ledger's diff) ------------------------------------------

GUARD_NAMES = ("empty", "shrink", "deletes", "price-change", "min-items")
MAX_LISTED = 20
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")


@dataclass
class Tripped:
    """One guard that stops a feed: which, why, the first items it names, the override."""

    guard: str
    reason: str
    items: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        """One sentence a merchandiser can act on."""
        listed = f" ({', '.join(self.items)}{', ...' if len(self.items) >= MAX_LISTED else ''})" \
            if self.items else ""
        flag = "--allow-empty" if self.guard == "empty" else f"--allow {self.guard}"
        return f"{self.reason}{listed}; use {flag} (or --force) to go ahead"


def check_change_set(diff: Diff, guards: GuardConfig, changed: Iterable[tuple[str, str, str]],
                     *, previous: int | None, allowed: Iterable[str] = (),
                     force: bool = False) -> list[Tripped]:
    """Every guard `diff` trips (none with `force`): an empty feed replacing a non-empty one,
    a feed that shrank more than `max_drop`, more deletes than allowed, a price that moved
    more than `max_price_change` (a decimal comma read wrongly), fewer than `min_items`.
    `changed` streams (id, old JSON, new JSON) of the changed items; `previous` is the item
    count the destination holds (None: unknown)."""
    if force:
        return []
    allow = set(allowed)
    tripped: list[Tripped] = []
    if "empty" not in allow and diff.items == 0 and previous:
        tripped.append(Tripped("empty", f"the feed has no items, and {previous:,} are live now"))
    if "shrink" not in allow and previous and diff.items:
        drop = (previous - diff.items) / previous
        if drop > guards.max_drop:
            tripped.append(Tripped(
                "shrink", f"the feed has {diff.items:,} items, {drop:.0%} fewer than the "
                f"{previous:,} live now (limit {guards.max_drop:.0%})", diff.sample_removed))
    if "deletes" not in allow and diff.removed and previous and diff.items:
        share = diff.removed / previous
        if share > guards.max_delete_share:
            tripped.append(Tripped(
                "deletes", f"{diff.removed:,} items ({share:.0%} of {previous:,}) would be "
                f"deleted (limit {guards.max_delete_share:.0%})", diff.sample_removed))
        elif guards.max_deletes is not None and diff.removed > guards.max_deletes:
            tripped.append(Tripped(
                "deletes", f"{diff.removed:,} items would be deleted (limit "
                f"{guards.max_deletes:,})", diff.sample_removed))
    if "min-items" not in allow and diff.items < guards.min_items and diff.items:
        tripped.append(Tripped("min-items", f"the feed has {diff.items:,} items, fewer than "
                                            f"the minimum of {guards.min_items:,}"))
    limit = guards.max_price_change
    if "price-change" not in allow and limit is not None:
        moved: list[str] = []
        count = 0
        for item_id, old_json, new_json in changed:
            change = _price_change(old_json, new_json)
            if change is not None and change > limit:
                count += 1
                if len(moved) < MAX_LISTED:
                    moved.append(item_id)
        if count:
            tripped.append(Tripped(
                "price-change", f"{count:,} item(s) changed price by more than {limit:.0%}",
                moved))
    return tripped


def _price_change(old_json: str, new_json: str) -> float | None:
    old = _price(json.loads(old_json))
    new = _price(json.loads(new_json))
    if old is None or new is None or old == 0:
        return None
    return abs(new - old) / old


def _price(item: dict[str, object]) -> float | None:
    value = item.get("price")
    if value is None:
        return None
    match = _NUMBER.search(str(value))
    return float(match.group().replace(",", ".")) if match else None
