"""Steps that give a field a value from a table: lookup, map_category (Google's taxonomy)."""

from __future__ import annotations

from feedsync.checks import codes
from feedsync.products.product import Product
from feedsync.rules.model import LookupParams, MapCategoryParams
from feedsync.rules.steps.base import (
    CompileContext,
    DocRow,
    RunState,
    Step,
    coerce,
    register_step,
    set_one,
    text_of,
)
from feedsync.rules.taxonomy import Taxonomy
from feedsync.yamlpos import Location


@register_step
class Lookup(Step):
    name = "lookup"
    params = LookupParams
    docs = (DocRow("`lookup: {field, table, into, default, key_column, value_column, "
                   "ignore_case}`", "map a value through a CSV/TSV or YAML table (or an inline "
                   "mapping); misses keep their value unless `default` is given"),)

    def __init__(self, source: str, into: str, table: dict[str, str], default: str | None,
                 has_default: bool, ignore_case: bool, currency: str | None) -> None:
        super().__init__()
        self.source = source
        self.into = into
        self.table = table
        self.default = default
        self.has_default = has_default
        self.ignore_case = ignore_case
        self.currency = currency

    @classmethod
    def build(cls, p: LookupParams, rules: CompileContext, loc: Location) -> Step | None:
        into = p.into or p.field
        ok = rules.read_field(p.field, (*loc, "field")) and rules.write_field(into,
                                                                             (*loc, "into"))
        loaded = rules.table(p.table, p.key_column, p.value_column, loc)
        if loaded is None or not ok:
            return None
        table, file = loaded
        keys = {(k.strip().casefold() if p.ignore_case else k.strip()): v
                for k, v in table.items()}
        step = cls(p.field, into, {k: v or "" for k, v in keys.items()}, p.default,
                   "default" in p.model_fields_set, p.ignore_case, rules.currency)
        step.label = f"lookup {p.field} in {file}" + (f" -> {into}" if into != p.field else "")
        return step

    def find(self, product: Product) -> str | None:
        key = text_of(product, self.source)
        if key is None:
            return None
        key = key.strip()
        return self.table.get(key.casefold() if self.ignore_case else key)

    def apply(self, product: Product, state: RunState) -> Product | None:
        found = self.find(product)
        if found is None:
            if not self.has_default:
                state.note = f"{self.source} {text_of(product, self.source)!r} is not in the table"
                return product
            found = self.default
            state.note = f"{self.source} {text_of(product, self.source)!r} is not in the " \
                         "table: default used"
        value = coerce(self.into, found, product, self.currency)
        return set_one(state, product, self.into, value)


@register_step
class MapCategory(Step):
    name = "map_category"
    params = MapCategoryParams
    shorthand = "from"
    issue_code = codes.UNKNOWN_CATEGORY
    docs = (DocRow("`map_category: {from, table, default}`", "set `google_product_category` "
                   "from a Google path or id, directly or through a table; every id is checked "
                   "against Google's taxonomy (shipped: "
                   "`feedsync/data/taxonomy-with-ids.en-US.txt`, version 2021-09-21)"),)

    def __init__(self, source: str, table: dict[str, str] | None, default: str | None,
                 ignore_case: bool, taxonomy: Taxonomy) -> None:
        super().__init__()
        self.source = source
        self.table = table
        self.default = default
        self.ignore_case = ignore_case
        self.taxonomy = taxonomy

    @classmethod
    def build(cls, p: MapCategoryParams, rules: CompileContext, loc: Location) -> Step | None:
        ok = rules.read_field(p.source, (*loc, "from"))
        table: dict[str, str] | None = None
        file = "taxonomy"
        taxonomy = rules.taxonomy
        if p.table is not None:
            loaded = rules.table(p.table, p.key_column, p.value_column, loc)
            if loaded is None:
                return None
            raw_table, file = loaded
            table = {}
            for key, value in raw_table.items():
                if value in (None, ""):
                    continue
                category = taxonomy.id_for(value)
                if category is None:
                    ok = False
                    where = (*loc, "table", key) if file == "table" else (*loc, "table")
                    rules.problem(where, f"{file}: {key!r} -> {value!r} is not a Google product "
                                         f"category (taxonomy {taxonomy.version})")
                    continue
                table[key.strip().casefold() if p.ignore_case else key.strip()] = category
        default = None
        if p.default is not None:
            default = taxonomy.id_for(str(p.default))
            if default is None:
                ok = False
                rules.problem((*loc, "default"), f"{p.default!r} is not a Google product "
                                                 f"category (taxonomy {taxonomy.version})")
        if not ok:
            return None
        step = cls(p.source, table, default, p.ignore_case, taxonomy)
        step.label = f"map_category from {p.source}" + (f" via {file}" if table else "")
        return step

    def apply(self, product: Product, state: RunState) -> Product | None:
        value = text_of(product, self.source)
        mapped: str | None = value.strip() if value else None
        if mapped and self.table is not None:
            mapped = self.table.get(mapped.casefold() if self.ignore_case else mapped)
        category = self.taxonomy.id_for(mapped) if mapped else None
        if category is None:
            if mapped and self.table is None:
                state.problems.append((self, f"{self.source} {value!r} is not a Google product "
                                             f"category (taxonomy {self.taxonomy.version})"))
            if self.default is None:
                state.note = f"no Google category for {self.source} {value!r}"
                return product
            state.note = f"no Google category for {self.source} {value!r}: default used"
            category = self.default
        return set_one(state, product, "google_product_category", category)
