"""run_validate / run_build: the whole flow, usable from Python as well as from the CLI.

source -> parse (canonical validation) -> per channel: render + channel checks -> write.
The master is read once; every channel's writers are open at the same time; memory does
not grow with the catalog, except for the set of ids seen (to catch duplicates).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feedsync.channels.loader import load_spec
from feedsync.channels.markets import ChannelVariant, expand_channel
from feedsync.channels.render import ChannelRenderer, Item
from feedsync.channels.spec import ChannelSpec
from feedsync.checks.issue import Issue, Severity
from feedsync.config import ChannelConfig, Config
from feedsync.errors import ConfigError
from feedsync.products.parse import RowParser
from feedsync.products.product import Product
from feedsync.report import ChannelReport, OutputReport, RunReport
from feedsync.rules.compile import CompiledRules, compile_channels
from feedsync.sources import describe_source, open_source
from feedsync.sources.base import Source, SourceRow
from feedsync.writers import FeedWriter, open_writer

Progress = Callable[[int], None]

_EXTENSION_FORMATS = {".xml": "xml", ".tsv": "tsv", ".txt": "tsv", ".csv": "csv",
                      ".json": "json", ".jsonl": "jsonl"}


@dataclass
class PlannedOutput:
    path: Path
    format: str


@dataclass
class PlannedChannel:
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
            problems.append(f"channels.{name}.spec: {exc}")
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
        raise ConfigError(f"unknown channel(s) {', '.join(missing)}; the config has "
                          + ", ".join(p.name for p in plan_channels(config)))
    if problems:
        raise ConfigError(f"{config.file.name}: {len(problems)} problem(s) with channels:",
                          problems)
    return planned


def selected_entries(config: Config, wanted: Iterable[str]) -> set[str]:
    """The config entries behind channel names given by a user: an entry (`google`) or
    one market of it (`google.MX`)."""
    entries = {n if n in config.channels else n.split(".", 1)[0] for n in wanted}
    unknown = sorted(n for n in wanted if (n if n in config.channels else n.split(".", 1)[0])
                     not in config.channels)
    if unknown:
        raise ConfigError(f"unknown channel(s) {', '.join(unknown)}; the config has "
                          + (", ".join(config.channels) or "none"))
    return entries


def make_renderer(planned: PlannedChannel, context: dict | None = None) -> ChannelRenderer:
    """The renderer for one planned feed, with its market's context and localisation."""
    variant = planned.variant
    if context is None and variant is not None:
        context = variant.context(planned.config.feed)
    return ChannelRenderer(planned.spec, planned.name, context=context,
                           localize=variant.localize if variant else None)


def select_planned(config: Config, channel: str) -> PlannedChannel:
    """One feed by name: a channel entry, or one market of it (`google.MX`)."""
    planned = plan_channels(config, [channel])
    if len(planned) != 1:
        raise ConfigError(f"channel {channel!r} has one feed per market; name one of: "
                          + ", ".join(p.name for p in planned))
    return planned[0]


def _guess_format(path: Path, spec: ChannelSpec) -> str:
    suffix = path.suffix if path.suffix != ".gz" else Path(path.stem).suffix
    for name, fmt in spec.formats.items():
        if fmt.extension == suffix:
            return name
    return _EXTENSION_FORMATS.get(suffix, suffix.lstrip(".") or "?")


def run_validate(config: Config, channels: Iterable[str] | None = None, *,
                 progress: Progress | None = None,
                 sink: Callable[[Issue], None] | None = None,
                 max_issues: int | None = None, jobs: int = 1) -> RunReport:
    """Read and check everything; write nothing. `jobs` > 1 parses and renders in that
    many worker processes (same results, see feedsync.parallel)."""
    return _run(config, channels, write=False, progress=progress, sink=sink,
                max_issues=max_issues, jobs=jobs)


def run_build(config: Config, channels: Iterable[str] | None = None, *,
              progress: Progress | None = None,
              sink: Callable[[Issue], None] | None = None,
              max_issues: int | None = None, jobs: int = 1) -> RunReport:
    """Read, check and write every selected channel's feeds, atomically."""
    return _run(config, channels, write=True, progress=progress, sink=sink,
                max_issues=max_issues, jobs=jobs)


WRITTEN, EXCLUDED, FILTERED = "written", "excluded", "filtered"


@dataclass
class RowOutcome:
    """What one master row became: its issues, and per channel an item or why not."""

    issues: list[Issue]
    valid: bool
    # (WRITTEN, item, or per output its bytes or item) | (EXCLUDED | FILTERED, None)
    channels: list[tuple[str, Any]]


class RowProcessor:
    """parse -> (per channel) rules -> render, for one row: the work a worker can do."""

    def __init__(self, parser: RowParser, rules: list[CompiledRules],
                 renderers: list[ChannelRenderer]) -> None:
        self.parser = parser
        self.channels = list(zip(rules, renderers, strict=True))
        # Set for worker processes: per channel, per output, the writer's encoder when
        # its format is position-independent; an item then leaves as bytes, ready to write.
        self.encoders: list[list[Callable[[Item], bytes] | None]] | None = None

    def __call__(self, source_row: SourceRow, duplicate_of: int | None) -> RowOutcome:
        product, issues = self.parser.parse(source_row)
        if product is not None and duplicate_of is not None:
            issues.append(Issue(
                "duplicate-id", Severity.ERROR,
                f"id {product.id} is already used by row {duplicate_of}; this row is left out",
                row=source_row.row, product_id=product.id, field="id", value=product.id))
            product = None
        if product is None:
            return RowOutcome(issues, False, [])
        results: list[tuple[str, Any]] = []
        for channel_rules, renderer in self.channels:
            channel_product: Product | None = product
            if channel_rules:
                channel_product, rule_issues = channel_rules.apply(product)
                issues += rule_issues
                if channel_product is None:
                    results.append((FILTERED, None))
                    continue
            item, channel_issues = renderer.render(channel_product)
            issues += channel_issues
            results.append((EXCLUDED, None) if item is None else (WRITTEN, item))
        if self.encoders is not None:
            results = [(status, [encode(item) if encode else item for encode in encoders])
                       if status == WRITTEN else (status, item)
                       for (status, item), encoders in zip(results, self.encoders,
                                                           strict=True)]
        return RowOutcome(issues, True, results)


def _run(config: Config, channel_names: Iterable[str] | None, *, write: bool,
         progress: Progress | None, sink: Callable[[Issue], None] | None,
         max_issues: int | None, jobs: int = 1) -> RunReport:
    planned = plan_channels(config, channel_names)
    source = open_source(config)
    parser = RowParser(config.source, source.columns, source.name)
    report = RunReport(source=describe_source(config), sink=sink)
    if max_issues is not None:
        report.max_issues = max_issues
    contexts = [p.variant.context(p.config.feed) if p.variant else None for p in planned]
    renderers = [make_renderer(p, context) for p, context in zip(planned, contexts, strict=True)]
    rules = prepare_rules(config, planned, source, parser)
    process = RowProcessor(parser, rules, renderers)
    writers: list[list[FeedWriter]] = []
    for p in planned:
        report.channels[p.name] = ChannelReport(p.name, p.spec.name)
    try:
        if write:
            for p, context in zip(planned, contexts, strict=True):
                writers.append([open_writer(o.path, p.spec, p.spec.formats[o.format],
                                            p.config.feed, context=context,
                                            template_dirs=[config.base_dir / "templates"])
                                for o in p.outputs])
        else:
            writers = [[] for _ in planned]
        channel_reports = [report.channels[p.name] for p in planned]
        first_rows: dict[str, int] = {}

        def numbered_rows() -> Iterator[tuple[SourceRow, int | None]]:
            """Each row with the row that already used its id, if one did."""
            for source_row in source.rows():
                product_id = parser.raw_id(source_row.data)
                first = (first_rows.setdefault(product_id, source_row.row)
                         if product_id else source_row.row)
                yield source_row, (first if first != source_row.row else None)

        if jobs > 1:
            from feedsync.parallel import process_in_workers

            process.encoders = [[w.encode if w.position_independent else None
                                 for w in channel_writers] for channel_writers in writers]
            for channel_writers in writers:
                for writer in channel_writers:
                    writer.flush_buffer()
            outcomes = process_in_workers(process, rules, numbered_rows(), jobs)
        else:
            outcomes = (process(row, duplicate_of) for row, duplicate_of in numbered_rows())
        for outcome in outcomes:
            report.rows += 1
            if outcome.issues:
                report.add(outcome.issues)
            if not outcome.valid:
                report.invalid += 1
            else:
                report.products += 1
                for (status, item), channel_writers, channel_report in zip(
                        outcome.channels, writers, channel_reports, strict=True):
                    if status == FILTERED:
                        channel_report.filtered += 1
                    elif status == EXCLUDED:
                        channel_report.excluded += 1
                    else:
                        channel_report.items += 1
                        if type(item) is dict:
                            for writer in channel_writers:
                                writer.write(item)
                        else:  # encoded by a worker, output by output
                            for writer, data in zip(channel_writers, item, strict=True):
                                if type(data) is bytes:
                                    writer.write_encoded(data)
                                else:
                                    writer.write(data)
            if progress is not None and report.rows % 1000 == 0:
                progress(report.rows)
        if report.rows == 0:
            report.add([Issue("empty-source", Severity.WARNING,
                              f"{source.name} has a header but no products")])
        for p, channel_writers in zip(planned, writers, strict=True):
            # validate opens no writers: then there is nothing to commit
            for output, writer in zip(p.outputs, channel_writers, strict=bool(write)):
                writer.commit()
                report.channels[p.name].outputs.append(
                    OutputReport(str(getattr(writer, "first_path", output.path)),
                                 output.format, writer.count, getattr(writer, "parts", 1)))
        for p, channel_rules in zip(planned, rules, strict=True):
            report.channels[p.name].rules = channel_rules.counts()
        writers = []
    finally:
        for channel_writers in writers:
            for writer in channel_writers:
                writer.abort()
    if progress is not None:
        progress(report.rows)
    return report


def prepare_rules(config: Config, planned: list[PlannedChannel], source: Source,
                  parser: RowParser) -> list[CompiledRules]:
    """Each planned channel's compiled rules; a first pass over the master when a step
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
