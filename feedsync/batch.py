"""Beyond one machine: render a batch of master rows anywhere, then write the file once.

`feedsync build` reads the master in one process (its `--jobs` workers are forked on the
same machine). A master partitioned over many machines can instead be rendered by an
engine that already schedules work over partitions (Dask, Spark): feedsync only supplies
the pure function from a batch of master rows to encoded items, and a helper that puts the
parts back into one file. No scheduler of feedsync's own.

    renderer = BatchRenderer("shop/feedsync.yaml", channels=["google"])
    batches = [renderer.render(renderer.read_rows(part)) for part in parts]  # anywhere
    renderer.write_output("feeds/google.xml", batches)  # once, in part order

A `BatchRenderer` pickles as its config path and channel names only; each process that
unpickles it compiles the project (config, specs, rules, the master's header) once, on
first use, and keeps it for the other batches it gets (`_compiled`). `render` writes no
file, takes no run lock and records nothing in the ledger. See `BatchRenderer` for what
this cannot check.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from feedsync.checks.issue import Issue, Severity
from feedsync.config import DEFAULT_CONFIG_NAME, Config, load_config
from feedsync.errors import ConfigError
from feedsync.pipeline import (
    EXCLUDED,
    FILTERED,
    Pipeline,
    PlannedChannel,
    Written,
    issue_overrides,
)
from feedsync.report import IssueAction
from feedsync.sources import open_plain_source, open_source
from feedsync.sources.base import SourceRow
from feedsync.writers import FeedWriter, item_encoder, open_writer

__all__ = ["BatchRenderer", "MasterRow", "RenderedBatch"]

# One row of a batch: a SourceRow (`read_rows` gives them, with the reader's own issues),
# or (row number, {column: cell text}) for rows read some other way.
MasterRow = SourceRow | tuple[int, Mapping[str, str | None]]

# Compiled projects kept per process (a config path x channel selection each).
_KEPT = 4


@dataclass
class RenderedBatch:
    """What one batch of master rows became. Plain data: it pickles to any process.

    `outputs`: per output (named as `BatchRenderer.outputs` names it), the encoded bytes
    of the batch's items in row order, with no header or footer; `items`: how many items
    those bytes hold. `excluded` / `filtered`: per feed, the products its checks or its
    rules left out. `issues`: every issue of the batch's rows as plain dicts (code,
    severity, message, row, product_id, field, value, channel, column), after the config's
    `issues:` overrides, as a build's report lists them."""

    rows: int = 0
    invalid: int = 0
    outputs: dict[str, bytes] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)
    filtered: dict[str, int] = field(default_factory=dict)
    issues: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Output:
    key: str
    feed: int  # index into the pipeline's feeds
    planned: PlannedChannel
    path: Path
    format: str
    encoder: FeedWriter


class _Compiled:
    """One process's compiled project: the pipeline, each output's encoder, the overrides."""

    def __init__(self, config_file: Path, channels: list[str] | None) -> None:
        self.config = load_config(config_file)
        self.pipeline = Pipeline(self.config, channels)
        self.outputs: list[_Output] = []
        problems: list[str] = []
        template_dirs = [self.config.base_dir / "templates"]
        for index, (planned, context) in enumerate(zip(self.pipeline.feeds,
                                                       self.pipeline.contexts, strict=True)):
            for output in planned.outputs:
                key = _output_key(self.config, output.path)
                fmt = planned.spec.formats[output.format]
                if fmt.max_items_per_file:
                    problems.append(f"{key} ({planned.name}): it is split into files of "
                                    f"{fmt.max_items_per_file} items, numbered in order")
                    continue
                encoder = item_encoder(output.path, planned.spec, fmt, planned.config.feed,
                                       context=context, template_dirs=template_dirs,
                                       formula_guard=planned.config.csv_formula_guard)
                if not (encoder.position_independent and encoder.joinable):
                    problems.append(f"{key} ({planned.name}): its {output.format} items are "
                                    "not encoded one by one (they share a document)")
                    continue
                self.outputs.append(_Output(key, index, planned, output.path, output.format,
                                            encoder))
        if problems:
            raise ConfigError(
                f"{len(problems)} output(s) cannot be rendered in separate batches (build "
                "them with `feedsync build`, or choose other channels):", problems)
        # Per feed, the positions of its outputs in `outputs`.
        self.by_feed = [[n for n, o in enumerate(self.outputs) if o.feed == index]
                        for index in range(len(self.pipeline.feeds))]
        self._part_settings: dict[str, Any] | None = None
        self.overrides, self.channel_overrides = issue_overrides(self.config,
                                                                 self.pipeline.feeds)
        # The compiled steps keep counts and the parser a scratch list: one batch at a time
        # per process (a threads scheduler's threads take turns here).
        self.lock = threading.Lock()

    def render(self, rows: Iterable[MasterRow]) -> RenderedBatch:
        """The batch's outcome; duplicate ids are caught within the batch only."""
        pipeline = self.pipeline
        process = pipeline.processor
        raw_id = pipeline.parser.raw_id
        names = [f.name for f in pipeline.feeds]
        chunks: list[list[bytes]] = [[] for _ in self.outputs]
        by_feed = [[(n, self.outputs[n].encoder.encode) for n in positions]
                   for positions in self.by_feed]
        batch = RenderedBatch(excluded=dict.fromkeys(names, 0),
                              filtered=dict.fromkeys(names, 0))
        first_row: dict[str, int] = {}
        issues: list[Issue] = []
        for master_row in rows:
            source_row = (master_row if isinstance(master_row, SourceRow)
                          else SourceRow(master_row[0], dict(master_row[1])))
            batch.rows += 1
            product_id = raw_id(source_row.data)
            first = first_row.setdefault(product_id, source_row.row) if product_id else None
            outcome = process(source_row, first if first != source_row.row else None)
            issues += outcome.issues
            if not outcome.valid:
                batch.invalid += 1
                continue
            for name, feed_outcome, encoders in zip(names, outcome.feeds, by_feed,
                                                    strict=True):
                if feed_outcome is FILTERED:
                    batch.filtered[name] += 1
                elif feed_outcome is EXCLUDED:
                    batch.excluded[name] += 1
                else:
                    # In this process, with no encoders set: the item is always there.
                    assert isinstance(feed_outcome, Written) and feed_outcome.item is not None
                    for position, encode in encoders:
                        chunks[position].append(encode(feed_outcome.item))
        for output, parts in zip(self.outputs, chunks, strict=True):
            batch.outputs[output.key] = output.encoder.item_separator.join(parts)
            batch.items[output.key] = len(parts)
        batch.issues = [i.to_dict() for i in self._overridden(issues)]
        return batch

    def part_config(self, path: Path) -> Config:
        """The config reading `path`, a part of the master, as it reads the master."""
        src = self.config.source
        if not src.path:
            raise ConfigError("read_rows reads a part file of a file master; this project "
                              "reads a database: give `render` the rows as pairs "
                              "(row number, {column: cell text})")
        if self._part_settings is None:
            # Detected on the whole master, not on a part (a small part may sniff apart).
            master = open_plain_source(src, self.config.base_dir)
            self._part_settings = {
                setting: detected for setting in ("encoding", "delimiter")
                if getattr(src, setting) is None
                and isinstance(detected := getattr(master, setting, None), str)}
        pinned = {**self._part_settings, "path": str(path)}
        return self.config.model_copy(update={"source": src.model_copy(update=pinned)})

    def _overridden(self, issues: list[Issue]) -> list[Issue]:
        """The issues as the report keeps them: the config's `issues:` settings applied."""
        if not (self.overrides or self.channel_overrides):
            return issues
        kept = []
        for issue in issues:
            if issue.severity is not Severity.ERROR:  # errors are never overridden
                per_channel = self.channel_overrides.get(issue.channel or "", {})
                action: IssueAction = (per_channel[issue.code] if issue.code in per_channel
                                       else self.overrides.get(issue.code, issue.severity))
                if action is None:
                    continue
                if action is not issue.severity:
                    issue = replace(issue, severity=action)
            kept.append(issue)
        return kept


_Key = tuple[str, tuple[str, ...] | None, int]
_compiled_projects: OrderedDict[_Key, _Compiled] = OrderedDict()
_compiled_lock = threading.Lock()


def _compiled(config_file: Path, channels: list[str] | None) -> _Compiled:
    """This process's compiled project for the config and channels (compiled once, again
    when the config file changes)."""
    try:
        changed = os.stat(config_file).st_mtime_ns
    except OSError:
        changed = 0  # load_config says what is wrong with it
    key = (str(config_file), tuple(channels) if channels is not None else None, changed)
    with _compiled_lock:
        compiled = _compiled_projects.get(key)
        if compiled is None:
            compiled = _compiled_projects[key] = _Compiled(config_file, channels)
            while len(_compiled_projects) > _KEPT:
                _compiled_projects.popitem(last=False)
        else:
            _compiled_projects.move_to_end(key)
        return compiled


def _output_key(config: Config, path: Path) -> str:
    """An output as `BatchRenderer.outputs` names it: its path from the config's folder."""
    try:
        return path.relative_to(config.base_dir).as_posix()
    except ValueError:
        return str(path)


class BatchRenderer:
    """Master rows -> encoded feed items, per output: a pure, picklable function for engines
    that map work over a partitioned master (Dask's `map_partitions`, Spark's
    `mapPartitions`).

    `config`: the project's feedsync.yaml (or its folder); `channels`: the feeds to render,
    as `feedsync build --channel` names them (default: every enabled one). The project is
    compiled at once, so a config problem is raised here, in the driver; an unpickled copy
    compiles it again on first use, once per process. Every process must see the project's
    files: the config, its tables and specs, and the master (only its header is read, unless
    a rule such as `variants` needs every product first: then each process reads the whole
    master once, as a build does).

    Only outputs whose items encode the same wherever they are in the file can be rendered
    in batches (XML items, CSV and TSV rows, JSON Lines, a JSON array such as Klaviyo's,
    whose items a batch joins with the array's commas); a split output (numbered part
    files), one whose items are numbered by position (Amazon's messageId) or grouped into
    documents (eBay's lines of 25 requests) is refused with a ConfigError naming it.

    What a batch cannot know, the caller must arrange:

    - duplicate ids are caught within a batch only, not across batches: partition the
      master by product id (every row of one id in one batch), or be sure ids are unique;
    - each output's header and footer (the RSS root and channel, the CSV header row) are
      not in the batches' bytes: `write_output` writes them once around the parts, in
      order. With contiguous partitions in master order and no duplicate ids across them,
      the file is byte for byte the one `feedsync build` writes;
    - run-wide checks and records are not made: no empty-master warning, no guard, no
      ledger entry, no run lock, no rule counts.
    """

    def __init__(self, config: Path | str, channels: Iterable[str] | None = None) -> None:
        """Compile the project now, so its problems are raised where it is built."""
        path = Path(config).expanduser().resolve()
        self.config_file = path / DEFAULT_CONFIG_NAME if path.is_dir() else path
        self.channels = list(channels) if channels is not None else None
        self._project: _Compiled | None = _compiled(self.config_file, self.channels)

    def __getstate__(self) -> dict[str, Any]:
        """Only the config path and channel names travel: compiled code and open sources
        do not pickle, and each process compiles its own."""
        return {"config_file": str(self.config_file), "channels": self.channels}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuilt lazily: the project is compiled on first use in this process."""
        self.config_file = Path(state["config_file"])
        self.channels = state["channels"]
        self._project = None

    def _compiled(self) -> _Compiled:
        if self._project is None:
            self._project = _compiled(self.config_file, self.channels)
        return self._project

    @property
    def feeds(self) -> list[str]:
        """The feeds rendered (channel x market), in plan order."""
        return [f.name for f in self._compiled().pipeline.feeds]

    @property
    def outputs(self) -> list[str]:
        """The outputs rendered, by their path from the config's folder as the config
        resolves it (`feeds/google_ES.xml`): the keys of `RenderedBatch.outputs`."""
        return [o.key for o in self._compiled().outputs]

    def render(self, rows: Iterable[MasterRow]) -> RenderedBatch:
        """Parse, apply each feed's rules and render, for every row of the batch, in order:
        the encoded items per output, the counts and the issues. Writes nothing.

        A row is a SourceRow (`read_rows`) or a pair (row number, {column: cell text}),
        its columns named as the master's header names them, after the source's preset,
        joins and translation (which `read_rows` applies)."""
        project = self._compiled()
        with project.lock:
            return project.render(rows)

    def __call__(self, partition: Iterable[MasterRow]) -> list[RenderedBatch]:
        """One partition's batch, as a one-element list: the renderer itself is the
        function to give `dask.bag.Bag.map_partitions` or Spark's `mapPartitions`."""
        return [self.render(partition)]

    def read_rows(self, path: Path | str, offset: int = 0) -> list[SourceRow]:
        """The rows of one part of the master (a file with the master's header, in its
        format), read as a build reads the master: the same reader, with the master's
        encoding and delimiter, then the preset, joins and translation. Row numbers count
        in the part (header = row 1), plus `offset`: give the rows before this part so
        issues name the master's rows."""
        project = self._compiled()
        part = project.part_config(Path(path).expanduser().resolve())
        rows = []
        for source_row in open_source(part).rows():
            if offset:
                source_row = SourceRow(source_row.row + offset, source_row.data,
                                       [replace(i, row=i.row + offset) if i.row is not None
                                        else i for i in source_row.issues])
            rows.append(source_row)
        return rows

    def write_output(self, output: str, parts: Iterable[RenderedBatch | bytes],
                     path: Path | str | None = None) -> Path | None:
        """Write one complete output from its parts, in order: the writer's own beginning
        (RSS root, CSV header), each part's bytes, its end; atomically, like a build.

        `output`: a name from `outputs`; `parts`: the batches (or just their bytes for
        this output, e.g. read back from part files); `path`: where to write (default: the
        file `feedsync build` writes). Returns the path written, or None when the feed
        has no item and its spec says an empty feed is not written. Bytes parts count as
        holding items when they are not empty (only that decides an empty feed)."""
        project = self._compiled()
        chosen = next((o for o in project.outputs if o.key == output), None)
        if chosen is None:
            raise ConfigError(f"no output {output!r} is rendered here; the outputs are "
                              + ", ".join(o.key for o in project.outputs))
        planned = chosen.planned
        target = project.config.resolve(path) if path is not None else chosen.path
        writer = open_writer(target, planned.spec, planned.spec.formats[chosen.format],
                             planned.config.feed,
                             context=project.pipeline.contexts[chosen.feed],
                             template_dirs=[project.config.base_dir / "templates"],
                             formula_guard=planned.config.csv_formula_guard)
        try:
            for part in parts:
                if isinstance(part, RenderedBatch):
                    data, items = part.outputs[chosen.key], part.items[chosen.key]
                else:
                    data, items = part, 1 if part else 0
                if data:
                    writer.write_encoded(data, items)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        return None if writer.skipped_empty else target
