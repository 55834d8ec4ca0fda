"""The parameters of each rule step, as written in feedsync.yaml (`rules:` and `rulesets:`).

A rule is a one-key mapping `{step_name: parameters}`; a string or a list is accepted where a
step has one obvious parameter (`- filter: "availability != 'out_of_stock'"`,
`- strip_html: [title, description]`, `- markup: 10`). `- use: NAME` includes a rule set and
`- when: EXPR / then: [...] / else: [...]` wraps any steps in a condition.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class StepParams(BaseModel):
    """The base of every step's parameters; the step class names its model
    (feedsync/rules/steps/, `params = ...`). A new step may define its model beside it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


class FilterParams(StepParams):
    keep: str | None = Field(None, description="Keep the product only when this is true")
    drop: str | None = Field(None, description="Drop the product when this is true")
    keep_ids: str | None = Field(None, description="File of ids (one a line): keep only these")
    drop_ids: str | None = Field(None, description="File of ids (one a line): drop these")

    @model_validator(mode="after")
    def _exactly_one(self) -> FilterParams:
        given = [k for k in ("keep", "drop", "keep_ids", "drop_ids") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("a filter needs exactly one of keep, drop, keep_ids, drop_ids")
        return self


class LookupParams(StepParams):
    field: str = Field(description="The field or column whose value is looked up")
    table: str | dict[str, str | int | float | None] = Field(
        description="A CSV/TSV or YAML file (relative to feedsync.yaml) or an inline mapping")
    into: str | None = Field(None, description="Where the result goes; default: `field`")
    key_column: str | None = None
    value_column: str | None = None
    default: str | None = Field(None, description="Value for misses; without it misses are "
                                                   "left as they are")
    ignore_case: bool = True


class MapCategoryParams(StepParams):
    source: str = Field("product_type", alias="from",
                        description="Field holding a category path, name or id")
    table: str | dict[str, str | int | None] | None = Field(
        None, description="Lookup from your values to Google ids or paths; without it the "
                          "value must itself be a Google path or id")
    key_column: str | None = None
    value_column: str | None = None
    default: str | int | None = None
    ignore_case: bool = True


class FieldsParams(StepParams):
    fields: list[str]

    _listify = field_validator("fields", mode="before")(_as_list)


class TruncateParams(StepParams):
    field: str
    length: int | None = Field(None, gt=0, description="Default: the channel's limit")
    ellipsis: str = ""


class ReplaceParams(StepParams):
    field: str
    old: str
    new: str = ""


class RegexReplaceParams(StepParams):
    field: str
    pattern: str
    replacement: str = ""
    ignore_case: bool = False


class AffixParams(StepParams):
    field: str
    text: str = Field(description="Text or Jinja template")


class PercentParams(StepParams):
    percent: Decimal
    fields: list[str] = Field(default_factory=lambda: ["price", "sale_price"])
    as_sale_price: bool = Field(False, description="discount: write the result to sale_price")

    _listify = field_validator("fields", mode="before")(_as_list)


class RoundParams(StepParams):
    to: Decimal = Field(description="The ending: .99, .95, .90 or .00")
    direction: Literal["up", "down", "nearest"] = "up"
    fields: list[str] = Field(default_factory=lambda: ["price", "sale_price"])

    _listify = field_validator("fields", mode="before")(_as_list)

    @field_validator("to", mode="before")
    @classmethod
    def _ending(cls, value: object) -> object:
        text = str(value).strip()
        return "0" + text if text.startswith(".") else text

    @field_validator("to")
    @classmethod
    def _fraction(cls, value: Decimal) -> Decimal:
        if not (0 <= value < 1):
            raise ValueError("the ending must be a fraction such as .99, .95 or .00")
        return value


class ConvertParams(StepParams):
    to: str = Field(description="Target currency, e.g. USD")
    rates: str | dict[str, Decimal] = Field(
        description="File or mapping: currency -> how many `to` units one unit is worth")
    fields: list[str] = Field(default_factory=lambda: ["price", "sale_price"])

    _listify = field_validator("fields", mode="before")(_as_list)


class CampaignParams(StepParams):
    table: str = Field(description="CSV with the key column, discount (percent) or "
                                   "sale_price, start and end")
    key: str = Field("id", description="Product field matched against the key column")


class Band(StepParams):
    below: Decimal | None = None
    label: str

    @field_validator("label", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        # YAML reads `30_60` or `100` as numbers; a label is always text.
        return str(value) if isinstance(value, (int, float)) else value


class PriceBucketsParams(StepParams):
    into: str
    field: str = "price"
    buckets: list[Band]


class MarginBandsParams(StepParams):
    into: str
    cost: str = Field(description="Field or column with the unit cost")
    price_field: str = "price"
    bands: list[Band] = Field(description="`below` is a margin percentage")


class NewArrivalsParams(StepParams):
    into: str
    date: str = Field(description="Field or column with the date the product arrived")
    days: int = Field(gt=0)
    label: str = "new"
    otherwise: str | None = None


class BestSellersParams(StepParams):
    into: str
    ids: str = Field(description="File with one id a line (or a CSV whose first column is it)")
    match: str = Field("id", description="Product field matched against the ids")
    label: str = "best_seller"
    otherwise: str | None = None


class VariantsParams(StepParams):
    parent: str | None = Field(
        None, description="Expression true for parent rows; default: a product whose id is "
                          "another product's item_group_id")
    children_column: str | None = Field(
        None, description="Column of a parent row that lists its children's ids")
    children_pattern: str = Field(r"[^,|;\s]+", description="Regex finding each child id "
                                                            "(its first group if it has one)")
    carry_down: list[str] = Field(default_factory=list)
    drop_parents: bool = True

    _listify = field_validator("carry_down", mode="before")(_as_list)
