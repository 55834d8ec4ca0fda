"""`feedsync plan`: what a build or push would change, per feed and destination.

The same pipeline as `build` renders every item; a `LedgerRecorder` (a `run_feeds`
observer) stages each item in the ledger's temporary table, and the ledger compares them
in SQL with what each destination holds (feedsync.state.ledger). A `Plan` is the result:
per feed (channel x market) and destination, items added, changed (which fields; old ->
new for price, sale price, availability and title), removed, unchanged and due for
refresh. It can be saved (`plan --out plan.json`) and applied by `push --plan`, which
refuses when the project, its config, its master or the ledger changed since.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from feedsync.config import Config, PublishConfig
from feedsync.delta_files import changes_path, write_changes
from feedsync.errors import ExitCode, FeedsyncError
from feedsync.pipeline import (
    Pipeline,
    PlannedChannel,
    RowOutcome,
    Written,
    run_feeds,
)
from feedsync.publish.items import ItemSpool
from feedsync.report import FeedChanges, OutputReport, RunReport
from feedsync.state.guards import check_change_set
from feedsync.state.ledger import (
    DAY,
    FILE_DESTINATION,
    LEDGER_NAME,
    Diff,
    Ledger,
    RunRecord,
    StagedPart,
    Stager,
    ledger_errors,
    staged_form,
)
from feedsync.state.lock import RunLock

PLAN_VERSION = 1
# The fields a plan shows old -> new for; other changed fields are named only.
HEADLINE_FIELDS = ("price", "sale_price", "availability", "title")
GOOGLE_LIFETIME = 30 * DAY  # Google expires an item 30 days after its last update
DEFAULT_REFRESH_DAYS = 3.0


class PlanError(FeedsyncError):
    """A saved plan does not apply to the project as it is now (exit code 2)."""

    exit_code = ExitCode.USAGE


class LedgerRecorder:
    """A `run_feeds` observer staging every written item of the run's feeds."""

    # run_feeds has worker processes (`--jobs N`) compute this for each item it stages.
    ledger_form = staticmethod(staged_form)

    def __init__(self, stager: Stager, feeds: list[str],
                 spools: list[ItemSpool | None] | None = None,
                 item_files: list[ItemSpool | None] | None = None,
                 ledger: Ledger | None = None) -> None:
        """`spools`: per feed, the push's typed-item spool (written by `run_feeds`);
        `item_files`: per feed, a file this recorder writes each full item to (for a
        changes-only file); either way the item's position in it is staged too.
        `ledger`: the ledger `stager` stages for; with it, feed-group workers may stage
        their feeds themselves (`worker_part`)."""
        self.stager = stager
        self.feeds = feeds
        self.spools = spools or [None] * len(feeds)
        self.item_files = item_files or [None] * len(feeds)
        self.digests = [hashlib.sha256() for _ in feeds]
        self.ledger = ledger
        # Feeds (by index) that worker processes stage, and their parts once done.
        self._elsewhere: set[int] = set()
        self._parts: list[WorkerStaging] = []
        self._remote_digests: dict[int, str] = {}

    def worker_part(self, indices: list[int]) -> WorkerStaging | None:
        """Before the feed-group workers start: the part one of them stages itself, of the
        feeds `indices` it builds, where this recorder may leave them to it (a ledger file,
        and no spool or item file: those positions are written here); None for none."""
        if self.ledger is None or not self.ledger.path.exists():
            return None
        mine = [i for i in indices if self.spools[i] is None and self.item_files[i] is None]
        if not mine:
            return None
        handle, name = tempfile.mkstemp(prefix="feedsync-staged-", suffix=".db")
        os.close(handle)
        os.unlink(name)  # SQLite creates it; the name is this run's alone
        part = WorkerStaging(self.ledger.path, Path(name), [(i, self.feeds[i]) for i in mine])
        self._elsewhere.update(mine)
        self._parts.append(part)
        return part

    def adopt(self, digests: dict[int, str]) -> None:
        """A worker finished staging its part: its feeds' items digests (by feed index)."""
        self._remote_digests.update(digests)

    def reads_items(self, feed: str) -> bool:
        """Whether this recorder reads the items of `feed` (run_feeds asks, see
        `feedsync.pipeline.reads_items`): only to copy them to a changes-only item file.
        Otherwise it needs the item's id and its ledger form, which worker processes
        compute (`ledger_form`)."""
        return any(item_file is not None and name == feed
                   for name, item_file in zip(self.feeds, self.item_files, strict=True))

    def __call__(self, outcome: RowOutcome) -> None:
        """Stage one row's items (its spool position too, for a feed that has a spool)."""
        elsewhere = self._elsewhere
        for index, feed_outcome in enumerate(outcome.feeds):
            if not isinstance(feed_outcome, Written) or index in elsewhere:
                continue
            item = feed_outcome.item
            item_id = feed_outcome.id_of(outcome.product_id)
            spool = self.spools[index]
            item_file = self.item_files[index]
            if item_file is not None:
                assert item is not None  # reads_items kept it
                item_file.write(item)
                spool = item_file
            pos = spool.last_position if spool is not None else None
            staged = feed_outcome.ledger
            if staged is None:
                assert item is not None  # only workers leave it out, with the ledger form
                digest = self.stager.add(self.feeds[index], item_id, item, pos)
            else:  # a worker encoded it
                digest = self.stager.add_staged(self.feeds[index], item_id, *staged, pos)
            self.digests[index].update(digest)

    def close(self) -> dict[str, str]:
        """Finish staging (with what the workers staged); each feed's items digest (what
        `push --plan` compares)."""
        self.stager.close()
        for part in self._parts:
            assert self.ledger is not None
            self.ledger.take_staged(part.path)
            part.path.unlink()
        self._parts = []
        return {feed: self._remote_digests.get(index) or digest.hexdigest()
                for index, (feed, digest) in enumerate(zip(self.feeds, self.digests,
                                                           strict=True))}

    def discard(self) -> None:
        """Remove the workers' files of staged rows, if a run ended before `close`."""
        for part in self._parts:
            part.path.unlink(missing_ok=True)
        self._parts = []


@dataclass
class WorkerStaging:
    """What one feed-group worker stages itself (LedgerRecorder.worker_part): the feeds,
    as (index in the run, name), into its own file of staged rows at `path`."""

    ledger_path: Path
    path: Path
    feeds: list[tuple[int, str]]

    def open(self, first: int) -> WorkerRecorder:
        """In the worker (after the fork: a connection of its own): the observer of its
        outcomes, whose feeds start at run index `first`."""
        return WorkerRecorder(self, first)


class WorkerRecorder:
    """LedgerRecorder's staging, in a feed-group worker, for the feeds it builds."""

    def __init__(self, staging: WorkerStaging, first: int) -> None:
        self.part = StagedPart(staging.ledger_path, staging.path)
        self.feeds = [(index - first, index, name) for index, name in staging.feeds]
        self.digests = {index: hashlib.sha256() for _, index, _ in self.feeds}

    def __call__(self, outcome: RowOutcome) -> None:
        """Stage the items of one row's outcome (the worker's feeds only), before the
        worker drops them."""
        stager = self.part.stager
        for local, index, name in self.feeds:
            feed_outcome = outcome.feeds[local]
            if isinstance(feed_outcome, Written):
                assert feed_outcome.item is not None
                self.digests[index].update(stager.add(
                    name, feed_outcome.id_of(outcome.product_id), feed_outcome.item, None))

    def close(self) -> dict[int, str]:
        """Write what waits; each feed's items digest, by its index in the run."""
        self.part.close()
        return {index: digest.hexdigest() for index, digest in self.digests.items()}


def destination_policy(config: PublishConfig | None) -> tuple[int | None, int | None]:
    """(lifetime, refresh before expiry) in seconds for a destination: Google's API expires
    items 30 days after their last update; other destinations keep them."""
    if config is None or not config.url.lower().startswith("google-merchant://"):
        return None, None
    days = config.refresh_days if config.refresh_days is not None else DEFAULT_REFRESH_DAYS
    return GOOGLE_LIFETIME, int(days * DAY)


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Which fields changed; the headline ones with their old and new values."""
    names = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    headline = {k: {"old": old.get(k), "new": new.get(k)} for k in HEADLINE_FIELDS
                if k in names}
    return {"fields": names, "values": headline}


@dataclass
class FeedPlan:
    """One feed at one destination: the diff, as a plan shows it."""

    diff: Diff
    digest: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        d = self.diff
        return {
            "channel": d.feed, "destination": d.destination, "first_run": not d.known,
            "items": d.items, "previous": d.previous, "added": d.added, "changed": d.changed,
            "removed": d.removed, "unchanged": d.unchanged, "refresh": d.refresh,
            "pending_deletes": d.pending_deletes,
            "examples": {
                "added": d.sample_added,
                "changed": [{"id": c.item_id, **field_changes(c.old, c.new)}
                            for c in d.sample_changed],
                "removed": d.sample_removed},
            "items_digest": self.digest,
        }


@dataclass
class Plan:
    """Every feed's changes, and what the plan was made from (for `push --plan`)."""

    project: str
    config_sha256: str
    master_sha256: str | None
    ledger_run: int
    created_at: str
    feeds: list[FeedPlan] = field(default_factory=list)
    report: RunReport | None = None  # the run the plan was made from (issues, counts)

    @property
    def has_changes(self) -> bool:
        """Anything to add, change, remove or refresh anywhere."""
        return any(f.diff.has_changes for f in self.feeds)

    def totals(self) -> dict[str, int]:
        """Added, changed, removed, unchanged and refresh, summed over every row."""
        keys = ("added", "changed", "removed", "unchanged", "refresh")
        return {k: sum(getattr(f.diff, k) for f in self.feeds) for k in keys}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; `load_plan` reads it back."""
        return {"version": PLAN_VERSION, "project": self.project,
                "config_sha256": self.config_sha256, "master_sha256": self.master_sha256,
                "ledger_run": self.ledger_run, "created_at": self.created_at,
                "has_changes": self.has_changes, "totals": self.totals(),
                "feeds": [f.to_dict() for f in self.feeds]}

    def save(self, path: Path) -> None:
        """Write the plan as JSON (`plan --out`)."""
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n",
                        encoding="utf-8")


def make_plan(config: Config, ledger: Ledger, feeds: Iterable[tuple[str, list[str]]],
              digests: dict[str, str], sample: int = 20) -> Plan:
    """Compare each feed's staged items with each of its destinations (`feeds`: feed name
    and the publish destinations of its channel; the build's own files come first)."""
    fingerprint = project_fingerprint(config)
    plan = Plan(**fingerprint, ledger_run=ledger.last_run_id(),
                created_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat())
    for feed, destinations in feeds:
        for destination in [FILE_DESTINATION, *destinations]:
            _, refresh = destination_policy(config.publish.get(destination))
            diff = ledger.diff(feed, destination, refresh_before=refresh, sample=sample)
            plan.feeds.append(FeedPlan(diff, digests.get(feed, "")))
    return plan


def project_fingerprint(config: Config) -> dict[str, Any]:
    """What a plan was made from: the project (its config file), the config's bytes and,
    for a file master, the master's bytes."""
    master = None
    if config.source.path and not config.source.url:
        path = config.resolve(config.source.path)
        if path.is_file():
            master = _sha256(path)
    return {"project": str(config.file.resolve()), "config_sha256": _sha256(config.file),
            "master_sha256": master}


def load_plan(path: Path) -> dict[str, Any]:
    """A saved plan's data; PlanError when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanError(f"{path} is not a readable plan file ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != PLAN_VERSION or \
            not isinstance(data.get("feeds"), list):
        raise PlanError(f"{path} is not a feedsync plan (version {PLAN_VERSION})")
    return data


def check_plan(saved: dict[str, Any], config: Config, ledger: Ledger, path: Path) -> None:
    """Refuse (PlanError, with the reason) a plan made from another project, another
    config, another master, or before another run changed the ledger."""
    now = project_fingerprint(config)
    if saved.get("project") != now["project"]:
        raise PlanError(f"{path} was made for another project ({saved.get('project')}), "
                        f"not {now['project']}; run `feedsync plan` here")
    if saved.get("config_sha256") != now["config_sha256"]:
        raise PlanError(f"{path}: {config.file.name} changed since the plan was made; run "
                        "`feedsync plan` again")
    if saved.get("master_sha256") != now["master_sha256"]:
        raise PlanError(f"{path}: the master changed since the plan was made (it is older "
                        "than the master); run `feedsync plan` again")
    if saved.get("ledger_run") != ledger.last_run_id():
        raise PlanError(f"{path}: another build or push ran since the plan was made; run "
                        "`feedsync plan` again")


def check_plan_items(saved: dict[str, Any], digests: dict[str, str], path: Path) -> None:
    """Refuse when the items built now are not those the plan showed."""
    for entry in saved["feeds"]:
        feed = entry.get("channel")
        if feed in digests and entry.get("items_digest") != digests[feed]:
            raise PlanError(f"{path}: the items of {feed} differ from the plan; run "
                            "`feedsync plan` again")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- runs that stage their items: build, plan ----------------------------------------------

def state_dir(config: Config) -> Path:
    """The project's state folder (`.feedsync/` beside the config by default)."""
    return config.resolve(config.state_dir)


def build_guard(config: Config, ledger: Ledger, planned: list[PlannedChannel],
                recorder: LedgerRecorder, *, allow: Iterable[str], force: bool,
                diffs: dict[str, Diff]) -> Callable[[RunReport], dict[str, str]]:
    """The `hold` of a ledgered build: finish staging, compare each feed with what its
    files held, and hold back the feeds a guard stops (an empty or shrunken feed never
    replaces a good one unless allowed)."""
    allowed = set(allow)

    def hold(report: RunReport) -> dict[str, str]:
        recorder.close()
        held: dict[str, str] = {}
        for feed in planned:
            diff = ledger.diff(feed.name, FILE_DESTINATION)
            diffs[feed.name] = diff
            previous = ledger.count(feed.name, FILE_DESTINATION)
            if previous is None:  # no ledger yet: judge by the files on disk
                if diff.items == 0 and not force and "empty" not in allowed:
                    old = [o.path for o in feed.outputs
                           if o.path.is_file() and o.path.stat().st_size > 0]
                    if old:
                        held[feed.name] = (f"the feed has no items and would replace {old[0]}"
                                           "; use --allow-empty (or --force) to write it")
                continue
            # `changed` lists what diff.changed counted: with none, skip its pass.
            changed = ledger.changed(feed.name, FILE_DESTINATION) if diff.changed else ()
            tripped = check_change_set(diff, feed.config.guards, changed,
                                       previous=previous, allowed=allowed, force=force)
            if tripped:
                held[feed.name] = "; ".join(t.message for t in tripped)
        return held

    return hold


def note_left_out(ledger: Ledger, report: RunReport) -> None:
    """Tell the ledger what the run left out of each feed (products, and per issue code:
    the report's own counts), for the feed's history rows."""
    for name, channel in report.channels.items():
        ledger.note_left_out(name, channel.excluded, channel.excluded_by_reason())


def run_ledgered_build(config: Config, pipeline: Pipeline, *, allow: Iterable[str] = (),
                       force: bool = False, started: float | None = None,
                       **options: Any) -> RunReport:
    """`build` with the ledger: under the run lock, write the feeds a guard lets through
    and record what each one now holds (a feed held back keeps its old files and
    ledger). `started`: when the command began (`time.monotonic()`; default: now), for
    the history rows' durations."""
    started = time.monotonic() if started is None else started
    directory = state_dir(config)
    with RunLock(directory):
        ledger = Ledger.open(directory)
        ledger.started = started
        deltas = {f.name: changes_path(config, f) for f in pipeline.feeds}
        item_files = {name: ItemSpool(directory / f"changes-{n}.items.jsonl")
                      for n, (name, path) in enumerate(deltas.items()) if path is not None}
        recorder: LedgerRecorder | None = None
        try:
            with ledger_errors(ledger.path):
                feeds = [f.name for f in pipeline.feeds]
                recorder = LedgerRecorder(ledger.stager(), feeds,
                                          item_files=[item_files.get(f) for f in feeds],
                                          ledger=ledger)
                diffs: dict[str, Diff] = {}
                hold = build_guard(config, ledger, pipeline.feeds, recorder, allow=allow,
                                   force=force, diffs=diffs)
                observers = [recorder, *options.pop("observers", ())]
                report = run_feeds(pipeline, write=True, observers=observers, hold=hold,
                                   **options)
                note_left_out(ledger, report)
                for item_file in item_files.values():
                    item_file.commit()
                for feed, context in zip(pipeline.feeds, pipeline.contexts, strict=True):
                    path = deltas[feed.name]
                    if path is not None and report.channels[feed.name].held is None:
                        written, deletes = write_changes(config, feed, ledger,
                                                         item_files[feed.name].path, path,
                                                         context)
                        report.channels[feed.name].outputs.append(OutputReport(
                            f"{path} (changes only: {written:,} items"
                            + (f", {deletes:,} deletes" if deletes else "") + ")",
                            "changes", written))
                # Every written feed's new contents in one pass (Ledger.store_contents).
                ledger.store_contents([name for name in diffs
                                       if report.channels[name].held is None],
                                      FILE_DESTINATION)
                orphans_possible = False
                for name, diff in diffs.items():
                    channel = report.channels[name]
                    if channel.held is None:
                        record = ledger.apply_file(name, FILE_DESTINATION, diff, kind="build",
                                                   contents_stored=True)
                    else:
                        record = ledger.record_failure(name, FILE_DESTINATION, "build", diff,
                                                       "guard", channel.held)
                    channel.changes = FeedChanges(record.added, record.changed,
                                                  record.removed, record.deleted)
                    # Contents stored for a feed held back are not referred to.
                    orphans_possible = orphans_possible or bool(
                        channel.held is not None or record.changed or record.removed
                        or record.deleted)
                ledger.collect(orphans_possible=orphans_possible)
        finally:
            if recorder is not None:
                recorder.discard()
            ledger.close()
            for item_file in item_files.values():
                item_file.abort()
                item_file.path.unlink(missing_ok=True)
    return report


def run_plan(config: Config, pipeline: Pipeline, **options: Any) -> tuple[Plan, RunReport]:
    """Render every feed (writing nothing) and compare it with the ledger: the plan, and
    the run's report (issues, counts)."""
    directory = state_dir(config)
    ledger = Ledger.open_for_reading(directory)
    try:
        with ledger_errors(ledger.path):
            feeds = [f.name for f in pipeline.feeds]
            recorder = LedgerRecorder(ledger.stager(), feeds)
            report = run_feeds(pipeline, write=False, observers=[recorder], **options)
            digests = recorder.close()
            plan = make_plan(config, ledger, [(f.name, list(f.config.publish))
                                              for f in pipeline.feeds], digests)
    finally:
        ledger.close()
    return plan, report


def read_history(config: Config, feeds: Iterable[str] | None = None,
                 limit: int = 10) -> list[RunRecord]:
    """The last runs per feed and destination, newest first (none without a ledger)."""
    directory = state_dir(config)
    if not (directory / LEDGER_NAME).exists():
        return []
    ledger = Ledger.open_for_reading(directory)
    try:
        with ledger_errors(ledger.path):
            return ledger.history(feeds, limit)
    finally:
        ledger.close()
