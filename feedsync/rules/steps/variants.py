"""The variants step: group variant rows under item_group_id, using the whole master."""

from __future__ import annotations

import re
from typing import Any

from feedsync.products.product import Product
from feedsync.rules.model import VariantsParams
from feedsync.rules.steps.base import (
    CompileContext,
    DocRow,
    Expression,
    RunState,
    Step,
    field_value,
    is_empty,
    register_step,
    text_of,
    updated,
)
from feedsync.yamlpos import Location


@register_step
class Variants(Step):
    """Needs the whole master: `observe` sees every product before the first is applied."""

    name = "variants"
    params = VariantsParams
    needs_whole_master = True
    docs = (DocRow("`variants: {parent, children_column, children_pattern, carry_down, "
                   "drop_parents}`", "group variants under `item_group_id`, drop parent rows, "
                   "fill children's empty fields from the parent"),)

    def __init__(self, parent: Expression | None, children_column: str | None,
                 children_pattern: re.Pattern[str], carry_down: list[str],
                 drop_parents: bool) -> None:
        super().__init__()
        self.parent = parent
        self.children_column = children_column
        self.children_pattern = children_pattern
        self.carry_down = carry_down
        self.drop_parents = drop_parents
        self.group_ids: set[str] = set()
        self.candidates: dict[str, dict[str, Any]] = {}
        self.child_parent: dict[str, str] = {}
        self.parent_ids: set[str] = set()
        self._settled = False

    @classmethod
    def build(cls, p: VariantsParams, rules: CompileContext, loc: Location) -> Step | None:
        parent = rules.expression(p.parent, (*loc, "parent")) if p.parent else None
        ok = (parent is not None) == bool(p.parent)
        if p.children_column:
            ok = rules.read_field(p.children_column, (*loc, "children_column")) and ok
            if parent is None:
                rules.problem((*loc, "children_column"), "children_column needs `parent:` "
                                                         "(which rows are parents)")
                ok = False
        for f in p.carry_down:
            ok = rules.read_field(f, (*loc, "carry_down")) and rules.write_field(
                f, (*loc, "carry_down")) and ok
        try:
            pattern = re.compile(p.children_pattern)
        except re.error as exc:
            rules.problem((*loc, "children_pattern"), f"bad regular expression: {exc}")
            return None
        if not ok:
            return None
        step = cls(parent, p.children_column, pattern, p.carry_down, p.drop_parents)
        step.label = "variants" + (f" (carry down {', '.join(p.carry_down)})"
                                   if p.carry_down else "")
        return step

    def _is_parent(self, product: Product) -> bool:
        if self.parent is not None:
            return bool(self.parent(product))
        return product.id in self.parent_ids

    def observe(self, product: Product) -> None:
        self._settled = False
        if product.item_group_id:
            self.group_ids.add(product.item_group_id)
        explicit = self.parent is not None and bool(self.parent(product))
        if explicit or (self.parent is None and not product.item_group_id):
            self.candidates[product.id] = {
                n: v for n in self.carry_down if not is_empty(v := field_value(product, n))}
        if explicit:
            self.parent_ids.add(product.id)
        if explicit and self.children_column:
            for match in self.children_pattern.finditer(text_of(product, self.children_column)
                                                        or ""):
                child = (match.group(1) if match.groups() else match.group(0)).strip()
                if child:
                    self.child_parent[child] = product.id

    def _settle(self) -> None:
        if self.parent is None:
            self.parent_ids = {i for i in self.candidates if i in self.group_ids}
        self.candidates = {i: v for i, v in self.candidates.items() if i in self.parent_ids}
        self.group_ids = set()
        self._settled = True

    def apply(self, product: Product, state: RunState) -> Product | None:
        if not self._settled:
            self._settle()
        if self._is_parent(product):
            if self.drop_parents:
                state.note = "a parent row of a variant group"
                return None
            state.note = "a parent row (kept)"
            return product
        group = product.item_group_id or self.child_parent.get(product.id)
        if not group:
            state.note = "not part of a variant group"
            return product
        changes: dict[str, Any] = {"item_group_id": group}
        inherited = self.candidates.get(group, {})
        for name in self.carry_down:
            if is_empty(field_value(product, name)) and name in inherited:
                changes[name] = inherited[name]
        return updated(state, product, changes)
