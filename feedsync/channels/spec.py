"""The channel spec language: what a channel's feed contains and which rules it enforces.

A spec is data (YAML in `channel_specs/`), loaded into these models. Adding a channel is
one spec file; `channel_specs/README.md` documents every key.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from feedsync.checks import codes
from feedsync.checks.codes import IssueCode
from feedsync.checks.issue import Severity

FieldFormat = Literal[
    "text",          # the value as text
    "money",         # 15.00 EUR
    "amount",        # 15.00 (the currency's decimals)
    "datetime",      # 2026-02-24T11:07+0100 (Google's minute precision)
    "date",          # 2026-02-24
    "interval",      # start/end in the datetime format
    "yes_no",        # yes / no
    "true_false",    # true / false
    "measure",       # 0.5 kg
    "shipping",      # a group per rule: country, region, postal_code, service, price, times
    "list",          # repeated value: repeated element (XML), joined (delimited)
    "number",        # 15.0 as a JSON number (a price's amount in the currency's decimals)
    "integer",       # 15 as a JSON integer
    "boolean",       # true / false as a JSON boolean ("true"/"false" in text formats)
    "currency",      # EUR: the currency code of a price
]
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
# Issue codes are lower-case words joined by hyphens, like every code feedsync reports:
# people filter by them and CI greps for them.
ISSUE_CODE_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartsSpec(_Model):
    """A value written as several parts, each with its own limit."""

    separator: str
    max_items: int | None = Field(None, gt=0)
    max_length: int | None = Field(None, gt=0)


class ProductTypesSpec(_Model):
    """Validate each item against a per-type JSON schema (Amazon product type definitions).

    The channel's `setting` names a definition file, or a directory of `<TYPE>.json`
    files, as SP-API's getDefinitionsProductType returns them. The item's `type_field`
    picks the definition; the shaped item of `format`, at `at`, is what it describes.
    Attributes the definition has but the shape does not write come from master columns
    of the same name or the channel's `attributes:` mapping, as `[{value, ...}]` with
    `value_keys` added.
    """

    setting: str = "product_type_definitions"
    type_field: str = "product_type"
    format: str = "json"
    at: str = "attributes"
    value_keys: dict[str, str] = Field(
        default_factory=dict, description="Keys added next to each value (`marketplace_id`)")
    language_key: str | None = Field(
        None, description="Key holding the language, added where the definition asks for it")
    language: str | None = None


class FieldSpec(_Model):
    name: str = Field(description="Attribute / column / element name in the channel's feed")
    source: str | None = Field(None, description="Canonical field or master column; default: name")
    sources: list[str] | None = Field(
        None, description="Several fields joined into one list (image_link + extra images)")
    template: str | None = Field(None, description="Jinja2 expression instead of a source field")
    value: str | None = Field(None, description="A constant value")
    format: FieldFormat = "text"
    required: bool = False
    recommended: bool = False
    max_length: int | None = Field(None, gt=0)
    too_long: Literal["error", "truncate", "drop"] = Field(
        "error", description="Over max_length: leave the product out (error), cut the text "
                             "(truncate), or leave only this attribute out (drop)")
    max_items: int | None = Field(None, gt=0)
    values: dict[str, str] | None = Field(
        None, description="canonical value -> channel spelling; others are unsupported")
    layout: list[str] | None = Field(
        None, description="Group sub-fields in order for delimited formats; `a|b` = either")
    header: str | None = Field(None, description="Column header in delimited formats")
    separator: str | None = Field(
        None, description="Delimited formats: this field's list separator (idealo's eans `|`)")
    https_only: bool = Field(
        False, description="URLs must be https://; http:// values are left out (eBay images)")
    taxonomy: Literal["google"] | None = Field(
        None, description="The value must be an id or a path of this taxonomy, else it is "
                          "left out with a warning")
    parts: PartsSpec | None = Field(
        None, description="A value made of several parts (Google's `red/green/blue`): their "
                          "separator, how many and how long each may be")
    split: str | None = Field(
        None, description="A text value holding several values (a setting `ES,PT`): split "
                          "it into a list on this separator")
    during: str | None = Field(
        None, description="A date window field (sale_price_effective_date): outside the "
                          "window the value is left out (a sale that ended is not sent)")
    max_days_ahead: int | None = Field(
        None, gt=0, description="A date at most this many days from now (Google's "
                                "availability_date: 365)")

    @property
    def source_field(self) -> str:
        return self.source or self.name

    @model_validator(mode="after")
    def _one_origin(self) -> FieldSpec:
        origins = [x for x in (self.source, self.sources, self.template, self.value)
                   if x is not None]
        if len(origins) > 1:
            raise ValueError("give at most one of source, sources, template, value")
        return self


class FormatSpec(_Model):
    writer: Literal["xml", "delimited", "json", "jsonl"]
    extension: str = Field(description="File extension, e.g. .xml")
    media_type: str | None = None
    # xml
    namespace_prefix: str | None = None
    namespace_uri: str | None = None
    item_element: str = "item"
    # delimited
    delimiter: str = ","
    list_separator: str = ","
    group_separator: str = ","
    subfield_separator: str = ":"
    fields: list[str] | None = Field(None, description="Only these fields, in this order")
    formula_guard: bool = Field(
        True, description="delimited: a text cell starting with = + - @ (or a tab or carriage "
                          "return) gets a leading ' so a spreadsheet shows it as text instead "
                          "of running it; false where the channel requires values verbatim")
    # json / jsonl (see feedsync/channels/shape.py and channel_specs/README.md)
    item_shape: Any = Field(
        None, description="JSON shape of one item: `$field` references, `$each`, constants")
    item_template: str | None = Field(
        None, description="Jinja2 template (under templates/) rendering one item as JSON")
    document: Any = Field(
        None, description="JSON envelope around the items; `$items` marks where they go")
    max_items_per_document: int | None = Field(
        None, gt=0, description="jsonl: items per document line (e.g. eBay's 25 per request)")
    # any writer
    max_items_per_file: int | None = Field(
        None, gt=0, description="Split the feed into numbered parts of at most this many items")

    @model_validator(mode="after")
    def _namespace_pair(self) -> FormatSpec:
        if (self.namespace_prefix is None) != (self.namespace_uri is None):
            raise ValueError("namespace_prefix and namespace_uri go together")
        if self.item_shape is not None and self.item_template is not None:
            raise ValueError("give item_shape or item_template, not both")
        if self.max_items_per_document and self.writer != "jsonl":
            raise ValueError("max_items_per_document is for the jsonl writer "
                             "(use max_items_per_file for json)")
        if self.max_items_per_document and self.document is None:
            raise ValueError("max_items_per_document needs a `document` envelope")
        return self


class RuleSpec(_Model):
    """A check across fields: `when` the product matches, `require` fields or one of them."""

    code: str = Field(codes.MISSING_REQUIRED, pattern=ISSUE_CODE_PATTERN,
                      description="The issue code reported: a built-in one or the spec's own")
    when: dict[str, str | list[str]] = Field(default_factory=dict)
    unless: dict[str, str | list[str]] = Field(
        default_factory=dict, description="The rule does not apply when these match")
    when_matches: dict[str, str] = Field(
        default_factory=dict, description="Canonical field -> regular expression its text "
                                          "must match for the rule to apply")
    report: bool = Field(
        False, description="Only report matching products (with `severity`), e.g. a value "
                           "the channel has no field for")
    require: list[str] = Field(default_factory=list)
    require_any: list[str] = Field(default_factory=list)
    exclude: bool = Field(
        False, description="Leave matching products out of this channel (idealo: no "
                           "out-of-stock rows), reported with `severity`")
    severity: Literal["error", "warning", "info"] = "error"
    message: str | None = None

    @model_validator(mode="after")
    def _something_required(self) -> RuleSpec:
        for pattern in self.when_matches.values():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"when_matches: bad regular expression {pattern!r}: "
                                 f"{exc}") from exc
        if self.exclude or self.report:
            if self.require or self.require_any or not (self.when or self.when_matches):
                raise ValueError("an `exclude` or `report` rule takes `when` or "
                                 "`when_matches` and no `require`")
            return self
        if not self.require and not self.require_any:
            raise ValueError("a rule needs `require` or `require_any`")
        return self


class ChannelSpec(_Model):
    name: str
    title: str
    description: str = ""
    reference: str | None = Field(None, description="Where the channel's rules come from")
    formats: dict[str, FormatSpec]
    fields: list[FieldSpec]
    rules: list[RuleSpec] = Field(default_factory=list)
    settings: dict[str, str | None] = Field(
        default_factory=dict,
        description="Per-channel values the config gives (seller id, marketplace...); "
                    "null = the config must give it")
    product_types: ProductTypesSpec | None = Field(
        None, description="Per-type schemas every item must satisfy (Amazon)")
    empty_feed: Literal["skip", "write"] = Field(
        "write", description="With no item: write the empty document (valid for the "
                             "channel: it delists everything) or no file (skip: the "
                             "channel rejects an empty document, e.g. Amazon's)")

    @field_validator("fields")
    @classmethod
    def _unique_names(cls, fields: list[FieldSpec]) -> list[FieldSpec]:
        seen: set[str] = set()
        for spec in fields:
            if spec.name in seen:
                raise ValueError(f"field {spec.name} is listed twice")
            seen.add(spec.name)
        return fields

    @model_validator(mode="after")
    def _consistent(self) -> ChannelSpec:
        names = {f.name for f in self.fields}
        for fmt_name, fmt in self.formats.items():
            for name in fmt.fields or []:
                if name not in names:
                    raise ValueError(f"format {fmt_name} lists unknown field {name}")
            if fmt.writer == "xml":
                bad = [f.name for f in self.fields if not _XML_NAME.match(f.name)]
                if bad:
                    raise ValueError(f"not valid XML element names: {', '.join(bad)}")
            if fmt.item_shape is not None:
                from feedsync.channels.shape import shape_references

                unknown = sorted(shape_references(fmt.item_shape) - names)
                if unknown:
                    raise ValueError(f"format {fmt_name}: item_shape refers to unknown "
                                     f"field(s) {', '.join(unknown)}")
        return self

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    def issue_codes(self) -> list[IssueCode]:
        """The codes this spec's rules report, once each, in rule order.

        A code feedsync has built in (`missing-required`) is feedsync's entry; any other is
        the spec's own, with the severity of its first rule and the rule's message (or what
        the rule requires) as its title.
        """
        found: dict[str, IssueCode] = {}
        for rule in self.rules:
            if rule.code not in found:
                found[rule.code] = codes.spec_code(rule.code, Severity(rule.severity),
                                                   rule.message or self._rule_title(rule),
                                                   self.name)
        return list(found.values())

    def _rule_title(self, rule: RuleSpec) -> str:
        if rule.exclude:
            return f"{self.title} does not list products whose " + ", ".join(rule.when)
        needs = ", ".join(rule.require) or " or ".join(rule.require_any)
        return f"{self.title} requires {needs}"
