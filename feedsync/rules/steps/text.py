"""Text steps: clean-up (strip_html, collapse_whitespace, the cases), truncate, replace,
regex_replace, prefix and suffix."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar

from feedsync.checks import safe_regex
from feedsync.checks.text import collapse_whitespace, needs_cleaning, strip_html, truncate_words
from feedsync.products.product import Product
from feedsync.rules.model import (
    AffixParams,
    FieldsParams,
    RegexReplaceParams,
    ReplaceParams,
    TruncateParams,
)
from feedsync.rules.steps.base import (
    CompileContext,
    DocRow,
    RunState,
    Step,
    Template,
    field_value,
    register_step,
    set_one,
    text_of,
    updated,
)
from feedsync.yamlpos import Location


def title_case(text: str) -> str:
    # str.title() would capitalise after apostrophes ("Men'S"); only word starts change here.
    return re.sub(r"(^|[\s\-/(\"])(\w)", lambda m: m.group(1) + m.group(2).upper(), text.lower())


def plain_text(text: str) -> str:
    # Most values are plain already (parse.py cleans the master's text): skip the regexes.
    if ("&" not in text and not needs_cleaning(text)
            and not text[:1].isspace() and not text[-1:].isspace()):
        return text
    return strip_html(text)


class TextTransform(Step):
    """A function of the text of each field (empty fields are left alone)."""

    def __init__(self, fields: list[str], transform: Callable[[str], str]) -> None:
        super().__init__()
        self.fields = fields
        self.transform = transform

    def apply(self, product: Product, state: RunState) -> Product | None:
        changes = {}
        for name in self.fields:
            value = field_value(product, name)
            if isinstance(value, str) and value:
                changes[name] = self.transform(value) or None
        return updated(state, product, changes)


_CLEANUP = DocRow("`strip_html`, `collapse_whitespace`, `title_case`, `upper_case`, "
                  "`lower_case`: FIELDS", "text clean-up")


class TextCleanup(TextTransform):
    """`NAME: FIELDS`: the same function on each field; a subclass names it and its `clean`."""

    params = FieldsParams
    shorthand = "fields"
    docs = (_CLEANUP,)

    # The function applied to each field's text (set by each subclass).
    clean: ClassVar[Callable[[str], str]]

    @classmethod
    def build(cls, p: FieldsParams, rules: CompileContext, loc: Location) -> Step | None:
        ok = all([rules.write_field(f, (*loc, "fields")) and rules.read_field(f, loc)
                  for f in p.fields])
        step = cls(p.fields, cls.clean)
        step.label = f"{cls.name} {', '.join(p.fields)}"
        return step if ok else None


@register_step
class StripHtml(TextCleanup):
    name = "strip_html"
    clean = plain_text


@register_step
class CollapseWhitespace(TextCleanup):
    name = "collapse_whitespace"
    clean = collapse_whitespace


@register_step
class TitleCase(TextCleanup):
    name = "title_case"
    clean = title_case


@register_step
class UpperCase(TextCleanup):
    name = "upper_case"
    clean = str.upper


@register_step
class LowerCase(TextCleanup):
    name = "lower_case"
    clean = str.lower


@register_step
class Truncate(Step):
    name = "truncate"
    params = TruncateParams
    shorthand = "field"
    docs = (DocRow("`truncate: {field, length, ellipsis}`",
                   "cut at a word boundary; `length` defaults to the channel's limit"),)

    def __init__(self, field_name: str, length: int, ellipsis: str) -> None:
        super().__init__()
        self.field = field_name
        self.length = length
        self.ellipsis = ellipsis

    @classmethod
    def build(cls, p: TruncateParams, rules: CompileContext, loc: Location) -> Step | None:
        ok = rules.read_field(p.field, (*loc, "field")) and rules.write_field(p.field, loc)
        length = p.length
        spec = rules.spec
        if length is None and spec is not None:
            limits = [f.max_length for f in spec.fields
                      if f.max_length and p.field in (f.name, f.source_field)]
            if not limits:
                rules.problem(loc, f"{spec.title} sets no length limit for {p.field}; "
                                   "give `length:`")
                return None
            length = min(limits)
        if not ok:
            return None
        step = cls(p.field, length or 10**9, p.ellipsis)
        step.label = f"truncate {p.field}" + (f" to {length}" if length else "")
        return step

    def apply(self, product: Product, state: RunState) -> Product | None:
        value = field_value(product, self.field)
        if not isinstance(value, str) or len(value) <= self.length:
            state.note = f"{self.field} is within {self.length} characters"
            return product
        cut = truncate_words(value, self.length, self.ellipsis)
        return set_one(state, product, self.field, cut)


_REPLACE = DocRow("`replace: {field, old, new}`, `regex_replace: {field, pattern, "
                  "replacement}`", "replace text")


@register_step
class Replace(TextTransform):
    name = "replace"
    params = ReplaceParams
    docs = (_REPLACE,)

    @classmethod
    def build(cls, p: ReplaceParams, rules: CompileContext, loc: Location) -> Step | None:
        if not (rules.read_field(p.field, (*loc, "field")) and rules.write_field(p.field, loc)):
            return None
        old, new = p.old, p.new
        step = cls([p.field], lambda text: text.replace(old, new))
        step.label = f"replace {old!r} by {new!r} in {p.field}"
        return step


@register_step
class RegexReplace(TextTransform):
    name = "regex_replace"
    params = RegexReplaceParams
    docs = (_REPLACE,)

    @classmethod
    def build(cls, p: RegexReplaceParams, rules: CompileContext,
              loc: Location) -> Step | None:
        try:
            pattern = safe_regex.compile_pattern(p.pattern, ignore_case=p.ignore_case)
            pattern.sub(p.replacement, "")
        except re.error as exc:
            rules.problem((*loc, "pattern"), f"bad regular expression: {exc}")
            return None
        if not (rules.read_field(p.field, (*loc, "field")) and rules.write_field(p.field, loc)):
            return None
        replacement = p.replacement
        step = cls([p.field], lambda text: pattern.sub(replacement, text))
        step.label = f"regex_replace /{p.pattern}/ in {p.field}"
        return step


class Affix(Step):
    """Text or a template added once before (prefix) or after (suffix) a field."""

    params = AffixParams
    docs = (DocRow("`prefix` / `suffix: {field, text}`",
                   "add a text or template before or after a field (once)"),)

    def __init__(self, field_name: str, template: Template, suffix: bool) -> None:
        super().__init__()
        self.field = field_name
        self.template = template
        self.suffix = suffix

    @classmethod
    def build(cls, p: AffixParams, rules: CompileContext, loc: Location) -> Step | None:
        template = rules.template(p.text, (*loc, "text"))
        if template is None or not (rules.read_field(p.field, (*loc, "field"))
                                    and rules.write_field(p.field, loc)):
            return None
        step = cls(p.field, template, suffix=cls.name == "suffix")
        step.label = f"{cls.name} {p.field} with {p.text!r}"
        return step

    def apply(self, product: Product, state: RunState) -> Product | None:
        value = text_of(product, self.field)
        if not value:
            state.note = f"{self.field} is empty"
            return product
        text = self.template(product)
        if (value.endswith(text) if self.suffix else value.startswith(text)):
            state.note = f"{self.field} already has it"
            return product
        return set_one(state, product, self.field, value + text if self.suffix else text + value)


@register_step
class Prefix(Affix):
    name = "prefix"


@register_step
class Suffix(Affix):
    name = "suffix"
