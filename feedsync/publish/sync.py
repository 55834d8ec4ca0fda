"""run_sync: stock and prices in step every few minutes, without a full publish.

    lock -> render (nothing written) -> stage the synced fields -> per feed x API
         destination: compare with the ledger -> guards -> patch the changed items
         -> record what was confirmed

`feedsync sync` renders the master through the same pipeline as `build` and `push` (so a
price or an availability is exactly what the next full feed will say), but stages only
the synced fields (`sync.fields`, default price, availability and quantity; per channel,
the fields named so or fed from them) and sends only the items whose values changed, as
partial updates: a Merchant API `productInputs.patch` with an `updateMask`, a Meta
`UPDATE` carrying just those fields. It never creates or deletes an item: a product that
is new or gone is named and left to the next `push`.

Guards: a sync that would take more than `sync.max_out_of_stock_share` of the live items
out of stock at once (a broken stock export reads as "everything sold out") sends nothing
for that feed, exit 6; an item whose price moved more than the channel's
`guards.max_price_change` is held back (the others go). `--force` lifts both. It takes
the project's run lock, so a sync and a push never overlap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feedsync.channels.spec import ChannelSpec
from feedsync.checks.issue import Issue
from feedsync.config import Config, GuardConfig
from feedsync.errors import ConfigError, ExitCode
from feedsync.local_inventory import LocalReport, run_local_inventory
from feedsync.pipeline import (
    Pipeline,
    PlannedChannel,
    Progress,
    RowOutcome,
    Written,
    plan_channels,
)
from feedsync.pipeline import run_feeds as run_pipeline
from feedsync.plan import destination_policy, note_left_out
from feedsync.publish import open_destination
from feedsync.publish.base import Destination, PublishError, PublishResult
from feedsync.publish.google_api import MerchantApiDestination
from feedsync.publish.items import decode_value, encode_value
from feedsync.publish.meta_api import MetaCatalogDestination
from feedsync.publish.redact import Redactor
from feedsync.publish.retry import RetryPolicy
from feedsync.publish.run import (
    FATAL,
    GUARD,
    PUBLISHED,
    TEMPORARY,
    PushOutcome,
    PushReport,
    _open_destinations,
    state_dir,
)
from feedsync.publish.sync_files import write_sync_file
from feedsync.report import FeedChanges, RunReport
from feedsync.sources import describe_source, open_source
from feedsync.state.guards import MAX_LISTED, _price_change
from feedsync.state.ledger import FILE_DESTINATION, Ledger, ledger_errors
from feedsync.state.lock import RunLock
from feedsync.state.stock_snapshot import StockSnapshot, fingerprint
from feedsync.state.sync_ledger import Candidate, SyncDiff, SyncLedger, SyncStager

OUT_OF_STOCK = frozenset({"out_of_stock", "out of stock"})


@dataclass
class SyncOutcome(PushOutcome):
    """One feed at one destination after a sync: what changed, what went, what waits."""

    fields: list[str] = field(default_factory=list)
    changed: int = 0
    held: list[str] = field(default_factory=list)  # price moved past the guard (first 20)
    held_count: int = 0
    new: int = 0
    gone: int = 0
    sample_new: list[str] = field(default_factory=list)
    sample_gone: list[str] = field(default_factory=list)
    out_of_stock: int = 0  # items this sync would take out of stock

    def changes(self) -> FeedChanges:
        """A sync only changes items the destination holds (new and gone ones are left
        to `push`): the items whose synced fields changed."""
        return FeedChanges(changed=self.changed)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.pop("deleted", None)
        return data


@dataclass
class SyncReport(PushReport):
    """A sync's report: the render's counts and issues, and one outcome per feed and API
    destination. Exit codes as for push; items held back by the price guard count as
    a guard that tripped."""

    local: LocalReport | None = None  # the local inventory run, when configured

    @property
    def exit_code(self) -> ExitCode:
        code = super().exit_code
        if self.local is not None and self.local.exit_code is not ExitCode.OK:
            return self.local.exit_code if code is ExitCode.OK and not self.outcomes \
                else ExitCode.PARTIAL
        held = any(isinstance(o, SyncOutcome) and o.held_count for o in self.outcomes)
        if code is ExitCode.OK and held:
            return ExitCode.PARTIAL if any(o.sent for o in self.outcomes) \
                else ExitCode.GUARD_TRIPPED
        return code

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["exit_code"] = int(self.exit_code)
        if self.local is not None:
            data["local_inventory"] = self.local.to_dict()
        return data


def sync_fields(spec: ChannelSpec, wanted: Iterable[str]) -> list[str]:
    """The channel's item fields for the canonical `wanted` ones: a field with that name,
    or fed from it (Meta's quantity_to_sell_on_facebook comes from `quantity`)."""
    names: list[str] = []
    for canonical in wanted:
        for spec_field in spec.fields:
            if (spec_field.name == canonical or spec_field.source == canonical) \
                    and spec_field.name not in names:
                names.append(spec_field.name)
    return names


class SyncRecorder:
    """A `run_feeds` observer staging, per feed, each written item's synced fields."""

    def __init__(self, stager: SyncStager, feeds: list[str], fields: list[list[str]]) -> None:
        self.stager = stager
        self.feeds = feeds
        self.fields = fields

    def __call__(self, outcome: RowOutcome) -> None:
        for index, feed_outcome in enumerate(outcome.feeds):
            if not isinstance(feed_outcome, Written) or not self.fields[index]:
                continue
            item = feed_outcome.item
            assert item is not None  # this recorder does not say it reads none
            typed = feed_outcome.typed or item
            item_id = feed_outcome.id_of(outcome.product_id)
            names = [n for n in self.fields[index] if item.get(n) not in (None, "")]
            self.stager.add(self.feeds[index], item_id, {n: item[n] for n in names},
                            {n: encode_value(typed[n]) for n in names if n in typed})


def run_sync(config: Config, channels: Iterable[str] | None = None, *,
             only: Iterable[str] | None = None, force: bool = False,
             log: Callable[[str], None] | None = None, progress: Progress | None = None,
             sink: Callable[[Issue], None] | None = None, max_issues: int | None = None,
             jobs: int = 1, full_read: bool = False,
             retry: Callable[[RetryPolicy], RetryPolicy] | None = None,
             started: float | None = None) -> SyncReport:
    """Send the changed synced fields of every selected feed to its API destinations;
    see the module docstring. `only`: the canonical fields (default `sync.fields`);
    `full_read`: read the whole master even when only the joined stock changed;
    `started`: when the command began (`time.monotonic()`; default: now), for the
    history rows' durations."""
    started = time.monotonic() if started is None else started
    wanted = list(channels or [])
    canonical = list(only) if only else list(config.sync.fields)
    redact = Redactor.for_config(config)

    def say(text: str) -> None:
        if log is not None:
            log(redact(text))

    destinations = _open_destinations(config, wanted)
    feeds: list[tuple[PlannedChannel, list[Destination], list[str], Path | None]] = []
    for name, channel_destinations in destinations.items():
        api = [d for d in channel_destinations if _patchable(d)]
        for feed in plan_channels(config, [name]):
            if wanted and name not in wanted and feed.name not in wanted:
                continue
            output = sync_output(config, feed)
            if api or output is not None:
                feeds.append((feed, api, sync_fields(feed.spec, canonical), output))
    local_destinations = _local_destinations(config)
    if not feeds and config.local_inventory is None:
        raise ConfigError("nothing to sync: no selected channel publishes to an API "
                          "destination (google-merchant:// or meta-catalog://) or has "
                          "`sync_output:`; other file channels are refreshed by `build`")
    directory = state_dir(config)
    with RunLock(directory):
        ledger = Ledger.open(directory)
        ledger.started = started
        try:
            with ledger_errors(ledger.path):
                sync = SyncLedger(ledger)
                snapshot = StockSnapshot(directory) if feeds and fingerprint(config) \
                    else None
                keys = None
                if snapshot is not None:
                    snapshot.read(config)
                    # An overrides file lists everything since the last build: it needs
                    # every row, not only those that changed since the last sync.
                    if not full_read and not any(f[3] for f in feeds):
                        keys = snapshot.changed_keys(config)
                if keys is not None:
                    say(f"the master and config are as at the last sync: reading only the "
                        f"{len(keys):,} product(s) whose joined stock changed")
                if feeds:
                    pipeline = Pipeline(config, feeds=[f[0] for f in feeds],
                                        typed_feeds=[f[0].name for f in feeds if f[1]],
                                        source=None if keys is None else
                                        open_source(config, only_keys=keys))
                    recorder = SyncRecorder(sync.stager(), [f[0].name for f in feeds],
                                            [f[2] for f in feeds])
                    build = run_pipeline(pipeline, write=False, progress=progress, sink=sink,
                                         max_issues=max_issues, jobs=jobs,
                                         observers=[recorder])
                    recorder.stager.close()
                    if keys is None:  # every product read: the counts are the feed's
                        note_left_out(ledger, build)
                else:  # only the local inventory: the master is not read
                    build = RunReport(source=describe_source(config))
                report = SyncReport(build)
                for feed, api, names, output in feeds:
                    if output is not None:
                        report.outcomes.append(_sync_file(
                            config, sync, feed, output, names, force, say))
                    for destination in api:
                        guards = destination.config.guards or feed.config.guards
                        report.outcomes.append(_sync_destination(
                            config, sync, feed.name, destination, names, guards, force, say,
                            redact, retry, partial=keys is not None))
                if config.local_inventory is not None:
                    report.local = run_local_inventory(config, ledger, local_destinations,
                                                       say, retry)
                if snapshot is not None:
                    if _all_confirmed(report):
                        snapshot.save(config)
                    snapshot.close()
                ledger.collect()
        finally:
            ledger.close()
    return report


def _all_confirmed(report: SyncReport) -> bool:
    """Every destination took everything it was sent (nothing held, refused or failed):
    the stock snapshot may move on."""
    return all(o.status is PUBLISHED and not o.rejected_count and
               not (isinstance(o, SyncOutcome) and o.held_count) for o in report.outcomes)


def _local_destinations(config: Config) -> list[Destination]:
    local = config.local_inventory
    if local is None:
        return []
    config.check_publish_variables(local.publish)
    missing = [name for name in local.publish if name not in config.publish]
    if missing:
        raise ConfigError(f"local_inventory.publish: no destination {missing[0]!r} under "
                          "`publish:`")
    return [open_destination(name, config.publish[name], config.base_dir)
            for name in local.publish]


def sync_output(config: Config, feed: PlannedChannel) -> Path | None:
    """Where a file channel's sync overrides go (`sync_output:`, with the market's
    placeholders), or None."""
    if not feed.config.sync_output:
        return None
    path = feed.config.sync_output
    if feed.variant is not None:
        path = feed.variant.output_path(path)
    return config.resolve(path)


def _sync_file(config: Config, sync: SyncLedger, feed: PlannedChannel, path: Path,
               names: list[str], force: bool, say: Callable[[str], None]) -> SyncOutcome:
    """Write the overrides of a file channel since its last build (sync_files.py)."""
    diff = sync.diff(feed.name, FILE_DESTINATION, names)
    outcome = SyncOutcome(feed.name, "file", str(path), PUBLISHED, diff.items, fields=names,
                          changed=diff.changed, new=diff.new, gone=diff.gone,
                          sample_new=diff.sample_new, sample_gone=diff.sample_gone)
    if not diff.live and not diff.items:
        return outcome
    held = _screen(config, sync, feed.name, FILE_DESTINATION, names,
                   feed.config.guards, force, outcome, diff.live)
    if outcome.status is GUARD:
        say(f"{feed.name} -> {path}: guard tripped, not written: {outcome.message}")
        sync.record(diff, sent=0, result=GUARD.value, message=outcome.message)
        return outcome
    candidates = (c for c in sync.candidates(feed.name, FILE_DESTINATION, names)
                  if c.item_id not in held)
    outcome.sent = write_sync_file(feed, path, names, candidates)
    say(f"{feed.name}: wrote {outcome.sent:,} override(s) of {', '.join(names)} to {path}")
    sync.record(diff, sent=outcome.sent, result=PUBLISHED.value, message=outcome.message)
    return outcome


def _screen(config: Config, sync: SyncLedger, feed: str, destination: str, names: list[str],
            guards: GuardConfig, force: bool, outcome: SyncOutcome, live: int) -> set[str]:
    """Run the guards over the candidates: count those going out of stock (past the share,
    the outcome becomes GUARD) and return the ids held back by the price guard."""
    held: set[str] = set()
    max_price = guards.max_price_change
    for candidate in sync.candidates(feed, destination, names):
        if _goes_out_of_stock(candidate):
            outcome.out_of_stock += 1
        if not force and max_price is not None and (change := _price_change_of(candidate)) \
                is not None and change > max_price:
            outcome.held_count += 1
            held.add(candidate.item_id)
            if len(outcome.held) < MAX_LISTED:
                outcome.held.append(candidate.item_id)
    share_limit = config.sync.max_out_of_stock_share
    if not force and live and outcome.out_of_stock / live > share_limit:
        outcome.status = GUARD
        outcome.message = (f"{outcome.out_of_stock:,} of {live:,} live items "
                           f"({outcome.out_of_stock / live:.0%}) would go out of stock "
                           f"at once (limit {share_limit:.0%}: is the stock export "
                           "complete?); use --force to send it anyway")
    elif outcome.held_count:
        outcome.message = (f"{outcome.held_count:,} item(s) held back: price changed by more "
                           f"than {max_price or 0:.0%} ({', '.join(outcome.held)}); "
                           "use --force to send them")
    return held


def _patchable(destination: Destination) -> bool:
    return isinstance(destination, (MerchantApiDestination, MetaCatalogDestination))


def _sync_destination(config: Config, sync: SyncLedger, feed: str, destination: Destination,
                      names: list[str], guards: GuardConfig, force: bool,
                      say: Callable[[str], None],
                      redact: Redactor,
                      retry_hook: Callable[[RetryPolicy], RetryPolicy] | None, *,
                      partial: bool = False) -> SyncOutcome:
    diff = sync.diff(feed, destination.name, names)
    if partial:  # only the rows whose stock changed were read: absence says nothing
        diff.gone, diff.sample_gone = 0, []
    target = redact(f"{destination.config.url.split('://')[0]}://"
                    f"{destination.config.url.split('://')[-1]}")
    outcome = SyncOutcome(feed, destination.name, target, PUBLISHED, diff.items,
                          fields=names, changed=diff.changed, new=diff.new, gone=diff.gone,
                          sample_new=diff.sample_new, sample_gone=diff.sample_gone)
    if diff.new or diff.gone:
        say(f"{feed} -> {destination.name}: {diff.new:,} new and {diff.gone:,} gone item(s) "
            "left to `feedsync push`" + _examples(diff))
    held = _screen(config, sync, feed, destination.name, names, guards, force, outcome,
                   diff.live)
    if outcome.status is GUARD:
        say(f"{feed} -> {destination.name}: guard tripped, nothing sent: {outcome.message}")
        sync.record(diff, sent=0, result=GUARD.value, message=outcome.message)
        return outcome
    if outcome.held_count:
        say(f"{feed} -> {destination.name}: {outcome.message}")
    send = [c.item_id for c in sync.candidates(feed, destination.name, names)
            if c.item_id not in held]
    say(f"{feed} -> {destination.name}: updating {', '.join(names)} of {len(send):,} item(s)")
    if not send:
        sync.record(diff, sent=0, result=PUBLISHED.value, message=outcome.message)
        return outcome
    sync.mark_sending(feed, destination.name, send)
    policy = RetryPolicy.from_config(destination.config.retry)
    policy.on_retry = lambda attempt, wait, exc: say(
        f"{feed} -> {destination.name}: attempt {attempt} failed ({exc}); "
        f"retrying in {wait:.1f}s")
    if retry_hook is not None:
        policy = retry_hook(policy)
    lifetime, _ = destination_policy(destination.config)
    wanted = set(send)

    def items() -> Iterator[dict[str, Any]]:
        for candidate in sync.candidates(feed, destination.name, names):
            if candidate.item_id in wanted:
                yield {"id": candidate.item_id,
                       **{k: decode_value(v) for k, v in candidate.typed.items()}}

    def confirm(ids: list[str]) -> None:
        sync.confirm(feed, destination.name, ids)

    try:
        result = _send(destination, items(), names, policy, confirm)
    except PublishError as exc:
        status = TEMPORARY if exc.exit_code is ExitCode.TEMPORARY_FAILURE else FATAL
        outcome.status, outcome.message = status, redact(exc.message)
        outcome.sent = sync.apply(feed, destination.name, names, lifetime=lifetime)
        say(f"{feed} -> {destination.name}: {outcome.message}")
        sync.record(diff, sent=outcome.sent, result=status.value, message=outcome.message)
        return outcome
    outcome.sent = sync.apply(feed, destination.name, names, lifetime=lifetime)
    outcome.attempts = result.attempts
    outcome.rejected = [redact(r) for r in result.rejected[:100]]
    outcome.rejected_count = len(result.rejected)
    sync.record(diff, sent=outcome.sent, result=PUBLISHED.value, message=outcome.message)
    return outcome


def _send(destination: Destination, items: Iterator[dict[str, Any]], names: list[str],
          policy: RetryPolicy, confirm: Callable[[list[str]], None]) -> PublishResult:
    if isinstance(destination, MerchantApiDestination):
        return destination.patch(items, names, policy, confirm)
    assert isinstance(destination, MetaCatalogDestination)
    return destination.update_fields(items, names, policy, confirm)


def _examples(diff: SyncDiff) -> str:
    shown = [*(f"new {i}" for i in diff.sample_new[:5]),
             *(f"gone {i}" for i in diff.sample_gone[:5])]
    return f" ({', '.join(shown)}{', ...' if diff.new + diff.gone > len(shown) else ''})"


def _goes_out_of_stock(candidate: Candidate) -> bool:
    """Availability turns out of stock (or, without one, a quantity falls to zero)."""
    new, old = candidate.new, candidate.old
    if "availability" in new or "availability" in old:
        return (str(new.get("availability", "")).lower() in OUT_OF_STOCK
                and str(old.get("availability", "")).lower() not in OUT_OF_STOCK)
    for name, value in new.items():
        if "quantity" in name and str(value) == "0" and str(old.get(name, "0")) != "0":
            return True
    return False


def _price_change_of(candidate: Candidate) -> float | None:
    if "price" not in candidate.new:
        return None
    return _price_change(json.dumps(candidate.old), json.dumps(candidate.new))
