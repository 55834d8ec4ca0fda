"""What a channel says about the items it holds, in one shape for every channel API.

The Merchant API reports a processed product's `productStatus` (destination statuses,
item-level issues, expiration); Meta reports per-item errors and warnings of the batches
`push` sent, and catalog-wide diagnostics. `feedsync status` reads both into these values,
so the join with the ledger, the grouping, the memory of what was seen last time and the
output need not know which API spoke. This module is a leaf: the API modules build these
values and feedsync.publish.status consumes them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

# Normalised item statuses. DISAPPROVED means the channel does not show the item (Google:
# disapproved for some destination or country; Meta: the batch rejected it).
APPROVED = "approved"
PENDING = "pending"
DISAPPROVED = "disapproved"
WARNED = "warned"  # shown, with warnings (Meta batch warnings, Google demotions)
UNKNOWN = "unknown"
STATUSES = (DISAPPROVED, WARNED, PENDING, APPROVED, UNKNOWN)


@dataclass(frozen=True)
class ChannelIssue:
    """One issue the channel reports about one item (or, for diagnostics, many items)."""

    code: str
    description: str
    attribute: str | None = None  # the item attribute it is about, snake_case
    severity: str = ""  # the channel's own word: DISAPPROVED, DEMOTED, error, MUST_FIX...
    resolution: str | None = None
    detail: str | None = None
    documentation: str | None = None
    where: tuple[str, ...] = ()  # reporting contexts and countries it applies to

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        data = asdict(self)
        data["where"] = list(self.where)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChannelIssue:
        return cls(**{**data, "where": tuple(data.get("where") or ())})


@dataclass
class ItemView:
    """The channel's view of one item: its status, issues, destinations and expiry."""

    item_id: str
    status: str
    issues: list[ChannelIssue] = field(default_factory=list)
    destinations: list[str] = field(default_factory=list)  # "SHOPPING_ADS: approved ES"
    expires_at: str | None = None  # ISO 8601, when the channel will drop the item
    updated_at: str | None = None  # ISO 8601, the channel's last update of it

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {"id": self.item_id, "status": self.status,
                "issues": [i.to_dict() for i in self.issues],
                "destinations": self.destinations, "expires_at": self.expires_at,
                "updated_at": self.updated_at}


@dataclass
class CatalogDiagnostic:
    """A catalog-wide finding (Meta's diagnostics): how many items, a few of them."""

    issue: ChannelIssue
    count: int
    sample_ids: list[str] = field(default_factory=list)


_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def attribute_name(text: str | None) -> str | None:
    """A channel's attribute name in the feed's spelling: `imageLink`, `image link` and
    `image_link` are all `image_link`, so they match feedsync's own issue fields."""
    if not text:
        return None
    snake = _CAMEL.sub(r"_\1", text.strip())
    return re.sub(r"[\s\-]+", "_", snake).lower() or None
