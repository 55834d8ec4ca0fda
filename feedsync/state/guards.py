"""Sanity gates between a built feed and a channel: an empty or shrunken master must never
wipe a catalog (peers' #2 complaint; feedloader's deletes threshold is the precedent)."""

from __future__ import annotations

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
