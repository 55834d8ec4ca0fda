"""feedsync's Python API: load a project once, then validate, build, explain or push it.

Every command of the CLI is a thin layer over this module, and a Python caller gets the same
behaviour:

    project = load_project("shop/feedsync.yaml")
    report = project.build()
    print(report.channels["google"].items)

`load_project` reads the config (pure data, feedsync.config), then checks every channel's
rules against the master's header, so a misspelt field is reported before any row is read.
The row work itself is feedsync.pipeline; publishing is feedsync.publish.run; rendering a
partitioned master on another engine (Dask, Spark) is `BatchRenderer` (feedsync.batch).
Nothing in the package imports this module, so it may import all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feedsync.batch import BatchRenderer, MasterRow, RenderedBatch
from feedsync.channels.loader import available_specs, load_spec, spec_issue_codes
from feedsync.channels.spec import ChannelSpec
from feedsync.checks.codes import IssueCode, all_codes
from feedsync.checks.issue import Issue, Severity
from feedsync.config import DEFAULT_CONFIG_NAME, Config, load_config
from feedsync.config.diagnostics import did_you_mean
from feedsync.errors import ConfigError, ExitCode, FeedsyncError, OutputError, SourceError
from feedsync.explain import ChannelWord, Explanation
from feedsync.explain import explain as explain_product
from feedsync.html_report import FillRates, render_html
from feedsync.notify import NotifyResult, send_notifications
from feedsync.pipeline import (
    EXCLUDED,
    FILTERED,
    IssueSink,
    Pipeline,
    PlannedChannel,
    ProductNotFound,
    Progress,
    RowOutcome,
    Written,
    plan_channels,
    reads_no_items,
    run_feeds,
    select_planned,
)
from feedsync.plan import Plan, read_history, run_ledgered_build, run_plan, state_dir
from feedsync.products.product import CANONICAL_FIELDS, to_plain
from feedsync.project_init import Draft, draft_config, render_config, write_config
from feedsync.publish.retry import RetryPolicy
from feedsync.publish.run import PublishStatus, PushReport, run_push
from feedsync.publish.status import DestinationStatus, IssueGroup, StatusReport, run_status
from feedsync.publish.sync import SyncOutcome, SyncReport, run_sync
from feedsync.report import DEFAULT_MAX_ISSUES, RunReport
from feedsync.rules.compile import check_rules
from feedsync.sources import describe_source, open_source
from feedsync.sources.estimate import estimate_rows
from feedsync.state.guards import GUARD_NAMES
from feedsync.state.ledger import FILE_DESTINATION, LEDGER_NAME, RunRecord
from feedsync.state.store import STATE_NAME, StateStore

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "DEFAULT_MAX_ISSUES",
    "EXCLUDED",
    "GUARD_NAMES",
    "BatchRenderer",
    "ChannelWord",
    "ConfigError",
    "DestinationStatus",
    "Draft",
    "ExitCode",
    "Explanation",
    "FeedsyncError",
    "FieldSummary",
    "IssueCode",
    "IssueGroup",
    "MasterRow",
    "NotifyResult",
    "OutputError",
    "Plan",
    "PreviewItem",
    "Project",
    "PublishStatus",
    "PushReport",
    "RenderedBatch",
    "RowOutcome",
    "RunRecord",
    "RunReport",
    "Severity",
    "SourceError",
    "SpecSummary",
    "StatusReport",
    "SyncOutcome",
    "SyncReport",
    "Written",
    "config_schema",
    "draft_project",
    "init_project",
    "issue_codes",
    "load_project",
    "reads_no_items",
    "run_build",
    "run_validate",
    "spec_summaries",
    "spec_summary",
]


class Project:
    """A loaded feedsync project: its config, checked against its specs, rules and master."""

    def __init__(self, config: Config) -> None:
        self.config = config

    @classmethod
    def load(cls, path: Path | str) -> Project:
        """Read `feedsync.yaml` (or a folder holding one) and check its rules; raise
        ConfigError listing every problem at once."""
        config = load_config(Path(path))
        check_project(config)
        return cls(config)

    @property
    def source_name(self) -> str:
        """The master as a person would name it (a file path or a database table)."""
        return describe_source(self.config)

    def estimated_rows(self) -> int | None:
        """About how many rows the master has, for a progress bar: from the file's size and
        the line length of its first megabyte (text formats), or the sheet's dimension
        (xlsx); None when it cannot be told cheaply (databases, JSON documents)."""
        return estimate_rows(self.config)

    def feeds(self, channels: Iterable[str] | None = None) -> list[PlannedChannel]:
        """The feeds (channel x market) a run of `channels` would build, with their outputs."""
        return plan_channels(self.config, channels)

    def pipeline(self, channels: Iterable[str] | None = None) -> Pipeline:
        """The compiled pipeline for `channels`: iterate `.outcomes()` for typed row results."""
        return Pipeline(self.config, channels)

    def outcomes(self, channels: Iterable[str] | None = None,
                 jobs: int = 1) -> Iterator[RowOutcome]:
        """Each master row's outcome (issues; per feed written / excluded / filtered)."""
        return self.pipeline(channels).outcomes(jobs)

    def validate(self, channels: Iterable[str] | None = None, *,
                 progress: Progress | None = None, sink: IssueSink | None = None,
                 max_issues: int | None = None, jobs: int = 1,
                 observers: Iterable[Callable[[RowOutcome], None]] = ()) -> RunReport:
        """Read and check everything; write nothing."""
        return run_feeds(self.pipeline(channels), write=False, progress=progress, sink=sink,
                         max_issues=max_issues, jobs=jobs, observers=observers)

    def build(self, channels: Iterable[str] | None = None, *,
              progress: Progress | None = None, sink: IssueSink | None = None,
              max_issues: int | None = None, jobs: int = 1, allow_empty: bool = False,
              allow: Iterable[str] = (), force: bool = False,
              observers: Iterable[Callable[[RowOutcome], None]] = (),
              started: float | None = None) -> RunReport:
        """Read, check and write every selected feed, each output replaced atomically, and
        record in the ledger what each feed now holds. A feed that would replace a
        non-empty one with an empty one, or shrink past its guard, is held back (its old
        files stay; `report.held_back` names it) unless allowed (`allow_empty`, `allow`
        guard names, `force`). `started`: when the command began (`time.monotonic()`;
        default: now), for the durations `history` shows."""
        allowed = [*allow, *(["empty"] if allow_empty else [])]
        return run_ledgered_build(self.config, self.pipeline(channels), allow=allowed,
                                  force=force, started=started, progress=progress,
                                  sink=sink, max_issues=max_issues, jobs=jobs,
                                  observers=observers)

    def preview(self, channel: str, limit: int = 5,
                ids: Iterable[str] = ()) -> list[PreviewItem]:
        """The first `limit` master rows (or the rows with these `ids`) as one feed renders
        them: the item, or why there is none, and their issues for that feed."""
        feed = select_planned(self.config, channel)
        pipeline = Pipeline(self.config, feeds=[feed])
        wanted = {i.strip() for i in ids}
        previews: list[PreviewItem] = []
        for outcome in pipeline.outcomes():
            # An invalid row has no product, but its issues still name the id.
            product_id = outcome.product_id or next(
                (i.product_id for i in outcome.issues if i.product_id), None)
            if wanted and product_id not in wanted:
                continue
            issues = [i for i in outcome.issues if i.channel in (None, feed.name)]
            if not outcome.valid:
                previews.append(PreviewItem(outcome.row, product_id, "invalid", None, issues))
            else:
                result = outcome.feeds[0]
                if isinstance(result, Written):
                    previews.append(PreviewItem(outcome.row, outcome.product_id, "written",
                                                result.item, issues))
                else:
                    previews.append(PreviewItem(
                        outcome.row, outcome.product_id,
                        "filtered" if result is FILTERED else "excluded", None, issues))
            if (wanted and len(previews) >= len(wanted)) or (not wanted and len(previews) >= limit):
                break
        missing = sorted(wanted - {p.product_id for p in previews if p.product_id})
        if missing:
            raise ProductNotFound(f"no product with id {', '.join(map(repr, missing))} in "
                                  f"{pipeline.source.name}")
        return previews

    def report(self, channels: Iterable[str] | None = None, *, write: bool = False,
               progress: Progress | None = None, sink: IssueSink | None = None,
               max_issues: int | None = None, jobs: int = 1, **guards: Any
               ) -> tuple[RunReport, str]:
        """Validate (or, with `write`, build) and render the self-contained HTML report:
        the run's report and the page."""
        selected = list(channels) if channels else None
        fill = FillRates(self.feeds(selected))
        if write:  # `guards`: build's allow_empty / allow / force / started
            report = self.build(selected, progress=progress, sink=sink, max_issues=max_issues,
                                jobs=jobs, observers=[fill], **guards)
        else:
            report = self.validate(selected, progress=progress, sink=sink,
                                   max_issues=max_issues, jobs=jobs, observers=[fill])
        return report, self.render_report(report, fill)

    def render_report(self, report: RunReport, fill: FillRates) -> str:
        """The HTML page for a finished run. The "changes since the last publish" section
        is filled from the ledger (`changes_since_publish()`); without a publish record
        the page says so."""
        changes_method = getattr(self, "changes_since_publish", None)
        changes = changes_method() if callable(changes_method) else None
        return render_html(report, fill, unmapped=self.unmapped_columns(), changes=changes,
                           title=f"Feed report: {self.config.file.parent.name or 'project'}",
                           channel_status=self.remembered_status())

    def remembered_status(self) -> list[dict[str, Any]]:
        """What the last `feedsync status` remembered per channel and destination (when,
        items per status, the most common issues); empty when it never ran. Offline."""
        path = state_dir(self.config) / STATE_NAME
        if not path.exists():
            return []
        store = StateStore(path)
        try:
            return store.seen_summaries()
        finally:
            store.close()

    def unmapped_columns(self) -> list[str]:
        """Master columns no field reads: not mapped in source.columns (or a template), and
        not a canonical field name already."""
        try:
            columns = open_source(self.config).columns
        except FeedsyncError:
            return []
        used: set[str] = set(CANONICAL_FIELDS)
        texts: list[str] = []
        for spec in self.config.source.columns.values():
            for name in [spec] if isinstance(spec, str) else spec:
                used.add(name)
                texts.append(name)
        return [c for c in columns if c not in used
                and not any(f"'{c}'" in t or f'"{c}"' in t or f"{{{{ {c} " in t for t in texts)]

    def plan(self, channels: Iterable[str] | None = None, *,
             progress: Progress | None = None, sink: IssueSink | None = None,
             max_issues: int | None = None, jobs: int = 1) -> Plan:
        """What a build or push would change, per feed and destination (nothing written).
        `plan.report` is the run's report (issues and counts)."""
        plan, report = run_plan(self.config, self.pipeline(channels), progress=progress,
                                sink=sink, max_issues=max_issues, jobs=jobs)
        plan.report = report
        return plan

    def changes_since_last_publish(self, channels: Iterable[str] | None = None) -> Plan:
        """The plan: per feed and destination, what changed since the ledger's last record
        (for reports that show "changes since the last publish")."""
        return self.plan(channels)

    def changes_since_publish(self) -> dict[str, Any] | None:
        """For the HTML report: per channel and publish destination the ledger has a
        record of, what a push would change now (added, changed, removed, unchanged, to
        refresh); None when nothing was ever published."""
        if not (state_dir(self.config) / LEDGER_NAME).exists():
            return None
        plan = self.plan()
        rows = {f"{f.diff.feed} → {f.diff.destination}": {
                    "added": f.diff.added, "changed": f.diff.changed,
                    "removed": f.diff.removed, "unchanged": f.diff.unchanged,
                    "to refresh": f.diff.refresh}
                for f in plan.feeds if f.diff.destination != FILE_DESTINATION and f.diff.known}
        return rows or None

    def history(self, channels: Iterable[str] | None = None,
                limit: int = 10) -> list[RunRecord]:
        """The last `limit` runs per feed and destination, newest first, from the ledger."""
        feeds = [f.name for f in self.feeds(channels)] if channels else None
        return read_history(self.config, feeds, limit)

    def explain(self, product_id: str, channel: str) -> Explanation:
        """Trace one product (by the id the feed shows) through one feed's rules and
        renderer: the same processor a build runs."""
        return explain_product(self.config, product_id, channel)

    def push(self, channels: Iterable[str] | None = None, *, dry_run: bool = False,
             allow_empty: bool = False, force: bool = False,
             log: Callable[[str], None] | None = None, progress: Progress | None = None,
             sink: IssueSink | None = None, max_issues: int | None = None,
             jobs: int = 1, full: bool = False, allow: Iterable[str] = (),
             plan: Path | None = None, started: float | None = None) -> PushReport:
        """Build into a staging area, guard, publish to each destination, then record.
        API destinations get only the changes the ledger sees (`full`: every item);
        `plan`: a saved plan to apply, refused when what it was made from changed;
        `started`: when the command began (`time.monotonic()`; default: now)."""
        return run_push(self.config, channels, dry_run=dry_run, allow_empty=allow_empty,
                        force=force, log=log, progress=progress, sink=sink,
                        max_issues=max_issues, jobs=jobs, full=full, allow=allow,
                        plan_file=plan, started=started)

    def status(self, channels: Iterable[str] | None = None, *,
               own_checks: bool = True, log: Callable[[str], None] | None = None,
               retry: Callable[[RetryPolicy], RetryPolicy] | None = None) -> StatusReport:
        """What each channel did with the items: the channel's own view (Merchant API
        product statuses; Meta batch results and diagnostics; for file destinations, what
        was published when), joined per item with the ledger and feedsync's own issues
        (`own_checks`: a validate run of the master), grouped by issue, with what is new
        since the last `status`, which this remembers. Sends nothing to any channel."""
        return run_status(self.config, channels, own_checks=own_checks, log=log,
                          retry=retry)

    def sync(self, channels: Iterable[str] | None = None, *,
             only: Iterable[str] | None = None, force: bool = False,
             log: Callable[[str], None] | None = None, progress: Progress | None = None,
             sink: IssueSink | None = None, max_issues: int | None = None,
             jobs: int = 1, full_read: bool = False,
             started: float | None = None) -> SyncReport:
        """Send only what changed in the synced fields (`only`, default `sync.fields`:
        price, availability, quantity) to each API destination, as partial updates;
        never create or delete an item (new and gone ones are named, left to `push`).
        Under the same run lock as `push`; guarded (mass out-of-stock, price jumps)
        unless `force`. When only the joined stock changed since the last sync, only
        those products are re-read (`full_read`: the whole master anyway). `started`:
        when the command began (`time.monotonic()`; default: now)."""
        return run_sync(self.config, channels, only=only, force=force, log=log,
                        progress=progress, sink=sink, max_issues=max_issues, jobs=jobs,
                        full_read=full_read, started=started)

    def notify(self, command: str, report: RunReport | PushReport | None, exit_code: int,
               duration: float, *, error: str | None = None) -> list[NotifyResult]:
        """Tell the config's `notify:` webhooks how a run of `command` ended (after
        `duration` seconds; `error` when it stopped without a report). Each webhook's
        failure is a result, never an exception: it must not change the run's outcome."""
        return send_notifications(self.config, command, report, exit_code, duration, error)


def load_project(path: Path | str) -> Project:
    """`Project.load(path)`: the usual way in."""
    return Project.load(path)


def check_project(config: Config) -> None:
    """Check that there is something to build, every channel's spec and outputs, every
    channel's rules, and, when the master's header can be read, the field names they use:
    every rule problem at once, as one ConfigError."""
    if not config.channels:
        _ = open_source(config).columns  # a master that cannot be read is the first problem
        raise ConfigError(f"{config.file.name} has no channels, so there is nothing to build; "
                          "add a `channels:` section (for example `google: {spec: "
                          "google_merchant, output: feeds/google.xml}`)")
    feeds = plan_channels(config)  # unknown specs and formats, before any row is read
    issue_problems = check_issue_settings(config, feeds)
    if issue_problems:
        raise ConfigError(f"{config.file} has {len(issue_problems)} problem(s):", issue_problems)
    problems = check_rules(config)
    if not problems:
        return
    columns = _master_columns(config)
    if columns is not None:
        problems = check_rules(config, columns)
    raise ConfigError(f"{config.file} has {len(problems)} problem(s):", problems)


def check_issue_settings(config: Config, feeds: list[PlannedChannel]) -> list[str]:
    """The `issues:` sections name codes that exist and are not errors (an error leaves the
    product out, so reporting it as a warning would hide why it is missing)."""
    known = {c.code: c for c in all_codes()}
    for feed in feeds:
        for spec_code in feed.spec.issue_codes():
            known.setdefault(spec_code.code, spec_code)
    sections: list[tuple[tuple[str, ...], Mapping[str, str]]] = [(("issues",), config.issues)]
    sections += [(("channels", name, "issues"), channel.issues)
                 for name, channel in config.channels.items()]
    problems = []
    for path, section in sections:
        for code in section:
            loc: tuple[str, ...] = (*path, code)
            where = config.positions.where(loc) if config.positions is not None else ""
            registered = known.get(code)
            if registered is None:
                problems.append(f"{where}: {'.'.join(loc)}: unknown issue code"
                                f"{did_you_mean(code, known)} (see `feedsync codes`)")
            elif registered.severity is Severity.ERROR:
                problems.append(f"{where}: {'.'.join(loc)}: {code} is an error, which leaves "
                                "products out; it cannot be downgraded or ignored (fix the "
                                "data or the mapping instead)")
    return problems


def _master_columns(config: Config) -> list[str] | None:
    try:
        return open_source(config).columns
    except FeedsyncError:
        return None


# -- functions over a Config, for callers that build one in Python ---------------------------

def run_validate(config: Config, channels: Iterable[str] | None = None, *,
                 progress: Progress | None = None, sink: IssueSink | None = None,
                 max_issues: int | None = None, jobs: int = 1) -> RunReport:
    """`Project(config).validate(...)`."""
    return Project(config).validate(channels, progress=progress, sink=sink,
                                    max_issues=max_issues, jobs=jobs)


def run_build(config: Config, channels: Iterable[str] | None = None, *,
              progress: Progress | None = None, sink: IssueSink | None = None,
              max_issues: int | None = None, jobs: int = 1, allow_empty: bool = False,
              force: bool = False) -> RunReport:
    """`Project(config).build(...)`."""
    return Project(config).build(channels, progress=progress, sink=sink,
                                 max_issues=max_issues, jobs=jobs, allow_empty=allow_empty,
                                 force=force)


@dataclass
class PreviewItem:
    """One master row as a feed renders it (`feedsync preview`).

    `outcome`: written (the item), excluded (the channel's checks failed), filtered (its
    rules left it out) or invalid (the row has errors no channel can take)."""

    row: int
    product_id: str | None
    outcome: str
    item: dict[str, Any] | None
    issues: list[Issue]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {"row": self.row, "id": self.product_id, "outcome": self.outcome,
                "item": ({k: to_plain(v) for k, v in self.item.items()}
                         if self.item is not None else None),
                "issues": [i.to_dict() for i in self.issues]}


# -- channel specs, for `feedsync channels` --------------------------------------------------

@dataclass
class FieldSummary:
    """One field of a spec as `channels show` lists it."""

    name: str
    origin: str
    status: str
    format: str
    limits: list[str]
    values: str


@dataclass
class SpecSummary:
    """A channel spec in the words `feedsync channels` uses."""

    name: str
    title: str
    description: str
    reference: str | None
    formats: dict[str, str]  # format name -> file extension
    settings: dict[str, Any]
    fields: list[FieldSummary] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {"name": self.name, "title": self.title, "description": self.description,
                "reference": self.reference, "formats": self.formats,
                "settings": self.settings, "fields": [vars(f) for f in self.fields],
                "rules": self.rules}


def spec_summaries(project_dir: Path | None = None) -> list[SpecSummary]:
    """Every spec: built-in ones and the project's own (channel_specs/ in `project_dir`)."""
    return [spec_summary(name, project_dir) for name in available_specs(project_dir)]


def spec_summary(name: str, project_dir: Path | None = None) -> SpecSummary:
    """One spec's formats, fields, limits and rules."""
    return _summarise(load_spec(name, project_dir))


def _summarise(spec: ChannelSpec) -> SpecSummary:
    fields = []
    for f in spec.fields:
        status = "required" if f.required else "recommended" if f.recommended else "optional"
        origin = f.source or ("template" if f.template else "constant" if f.value else f.name)
        limits = []
        if f.max_length:
            limits.append(f"≤{f.max_length} chars" + {"truncate": " (cut)",
                                                      "drop": " (dropped)"}.get(f.too_long, ""))
        if f.max_items:
            limits.append(f"≤{f.max_items} values")
        values = ", ".join(f"{k}→{v}" if k != v else k for k, v in (f.values or {}).items())
        fields.append(FieldSummary(f.name, origin, status, f.format, limits, values))
    rules = []
    for rule in spec.rules:
        when = ", ".join([*(f"{k}={v}" for k, v in rule.when.items()),
                          *(f"{k} matches {v}" for k, v in rule.when_matches.items()),
                          *(f"{k} is not {v}" for k, v in rule.unless.items())])
        needs = ", ".join(rule.require) or " or ".join(rule.require_any)
        outcome = ("leaves the product out" if rule.exclude else "reports it" if rule.report
                   else f"requires {needs}")
        rules.append(f"Rule ({rule.severity}): {'when ' + when + ', ' if when else ''}"
                     f"{outcome} ({rule.code})")
    return SpecSummary(spec.name, spec.title, spec.description, spec.reference,
                       {n: f.extension for n, f in spec.formats.items()}, dict(spec.settings),
                       fields, rules)


def init_project(master: Path | str, config_path: Path | str = DEFAULT_CONFIG_NAME, *,
                 shop_url: str | None = None, currency: str | None = None,
                 spec: str = "google_merchant", force: bool = False) -> Draft:
    """`feedsync init`: look at the master, write a commented feedsync.yaml (never over an
    existing one unless `force`) and, beside it, feedsync.schema.json for editors."""
    config_path = Path(config_path)
    if config_path.is_dir():
        config_path = config_path / DEFAULT_CONFIG_NAME
    if config_path.exists() and not force:
        raise ConfigError(f"{config_path} already exists; use --force to replace it")
    master = Path(master)
    if not master.exists():
        raise SourceError(f"product master {master} does not exist")
    load_spec(spec, config_path.parent.resolve())  # an unknown spec, before anything is written
    found = draft_config(master, shop_url=shop_url, currency=currency)
    write_config(render_config(found, config_path, spec=spec), config_path, force=force)
    schema_file = config_path.parent / "feedsync.schema.json"
    if not schema_file.exists():
        import json

        schema_file.write_text(json.dumps(config_schema(), ensure_ascii=False, indent=2) + "\n",
                               encoding="utf-8")
    return found


def draft_project(master: Path | str, *, shop_url: str | None = None,
                  currency: str | None = None) -> Draft:
    """What `init` would choose for `master`, without writing anything."""
    return draft_config(Path(master), shop_url=shop_url, currency=currency)


def config_schema() -> dict[str, Any]:
    """The JSON Schema of feedsync.yaml (`feedsync schema`)."""
    from feedsync.config.schema import config_schema as schema

    return schema()


def issue_codes(project_dir: Path | None = None) -> list[IssueCode]:
    """Every issue code feedsync can report, sorted: the built-in ones and those the channel
    specs declare (the built-in specs, plus the project's own `channel_specs/` when given)."""
    listed = all_codes() + spec_issue_codes(project_dir)
    return sorted(listed, key=lambda issue_code: issue_code.code)
