"""run_status: what each channel did with the items, joined with what feedsync knows.

    feedsync's own checks (a validate run, issues kept in a temporary table)
      -> per feed and destination: the channel's view (read-only, paged, retried)
         -> per item: remembered view (new?), ledger state, feedsync's issues on the field
      -> groups by the channel's issue, counts, a few ids -> remembered for next time

The Merchant API lists every processed product with its status; Meta is read from the
batch handles `push` recorded (errors and warnings per item) and the catalog's
diagnostics; destinations without an API (files, SFTP, HTTP) report what was published and
when, from the ledger. Nothing is sent to a channel. What a channel said is remembered
(feedsync.state.store) only once that destination was read completely, so "new since last
time" always compares two whole snapshots. Memory stays flat: views stream page by page
into SQLite, the ledger join is a merge of two sorted streams, and only counts, groups and
a bounded list of problem items stay in memory.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from feedsync.channels.spec import ChannelSpec
from feedsync.checks import codes
from feedsync.checks.issue import Issue
from feedsync.config import Config, PublishConfig
from feedsync.errors import ConfigError, ExitCode, FeedsyncError
from feedsync.pipeline import Pipeline, plan_channels, run_feeds, selected_entries
from feedsync.publish import open_destination
from feedsync.publish.base import Destination, PublishError, Upload
from feedsync.publish.channel_view import (
    APPROVED,
    DISAPPROVED,
    STATUSES,
    CatalogDiagnostic,
    ChannelIssue,
    ItemView,
)
from feedsync.publish.google_api import MerchantApiDestination
from feedsync.publish.meta_api import MetaCatalogDestination
from feedsync.publish.redact import Redactor
from feedsync.publish.retry import RetryPolicy
from feedsync.publish.run import API_SCHEMES, state_dir
from feedsync.state.ledger import FILE_DESTINATION, Ledger, iso, ledger_errors
from feedsync.state.store import STATE_NAME, Snapshot, StateStore

SAMPLE_IDS = 5  # item ids shown per group
MAX_ITEMS_LISTED = 1000  # problem items listed in full in the JSON (counts are exact)
EXPIRING_SOON = 3 * 86_400  # an item the channel drops within this is "expiring"

# What feedsync checks every product's field with before any channel sees it
# (products/parse.py), by the field's feed name.
_CANONICAL_CHECKS: dict[str, tuple[str, ...]] = {
    "id": (codes.MISSING_ID, codes.INVALID_ID, codes.DUPLICATE_ID),
    "link": (codes.INVALID_URL,), "mobile_link": (codes.INVALID_URL,),
    "image_link": (codes.INVALID_URL,), "additional_image_link": (codes.INVALID_URL,),
    "price": (codes.INVALID_PRICE, codes.INVALID_CURRENCY, codes.MISSING_CURRENCY,
              codes.TOO_MANY_DECIMALS),
    "sale_price": (codes.INVALID_PRICE, codes.CURRENCY_MISMATCH, codes.SALE_PRICE_NOT_LOWER),
    "sale_price_effective_date": (codes.INCOMPLETE_SALE_WINDOW, codes.INVALID_SALE_WINDOW),
    "gtin": (codes.INVALID_GTIN,),
    "title": (codes.HTML_IN_TEXT, codes.CONTROL_CHARACTERS),
    "description": (codes.HTML_IN_TEXT, codes.CONTROL_CHARACTERS),
    "shipping": (codes.INVALID_SHIPPING,), "shipping_weight": (codes.INVALID_WEIGHT,),
    "google_product_category": (codes.UNKNOWN_CATEGORY,),
}


def checks_for(spec: ChannelSpec, attribute: str | None) -> list[str]:
    """The feedsync checks that look at `attribute` for this channel: the canonical ones
    and the spec's (required, recommended, length, values, its cross-field rules)."""
    if not attribute:
        return []
    found = list(_CANONICAL_CHECKS.get(attribute, ()))
    for spec_field in spec.fields:
        if spec_field.name != attribute:
            continue
        if spec_field.required:
            found.append(codes.MISSING_REQUIRED)
        if spec_field.recommended:
            found.append(codes.MISSING_RECOMMENDED)
        if spec_field.max_length:
            found.append(codes.TRUNCATED if spec_field.too_long == "truncate"
                         else codes.TOO_LONG)
        if spec_field.max_items:
            found.append(codes.TOO_MANY_VALUES)
        if spec_field.values:
            found.append(codes.UNSUPPORTED_VALUE)
    found += [rule.code for rule in spec.rules
              if attribute in rule.require or attribute in rule.require_any]
    return sorted(set(found))


@dataclass
class IssueGroup:
    """Every item with the same issue from the channel (code and attribute)."""

    code: str
    attribute: str | None
    description: str
    severity: str
    resolution: str | None = None
    documentation: str | None = None
    count: int = 0
    new: int = 0  # items that did not have this issue last time
    sample_ids: list[str] = field(default_factory=list)
    feedsync_codes: set[str] = field(default_factory=set)  # feedsync's own, same field
    checked_by: list[str] = field(default_factory=list)  # feedsync's checks of that field
    scope: str = "item"  # "catalog" for a catalog-wide diagnostic

    def to_dict(self) -> dict[str, Any]:
        data = vars(self).copy()
        data["feedsync_codes"] = sorted(self.feedsync_codes)
        return data


@dataclass
class ItemJoin:
    """One problem item: the channel's view, the ledger's state, feedsync's own issues."""

    view: ItemView
    ledger: str | None  # live, sending, deleting, or None (feedsync never sent it here)
    feedsync: list[str]  # feedsync's issue codes on this item
    new: bool

    def to_dict(self) -> dict[str, Any]:
        return {**self.view.to_dict(), "ledger": self.ledger, "feedsync": self.feedsync,
                "new": self.new}


@dataclass
class DestinationStatus:
    """What one destination of one feed holds, in the channel's words."""

    channel: str
    destination: str
    kind: str  # merchant-api, meta-catalog, or file
    target: str
    checked_at: str
    items: int = 0  # items the channel reported on
    statuses: dict[str, int] = field(default_factory=dict)
    new_disapprovals: int = 0
    sample_new_disapprovals: list[str] = field(default_factory=list)
    expired: int = 0
    expiring: int = 0
    sample_expired: list[str] = field(default_factory=list)
    groups: list[IssueGroup] = field(default_factory=list)
    problem_items: list[ItemJoin] = field(default_factory=list)
    ledger_items: int | None = None  # items the ledger says this destination holds
    not_listed: int = 0  # sent and confirmed, but the channel does not list them
    sample_not_listed: list[str] = field(default_factory=list)
    unknown_to_ledger: int = 0  # the channel lists them, the ledger has no live record
    sample_unknown: list[str] = field(default_factory=list)
    last_published: dict[str, Any] | None = None  # file destinations: the last good run
    previous_check: str | None = None  # when status last read this destination
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    exit_code: ExitCode = ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        data = vars(self).copy()
        data["groups"] = [g.to_dict() for g in self.groups]
        data["problem_items"] = [i.to_dict() for i in self.problem_items]
        data["exit_code"] = int(self.exit_code)
        return data


@dataclass
class StatusReport:
    """Every destination read by one `feedsync status`."""

    destinations: list[DestinationStatus] = field(default_factory=list)
    own_checks: str = "run"  # or why feedsync's own checks could not run

    @property
    def new_disapprovals(self) -> int:
        return sum(d.new_disapprovals for d in self.destinations)

    @property
    def exit_code(self) -> ExitCode:
        """The most serious failure to read a destination (fatal before temporary)."""
        codes = {d.exit_code for d in self.destinations}
        for code in (ExitCode.REMOTE_FATAL, ExitCode.TEMPORARY_FAILURE):
            if code in codes:
                return code
        return ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {"new_disapprovals": self.new_disapprovals, "own_checks": self.own_checks,
                "destinations": [d.to_dict() for d in self.destinations]}


class OwnIssues:
    """feedsync's own issues per feed and product, in a temporary SQLite file (so a large
    catalogue's warnings never sit in memory), for the per-item join."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None)  # temporary, on disk
        self._db.execute("CREATE TABLE own (feed TEXT, item_id TEXT, code TEXT, field TEXT)")
        self._db.execute("CREATE INDEX own_by_item ON own (feed, item_id)")
        self._rows: list[tuple[str, str, str, str | None]] = []
        self._feeds: list[str] = []

    def collect(self, config: Config, feeds: list[str]) -> None:
        """A validate run of `feeds` (nothing written), keeping every issue with an id."""
        self._feeds = feeds
        self._db.execute("BEGIN")
        run_feeds(Pipeline(config, feeds), write=False, sink=self._add, max_issues=0)
        self._flush()
        self._db.execute("COMMIT")

    def _add(self, issue: Issue) -> None:
        if not issue.product_id:
            return
        targets = [issue.channel] if issue.channel else self._feeds
        self._rows += [(feed, issue.product_id, issue.code, issue.field) for feed in targets]
        if len(self._rows) >= 5_000:
            self._flush()

    def _flush(self) -> None:
        self._db.executemany("INSERT INTO own VALUES (?, ?, ?, ?)", self._rows)
        self._rows = []

    def of(self, feed: str, item_id: str) -> list[tuple[str, str | None]]:
        """(code, field) of feedsync's issues on one item of one feed."""
        return list(self._db.execute("SELECT code, field FROM own WHERE feed = ? AND "
                                     "item_id = ? ORDER BY code", (feed, item_id)))

    def close(self) -> None:
        self._db.close()


def run_status(config: Config, channels: Iterable[str] | None = None, *,
               retry: Callable[[RetryPolicy], RetryPolicy] | None = None,
               own_checks: bool = True, clock: Callable[[], float] = time.time,
               log: Callable[[str], None] | None = None) -> StatusReport:
    """Read every selected feed's destinations (see the module docstring); a destination
    that cannot be read is reported with its error and exit code, the others still are."""
    wanted = list(channels or [])
    destinations = _destinations(config, wanted)
    redact = Redactor.for_config(config)
    feeds: list[tuple[str, ChannelSpec, list[Destination | _Unopened]]] = []
    for name, opened in destinations.items():
        for planned in plan_channels(config, [name]):
            if wanted and name not in wanted and planned.name not in wanted:
                continue
            feeds.append((planned.name, planned.spec, opened))
    report = StatusReport()
    own = OwnIssues()
    directory = state_dir(config)
    store = StateStore(directory / STATE_NAME)
    ledger = Ledger.open_for_reading(directory)
    try:
        api_feeds = [f for f, _, opened in feeds if any(_kind(d) != "file" for d in opened)]
        if own_checks and api_feeds:
            try:
                own.collect(config, api_feeds)
            except FeedsyncError as exc:
                report.own_checks = f"not run: {exc.message}"
        elif not own_checks:
            report.own_checks = "skipped"
        with ledger_errors(ledger.path):
            for feed, spec, opened in feeds:
                for destination in opened:
                    reader = _Reader(feed, spec, destination, store, ledger, own, redact,
                                     int(clock()), retry, log)
                    report.destinations.append(reader.read())
    finally:
        ledger.close()
        store.close()
        own.close()
    return report


@dataclass
class _Unopened:
    """A destination without an API: status only reads the ledger about it, so it is
    never opened and its credentials need not be set."""

    name: str
    config: PublishConfig


def _destinations(config: Config,
                  wanted: list[str]) -> dict[str, list[Destination | _Unopened]]:
    """The selected channel entries' destinations, the API ones opened (their ${VAR}s
    checked, as for push); every problem at once, as one ConfigError."""
    entries = selected_entries(config, wanted)
    chosen = {name: channel for name, channel in config.channels.items()
              if (name in entries if wanted else channel.enabled)}
    names = {d for channel in chosen.values() for d in channel.publish}
    problems = [f"channels.{name}.publish: no destination {d!r} under `publish:`"
                for name, channel in chosen.items() for d in channel.publish
                if d not in config.publish]
    if problems:
        raise ConfigError(f"{config.file.name}: {len(problems)} problem(s) with publishing:",
                          problems)
    api = {d for d in names if _scheme(config.publish[d]) in API_SCHEMES}
    config.check_publish_variables(api)
    opened: dict[str, Destination | _Unopened] = {}
    for name in sorted(names):
        if name in api:
            try:
                opened[name] = open_destination(name, config.publish[name], config.base_dir)
            except ConfigError as exc:
                problems.append(str(exc))
        else:
            opened[name] = _Unopened(name, config.publish[name])
    if problems:
        raise ConfigError(f"{config.file.name}: {len(problems)} problem(s) with publishing:",
                          problems)
    return {name: [opened[d] for d in channel.publish] for name, channel in chosen.items()}


def _scheme(destination: PublishConfig) -> str:
    return destination.url.split("://")[0].lower() if "://" in destination.url else "file"


def _kind(destination: Destination | _Unopened) -> str:
    if isinstance(destination, MerchantApiDestination):
        return "merchant-api"
    if isinstance(destination, MetaCatalogDestination):
        return "meta-catalog"
    return "file"


class _Reader:
    """Reads one destination of one feed and joins what it says (one use)."""

    def __init__(self, feed: str, spec: ChannelSpec, destination: Destination | _Unopened,
                 store: StateStore,
                 ledger: Ledger, own: OwnIssues, redact: Redactor, now: int,
                 retry_hook: Callable[[RetryPolicy], RetryPolicy] | None,
                 log: Callable[[str], None] | None) -> None:
        self.feed, self.spec, self.destination = feed, spec, destination
        self.store, self.ledger, self.own, self.redact = store, ledger, own, redact
        self.now = now
        self.groups: dict[tuple[str, str | None], IssueGroup] = {}
        policy = RetryPolicy.from_config(destination.config.retry)
        if log is not None:
            policy.on_retry = lambda attempt, wait, exc: log(redact(
                f"{feed} -> {destination.name}: attempt {attempt} failed ({exc}); "
                f"retrying in {wait:.1f}s"))
        self.policy = retry_hook(policy) if retry_hook is not None else policy

    def read(self) -> DestinationStatus:
        """The destination's status; its notes redacted, since some quote the API."""
        result = self._read()
        result.notes = [self.redact(note) for note in result.notes]
        return result

    def _read(self) -> DestinationStatus:
        destination = self.destination
        kind = _kind(destination)
        if kind == "file":  # its target names the file: take the one last published
            last = self.store.last(self.feed, destination.name)
            target = self.redact(last.target if last else destination.config.url)
        else:
            assert not isinstance(destination, _Unopened)
            # API targets name the account or catalog; the upload is not looked at.
            target = self.redact(destination.target(
                Upload(self.feed, Path(), "", "", 0, "", 0)))
        result = DestinationStatus(self.feed, destination.name, kind, target, iso(self.now)
                                   or "", statuses=dict.fromkeys(STATUSES, 0))
        result.previous_check = self.store.last_seen_at(self.feed, destination.name)
        count = self.ledger.count(self.feed, destination.name)
        result.ledger_items = count
        if kind == "file":
            self._file(result)
            return result
        snapshot = self.store.snapshot()
        try:
            if isinstance(destination, MerchantApiDestination):
                views: Iterator[ItemView] = destination.statuses(self.policy)
                self._views(result, views, snapshot)
                self._join_ledger(result, snapshot.ids())
            elif isinstance(destination, MetaCatalogDestination):
                handles = self.store.handles(self.feed, destination.name)
                if not handles:
                    result.notes.append("no batch handles recorded yet: run `feedsync push` "
                                        "(per-item results come from its batches)")
                feed, name = self.feed, destination.name
                batch = destination.batch_views(
                    [h for h, _ in handles], self.policy, result.notes,
                    lambda item_id, handle: self.store.newest_handle(
                        feed, name, item_id) in (handle, None))
                self._views(result, self._batch_times(batch, dict(handles)), snapshot)
                self._diagnostics(result, destination.diagnostics(self.policy))
        except PublishError as exc:
            result.error = self.redact(exc.message)
            result.exit_code = exc.exit_code
            result.notes.append("nothing remembered from this read: the last complete one "
                                "stays")
            return result
        snapshot.commit(self.feed, destination.name, result.checked_at)
        result.groups = sorted(self.groups.values(),
                               key=lambda g: (g.scope != "item", -g.count, g.code))
        return result

    # -- API destinations -------------------------------------------------------------------

    def _batch_times(self, views: list[ItemView],
                     times: dict[str, int]) -> list[ItemView]:
        """Meta: each view's time is when its batch was sent."""
        for view in views:
            handle = view.destinations[0].removeprefix("batch ") if view.destinations else ""
            sent = times.get(handle)
            view.updated_at = iso(sent) if sent is not None else None
        return views

    def _views(self, result: DestinationStatus, views: Iterable[ItemView],
               snapshot: Snapshot) -> None:
        name = self.destination.name
        for view in views:
            result.items += 1
            result.statuses[view.status] = result.statuses.get(view.status, 0) + 1
            old = self.store.seen(self.feed, name, view.item_id)
            old_codes = {i.get("code") for i in old.view.get("issues", [])} if old else set()
            newly = view.status == DISAPPROVED and (old is None or old.status != DISAPPROVED)
            if newly:
                result.new_disapprovals += 1
                if len(result.sample_new_disapprovals) < SAMPLE_IDS:
                    result.sample_new_disapprovals.append(view.item_id)
            self._expiry(result, view)
            own = self.own.of(self.feed, view.item_id) if view.issues or \
                view.status != APPROVED else []
            for issue in view.issues:
                self._group(issue, view.item_id, issue.code not in old_codes, own)
            if (view.issues or view.status != APPROVED) and \
                    len(result.problem_items) < MAX_ITEMS_LISTED:
                state = self.ledger.state_of(self.feed, name, view.item_id)
                result.problem_items.append(ItemJoin(
                    view, state[0] if state else None, sorted({c for c, _ in own}), newly))
            snapshot.add(view.item_id, view.status, view.to_dict())

    def _expiry(self, result: DestinationStatus, view: ItemView) -> None:
        if not view.expires_at:
            return
        try:
            when = datetime.fromisoformat(view.expires_at.replace("Z", "+00:00"))
        except ValueError:
            return
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        left = when.timestamp() - self.now
        if left <= 0:
            result.expired += 1
            if len(result.sample_expired) < SAMPLE_IDS:
                result.sample_expired.append(view.item_id)
        elif left <= EXPIRING_SOON:
            result.expiring += 1

    def _group(self, issue: ChannelIssue, item_id: str, new: bool,
               own: list[tuple[str, str | None]]) -> None:
        key = (issue.code, issue.attribute)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = IssueGroup(
                issue.code, issue.attribute, issue.description, issue.severity,
                issue.resolution, issue.documentation,
                checked_by=checks_for(self.spec, issue.attribute))
        group.count += 1
        group.new += int(new)
        if len(group.sample_ids) < SAMPLE_IDS:
            group.sample_ids.append(item_id)
        if issue.attribute:
            group.feedsync_codes.update(code for code, name in own if name == issue.attribute)

    def _diagnostics(self, result: DestinationStatus,
                     found: list[CatalogDiagnostic]) -> None:
        for diagnostic in found:
            issue = diagnostic.issue
            key = (f"diagnostic:{issue.code}", issue.attribute)
            group = self.groups.setdefault(key, IssueGroup(
                issue.code, issue.attribute, issue.description, issue.severity,
                issue.resolution, issue.documentation, scope="catalog"))
            group.count += diagnostic.count
            group.sample_ids = (group.sample_ids + diagnostic.sample_ids)[:SAMPLE_IDS]

    def _join_ledger(self, result: DestinationStatus, listed: Iterator[str]) -> None:
        """Merge the channel's sorted ids with the ledger's: what was sent and confirmed
        but is not listed, and what is listed though the ledger holds no live record."""
        held = ((i, s) for i, s, _ in self.ledger.states(self.feed, self.destination.name))
        channel_id = next(listed, None)
        ledger_entry = next(held, None)
        while channel_id is not None or ledger_entry is not None:
            if ledger_entry is None or (channel_id is not None
                                        and channel_id < ledger_entry[0]):
                assert channel_id is not None
                self._unknown(result, channel_id)
                channel_id = next(listed, None)
            elif channel_id is None or ledger_entry[0] < channel_id:
                if ledger_entry[1] == "live":
                    result.not_listed += 1
                    if len(result.sample_not_listed) < SAMPLE_IDS:
                        result.sample_not_listed.append(ledger_entry[0])
                ledger_entry = next(held, None)
            else:
                if ledger_entry[1] == "deleting":  # deleted by feedsync, still listed
                    self._unknown(result, channel_id)
                channel_id = next(listed, None)
                ledger_entry = next(held, None)
        if result.not_listed:
            result.notes.append(f"{result.not_listed:,} item(s) the ledger says were sent "
                                "and confirmed are not listed by the channel (processing "
                                "can take a few minutes after a push)")

    @staticmethod
    def _unknown(result: DestinationStatus, item_id: str) -> None:
        result.unknown_to_ledger += 1
        if len(result.sample_unknown) < SAMPLE_IDS:
            result.sample_unknown.append(item_id)

    # -- destinations without an API ----------------------------------------------------------

    def _file(self, result: DestinationStatus) -> None:
        """What was published there and when, from the ledger (the channel fetches the
        file itself and has no API feedsync reads)."""
        name = self.destination.name
        runs = [r for r in self.ledger.history([self.feed], limit=20)
                if r.destination in (name, FILE_DESTINATION)]
        published = next((r for r in runs if r.destination == name
                          and r.result == "published"), None)
        if published is not None:
            result.last_published = published.to_dict()
            result.items = published.items
        failed = next((r for r in runs if r.destination == name), None)
        if failed is not None and failed.result != "published":
            result.notes.append(f"the last push here ended {failed.result} at "
                                f"{iso(failed.at)}: {failed.message}")
        result.notes.append("this destination has no API feedsync reads: what the channel "
                            "did with the file is shown in its own dashboard")

