"""Rules as written in feedsync.yaml -> compiled steps, checked once before any product is read.

Every problem is collected, with its `file:line` and key path, and reported at once: unknown
steps, bad parameters, Jinja syntax errors, field names that are neither canonical fields nor
columns of the master, missing files, category ids Google does not have. Expressions and
templates are compiled here, once; applying the rules to a product only calls them.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import TemplateError, meta
from pydantic import ValidationError

from feedsync.checks.issue import Issue, Severity
from feedsync.errors import ConfigError
from feedsync.products.dates import DateFormatError, parse_datetime
from feedsync.products.numbers import NumberFormatError, parse_decimal
from feedsync.products.product import CANONICAL_FIELDS, DateWindow, Product
from feedsync.rules import steps as s
from feedsync.rules.model import (
    SPECIAL_STEPS,
    STEP_PARAMS,
    BestSellersParams,
    CampaignParams,
    ConvertParams,
    FieldsParams,
    FilterParams,
    LookupParams,
    MapCategoryParams,
    MarginBandsParams,
    NewArrivalsParams,
    PercentParams,
    PriceBucketsParams,
    RegexReplaceParams,
    ReplaceParams,
    RoundParams,
    StepParams,
    TruncateParams,
    VariantsParams,
)
from feedsync.rules.tables import TableError, read_ids, read_mapping, read_rows
from feedsync.rules.taxonomy import Taxonomy, google_taxonomy
from feedsync.yamlpos import Location, PositionedYaml, dotted

if TYPE_CHECKING:
    from feedsync.channels.spec import ChannelSpec
    from feedsync.config import Config

ALL_STEPS = (*STEP_PARAMS, *SPECIAL_STEPS)
_TEXT_TRANSFORMS = {
    "strip_html": s.plain_text,
    "collapse_whitespace": s.collapse_whitespace,
    "title_case": s.title_case,
    "upper_case": str.upper,
    "lower_case": str.lower,
}


@dataclass
class RuleCount:
    """What one rule did over a run, for the report."""

    label: str
    where: str
    depth: int
    changed: int
    dropped: int

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.label, "where": self.where, "depth": self.depth,
                "changed": self.changed, "dropped": self.dropped}


class CompiledRules:
    """One channel's rules, ready to apply to every product of the run."""

    def __init__(self, channel: str, steps: list[s.Step]) -> None:
        self.channel = channel
        self.steps = steps

    def __bool__(self) -> bool:
        return bool(self.steps)

    def _walk(self, steps: list[s.Step] | None = None,
              depth: int = 0) -> list[tuple[s.Step, int]]:
        result = []
        for step in self.steps if steps is None else steps:
            result.append((step, depth))
            result += self._walk(step.children(), depth + 1)
        return result

    @property
    def needs_prepass(self) -> bool:
        """True when a step (variants) must see the whole master before the first product."""
        return any(isinstance(step, s.Variants) for step, _ in self._walk())

    def observe(self, product: Product) -> None:
        """The first pass: steps that need the whole master (variants) see each product as
        the rules before them leave it. Counts from this pass are discarded (`reset_counts`)."""
        state = s.RunState(self.channel)
        current: Product | None = product
        for step in self.steps:
            # A problem here is reported again when the step is applied in the real pass.
            with contextlib.suppress(*s.RUNTIME_ERRORS, TemplateError):
                if isinstance(step, s.Variants) or any(
                        isinstance(c, s.Variants) for c, _ in self._walk(step.children())):
                    step.observe(current)
                    continue
                current = step.apply(current, state)
            if current is None:
                return

    def reset_counts(self) -> None:
        for step, _ in self._walk():
            step.changed = step.dropped = 0

    def apply(self, product: Product, trace: list[s.TraceEntry] | None = None
              ) -> tuple[Product | None, list[Issue]]:
        state = s.RunState(self.channel, trace=trace)
        result = s.run_steps(self.steps, product, state)
        issues = [Issue("unknown-category" if isinstance(step, s.MapCategory) else
                        "rule-failed", Severity.WARNING,
                        f"rule `{step.label}` ({step.where}): {message}", row=product.row,
                        product_id=product.id, channel=self.channel)
                  for step, message in state.problems]
        return result, issues

    def raw_counts(self) -> list[tuple[int, int]]:
        """(changed, dropped) of every step, in a fixed order: what a worker process sends
        back so the run's counts can be summed (see feedsync.parallel)."""
        return [(step.changed, step.dropped) for step, _ in self._walk()]

    def add_counts(self, counts: list[tuple[int, int]]) -> None:
        for (step, _), (changed, dropped) in zip(self._walk(), counts, strict=True):
            step.changed += changed
            step.dropped += dropped

    def counts(self) -> list[RuleCount]:
        return [RuleCount(step.label, step.where, depth, step.changed, step.dropped)
                for step, depth in self._walk()]


def compile_rules(config: Config, channel: str, spec: ChannelSpec | None = None,
                  columns: list[str] | None = None,
                  now: datetime | None = None) -> CompiledRules:
    """One channel's rules; ConfigError listing every problem."""
    compiler = RuleCompiler(config, channel, spec, columns, now)
    compiled = compiler.compile_channel()
    compiler.raise_problems()
    return compiled


def compile_channels(config: Config, channels: list[tuple[str, ChannelSpec]],
                     columns: list[str], now: datetime | None = None, *,
                     entries: dict[str, str] | None = None) -> dict[str, CompiledRules]:
    """Every selected channel's rules, with the problems of all of them reported at once.

    `entries` maps a channel name to its config entry where they differ (`google.ES` is a
    market of entry `google`)."""
    problems: list[str] = []
    result = {}
    for name, spec in channels:
        compiler = RuleCompiler(config, name, spec, columns, now)
        result[name] = compiler.compile_channel((entries or {}).get(name))
        problems += [p for p in compiler.problems if p not in problems]
    if problems:
        raise ConfigError(f"{config.file.name}: {len(problems)} problem(s) with rules:",
                          problems)
    return result


def check_rules(config: Config, columns: list[str] | None = None) -> list[str]:
    """Problems found at load time: all of them given the master's `columns`, else all but
    unknown field names."""
    problems: list[str] = []
    used: set[str] = set()
    for name in config.channels:
        compiler = RuleCompiler(config, name, None, columns, None)
        compiler.compile_channel()
        used |= compiler.used_rulesets
        problems += [p for p in compiler.problems if p not in problems]
    for name in getattr(config, "rulesets", {}) or {}:
        if name in used:
            continue  # its problems are already listed, with the channel using it
        compiler = RuleCompiler(config, "", None, columns, None)
        compiler.compile_list(config.rulesets[name], ("rulesets", name))
        problems += [p for p in compiler.problems if p not in problems]
    return problems


def _suggest(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


class RuleCompiler:
    def __init__(self, config: Config, channel: str, spec: ChannelSpec | None,
                 columns: list[str] | None, now: datetime | None) -> None:
        self.config = config
        self.channel = channel
        self.spec = spec
        doc = config.positions
        self.doc: PositionedYaml = doc or PositionedYaml({}, {}, config.file)
        mapped: dict[str, str] = {}
        for target, cols in config.source.columns.items():
            for col in [cols] if isinstance(cols, str) else cols:
                mapped[col] = target
        self.mapped = mapped
        self.known: set[str] | None = None
        if columns is not None:
            self.known = {*CANONICAL_FIELDS, "extra"} | {c for c in columns if c not in mapped}
        self.tz = self._timezone()
        self.now = now or datetime.now(self.tz)
        self.currency = str(config.source.defaults.get("currency") or "") or None
        self.problems: list[str] = []
        self._using: list[str] = []
        self.used_rulesets: set[str] = set()
        self._taxonomy: Taxonomy | None = None

    # -- problems and names ---------------------------------------------------------------

    def problem(self, loc: Location, message: str) -> None:
        text = f"{self.doc.where(loc)}: {dotted(loc)}: {message}"
        if self.channel and loc[:1] == ("rulesets",):
            text += f" (used by channel {self.channel})"
        if text not in self.problems:
            self.problems.append(text)

    def raise_problems(self) -> None:
        if self.problems:
            raise ConfigError(f"{self.config.file.name}: {len(self.problems)} problem(s) with "
                              "rules:", self.problems)

    def _timezone(self) -> tzinfo:
        try:
            return ZoneInfo(self.config.source.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return timezone.utc

    @property
    def taxonomy(self) -> Taxonomy:
        if self._taxonomy is None:
            self._taxonomy = google_taxonomy()
        return self._taxonomy

    def read_field(self, name: str, loc: Location) -> bool:
        if self.known is None or name in self.known:
            return True
        if name in self.mapped:
            self.problem(loc, f"column {name!r} is mapped to {self.mapped[name]}; use "
                              f"{self.mapped[name]}")
        else:
            self.problem(loc, f"unknown field {name!r}{_suggest(name, self.known)}; use a "
                              "canonical field or a column of the master")
        return False

    def write_field(self, name: str, loc: Location) -> bool:
        if name in CANONICAL_FIELDS and name not in s.SETTABLE_FIELDS:
            self.problem(loc, f"{name} cannot be set by a rule")
            return False
        if name not in CANONICAL_FIELDS and name in self.mapped:
            self.problem(loc, f"column {name!r} is mapped to {self.mapped[name]}; use "
                              f"{self.mapped[name]}")
            return False
        if name not in CANONICAL_FIELDS and self.known is not None:
            close = difflib.get_close_matches(name, CANONICAL_FIELDS, n=1, cutoff=0.8)
            if close and name not in self.known:
                self.problem(loc, f"unknown field {name!r} (did you mean {close[0]!r}?); a "
                                  "new name creates a column")
                return False
            self.known.add(name)  # later rules may read a column this one creates
        return True

    def expression(self, source: Any, loc: Location) -> s.Expression | None:
        if not isinstance(source, str) or not source.strip():
            self.problem(loc, "an expression must be a non-empty string")
            return None
        try:
            ast = s.ENV.parse("{{ " + source + " }}")
            names = meta.find_undeclared_variables(ast)
            evaluate = s.ENV.compile_expression(source, undefined_to_none=False)
        except TemplateError as exc:
            self.problem(loc, f"bad expression `{source}`: {exc}")
            return None
        names = names - set(s.ENV.globals)
        if not all([self.read_field(n, loc) for n in sorted(names)]):
            return None
        return s.Expression(source, tuple(sorted(names)), evaluate, s.plain_expression(ast))

    def template(self, source: Any, loc: Location) -> s.Template | None:
        if isinstance(source, (int, float, Decimal)) and not isinstance(source, bool):
            source = str(source)
        if not isinstance(source, str):
            self.problem(loc, "expected text or a Jinja template")
            return None
        if "{{" not in source and "{%" not in source:
            return s.Template(source, (), None)
        try:
            ast = s.ENV.parse(source)
            names = meta.find_undeclared_variables(ast)
            template = s.ENV.from_string(source)
        except TemplateError as exc:
            self.problem(loc, f"bad template: {exc}")
            return None
        names = names - set(s.ENV.globals)
        if not all([self.read_field(n, loc) for n in sorted(names)]):
            return None
        render = s.plain_substitution(ast) or template.render
        return s.Template(source, tuple(sorted(names)), render)

    def path(self, value: str, loc: Location) -> Path:
        return self.config.resolve(value)

    # -- lists and steps ------------------------------------------------------------------

    def compile_channel(self, entry: str | None = None) -> CompiledRules:
        """The rules of config entry `entry` (default: the channel's own name), compiled for
        this channel; a channel with markets runs its entry's rules once per market."""
        entry = entry or self.channel
        channel = self.config.channels[entry]
        raw = getattr(channel, "rules", None) or []
        return CompiledRules(self.channel, self.compile_list(raw, ("channels", entry,
                                                                   "rules")))

    def compile_list(self, raw: Any, loc: Location) -> list[s.Step]:
        if not isinstance(raw, list):
            self.problem(loc, "rules must be a list of steps (each line starting with `- `)")
            return []
        result: list[s.Step] = []
        for index, item in enumerate(raw):
            result += self.compile_step(item, (*loc, index))
        return result

    def compile_step(self, raw: Any, loc: Location) -> list[s.Step]:
        if not isinstance(raw, dict) or not raw:
            self.problem(loc, "a rule is a mapping such as `- set: {title: ...}`")
            return []
        if "when" in raw or "then" in raw:
            step = self._conditional(raw, loc)
            return [step] if step else []
        if len(raw) != 1:
            self.problem(loc, f"a rule has one step, found {', '.join(map(str, raw))} (wrap "
                              "several in when/then, or write one rule each)")
            return []
        name, params = next(iter(raw.items()))
        step_loc = (*loc, name)
        if name == "use":
            return self._use(params, step_loc)
        if name == "set":
            step = self._set(params, step_loc)
        elif name in STEP_PARAMS:
            step = self._builtin(name, params, step_loc)
        else:
            self.problem(step_loc, f"unknown step {name!r}{_suggest(str(name), ALL_STEPS)}; "
                                   f"steps are {', '.join(ALL_STEPS)}")
            return []
        if step is None:
            return []
        step.where = self.doc.where(step_loc)
        return [step]

    def _use(self, name: Any, loc: Location) -> list[s.Step]:
        rulesets = getattr(self.config, "rulesets", {}) or {}
        if not isinstance(name, str) or name not in rulesets:
            self.problem(loc, f"no rule set named {name!r}"
                              + (_suggest(str(name), rulesets) if rulesets else
                                 " (define it under `rulesets:`)"))
            return []
        if name in self._using:
            self.problem(loc, f"rule set {name!r} uses itself ({' -> '.join(self._using)})")
            return []
        self._using.append(name)
        self.used_rulesets.add(name)
        try:
            return self.compile_list(rulesets[name], ("rulesets", name))
        finally:
            self._using.pop()

    def _conditional(self, raw: dict[str, Any], loc: Location) -> s.Step | None:
        unknown = [k for k in raw if k not in ("when", "then", "else")]
        for key in unknown:
            self.problem((*loc, key), "unknown key next to when/then/else (check its spelling)")
        if "when" not in raw or "then" not in raw:
            self.problem(loc, "a condition needs both `when:` and `then:`")
            return None
        condition = self.expression(raw["when"], (*loc, "when"))
        then = self.compile_list(raw["then"], (*loc, "then"))
        otherwise = self.compile_list(raw.get("else", []), (*loc, "else"))
        if condition is None or unknown:
            return None
        step = s.Conditional(condition, then, otherwise)
        step.label = f"when {condition.source}"
        step.where = self.doc.where((*loc, "when"))
        return step

    def _set(self, params: Any, loc: Location) -> s.Step | None:
        if not isinstance(params, dict) or not params:
            self.problem(loc, "set needs a mapping of field: template")
            return None
        templates = {}
        ok = True
        for name, source in params.items():
            name = str(name)
            template = self.template(source, (*loc, name))
            ok = self.write_field(name, (*loc, name)) and template is not None and ok
            if template is not None:
                templates[name] = template
        if not ok:
            return None
        step = s.SetFields(templates, self.currency)
        step.label = "set " + ", ".join(templates)
        return step

    def _builtin(self, name: str, raw: Any, loc: Location) -> s.Step | None:
        model, shorthand = STEP_PARAMS[name]
        if not isinstance(raw, dict):
            if shorthand is None:
                self.problem(loc, f"{name} needs a mapping of parameters")
                return None
            raw = {shorthand: raw}
        try:
            params = model.model_validate(raw)
        except ValidationError as exc:
            from feedsync.config import format_validation_errors

            for text in format_validation_errors(exc, self.doc, loc):
                if text not in self.problems:
                    self.problems.append(text)
            return None
        builder = getattr(self, "_build_" + name, None) or self._build_by_kind
        step = builder(name, params, loc)
        if step is not None and not step.label:
            step.label = name
        return step

    # -- builders -------------------------------------------------------------------------

    def _build_by_kind(self, name: str, params: StepParams, loc: Location) -> s.Step | None:
        if isinstance(params, FieldsParams):
            ok = all([self.write_field(f, (*loc, "fields")) and self.read_field(f, loc)
                      for f in params.fields])
            step = s.TextTransform(params.fields, _TEXT_TRANSFORMS[name])
            step.label = f"{name} {', '.join(params.fields)}"
            return step if ok else None
        if isinstance(params, PercentParams):
            return self._percent(name, params, loc)
        raise AssertionError(name)

    def _build_filter(self, name: str, p: FilterParams, loc: Location) -> s.Step | None:
        if p.keep or p.drop:
            key = "keep" if p.keep else "drop"
            expression = self.expression(p.keep or p.drop, (*loc, key))
            if expression is None:
                return None
            step: s.Step = s.KeepWhen(expression, keep=bool(p.keep))
            step.label = f"filter {key} {expression.source}"
            return step
        key = "keep_ids" if p.keep_ids else "drop_ids"
        file = p.keep_ids or p.drop_ids or ""
        try:
            ids = read_ids(self.path(file, loc))
        except TableError as exc:
            self.problem((*loc, key), str(exc))
            return None
        step = s.KeepIds(ids, keep=bool(p.keep_ids), file=Path(file).name)
        step.label = f"filter {key} {Path(file).name}"
        return step

    def _table(self, table: Any, key_column: str | None, value_column: str | None,
               loc: Location) -> tuple[dict[str, str | None], str] | None:
        if isinstance(table, dict):
            return {str(k): None if v is None else str(v) for k, v in table.items()}, "table"
        try:
            return read_mapping(self.path(table, loc), key_column, value_column), Path(table).name
        except TableError as exc:
            self.problem((*loc, "table"), str(exc))
            return None

    def _build_lookup(self, name: str, p: LookupParams, loc: Location) -> s.Step | None:
        into = p.into or p.field
        ok = self.read_field(p.field, (*loc, "field")) and self.write_field(into, (*loc, "into"))
        loaded = self._table(p.table, p.key_column, p.value_column, loc)
        if loaded is None or not ok:
            return None
        table, file = loaded
        keys = {(k.strip().casefold() if p.ignore_case else k.strip()): v
                for k, v in table.items()}
        step = s.Lookup(p.field, into, {k: v or "" for k, v in keys.items()}, p.default,
                        "default" in p.model_fields_set, p.ignore_case, self.currency)
        step.label = f"lookup {p.field} in {file}" + (f" -> {into}" if into != p.field else "")
        return step

    def _build_map_category(self, name: str, p: MapCategoryParams,
                            loc: Location) -> s.Step | None:
        ok = self.read_field(p.source, (*loc, "from"))
        table: dict[str, str] | None = None
        file = "taxonomy"
        if p.table is not None:
            loaded = self._table(p.table, p.key_column, p.value_column, loc)
            if loaded is None:
                return None
            raw_table, file = loaded
            table = {}
            for key, value in raw_table.items():
                if value in (None, ""):
                    continue
                category = self.taxonomy.id_for(value)
                if category is None:
                    ok = False
                    where = (*loc, "table", key) if file == "table" else (*loc, "table")
                    self.problem(where, f"{file}: {key!r} -> {value!r} is not a Google product "
                                        f"category (taxonomy {self.taxonomy.version})")
                    continue
                table[key.strip().casefold() if p.ignore_case else key.strip()] = category
        default = None
        if p.default is not None:
            default = self.taxonomy.id_for(str(p.default))
            if default is None:
                ok = False
                self.problem((*loc, "default"), f"{p.default!r} is not a Google product "
                                                f"category (taxonomy {self.taxonomy.version})")
        if not ok:
            return None
        step = s.MapCategory(p.source, table, default, p.ignore_case, self.taxonomy)
        step.label = f"map_category from {p.source}" + (f" via {file}" if table else "")
        return step

    def _build_truncate(self, name: str, p: TruncateParams, loc: Location) -> s.Step | None:
        ok = self.read_field(p.field, (*loc, "field")) and self.write_field(p.field, loc)
        length = p.length
        if length is None and self.spec is not None:
            limits = [f.max_length for f in self.spec.fields
                      if f.max_length and p.field in (f.name, f.source_field)]
            if not limits:
                self.problem(loc, f"{self.spec.title} sets no length limit for {p.field}; "
                                  "give `length:`")
                return None
            length = min(limits)
        if not ok:
            return None
        step = s.Truncate(p.field, length or 10**9, p.ellipsis)
        step.label = f"truncate {p.field}" + (f" to {length}" if length else "")
        return step

    def _build_replace(self, name: str, p: ReplaceParams, loc: Location) -> s.Step | None:
        if not (self.read_field(p.field, (*loc, "field")) and self.write_field(p.field, loc)):
            return None
        old, new = p.old, p.new
        step = s.TextTransform([p.field], lambda text: text.replace(old, new))
        step.label = f"replace {old!r} by {new!r} in {p.field}"
        return step

    def _build_regex_replace(self, name: str, p: RegexReplaceParams,
                             loc: Location) -> s.Step | None:
        try:
            pattern = re.compile(p.pattern, re.IGNORECASE if p.ignore_case else 0)
            pattern.sub(p.replacement, "")
        except re.error as exc:
            self.problem((*loc, "pattern"), f"bad regular expression: {exc}")
            return None
        if not (self.read_field(p.field, (*loc, "field")) and self.write_field(p.field, loc)):
            return None
        replacement = p.replacement
        step = s.TextTransform([p.field], lambda text: pattern.sub(replacement, text))
        step.label = f"regex_replace /{p.pattern}/ in {p.field}"
        return step

    def _build_prefix(self, name: str, p: Any, loc: Location) -> s.Step | None:
        template = self.template(p.text, (*loc, "text"))
        if template is None or not (self.read_field(p.field, (*loc, "field"))
                                    and self.write_field(p.field, loc)):
            return None
        step = s.Affix(p.field, template, suffix=name == "suffix")
        step.label = f"{name} {p.field} with {p.text!r}"
        return step

    _build_suffix = _build_prefix

    def _money_fields(self, fields: list[str], loc: Location) -> bool:
        bad = [f for f in fields if f not in s.MONEY_FIELDS]
        if bad:
            self.problem((*loc, "fields"), f"{', '.join(bad)} is not a price field (use price, "
                                           "sale_price)")
        return not bad

    def _percent(self, name: str, p: PercentParams, loc: Location) -> s.Step | None:
        if not self._money_fields(p.fields, loc):
            return None
        if p.percent < 0 or (name in ("discount", "remove_vat") and p.percent >= 100
                             and name == "discount"):
            self.problem(loc, f"{name} percent must be between 0 and 100")
            return None
        hundred = Decimal(100)
        factor = {"markup": (hundred + p.percent) / hundred,
                  "discount": (hundred - p.percent) / hundred,
                  "add_vat": (hundred + p.percent) / hundred,
                  "remove_vat": hundred / (hundred + p.percent)}[name]
        into = None
        fields = p.fields
        if p.as_sale_price:
            if name != "discount":
                self.problem((*loc, "as_sale_price"), "only a discount can be a sale price")
                return None
            fields, into = ["price"], "sale_price"
        step = s.PriceMath(fields, factor, into)
        step.label = f"{name} {p.percent}%" + (" as sale_price" if into else "")
        return step

    def _build_round_price(self, name: str, p: RoundParams, loc: Location) -> s.Step | None:
        if not self._money_fields(p.fields, loc):
            return None
        step = s.RoundPrice(p.fields, p.to, p.direction)
        step.label = f"round_price to {str(p.to).lstrip('0')} ({p.direction})"
        return step

    def _build_convert_currency(self, name: str, p: ConvertParams,
                                loc: Location) -> s.Step | None:
        if not self._money_fields(p.fields, loc):
            return None
        rates: dict[str, Decimal] = {}
        if isinstance(p.rates, dict):
            rates = {k.upper(): v for k, v in p.rates.items()}
        else:
            loaded = self._table(p.rates, None, None, (*loc, "rates"))
            if loaded is None:
                return None
            for key, value in loaded[0].items():
                try:
                    rates[key.strip().upper()] = parse_decimal(value or "")
                except NumberFormatError:
                    self.problem((*loc, "rates"), f"{loaded[1]}: rate {value!r} for {key} is "
                                                  "not a number")
        step = s.ConvertCurrency(p.fields, p.to.upper(), rates)
        step.label = f"convert_currency to {p.to.upper()}"
        return step

    def _build_campaign(self, name: str, p: CampaignParams, loc: Location) -> s.Step | None:
        self.read_field(p.key, (*loc, "key"))
        try:
            rows = read_rows(self.path(p.table, loc))
        except TableError as exc:
            self.problem((*loc, "table"), str(exc))
            return None
        file = Path(p.table).name
        entries: dict[str, list[s.CampaignEntry]] = {}
        for row in rows:
            where = f"{file}:{row['_line']}"
            try:
                start = parse_datetime(row.get("start", ""), tz=self.tz)
                end = parse_datetime(row.get("end", ""), tz=self.tz, end_of_day=True)
                percent = Decimal(row["discount"]) if row.get("discount") else None
                sale = parse_decimal(row["sale_price"]) if row.get("sale_price") else None
            except (DateFormatError, InvalidOperation, NumberFormatError) as exc:
                self.problem((*loc, "table"), f"{where}: {exc}")
                continue
            if (percent is None) == (sale is None):
                self.problem((*loc, "table"), f"{where}: give either discount or sale_price")
                continue
            if end <= start:
                self.problem((*loc, "table"), f"{where}: the campaign ends before it starts")
                continue
            key = row.get(p.key, "")
            if not key:
                self.problem((*loc, "table"), f"{where}: no {p.key} (the key column)")
                continue
            entries.setdefault(key, []).append(s.CampaignEntry(DateWindow(start, end), percent,
                                                               sale))
        step = s.Campaign(p.key, entries, file, self.now)
        step.label = f"campaign {file}"
        return step

    def _bands(self, bands: list[Any]) -> list[tuple[Decimal | None, str]]:
        return [(b.below, b.label) for b in bands]

    def _build_price_buckets(self, name: str, p: PriceBucketsParams,
                             loc: Location) -> s.Step | None:
        if not (self.read_field(p.field, (*loc, "field")) and self.write_field(p.into, loc)):
            return None
        step = s.PriceBuckets(p.into, p.field, self._bands(p.buckets), self.config.source.locale)
        step.label = f"price_buckets {p.field} -> {p.into}"
        return step

    def _build_margin_bands(self, name: str, p: MarginBandsParams,
                            loc: Location) -> s.Step | None:
        ok = all([self.read_field(p.cost, (*loc, "cost")),
                  self.read_field(p.price_field, (*loc, "price_field")),
                  self.write_field(p.into, (*loc, "into"))])
        if not ok:
            return None
        step = s.MarginBands(p.into, p.cost, p.price_field, self._bands(p.bands),
                             self.config.source.locale)
        step.label = f"margin_bands {p.cost} -> {p.into}"
        return step

    def _build_new_arrivals(self, name: str, p: NewArrivalsParams,
                            loc: Location) -> s.Step | None:
        if not (self.read_field(p.date, (*loc, "date")) and self.write_field(p.into, loc)):
            return None
        source = self.config.source
        step = s.NewArrivals(p.into, p.date, p.days, p.label, p.otherwise, self.now,
                             source.locale, source.date_format, self.tz)
        step.label = f"new_arrivals {p.date} within {p.days} days -> {p.into}"
        return step

    def _build_best_sellers(self, name: str, p: BestSellersParams,
                            loc: Location) -> s.Step | None:
        if not (self.read_field(p.match, (*loc, "match")) and self.write_field(p.into, loc)):
            return None
        try:
            ids = read_ids(self.path(p.ids, loc))
        except TableError as exc:
            self.problem((*loc, "ids"), str(exc))
            return None
        step = s.BestSellers(p.into, p.match, ids, p.label, p.otherwise, Path(p.ids).name)
        step.label = f"best_sellers {Path(p.ids).name} -> {p.into}"
        return step

    def _build_variants(self, name: str, p: VariantsParams, loc: Location) -> s.Step | None:
        parent = self.expression(p.parent, (*loc, "parent")) if p.parent else None
        ok = (parent is not None) == bool(p.parent)
        if p.children_column:
            ok = self.read_field(p.children_column, (*loc, "children_column")) and ok
            if parent is None:
                self.problem((*loc, "children_column"), "children_column needs `parent:` "
                                                        "(which rows are parents)")
                ok = False
        for f in p.carry_down:
            ok = self.read_field(f, (*loc, "carry_down")) and self.write_field(
                f, (*loc, "carry_down")) and ok
        try:
            pattern = re.compile(p.children_pattern)
        except re.error as exc:
            self.problem((*loc, "children_pattern"), f"bad regular expression: {exc}")
            return None
        if not ok:
            return None
        step = s.Variants(parent, p.children_column, pattern, p.carry_down, p.drop_parents)
        step.label = "variants" + (f" (carry down {', '.join(p.carry_down)})"
                                   if p.carry_down else "")
        return step
