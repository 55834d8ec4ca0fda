"""The files `feedsync sync` writes for file channels (`sync_output:`), atomically.

A file channel's full feed is written by `build` (nightly, say); between two builds, a
sync writes a small file of overrides: every item whose synced fields now differ from what
the last build wrote (the ledger's `file` destination). It is cumulative, not a delta of
the last sync, because a channel fetching it replaces the previous one: after the next
build the overrides are in the full feed and the file is empty again.

- Amazon `JSON_LISTINGS_FEED` (a format whose `item_shape` has `operationType`): PATCH
  messages replacing only `purchasable_offer` and `fulfillment_availability` (the
  attributes the synced fields feed), valid against the listings feed schema v2.
- eBay inventory: `bulkUpdatePriceQuantity` request bodies (at most 25 requests each,
  as eBay allows), `shipToLocationAvailability.quantity` by SKU; a JSON array of bodies.
- Any other channel: a Google supplemental feed, tab-separated, `id` and the synced
  attributes in the feed's own spelling.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from feedsync.channels.shape import ITEMS, MISSING, compile_shape, resolve_constants
from feedsync.pipeline import PlannedChannel
from feedsync.state.sync_ledger import Candidate
from feedsync.templating import json_default
from feedsync.writers.atomic import AtomicFile

AMAZON_ATTRIBUTES = ("purchasable_offer", "fulfillment_availability")
EBAY_BATCH = 25  # bulkUpdatePriceQuantity takes at most 25 requests


def write_sync_file(feed: PlannedChannel, path: Path, fields: list[str],
                    candidates: Iterable[Candidate]) -> int:
    """Write the overrides of `candidates` for `feed` to `path` (atomically); returns the
    number of items in it."""
    fmt_name = feed.outputs[0].format if feed.outputs else next(iter(feed.spec.formats))
    fmt = feed.spec.formats[fmt_name]
    if isinstance(fmt.item_shape, dict) and "operationType" in fmt.item_shape:
        data, count = _amazon(feed, fmt, candidates)
        if not count:  # the schema wants one message at least: no overrides, no file
            path.unlink(missing_ok=True)
            return 0
        return _write(path, data, count)
    if feed.spec.name == "ebay_inventory":
        return _write(path, *_ebay(candidates))
    return _write(path, *_supplemental(fields, candidates))


def merged(candidate: Candidate) -> dict[str, Any]:
    """The item as the file holds it, with the synced fields as they are now."""
    return {**candidate.old, **candidate.new}


def _amazon(feed: PlannedChannel, fmt: Any,
            candidates: Iterable[Candidate]) -> tuple[bytes, int]:
    where = f"channel spec {feed.spec.name}"
    # The context the build's writer shapes the full feed with (writers/base.py).
    context = (feed.variant.context(feed.config.feed) if feed.variant else None) or {
        "settings": {}, "market": {}, "feed": feed.config.feed.model_dump()}
    shape, _ = compile_shape(fmt.item_shape, context, where)
    document = resolve_constants(fmt.document or {"messages": ITEMS}, context, where)
    messages: list[dict[str, Any]] = []
    for candidate in candidates:
        message = shape(merged(candidate), len(messages) + 1, None)
        if message is MISSING:
            continue
        attributes = message.get("attributes", {})
        patches = [{"op": "replace", "path": f"/attributes/{name}", "value": attributes[name]}
                   for name in AMAZON_ATTRIBUTES if name in attributes]
        if patches:
            messages.append({"messageId": len(messages) + 1, "sku": message["sku"],
                             "operationType": "PATCH", "productType": message["productType"],
                             "patches": patches})
    text = json.dumps(document, ensure_ascii=False)
    before, _, after = text.partition(json.dumps(ITEMS))
    body = json.dumps(messages, ensure_ascii=False, default=json_default)
    return (before + body + after + "\n").encode("utf-8"), len(messages)


def _ebay(candidates: Iterable[Candidate]) -> tuple[bytes, int]:
    bodies: list[dict[str, Any]] = []
    count = 0
    for candidate in candidates:
        item = merged(candidate)
        if item.get("quantity") in (None, ""):
            continue
        if not bodies or len(bodies[-1]["requests"]) >= EBAY_BATCH:
            bodies.append({"requests": []})
        bodies[-1]["requests"].append({
            "sku": str(item.get("sku") or candidate.item_id),
            "shipToLocationAvailability": {"quantity": int(str(item["quantity"]))}})
        count += 1
    return (json.dumps(bodies, ensure_ascii=False, indent=1) + "\n").encode("utf-8"), count


def _supplemental(fields: list[str], candidates: Iterable[Candidate]) -> tuple[bytes, int]:
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(["id", *fields])
    count = 0
    for candidate in candidates:
        item = candidate.new
        writer.writerow([candidate.item_id, *(_text(item.get(name)) for name in fields)])
        count += 1
    return out.getvalue().encode("utf-8"), count


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _write(path: Path, data: bytes, count: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = AtomicFile(path)
    try:
        out.stream.write(data)
        out.commit()
    except BaseException:
        out.abort()
        raise
    return count
