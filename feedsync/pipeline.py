"""The row pipeline under every command: plan the feeds, then source -> parse -> rules -> render.

A `Pipeline` is one selection of a project's feeds, compiled once: the planned feeds
(channel x market) with their outputs, the opened master, the row parser, each feed's
compiled rules and renderer. It yields one typed `RowOutcome` per master row: the row's
issues and, per feed, `Written` (the rendered item), `Excluded` (the channel's checks
failed) or `Filtered` (the channel's rules left it out). `build`, `validate` and `push`
consume that stream into writers and a report (`run_feeds`); `explain` runs the same
processor on one row with a trace, so it can never disagree with a build.

The master is read once; every feed's writers are open at the same time; memory does not
grow with the catalog, except for the set of ids seen (to catch duplicates), which costs
about 12 bytes per product (feedsync.seen_ids).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from feedsync import __version__
from feedsync.channels.loader import load_spec
from feedsync.channels.markets import ChannelVariant, expand_channel
from feedsync.channels.render import ChannelRenderer, Item, TypedItem
from feedsync.channels.spec import ChannelSpec
from feedsync.checks import codes
from feedsync.checks.issue import Issue, Severity
from feedsync.config import ChannelConfig, Config
from feedsync.config.diagnostics import did_you_mean
from feedsync.errors import ConfigError, FeedsyncError
from feedsync.products.parse import RowParser
from feedsync.products.product import Product
from feedsync.report import (
    EVERY_CHANNEL,
    IGNORE,
    ChannelReport,
    IssueAction,
    OutputReport,
    RunReport,
)
from feedsync.rules.compile import CompiledRules, compile_channels
from feedsync.rules.steps import TraceEntry
from feedsync.seen_ids import SeenIds
from feedsync.sources import describe_source, open_source
from feedsync.sources.base import Source, SourceRow
from feedsync.writers import FeedWriter, WrittenOutput, commit_writers, open_writer

if TYPE_CHECKING:  # the spool is publish's; the pipeline only hands it items
    from feedsync.parallel import FeedGroups
    from feedsync.publish.items import ItemSpool

Progress = Callable[[int], None]
IssueSink = Callable[[Issue], None]

_EXTENSION_FORMATS = {".xml": "xml", ".tsv": "tsv", ".txt": "tsv", ".csv": "csv",
                      ".json": "json", ".jsonl": "jsonl"}


# -- planning: which feeds a run builds, and where they go ---------------------------------

@dataclass
class PlannedOutput:
    """One file a feed is written to, in one of its spec's formats."""

    path: Path
    format: str


@dataclass
class PlannedChannel:
    """One feed of a run: a channel entry, or one market of it, with its outputs."""

    name: str
    config: ChannelConfig
    spec: ChannelSpec
    outputs: list[PlannedOutput]
    variant: ChannelVariant | None = None  # market and settings (channels/markets.py)
    entry: str = ""  # the config's channel key (`google` for market `google.ES`)


def plan_channels(config: Config, only: Iterable[str] | None = None) -> list[PlannedChannel]:
    """Resolve each selected channel's spec and outputs; every problem reported at once."""
    wanted = list(only or [])
    entries = selected_entries(config, wanted)
    problems: list[str] = []
    planned = []
    for name, channel in config.channels.items():
        if (wanted and name not in entries) or (not wanted and not channel.enabled):
            continue
        try:
            spec = load_spec(channel.spec, config.base_dir)
        except ConfigError as exc:
            where = (config.positions.where(("channels", name, "spec")) + ": "
                     if config.positions is not None else "")
            problems.append(f"{where}channels.{name}.spec: {exc}")
            continue
        for variant in expand_channel(config, name, channel, spec, problems):
            if wanted and name not in wanted and variant.name not in wanted:
                continue  # another market of this entry
            outputs = []
            for output in channel.resolved_outputs():
                path = config.resolve(variant.output_path(output.path))
                fmt = output.format or _guess_format(path, spec)
                if fmt not in spec.formats:
                    problems.append(f"channels.{name}: {spec.name} has no format {fmt!r} for "
                                    f"{output.path} (it has {', '.join(spec.formats)})")
                    continue
                outputs.append(PlannedOutput(path, fmt))
            planned.append(PlannedChannel(variant.name, channel, spec, outputs, variant, name))
    missing = [n for n in wanted if n not in config.channels
               and n not in {p.name for p in planned}]
    if missing and not problems:
        names = [p.name for p in plan_channels(config)]
        raise ConfigError(f"unknown channel(s) {', '.join(missing)}"
                          f"{did_you_mean(missing[0], names)}; the config has "
                          + ", ".join(names))
    if problems:
        raise ConfigError(f"{config.file.name}: {len(problems)} problem(s) with channels:",
                          problems)
    return planned


def selected_entries(config: Config, wanted: Iterable[str]) -> set[str]:
    """The config entries behind channel names given by a user: an entry (`google`) or
    one market of it (`google.MX`)."""
    wanted = list(wanted)
    entries = {n if n in config.channels else n.split(".", 1)[0] for n in wanted}
    unknown = sorted(n for n in wanted if (n if n in config.channels else n.split(".", 1)[0])
                     not in config.channels)
    if unknown:
        raise ConfigError(f"unknown channel(s) {', '.join(unknown)}"
                          f"{did_you_mean(unknown[0], config.channels)}; the config has "
                          + (", ".join(config.channels) or "none"))
    return entries


def select_planned(config: Config, channel: str) -> PlannedChannel:
    """One feed by name: a channel entry, or one market of it (`google.MX`)."""
    planned = plan_channels(config, [channel])
    if len(planned) != 1:
        raise ConfigError(f"channel {channel!r} has one feed per market; name one of: "
                          + ", ".join(p.name for p in planned))
    return planned[0]


def make_renderer(planned: PlannedChannel,
                  context: dict[str, Any] | None = None) -> ChannelRenderer:
    """The renderer for one planned feed, with its market's context and localisation."""
    variant = planned.variant
    if context is None and variant is not None:
        context = variant.context(planned.config.feed)
    return ChannelRenderer(planned.spec, planned.name, context=context,
                           localize=variant.localize if variant else None)


def _guess_format(path: Path, spec: ChannelSpec) -> str:
    suffix = path.suffix if path.suffix != ".gz" else Path(path.stem).suffix
    for name, fmt in spec.formats.items():
        if fmt.extension == suffix:
            return name
    return _EXTENSION_FORMATS.get(suffix, suffix.lstrip(".") or "?")


# -- row outcomes ----------------------------------------------------------------------------

@dataclass(slots=True)
class Written:
    """The feed got an item. `encoded` holds, per output, the bytes a worker process already
    encoded (or the item itself where an output's encoding depends on its position); from a
    worker, a batch's items of an output whose bytes can be joined come as one
    `(bytes, items)` with the batch's first item of the feed, and None with the others
    (`RowProcessor.join_batch`).

    `item` is None only in outcomes from worker processes (`--jobs N`), for a feed whose
    every use of the item was done there: each output encoded, the ledger form computed,
    and no observer reading the item (`RowProcessor.drop_items`); `item_id` says which
    item it was."""

    item: Item | None
    encoded: list[Item | bytes | tuple[bytes, int] | None] | None = None
    # The item with typed values, for feeds that API destinations read (`typed_feeds`).
    typed: TypedItem | None = None
    # What a ledger observer stages of the item (its JSON bytes and content hash), when a
    # worker process computed it (`RowProcessor.ledger_form`).
    ledger: tuple[bytes, bytes] | None = None
    # `item_id_of(item, product id)`, when a worker process computed it.
    item_id: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt by one call with the fields in order: pickle's default for a slots
        # dataclass runs its generated __setstate__, a Python loop over the fields, for
        # each of the thousands of items a batch sends back (feedsync.parallel).
        return Written, (self.item, self.encoded, self.typed, self.ledger, self.item_id)

    def id_of(self, product_id: str | None) -> str:
        """The id a destination knows the item by (`item_id_of`)."""
        if self.item_id is not None:
            return self.item_id
        assert self.item is not None, "an item without its id crossed from a worker"
        return item_id_of(self.item, product_id)


def item_id_of(item: dict[str, Any], product_id: str | None) -> str:
    """The id a destination knows an item by: its `id` field, else the product's id."""
    value = item.get("id")
    return str(value) if value not in (None, "") else str(product_id or "")


def reads_items(observer: Callable[[RowOutcome], None], feed: str) -> bool:
    """Whether a `run_feeds` observer reads `Written.item` of the feed named `feed`. An
    observer says so with a `reads_items(feed) -> bool` attribute (`reads_no_items` marks
    one that never does); one that says nothing is taken to read every item."""
    declared = getattr(observer, "reads_items", None)
    return True if declared is None else bool(declared(feed))


_F = TypeVar("_F", bound=Callable[..., Any])


def reads_no_items(observer: _F) -> _F:
    """Mark an observer function (or method, in its class body) as never reading
    `Written.item`, so worker processes need not send items back for it."""
    observer.reads_items = _never  # type: ignore[attr-defined]
    return observer


def _never(feed: str) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Excluded:
    """The channel's own checks left the product out (its issues say why)."""

    def __reduce__(self) -> str:
        return "EXCLUDED"  # one instance, also across worker processes: `is` works


@dataclass(frozen=True, slots=True)
class Filtered:
    """The channel's rules left the product out on purpose (a filter, a variant parent)."""

    def __reduce__(self) -> str:
        return "FILTERED"


EXCLUDED = Excluded()
FILTERED = Filtered()
FeedOutcome = Written | Excluded | Filtered


@dataclass(slots=True)
class RowOutcome:
    """What one master row became: its issues, and per feed (in plan order) what it got.

    `feeds` is empty when the row itself is invalid (`valid` False): no feed sees it."""

    row: int
    product_id: str | None
    issues: list[Issue]
    valid: bool
    feeds: list[FeedOutcome]


@dataclass
class Trace:
    """What `explain` wants to see of one row in one feed, filled in by the processor."""

    steps: list[TraceEntry] = field(default_factory=list)
    product: Product | None = None  # the canonical product (None: the row has errors)
    result: Product | None = None  # after the rules (None: a rule dropped it)
    item: Item | None = None  # the rendered item (None: the channel's checks failed)
    issues: list[Issue] = field(default_factory=list)


class RowProcessor:
    """parse -> (per feed) rules -> render, for one row: the work a worker can do."""

    def __init__(self, parser: RowParser, rules: list[CompiledRules],
                 renderers: list[ChannelRenderer], typed: list[bool] | None = None) -> None:
        """`typed`: per feed, whether its items are also wanted as typed values."""
        self.parser = parser
        self.channels = list(zip(rules, renderers, typed or [False] * len(renderers),
                                 strict=True))
        # Set for worker processes: per feed, per output, the writer's encoder when its
        # format is position-independent; an item then leaves as bytes, ready to write.
        self.encoders: list[list[Callable[[Item], bytes] | None]] | None = None
        # Set for worker processes when an observer stages items in the ledger: its
        # encoding of an item (feedsync.state.ledger.staged_form), done here, off the
        # process that writes.
        self.ledger_form: Callable[[Item], tuple[bytes, bytes]] | None = None
        # Set for worker processes: per feed, whether the process that writes has no use
        # for the item itself (see run_feeds); its outcome then leaves without it, carrying
        # its id instead, so the item is neither pickled nor unpickled.
        self.drop_items: list[bool] | None = None
        # Set for worker processes: per feed, per output, the separator its writer puts
        # between items joined into one write, or None where it must see each item
        # (`FeedWriter.joinable`): see join_batch.
        self.separators: list[list[bytes | None]] | None = None
        # False in every feed-group worker but the first (feedsync.parallel.FeedGroups): the
        # row's own issues (parsing, duplicates) are reported by that one only.
        self.row_issues = True

    def process_batch(self, rows: Iterable[tuple[SourceRow, int | None]]) -> list[RowOutcome]:
        """The outcomes of `rows`, in order, as a worker process sends them back: with
        `separators` set, each output's encoded items joined (join_batch)."""
        outcomes = [self(row, duplicate_of) for row, duplicate_of in rows]
        if self.separators is not None:
            self.join_batch(outcomes)
        return outcomes

    def build_batch(self, rows: Iterable[tuple[SourceRow, int | None]],
                    writers: list[list[FeedWriter]],
                    forms: list[Callable[[Item], tuple[bytes, bytes]] | None],
                    dropped: list[int],
                    recorder: Callable[[RowOutcome], None] | None) -> list[RowOutcome]:
        """A feed-group worker's batch (feedsync.parallel.FeedGroups): each row's outcome
        for this processor's feeds, each item written to its feed's `writers`, its ledger
        form computed where `forms` has one, `recorder` (the worker's ledger staging) fed,
        and the items of the feeds in `dropped` left out of what goes back."""
        outcomes = [self(row, duplicate_of) for row, duplicate_of in rows]
        for outcome in outcomes:
            if not outcome.valid:
                continue
            for feed_outcome, feed_writers, form in zip(outcome.feeds, writers, forms,
                                                        strict=True):
                if type(feed_outcome) is Written:
                    item = feed_outcome.item
                    assert item is not None
                    for writer in feed_writers:
                        writer.write(item)
                    if form is not None:
                        feed_outcome.ledger = form(item)
                    feed_outcome.item_id = item_id_of(item, outcome.product_id)
            if recorder is not None:
                recorder(outcome)
            for n in dropped:
                written = outcome.feeds[n]
                if type(written) is Written:
                    written.item = None
        return outcomes

    def join_batch(self, outcomes: list[RowOutcome]) -> None:
        """Move each joinable output's encoded items of a batch into the feed's first
        item of the batch, as one `(bytes, items)`: the process that writes then makes
        one write per output and batch, and unpickles one bytes object, not one per item.
        The file gets the same bytes: an output is written by its feed alone, in order."""
        assert self.separators is not None
        for feed, separators in enumerate(self.separators):
            joined = [n for n, separator in enumerate(separators) if separator is not None]
            if not joined:
                continue
            written = [outcome.feeds[feed] for outcome in outcomes if outcome.valid
                       and isinstance(outcome.feeds[feed], Written)]
            if not written:
                continue
            for output in joined:
                separator = separators[output]
                assert separator is not None
                parts: list[bytes] = []
                for item in written:
                    assert isinstance(item, Written) and item.encoded is not None
                    data = item.encoded[output]
                    assert type(data) is bytes
                    parts.append(data)
                    item.encoded[output] = None
                first = written[0]
                assert isinstance(first, Written) and first.encoded is not None
                first.encoded[output] = (separator.join(parts), len(parts))

    def __call__(self, source_row: SourceRow, duplicate_of: int | None,
                 trace: Trace | None = None) -> RowOutcome:
        """The row's outcome; with `trace` (one feed only), also every rule step's effect."""
        product, issues = self.parser.parse(source_row)
        if product is not None and duplicate_of is not None:
            issues.append(Issue(
                codes.DUPLICATE_ID, Severity.ERROR,
                f"id {product.id} is already used by row {duplicate_of}; this row is left out",
                row=source_row.row, product_id=product.id, field="id", value=product.id))
            product = None
        if not self.row_issues:
            issues = []
        if trace is not None:
            trace.product = product
        if product is None:
            return RowOutcome(source_row.row, None, issues, False, [])
        results: list[FeedOutcome] = []
        for channel_rules, renderer, typed in self.channels:
            channel_product: Product | None = product
            if channel_rules:
                channel_product, rule_issues = channel_rules.apply(
                    product, trace.steps if trace is not None else None)
                issues += rule_issues
                if channel_product is None:
                    results.append(FILTERED)
                    continue
            assert channel_product is not None
            if trace is not None:
                trace.result = channel_product
            item, channel_issues = renderer.render(channel_product)
            issues += channel_issues
            if item is None:
                results.append(EXCLUDED)
                continue
            if trace is not None:
                trace.item = item
            written = Written(item, typed=renderer.typed_item(channel_product, item)
                              if typed else None)
            if self.encoders is not None:  # in a worker process: see run_feeds
                feed = len(results)
                written.encoded = [encode(item) if encode else item
                                   for encode in self.encoders[feed]]
                if self.ledger_form is not None:
                    written.ledger = self.ledger_form(item)
                written.item_id = item_id_of(item, product.id)
                if self.drop_items is not None and self.drop_items[feed]:
                    written.item = None
            results.append(written)
        return RowOutcome(source_row.row, product.id, issues, True, results)


# -- the pipeline ----------------------------------------------------------------------------

class ProductNotFound(FeedsyncError):
    """The id asked about is not in the master (exit code 2, like other usage errors)."""


class Pipeline:
    """The selected feeds of a project, compiled once, and the stream of row outcomes."""

    def __init__(self, config: Config, channels: Iterable[str] | None = None, *,
                 feeds: list[PlannedChannel] | None = None,
                 typed_feeds: Iterable[str] = (), source: Source | None = None) -> None:
        """Plan `channels` (default: every enabled one), or take `feeds` already planned
        (push plans them with staged outputs). Feeds named in `typed_feeds` also yield
        their items as typed values (`Written.typed`), for API destinations. `source`:
        read these rows instead of the whole master (a sync of changed stock only)."""
        self.config = config
        self.feeds = feeds if feeds is not None else plan_channels(config, channels)
        self.source: Source = source if source is not None else open_source(config)
        self._reads_whole_master = source is None  # for sizing the run (jobs_for)
        self.parser = RowParser(config.source, self.source.columns, self.source.name)
        self.contexts = [f.variant.context(f.config.feed) if f.variant else None
                         for f in self.feeds]
        self.renderers = [make_renderer(f, context)
                          for f, context in zip(self.feeds, self.contexts, strict=True)]
        self.rules = prepare_rules(config, self.feeds, self.source, self.parser)
        typed = set(typed_feeds)
        self.processor = RowProcessor(self.parser, self.rules, self.renderers,
                                      [f.name in typed for f in self.feeds])

    def jobs_for(self, jobs: int) -> int:
        """The worker processes to use for `jobs` (0: chosen from the work, see
        feedsync.parallel.choose_jobs)."""
        from feedsync.parallel import AUTO, choose_jobs

        if jobs != AUTO:
            return jobs
        from feedsync.sources.estimate import estimate_rows

        rows = estimate_rows(self.config) if self._reads_whole_master else None
        return choose_jobs(jobs, len(self.feeds), rows)

    def ids_unique_by_source(self) -> bool:
        """Whether the master itself guarantees unique product ids: the id is a column
        (no template) that the database keeps unique (an integer primary key)."""
        id_columns = self.parser.mapping.get("id") or []
        if "id" in self.parser.templates or len(id_columns) != 1:
            return False
        unique = getattr(self.source, "unique_integer_columns", None)
        return callable(unique) and id_columns[0] in unique()

    def numbered_rows(self) -> Iterator[tuple[SourceRow, int | None]]:
        """Each master row with the row that already used its id, if one did (none can
        when the source guarantees unique ids: then no ids are remembered at all)."""
        if self.ids_unique_by_source():
            for source_row in self.source.rows():
                yield source_row, None
            return
        raw_id = self.parser.raw_id
        with SeenIds() as seen:  # a few bytes per product, not a dict of the ids
            first_row = seen.first_row
            for source_row in self.source.rows():
                product_id = raw_id(source_row.data)
                row = source_row.row
                first = first_row(product_id, row) if product_id else row
                yield source_row, (first if first != row else None)

    def outcomes(self, jobs: int = 1) -> Iterator[RowOutcome]:
        """Every row's outcome, in master order; `jobs` > 1 computes them in that many
        forked worker processes (same outcomes, see feedsync.parallel)."""
        if jobs > 1:
            from feedsync.parallel import process_in_workers

            return process_in_workers(self.processor, self.rules, self.numbered_rows(), jobs)
        process = self.processor
        return (process(row, duplicate_of) for row, duplicate_of in self.numbered_rows())

    def trace(self, product_id: str) -> tuple[SourceRow, Trace]:
        """Run the first feed's processor on the row whose id (as the parser computes it,
        column templates included) is `product_id`, recording every rule step."""
        wanted = product_id.strip()
        raw_id = self.parser.raw_id
        with SeenIds() as seen:
            for source_row in self.source.rows():
                row_id = raw_id(source_row.data)
                if row_id is None:
                    continue
                first = seen.first_row(row_id, source_row.row)
                if row_id != wanted:
                    continue
                trace = Trace()
                outcome = self.processor(source_row,
                                         first if first != source_row.row else None, trace)
                trace.issues = outcome.issues
                return source_row, trace
        id_column = self.parser.mapping.get("id") or []
        column = (f" (column {id_column[0]})" if id_column and "id" not in self.parser.templates
                  else "")
        raise ProductNotFound(f"no product with id {wanted!r} in {self.source.name}{column}")


def prepare_rules(config: Config, planned: list[PlannedChannel], source: Source,
                  parser: RowParser) -> list[CompiledRules]:
    """Each planned feed's compiled rules; a first pass over the master when a step
    (variants) needs to see every product before the first is transformed."""
    compiled = compile_channels(config, [(p.name, p.spec) for p in planned], source.columns,
                                entries={p.name: p.entry for p in planned if p.entry})
    rules = [compiled[p.name] for p in planned]
    observers = [r for r in rules if r.needs_prepass]
    if observers:
        for source_row in source.rows():
            product, _ = parser.parse(source_row)
            if product is not None:
                for channel_rules in observers:
                    channel_rules.observe(product)
        for channel_rules in observers:
            channel_rules.reset_counts()
    return rules


# -- running the stream into writers and a report ------------------------------------------

def run_feeds(pipeline: Pipeline, *, write: bool, progress: Progress | None = None,
              sink: IssueSink | None = None, max_issues: int | None = None,
              jobs: int = 1, observers: Iterable[Callable[[RowOutcome], None]] = (),
              spools: Mapping[str, ItemSpool] | None = None,
              hold: Callable[[RunReport], Mapping[str, str]] | None = None) -> RunReport:
    """Consume the pipeline's outcomes: count and report them, and (with `write`) write
    every feed's outputs atomically. `observers` see each outcome (a ledger, a preview);
    `spools` (feed name -> spool) receive the typed items of feeds built `typed`; `hold`,
    called once every row is read, names the feeds (with the reason) whose new outputs
    must not replace the old ones (a guard tripped)."""
    started = time.perf_counter()
    config, planned = pipeline.config, pipeline.feeds
    jobs = pipeline.jobs_for(jobs)
    report = RunReport(source=describe_source(config), sink=sink, version=__version__)
    if max_issues is not None:
        report.max_issues = max_issues
    report.overrides, report.channel_overrides = issue_overrides(config, planned)
    writers: list[list[FeedWriter]] = []
    for p in planned:
        report.channels[p.name] = ChannelReport(p.name, p.spec.name)
    watchers = list(observers)

    def open_feed_writers(index: int) -> list[FeedWriter]:
        """The writers of one feed's outputs; none left open if one cannot be opened."""
        feed = planned[index]
        opened: list[FeedWriter] = []
        try:
            for o in feed.outputs:
                opened.append(open_writer(o.path, feed.spec, feed.spec.formats[o.format],
                                          feed.config.feed, context=pipeline.contexts[index],
                                          template_dirs=[config.base_dir / "templates"],
                                          formula_guard=feed.config.csv_formula_guard))
        except BaseException:
            for writer in opened:
                writer.abort()
            raise
        return opened

    # With many feeds and --jobs N, each worker builds some of the feeds, writing their
    # files itself (feedsync.parallel.FeedGroups); with few, the workers share the rows.
    groups = None
    if write and jobs > 1:
        from feedsync.parallel import available, feed_weight, split_feeds

        if available():
            groups = split_feeds([feed_weight(len(p.outputs)) for p in planned], jobs)
    feed_groups: FeedGroups | None = None
    try:
        if write and groups is None:
            for index in range(len(planned)):
                writers.append(open_feed_writers(index))
        else:  # validate opens no writers; feed groups open theirs in their workers
            writers = [[] for _ in planned]
        channel_reports = [report.channels[p.name] for p in planned]
        feed_spools = [(spools or {}).get(p.name) for p in planned]
        # An observer that stages items in the ledger (plan.LedgerRecorder) names how it
        # encodes them: with workers, they do that too, and this process only stores it.
        pipeline.processor.ledger_form = next(
            (form for watch in watchers if (form := getattr(watch, "ledger_form", None))),
            None) if jobs > 1 else None
        # Set afresh for every run: a pipeline run again with one job must keep its items.
        pipeline.processor.encoders = pipeline.processor.drop_items = None
        pipeline.processor.separators = None
        if groups is not None:
            from feedsync.parallel import FeedGroups

            # The ledger observer (plan.LedgerRecorder) leaves the staging of each group's
            # feeds to its worker where it can: then no item crosses for it.
            recorder = next((watch for watch in watchers
                             if getattr(watch, "worker_part", None)), None)
            feed_groups = FeedGroups(pipeline.processor, pipeline.rules, groups,
                                     open_feed_writers, items_unused(planned, writers, watchers),
                                     recorder)
            outcomes = feed_groups.outcomes(pipeline.numbered_rows())
        else:
            if jobs > 1:
                pipeline.processor.encoders = [
                    [w.encode if w.position_independent else None for w in channel_writers]
                    for channel_writers in writers]
                pipeline.processor.drop_items = items_unused(planned, writers, watchers)
                pipeline.processor.separators = [
                    [w.item_separator if w.position_independent and w.joinable else None
                     for w in channel_writers] for channel_writers in writers]
                for channel_writers in writers:
                    for writer in channel_writers:
                        writer.flush_buffer()
            outcomes = pipeline.outcomes(jobs)
        for outcome in outcomes:
            report.rows += 1
            if outcome.issues:
                report.add(outcome.issues)
            if not outcome.valid:
                report.invalid += 1
                report.count_invalid(outcome.issues)
                report.left_out(EVERY_CHANNEL, outcome.issues)
            else:
                report.products += 1
                for feed_outcome, channel_writers, channel_report, spool in zip(
                        outcome.feeds, writers, channel_reports, feed_spools, strict=True):
                    if feed_outcome is FILTERED:
                        channel_report.filtered += 1
                    elif feed_outcome is EXCLUDED:
                        channel_report.excluded += 1
                        channel_report.count_left_out(outcome.issues)
                        report.left_out(channel_report.name, outcome.issues)
                    else:
                        assert isinstance(feed_outcome, Written)
                        channel_report.items += 1
                        _write(feed_outcome, channel_writers)
                        if spool is not None and feed_outcome.typed is not None:
                            spool.write(feed_outcome.typed)
            for watch in watchers:
                watch(outcome)
            if progress is not None and report.rows % 1000 == 0:
                progress(report.rows)
        if feed_groups is not None:
            feed_groups.end()
        if report.rows == 0:
            report.add([Issue(codes.EMPTY_SOURCE, Severity.WARNING,
                              f"{pipeline.source.name} has a header but no products")])
        held = dict(hold(report)) if hold is not None else {}
        committed = (feed_groups.commit({n for n, p in enumerate(planned) if p.name in held})
                     if feed_groups is not None else None)
        for index, (p, channel_writers) in enumerate(zip(planned, writers, strict=True)):
            if p.name in held:
                report.channels[p.name].held = held[p.name]
                for writer in channel_writers:
                    writer.abort()
                for output in p.outputs:
                    report.channels[p.name].outputs.append(OutputReport(
                        f"{output.path} (not replaced: guard tripped)", output.format, 0))
                continue
            if committed is not None:
                results = committed[index]
                assert results is not None
            else:
                # validate opens no writers: then there is nothing to commit. A channel's
                # outputs are replaced as one set (feedsync.writers.commit).
                commit_writers(channel_writers)  # type: ignore[arg-type]
                results = [WrittenOutput.of(writer) for writer in channel_writers]
            for output, result in zip(p.outputs, results, strict=bool(write)):
                if result.items == 0:
                    report.add([_empty_feed(p, output.path, result.skipped_empty)])
                report.channels[p.name].outputs.append(OutputReport(
                    result.first_path or str(output.path), output.format, result.items,
                    result.parts))
        for p, channel_rules in zip(planned, pipeline.rules, strict=True):
            report.channels[p.name].rules = channel_rules.counts()
        writers = []
    finally:
        for channel_writers in writers:
            for writer in channel_writers:
                writer.abort()
        if feed_groups is not None:
            feed_groups.close()
    if progress is not None:
        progress(report.rows)
    report.duration = time.perf_counter() - started
    return report


def issue_overrides(config: Config, planned: list[PlannedChannel]
                    ) -> tuple[dict[str, IssueAction], dict[str, dict[str, IssueAction]]]:
    """The config's `issues:` sections as report overrides: for every feed, then per feed
    name (a channel entry's section applies to each of its markets)."""
    def actions(section: Mapping[str, str]) -> dict[str, IssueAction]:
        return {code: None if setting == IGNORE else Severity(setting)
                for code, setting in section.items()}

    per_feed = {p.name: {**actions(config.issues), **actions(p.config.issues)}
                for p in planned if p.config.issues}
    return actions(config.issues), per_feed


def items_unused(planned: list[PlannedChannel], writers: list[list[FeedWriter]],
                 observers: Iterable[Callable[[RowOutcome], None]]) -> list[bool]:
    """Per feed, whether the process that writes a run can do without its items when
    worker processes encode them (decided before they start): every output's bytes come
    encoded, and no observer reads the item (`reads_items`). The ledger observer reads
    only the item's id and its ledger form, which the workers compute for the first
    observer that names one (run_feeds); a second one would stage from the item. Typed
    items (API spools) travel on their own, in `Written.typed`."""
    watchers = list(observers)
    staging = sum(1 for watch in watchers if getattr(watch, "ledger_form", None))
    return [staging <= 1 and all(writer.position_independent for writer in channel_writers)
            and not any(reads_items(watch, p.name) for watch in watchers)
            for p, channel_writers in zip(planned, writers, strict=True)]


def _write(outcome: Written, writers: list[FeedWriter]) -> None:
    if outcome.encoded is None:
        for writer in writers:
            writer.write(outcome.item)  # type: ignore[arg-type]
        return
    for writer, data in zip(writers, outcome.encoded, strict=True):  # encoded by a worker
        if type(data) is bytes:
            writer.write_encoded(data)
        elif type(data) is tuple:  # the batch's items of this output, joined
            writer.write_encoded(*data)
        elif data is not None:  # None: written with the batch's first item
            writer.write(data)  # type: ignore[arg-type]


def _empty_feed(planned: PlannedChannel, path: Path, skipped: bool) -> Issue:
    """An output no product could go to: say so, and whether the file was written."""
    if skipped:
        message = (f"no product could go to {planned.name}: {path.name} was not written "
                   f"({planned.spec.title} rejects an empty document)")
    else:
        message = (f"no product could go to {planned.name}: {path.name} is empty, and "
                   "publishing it would delist every product")
    return Issue(codes.EMPTY_FEED, Severity.WARNING, message, channel=planned.name)
