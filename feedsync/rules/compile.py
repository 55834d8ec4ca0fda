"""Rules as written in feedsync.yaml -> compiled steps, checked once before any product is read.

Every problem is collected, with its `file:line` and key path, and reported at once: unknown
steps, bad parameters, Jinja syntax errors, field names that are neither canonical fields nor
columns of the master, missing files, category ids Google does not have. Expressions and
templates are compiled here, once; applying the rules to a product only calls them.
"""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import TemplateError, meta
from pydantic import ValidationError

from feedsync.checks.issue import Issue, Severity
from feedsync.config.diagnostics import format_validation_errors
from feedsync.errors import ConfigError
from feedsync.products.product import CANONICAL_FIELDS, Product
from feedsync.rules import registry
from feedsync.rules import steps as s
from feedsync.rules.model import StepParams
from feedsync.rules.tables import TableError, read_mapping
from feedsync.rules.taxonomy import Taxonomy, google_taxonomy
from feedsync.yamlpos import Location, PositionedYaml, dotted

if TYPE_CHECKING:
    from feedsync.channels.spec import ChannelSpec
    from feedsync.config import Config


def config_positions(config: Config) -> PositionedYaml:
    """Where each key of feedsync.yaml was written (for `file:line` in problems): the one place
    the compiler reads the config's positions."""
    return config.positions or PositionedYaml({}, {}, config.file)


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
        return any(step.needs_whole_master for step, _ in self._walk())

    def observe(self, product: Product) -> None:
        """The first pass: steps that need the whole master (variants) see each product as
        the rules before them leave it. Counts from this pass are discarded (`reset_counts`)."""
        state = s.RunState(self.channel)
        current = product
        for step in self.steps:
            # A problem here is reported again when the step is applied in the real pass.
            with contextlib.suppress(*s.RUNTIME_ERRORS, TemplateError):
                if step.needs_whole_master or any(
                        c.needs_whole_master for c, _ in self._walk(step.children())):
                    step.observe(current)
                    continue
                result = step.apply(current, state)
                if result is None:
                    return
                current = result

    def reset_counts(self) -> None:
        for step, _ in self._walk():
            step.changed = step.dropped = 0

    def apply(self, product: Product, trace: list[s.TraceEntry] | None = None
              ) -> tuple[Product | None, list[Issue]]:
        state = s.RunState(self.channel, trace=trace)
        result = s.run_steps(self.steps, product, state)
        issues = [Issue(step.issue_code, Severity.WARNING,
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


class RuleCompiler:
    """Compiles rules for one channel, collecting problems; the steps' `build` methods use it
    through s.CompileContext (the registry says which step a name is)."""

    def __init__(self, config: Config, channel: str, spec: ChannelSpec | None,
                 columns: list[str] | None, now: datetime | None) -> None:
        self.config = config
        self.channel = channel
        self.spec = spec
        self.doc = config_positions(config)
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
        self.locale: str | None = config.source.locale
        self.date_format: str | None = config.source.date_format
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

    def where(self, loc: Location) -> str:
        return self.doc.where(loc)

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
            self.problem(loc, f"unknown field {name!r}{registry.suggest(name, self.known)}; use a "
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
            # The one rule written with several keys (when/then/else).
            return s.Conditional.compile_mapping(raw, self, loc)
        if len(raw) != 1:
            self.problem(loc, f"a rule has one step, found {', '.join(map(str, raw))} (wrap "
                              "several in when/then, or write one rule each)")
            return []
        name, params = next(iter(raw.items()))
        step_loc = (*loc, name)
        kind = registry.step_class(name) if isinstance(name, str) else None
        if kind is None:
            names = registry.step_names()
            self.problem(step_loc, f"unknown step {name!r}{registry.suggest(str(name))}; "
                                   f"steps are {', '.join(names)}")
            return []
        return kind.compile(params, self, step_loc)

    def include_ruleset(self, name: Any, loc: Location) -> list[s.Step]:
        """`use: NAME`: the steps of rule set NAME, compiled where it is defined."""
        rulesets = getattr(self.config, "rulesets", {}) or {}
        if not isinstance(name, str) or name not in rulesets:
            self.problem(loc, f"no rule set named {name!r}"
                              + (registry.suggest(str(name), rulesets) if rulesets else
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

    def parameters(self, step: type[s.Step], raw: Any, loc: Location) -> StepParams | None:
        """`raw` checked against the step's parameter model (a bare value fills its
        shorthand parameter); None after reporting every problem with it."""
        assert step.params is not None
        if not isinstance(raw, dict):
            if step.shorthand is None:
                self.problem(loc, f"{step.name} needs a mapping of parameters")
                return None
            raw = {step.shorthand: raw}
        try:
            return step.params.model_validate(raw)
        except ValidationError as exc:
            for text in format_validation_errors(exc, self.doc, loc):
                if text not in self.problems:
                    self.problems.append(text)
            return None

    def table(self, table: Any, key_column: str | None, value_column: str | None,
              loc: Location) -> tuple[dict[str, str | None], str] | None:
        """An inline mapping or a table file (with the file's name); None after a problem."""
        if isinstance(table, dict):
            return {str(k): None if v is None else str(v) for k, v in table.items()}, "table"
        try:
            return read_mapping(self.path(table, loc), key_column, value_column), Path(table).name
        except TableError as exc:
            self.problem((*loc, "table"), str(exc))
            return None
