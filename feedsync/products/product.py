"""The canonical product record every source maps onto and every channel renders from.

Field names are Google Merchant Center's attribute names: they are the lingua franca
of the feed world (reference §12). Values are typed: prices are `Money`, dates are
timezone-aware datetimes, enums are their canonical spelling.

`Product` is a slotted dataclass rather than a pydantic model on purpose: it is built
once per row on the hot path (hundreds of thousands of rows), `parse.py` has already
turned every raw string into a typed value or an `Issue`, and a second validation pass
by pydantic would only cost time. Config and channel specs, which are read once, are
pydantic models.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


@dataclass(frozen=True, slots=True)
class Measure:
    """A quantity with a unit, e.g. a shipping weight of 0.5 kg."""

    value: Decimal
    unit: str


@dataclass(frozen=True, slots=True)
class DateWindow:
    """A start/end interval, e.g. when a sale price is in force."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Shipping:
    """One shipping rule: Google's `country:region:service:price` group."""

    country: str
    price: Money
    region: str | None = None
    postal_code: str | None = None
    service: str | None = None
    min_handling_time: int | None = None
    max_handling_time: int | None = None
    min_transit_time: int | None = None
    max_transit_time: int | None = None


AVAILABILITY = ("in_stock", "out_of_stock", "preorder", "backorder", "limited_availability",
                "discontinued")
CONDITION = ("new", "refurbished", "used")
GENDER = ("male", "female", "unisex")
AGE_GROUP = ("newborn", "infant", "toddler", "kids", "adult")

ENUMS: dict[str, tuple[str, ...]] = {
    "availability": AVAILABILITY,
    "condition": CONDITION,
    "gender": GENDER,
    "age_group": AGE_GROUP,
}


@dataclass(slots=True)
class Product:
    id: str
    row: int | None = None
    title: str | None = None
    description: str | None = None
    link: str | None = None
    image_link: str | None = None
    additional_image_link: list[str] = field(default_factory=list)
    price: Money | None = None
    sale_price: Money | None = None
    sale_price_effective_date: DateWindow | None = None
    availability: str | None = None
    availability_date: datetime | None = None
    condition: str | None = None
    brand: str | None = None
    gtin: str | None = None
    mpn: str | None = None
    identifier_exists: bool | None = None
    google_product_category: str | None = None
    product_type: str | None = None
    item_group_id: str | None = None
    color: str | None = None
    size: str | None = None
    gender: str | None = None
    age_group: str | None = None
    material: str | None = None
    pattern: str | None = None
    shipping_weight: Measure | None = None
    shipping: list[Shipping] = field(default_factory=list)
    custom_label_0: str | None = None
    custom_label_1: str | None = None
    custom_label_2: str | None = None
    custom_label_3: str | None = None
    custom_label_4: str | None = None
    quantity: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        """A canonical field, or an extra (unmapped) column of the master by its header."""
        if name in _CANONICAL_SET:
            return getattr(self, name)
        return self.extra.get(name)

    def copy_with(self, **changes: Any) -> Product:
        """`dataclasses.replace(self, **changes)` at about a third of its cost (markets
        copy every product for each converted feed): all fields are plain init fields
        without a __post_init__, so copying them positionally is the same thing."""
        new = Product(*_all_fields(self))
        for name, value in changes.items():
            setattr(new, name, value)
        return new

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (for `explain`, reports and templates)."""
        return {name: to_plain(getattr(self, name)) for name in CANONICAL_FIELDS} | {
            "extra": dict(self.extra)
        }


_all_fields = operator.attrgetter(*(f.name for f in fields(Product)))


def to_plain(value: Any) -> Any:
    if isinstance(value, Money):
        return str(value)
    if isinstance(value, Measure):
        return f"{value.value} {value.unit}"
    if isinstance(value, DateWindow):
        return f"{value.start.isoformat()}/{value.end.isoformat()}"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Shipping):
        return {f.name: to_plain(getattr(value, f.name)) for f in fields(value)
                if getattr(value, f.name) is not None}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


# Every canonical field a source may map a column to, in the order reports show them.
CANONICAL_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(Product) if f.name not in ("row", "extra")
)
_CANONICAL_SET = frozenset(CANONICAL_FIELDS)
