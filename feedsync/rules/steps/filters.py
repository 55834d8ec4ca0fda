"""Which products go on, and the general-purpose steps: filter, set, when/then/else, use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feedsync.products.product import Product
from feedsync.rules.model import FilterParams
from feedsync.rules.steps.base import (
    CompileContext,
    DocRow,
    Expression,
    RunState,
    Step,
    Template,
    TraceEntry,
    coerce,
    register_step,
    run_steps,
    updated,
)
from feedsync.rules.tables import TableError, read_ids
from feedsync.yamlpos import Location


@register_step
class Filter(Step):
    """Keep or drop products by an expression or a file of ids; compiles to one of the two
    forms below, so applying it never asks which one it is."""

    name = "filter"
    params = FilterParams
    shorthand = "keep"
    docs = (DocRow("`filter: EXPR` / `{keep: EXPR}` / `{drop: EXPR}`",
                   "keep or drop products (stock, brand, category, `price.amount < 10`...)"),
            DocRow("`filter: {keep_ids: FILE}` / `{drop_ids: FILE}`",
                   "keep or drop the ids listed in a file (one a line, or a CSV's first "
                   "column)"))

    @classmethod
    def build(cls, p: FilterParams, rules: CompileContext, loc: Location) -> Step | None:
        if p.keep or p.drop:
            key = "keep" if p.keep else "drop"
            expression = rules.expression(p.keep or p.drop, (*loc, key))
            if expression is None:
                return None
            step: Step = KeepWhen(expression, keep=bool(p.keep))
            step.label = f"filter {key} {expression.source}"
            return step
        key = "keep_ids" if p.keep_ids else "drop_ids"
        file = p.keep_ids or p.drop_ids or ""
        try:
            ids = read_ids(rules.path(file, loc))
        except TableError as exc:
            rules.problem((*loc, key), str(exc))
            return None
        step = KeepIds(ids, keep=bool(p.keep_ids), file=Path(file).name)
        step.label = f"filter {key} {Path(file).name}"
        return step


class KeepWhen(Filter):
    def __init__(self, expression: Expression, keep: bool) -> None:
        super().__init__()
        self.expression = expression
        self.keep = keep

    def apply(self, product: Product, state: RunState) -> Product | None:
        matched = bool(self.expression(product))
        if matched == self.keep:
            state.note = f"kept: `{self.expression.source}` is {matched}".replace(
                "True", "true").replace("False", "false")
            return product
        state.note = f"`{self.expression.source}` is {str(matched).lower()}"
        return None


class KeepIds(Filter):
    def __init__(self, ids: frozenset[str], keep: bool, file: str) -> None:
        super().__init__()
        self.ids = ids
        self.keep = keep
        self.file = file

    def apply(self, product: Product, state: RunState) -> Product | None:
        listed = product.id in self.ids
        where = f"listed in {self.file}" if listed else f"not in {self.file}"
        if listed == self.keep:
            state.note = f"kept: {where}"
            return product
        state.note = where
        return None


@register_step
class SetFields(Step):
    """`set: {FIELD: TEMPLATE}`: its own shape (any field names), so no parameter model."""

    name = "set"
    docs = (DocRow("`set: {FIELD: TEMPLATE, ...}`", "give fields a value; a name that is not a "
                   "canonical field creates a column"),)

    def __init__(self, templates: dict[str, Template], currency: str | None) -> None:
        super().__init__()
        self.templates = templates
        self.currency = currency

    @classmethod
    def build(cls, params: Any, rules: CompileContext, loc: Location) -> Step | None:
        if not isinstance(params, dict) or not params:
            rules.problem(loc, "set needs a mapping of field: template")
            return None
        templates = {}
        ok = True
        for name, source in params.items():
            name = str(name)
            template = rules.template(source, (*loc, name))
            ok = rules.write_field(name, (*loc, name)) and template is not None and ok
            if template is not None:
                templates[name] = template
        if not ok:
            return None
        step = cls(templates, rules.currency)
        step.label = "set " + ", ".join(templates)
        return step

    def apply(self, product: Product, state: RunState) -> Product | None:
        changes = {name: coerce(name, template(product), product, self.currency)
                   for name, template in self.templates.items()}
        return updated(state, product, changes)


@register_step
class Conditional(Step):
    """`when: EXPR` with `then:` and `else:` beside it: the one rule written with several keys,
    so the compiler hands it the whole mapping (`compile_mapping`)."""

    name = "when"
    docs = (DocRow("`when: EXPR` `then: [...]` `else: [...]`",
                   "run steps only for matching products"),)
    traces_itself = True
    KEYS = ("when", "then", "else")

    def __init__(self, condition: Expression, then: list[Step], otherwise: list[Step]) -> None:
        super().__init__()
        self.condition = condition
        self.then = then
        self.otherwise = otherwise

    @classmethod
    def compile(cls, raw: Any, rules: CompileContext, loc: Location) -> list[Step]:
        # Reached only for a lone `- when: ...` (no then:); the compiler passes mappings
        # with then: to compile_mapping.
        return cls.compile_mapping({"when": raw}, rules, loc[:-1])

    @classmethod
    def compile_mapping(cls, raw: dict[str, Any], rules: CompileContext,
                        loc: Location) -> list[Step]:
        unknown = [k for k in raw if k not in cls.KEYS]
        for key in unknown:
            rules.problem((*loc, key), "unknown key next to when/then/else (check its spelling)")
        if "when" not in raw or "then" not in raw:
            rules.problem(loc, "a condition needs both `when:` and `then:`")
            return []
        condition = rules.expression(raw["when"], (*loc, "when"))
        then = rules.compile_list(raw["then"], (*loc, "then"))
        otherwise = rules.compile_list(raw.get("else", []), (*loc, "else"))
        if condition is None or unknown:
            return []
        step = cls(condition, then, otherwise)
        step.label = f"when {condition.source}"
        step.where = rules.where((*loc, "when"))
        return [step]

    def children(self) -> list[Step]:
        return [*self.then, *self.otherwise]

    def observe(self, product: Product) -> None:
        for step in self.children():
            step.observe(product)

    def apply(self, product: Product, state: RunState) -> Product | None:
        matched = bool(self.condition(product))
        branch = self.then if matched else self.otherwise
        if state.trace is not None:
            state.trace.append(TraceEntry(
                state.depth, self.label, self.where, "condition",
                note=f"`{self.condition.source}` is {str(matched).lower()}: "
                     + ("then" if matched else "else" if self.otherwise else "nothing to do")))
        state.depth += 1
        try:
            return run_steps(branch, product, state)
        finally:
            state.depth -= 1


@register_step
class Use(Step):
    """`use: NAME` compiles to the steps of rule set NAME; it is never applied itself."""

    name = "use"
    docs = (DocRow("`use: NAME`", "include a rule set"),)

    @classmethod
    def compile(cls, raw: Any, rules: CompileContext, loc: Location) -> list[Step]:
        return rules.include_ruleset(raw, loc)
