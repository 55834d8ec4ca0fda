"""run_push: build every channel into a staging area, guard it, publish it, then record it.

    lock -> build (staged) -> per channel: guards -> each destination (retried) -> record
         -> promote the staged feeds to the channel's own outputs

The staged build is the same pipeline as `build` (feedsync.pipeline), given the planned
feeds with staged output paths; a feed with API destinations also spools its items as
typed values (feedsync.publish.items), which is what the APIs send.

The channel's configured outputs are replaced only when its guards pass, so an empty or
truncated master leaves every copy of the old feed where it was: the local file, the
remote file and the API catalog. The publish record is written only after a destination
confirmed the publish.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from feedsync.channels.spec import ChannelSpec
from feedsync.checks.issue import Issue
from feedsync.config import ChannelConfig, Config
from feedsync.errors import ConfigError, ExitCode
from feedsync.pipeline import (
    Pipeline,
    PlannedOutput,
    Progress,
    plan_channels,
    run_feeds,
    selected_entries,
)
from feedsync.plan import (
    LedgerRecorder,
    check_plan,
    check_plan_items,
    destination_policy,
    load_plan,
    note_left_out,
)
from feedsync.publish import open_destination
from feedsync.publish.base import Destination, PublishError, Upload
from feedsync.publish.items import SPOOL_SUFFIX, ItemSpool, read_spool_at
from feedsync.publish.redact import Redactor
from feedsync.publish.retry import RetryPolicy
from feedsync.report import FeedChanges, RunReport
from feedsync.state.guards import check_change_set, check_guards
from feedsync.state.ledger import FILE_DESTINATION, Diff, Ledger, ledger_errors
from feedsync.state.lock import RunLock
from feedsync.state.store import STATE_NAME, StateStore
from feedsync.writers.commit import copy_together
from feedsync.writers.parts import existing_parts, remove_stale_parts


class PublishStatus(str, Enum):
    """What happened to one feed at one destination; the JSON output shows the value."""

    PUBLISHED = "published"
    GUARD = "guard"  # a guard tripped: nothing sent, the old feed kept
    TEMPORARY = "temporary"  # still failing after the retries; may pass later
    FATAL = "fatal"  # will not pass by retrying (credentials, host key, TLS, permission)
    DRY_RUN = "dry-run"

    def __str__(self) -> str:
        return self.value


PUBLISHED = PublishStatus.PUBLISHED
GUARD = PublishStatus.GUARD
TEMPORARY = PublishStatus.TEMPORARY
FATAL = PublishStatus.FATAL
DRY_RUN = PublishStatus.DRY_RUN
MAX_REJECTED_LISTED = 100
INSECURE_SCHEMES = ("ftp", "http")
API_SCHEMES = ("google-merchant", "meta-catalog")  # destinations that take items, not a file

_MEDIA_TYPES = {".xml": "application/xml", ".tsv": "text/tab-separated-values",
                ".txt": "text/plain", ".csv": "text/csv", ".json": "application/json",
                ".jsonl": "application/x-ndjson"}


@dataclass
class PushOutcome:
    channel: str
    destination: str
    target: str
    status: PublishStatus
    items: int
    message: str = ""
    attempts: int = 0
    deleted: int = 0
    rejected: list[str] = field(default_factory=list)  # the first MAX_REJECTED_LISTED
    rejected_count: int = 0
    sent: int = 0  # items sent (a delta publish sends only the changes)
    diff: Diff | None = None  # what the ledger said would change

    def changes(self) -> FeedChanges | None:
        """What this publish changed at the destination, by the ledger's diff (and the
        deletes it confirmed); None when the run has no diff for it (a dry run)."""
        if self.diff is None:
            return None
        return FeedChanges(self.diff.added, self.diff.changed, self.diff.removed,
                           self.deleted)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        data = vars(self).copy()
        data["status"] = self.status.value
        diff = data.pop("diff")
        if diff is not None:
            data["changes"] = {k: getattr(diff, k) for k in
                               ("added", "changed", "removed", "unchanged", "refresh")}
        return data


@dataclass
class PushReport:
    build: RunReport
    outcomes: list[PushOutcome] = field(default_factory=list)
    dry_run: bool = False

    @property
    def exit_code(self) -> ExitCode:
        statuses = [o.status for o in self.outcomes]
        failed = [s for s in statuses if s in (GUARD, TEMPORARY, FATAL)]
        if not failed:
            return ExitCode.OK
        if PUBLISHED in statuses:
            return ExitCode.PARTIAL
        if FATAL in failed:
            return ExitCode.REMOTE_FATAL
        if TEMPORARY in failed:
            return ExitCode.TEMPORARY_FAILURE
        return ExitCode.GUARD_TRIPPED

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "exit_code": int(self.exit_code),
                "publish": [o.to_dict() for o in self.outcomes], "build": self.build.to_dict()}


@dataclass
class _StagedOutput:
    """One output of a feed: where the build writes it, and the output it will replace."""

    staged: Path
    final: Path | None
    format: str

    def files(self) -> list[tuple[Path, Path | None]]:
        """(staged file, final file) pairs as built: the file itself, or its numbered parts
        when the format splits by item count (amazon.part0001.json, ...)."""
        if self.staged.exists():
            return [(self.staged, self.final)]
        parts = existing_parts(self.staged)
        return [(part, self.final.with_name(part.name) if self.final else None)
                for part in parts]


@dataclass
class _Staged:
    """One feed's staged outputs (a channel entry, or one market of it) and destinations."""

    name: str
    config: ChannelConfig
    files: list[_StagedOutput]
    destinations: list[Destination]
    spec: ChannelSpec
    spool: Path | None = None  # the typed items API destinations send


def state_dir(config: Config) -> Path:
    return config.resolve(config.state_dir)


@dataclass
class PushOptions:
    """How one push treats guards and deltas."""

    allow: set[str] = field(default_factory=set)  # guards allowed to trip (--allow)
    force: bool = False  # every guard
    full: bool = False  # send every item, not only the changes


def run_push(config: Config, channels: Iterable[str] | None = None, *, dry_run: bool = False,
             allow_empty: bool = False, force: bool = False,
             log: Callable[[str], None] | None = None,
             progress: Progress | None = None, sink: Callable[[Issue], None] | None = None,
             max_issues: int | None = None,
             retry: Callable[[RetryPolicy], RetryPolicy] | None = None,
             jobs: int = 1, full: bool = False, allow: Iterable[str] = (),
             plan_file: Path | None = None, started: float | None = None) -> PushReport:
    """Build, guard and publish the selected channels; see the module docstring. API
    destinations get only what changed since the ledger's record (`full`: everything);
    `plan_file` applies a saved plan, refused if anything it was made from changed.
    `started`: when the command began (`time.monotonic()`; default: now), for the
    history rows' durations."""
    started = time.monotonic() if started is None else started
    options = PushOptions({*allow, *(["empty"] if allow_empty else [])}, force, full)
    redact = Redactor.for_config(config)
    def say(text: str) -> None:
        if log is not None:
            log(redact(text))

    wanted = list(channels or [])
    # A dry run sends nothing, so it needs no secrets: it only says which are still unset.
    destinations = _open_destinations(config, wanted, check_secrets=not dry_run)
    saved = load_plan(plan_file) if plan_file is not None else None
    if dry_run:
        for problem in sorted({p for name in destinations for d in config.channels[name].publish
                               for p in config.unset_publish_variables.get(d, [])}):
            say(f"note: a real push needs this: {problem}")
        return _dry_run(config, wanted, destinations, allow_empty, force, progress, sink,
                        max_issues, jobs)
    for name, destination in config.publish.items():
        if destination.url.split("://")[0].lower() in INSECURE_SCHEMES and (
                destination.password is not None or destination.token is not None
                or destination.headers):
            say(f"warning: publish.{name} sends credentials unencrypted over "
                f"{destination.url.split('://')[0]}://; prefer sftp://, ftps:// or https://")
    directory = state_dir(config)
    with RunLock(directory):
        staging = directory / "staging"
        shutil.rmtree(staging, ignore_errors=True)
        ledger = Ledger.open(directory)
        ledger.started = started
        try:
            with ledger_errors(ledger.path):
                if saved is not None and plan_file is not None:
                    check_plan(saved, config, ledger, plan_file)
                staged = _stage(config, wanted, destinations, staging)
                build, digests = _build_staged(config, staged, ledger, progress=progress,
                                               sink=sink, max_issues=max_issues, jobs=jobs)
                note_left_out(ledger, build)
                if saved is not None and plan_file is not None:
                    check_plan_items(saved, digests, plan_file)
                report = PushReport(build)
                store = StateStore(directory / STATE_NAME)
                try:
                    for channel in staged:
                        _push_channel(channel, report, store, ledger, options, say, redact,
                                      retry)
                    ledger.collect()
                finally:
                    store.close()
        finally:
            ledger.close()
            shutil.rmtree(staging, ignore_errors=True)
    return report


def _open_destinations(config: Config, wanted: list[str], *,
                       check_secrets: bool = True) -> dict[str, list[Destination]]:
    entries = selected_entries(config, wanted)
    if check_secrets:
        config.check_publish_variables(
            {d for name, channel in config.channels.items()
             if (name in entries if wanted else channel.enabled) for d in channel.publish})
    problems = []
    opened: dict[str, Destination] = {}
    result: dict[str, list[Destination]] = {}
    for name, channel in config.channels.items():
        if (wanted and name not in entries) or (not wanted and not channel.enabled):
            continue
        result[name] = []
        for dest_name in channel.publish:
            if dest_name not in config.publish:
                problems.append(f"channels.{name}.publish: no destination {dest_name!r} under "
                                "`publish:` (it has "
                                + (", ".join(config.publish) or "none") + ")")
                continue
            if dest_name not in opened:
                try:
                    opened[dest_name] = open_destination(dest_name, config.publish[dest_name],
                                                         config.base_dir)
                except ConfigError as exc:
                    problems.append(str(exc))
                    continue
            result[name].append(opened[dest_name])
    if problems:
        raise ConfigError(f"{config.file.name}: {len(problems)} problem(s) with publishing:",
                          problems)
    return result


def _stage(config: Config, wanted: list[str], destinations: dict[str, list[Destination]],
           staging: Path) -> list[_Staged]:
    """Each feed to publish, with its outputs redirected into `staging`: the same planned
    feed a build writes (markets included), under folders named by position, not by
    channel name, so no name can lead a staged file outside `staging`."""
    staged: list[_Staged] = []
    for name, channel_destinations in destinations.items():
        for feed in plan_channels(config, [name]):
            if wanted and name not in wanted and feed.name not in wanted:
                continue  # another market of this entry, not asked for
            folder = staging / str(len(staged))
            files = [_StagedOutput(folder / str(index) / output.path.name, output.path,
                                   output.format)
                     for index, output in enumerate(feed.outputs)]
            spool = (folder / "api" / f"items{SPOOL_SUFFIX}"
                     if any(_is_api(d) for d in channel_destinations) else None)
            item = _Staged(feed.name, feed.config, files, channel_destinations, feed.spec,
                           spool)
            for destination in channel_destinations:
                _choose_file(item, destination)  # a wrong `file:` fails before building
            staged.append(item)
    return staged


def _build_staged(config: Config, staged: list[_Staged], ledger: Ledger, *,
                  progress: Progress | None, sink: Callable[[Issue], None] | None,
                  max_issues: int | None, jobs: int) -> tuple[RunReport, dict[str, str]]:
    """One build of every staged feed: outputs into the staging area, typed items into
    each API feed's spool, committed only when the whole build succeeded; every item is
    staged in the ledger too (with its place in the spool). Returns the report and each
    feed's items digest."""
    planned = {f.name: f for f in plan_channels(config, [s.name for s in staged])}
    feeds = [replace(planned[s.name],
                     outputs=[PlannedOutput(f.staged, f.format) for f in s.files])
             for s in staged]
    pipeline = Pipeline(config, feeds=feeds,
                        typed_feeds=[s.name for s in staged if s.spool is not None])
    spools = {s.name: ItemSpool(s.spool) for s in staged if s.spool is not None}
    recorder = LedgerRecorder(ledger.stager(), [s.name for s in staged],
                              [spools.get(s.name) for s in staged])
    try:
        report = run_feeds(pipeline, write=True, progress=progress, sink=sink,
                           max_issues=max_issues, jobs=jobs, spools=spools,
                           observers=[recorder])
        for spool in spools.values():
            spool.commit()
    finally:
        for spool in spools.values():
            spool.abort()
    return report, recorder.close()


def _push_channel(channel: _Staged, report: PushReport, store: StateStore, ledger: Ledger,
                  options: PushOptions, say: Callable[[str], None], redact: Redactor,
                  retry_hook: Callable[[RetryPolicy], RetryPolicy] | None) -> None:
    channel_report = report.build.channels[channel.name]
    items = channel_report.items
    tripped = False
    for destination in channel.destinations:
        api = _is_api(destination) and channel.spool is not None
        if api:  # take over the ids an older feedsync recorded, once
            ledger.seed(channel.name, destination.name,
                        store.published_ids(channel.name, destination.name))
        lifetime, refresh = destination_policy(destination.config)
        diff = ledger.diff(channel.name, destination.name, refresh_before=refresh)
        uploads = _uploads(channel, destination, items, store, ledger)
        upload = uploads[0]
        target = redact(destination.target(upload))
        last = store.reference(channel.name, destination.name)  # the guard's longer memory
        reason = check_guards(items, last, max_drop=destination.config.max_drop,
                              allow_empty="empty" in options.allow, force=options.force)
        if reason is None:
            previous = ledger.count(channel.name, destination.name)
            if previous is None and last is not None:
                previous = last.items
            guards = destination.config.guards or channel.config.guards
            found = check_change_set(diff, guards, ledger.changed(channel.name,
                                                                  destination.name),
                                     previous=previous, force=options.force,
                                     allowed={*options.allow, "empty", "shrink"})
            reason = "; ".join(t.message for t in found) or None
        if reason is not None:
            tripped = True
            say(f"{channel.name} -> {destination.name}: guard tripped, nothing sent: {reason}")
            ledger.record_failure(channel.name, destination.name, "push", diff, GUARD.value,
                                  reason)
            report.outcomes.append(PushOutcome(channel.name, destination.name, target, GUARD,
                                               items, reason, diff=diff))
            continue
        policy = RetryPolicy.from_config(destination.config.retry)
        policy.on_retry = lambda attempt, wait, exc, d=destination: say(
            f"{channel.name} -> {d.name}: attempt {attempt} failed ({exc}); "
            f"retrying in {wait:.1f}s")
        if retry_hook is not None:
            policy = retry_hook(policy)
        if api and not options.full:
            sending = diff.added + diff.changed + diff.refresh
            say(f"{channel.name} -> {destination.name}: sending {sending:,} of {items:,} items "
                f"({diff.added:,} new, {diff.changed:,} changed, {diff.refresh:,} to refresh)"
                f", deleting {diff.removed:,}, to {target}")
        else:
            say(f"{channel.name} -> {destination.name}: sending {items:,} items to {target}")
        if api:
            ledger.mark_sending(channel.name, destination.name, refresh_before=refresh,
                                full=options.full)
        try:
            results = [destination.publish(part, policy) for part in uploads]
        except PublishError as exc:
            status = TEMPORARY if exc.exit_code is ExitCode.TEMPORARY_FAILURE else FATAL
            message = redact(exc.message)
            say(f"{channel.name} -> {destination.name}: {message}")
            if api:  # what the API confirmed before it failed is live: keep it
                ledger.apply_api(channel.name, destination.name, diff, lifetime=lifetime,
                                 attempted_deletes=destination.config.delete_missing,
                                 result=status.value, message=message)
            else:
                ledger.record_failure(channel.name, destination.name, "push", diff,
                                      status.value, message)
            report.outcomes.append(PushOutcome(channel.name, destination.name, target, status,
                                               items, message, diff=diff))
            continue
        result = results[0]
        for later in results[1:]:  # the other numbered parts of the same feed
            result.attempts = max(result.attempts, later.attempts)
            result.rejected += later.rejected
        sha256 = (upload.sha256 if len(uploads) == 1 else
                  hashlib.sha256("".join(u.sha256 for u in uploads).encode()).hexdigest())
        store.record(channel.name, destination.name, items=items, sha256=sha256,
                     size=sum(u.size for u in uploads), target=result.target, ids=result.ids,
                     forced=options.force)
        handles = [h for r in results for h in r.handles]
        if handles:  # so `feedsync status` can read the batches' per-item results later
            store.record_batches(channel.name, destination.name, handles, ledger.now())
        if api:
            run = ledger.apply_api(channel.name, destination.name, diff, lifetime=lifetime,
                                   attempted_deletes=destination.config.delete_missing,
                                   result=PUBLISHED.value)
            sent = result.items
        else:
            run = ledger.apply_file(channel.name, destination.name, diff, kind="push")
            sent = items
        report.outcomes.append(PushOutcome(
            channel.name, destination.name, redact(result.target), PUBLISHED, items,
            attempts=result.attempts, deleted=result.deleted if api else run.deleted,
            rejected=[redact(r) for r in result.rejected[:MAX_REJECTED_LISTED]],
            rejected_count=len(result.rejected), sent=sent, diff=diff))
    if not tripped:
        _promote(channel, channel_report)
        if channel.files and any(f.final is not None for f in channel.files):
            record = ledger.apply_file(channel.name, FILE_DESTINATION,
                                       ledger.diff(channel.name, FILE_DESTINATION, sample=0),
                                       kind="push")
            channel_report.changes = FeedChanges(record.added, record.changed,
                                                 record.removed, record.deleted)
        return
    for staged_output, output in zip(channel.files, channel_report.outputs, strict=False):
        final = staged_output.final
        output.path = f"{final} (not replaced: guard tripped)" if final else "-"


def _choose_file(channel: _Staged, destination: Destination) -> _StagedOutput:
    """The staged output this destination receives: `file:` (a name or a format) or the
    first. API destinations take the feed's item spool instead."""
    wanted = destination.config.file
    files = channel.files
    if _is_api(destination) and channel.spool is not None and wanted is None:
        return _StagedOutput(channel.spool, None, "items")
    if wanted is not None:
        for output in files:
            if wanted in (output.staged.name, output.format):
                return output
        raise ConfigError(f"publish.{destination.name}.file: channel {channel.name} has no "
                          f"output {wanted!r} (it has "
                          + ", ".join(o.staged.name for o in files) + ")")
    if not files:
        raise ConfigError(f"publish.{destination.name}: channel {channel.name} has no output "
                          "to send (give it `output:`)")
    return files[0]


def _is_api(destination: Destination) -> bool:
    return destination.config.url.split("://")[0].lower() in API_SCHEMES


def _uploads(channel: _Staged, destination: Destination, items: int,
             store: StateStore, ledger: Ledger) -> list[Upload]:
    """What this destination receives: the feed's item spool (API destinations: only the
    items the ledger says changed, unless `full`), or its file, or each numbered part of
    a split feed."""
    output = _choose_file(channel, destination)
    previous = lambda: store.published_ids(channel.name, destination.name)  # noqa: E731
    if _is_api(destination) and channel.spool is not None:
        spool = channel.spool
        feed, name = channel.name, destination.name
        return [Upload(channel=channel.name, path=spool, remote_name=spool.name,
                       media_type="application/x-ndjson", items=items,
                       sha256=_sha256(spool) if spool.exists() else "",
                       size=spool.stat().st_size if spool.exists() else 0,
                       read_items=lambda: read_spool_at(spool, ledger.to_send(feed, name)),
                       previous_ids=previous,
                       delete_ids=lambda: ledger.removed(feed, name),
                       confirm=lambda sent, deleted: ledger.confirm(feed, name, sent,
                                                                    deleted))]
    fmt = channel.spec.formats[output.format]
    files = output.files() or [(output.staged, output.final)]
    media_type = fmt.media_type or _MEDIA_TYPES.get(output.staged.suffix,
                                                    "application/octet-stream")
    return [Upload(
        channel=channel.name, path=staged, remote_name=(final or staged).name,
        media_type=media_type, items=items,
        sha256=_sha256(staged) if staged.exists() else "",
        size=staged.stat().st_size if staged.exists() else 0,
        previous_ids=previous)
        for staged, final in files]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _promote(channel: _Staged, channel_report: Any) -> None:
    """Copy the staged feeds over the channel's outputs, all of them as one set
    (feedsync.writers.commit: fresh locked temporary names, fsync, journal, renames)."""
    promoted = []
    for index, output in enumerate(channel.files):
        report = channel_report.outputs[index] if index < len(channel_report.outputs) else None
        if output.final is None:
            continue
        promoted.append((output, output.files(), report))
    copy_together([(staged, final) for _, files, _ in promoted for staged, final in files
                   if final is not None])
    for output, files, report in promoted:
        if files and files[0][0] != output.staged and output.final is not None:  # parts
            remove_stale_parts(output.final, len(files))
        if report is not None and files:
            report.path = str(files[0][1])


def _dry_run(config: Config, wanted: list[str], destinations: dict[str, list[Destination]],
             allow_empty: bool, force: bool, progress: Progress | None,
             sink: Callable[[Issue], None] | None, max_issues: int | None,
             jobs: int = 1) -> PushReport:
    """Read and check everything, then say what would be sent where (for the APIs, the
    changes the ledger sees); send and write nothing."""
    ledger = Ledger.open_for_reading(state_dir(config))
    pipeline = Pipeline(config, wanted or None)
    recorder = LedgerRecorder(ledger.stager(), [f.name for f in pipeline.feeds])
    try:
        with ledger_errors(ledger.path):
            build = run_feeds(pipeline, write=False, progress=progress, sink=sink,
                              max_issues=max_issues, jobs=jobs, observers=[recorder])
            recorder.close()
            return _dry_run_report(config, wanted, destinations, allow_empty, force, build,
                                   ledger)
    finally:
        ledger.close()


def _dry_run_report(config: Config, wanted: list[str],
                    destinations: dict[str, list[Destination]], allow_empty: bool,
                    force: bool, build: RunReport, ledger: Ledger) -> PushReport:
    report = PushReport(build, dry_run=True)
    redact = Redactor.for_config(config)
    db = state_dir(config) / STATE_NAME
    store = StateStore(db) if db.exists() else None
    try:
        for name, channel_destinations in destinations.items():
            for feed in plan_channels(config, [name]):
                if wanted and name not in wanted and feed.name not in wanted:
                    continue
                items = build.channels[feed.name].items
                api_feed = any(_is_api(d) for d in channel_destinations)
                staged = _Staged(feed.name, feed.config,
                                 [_StagedOutput(o.path, o.path, o.format) for o in feed.outputs],
                                 channel_destinations, feed.spec,
                                 Path(f"{feed.name}{SPOOL_SUFFIX}") if api_feed else None)
                for destination in channel_destinations:
                    output = _choose_file(staged, destination)
                    upload = Upload(feed.name, output.staged,
                                    (output.final or output.staged).name, "", items, "", 0)
                    last = store.reference(feed.name, destination.name) if store else None
                    reason = check_guards(items, last, max_drop=destination.config.max_drop,
                                          allow_empty=allow_empty, force=force)
                    if _is_api(destination):
                        _, refresh = destination_policy(destination.config)
                        diff = ledger.diff(feed.name, destination.name, refresh_before=refresh,
                                           sample=0)
                        sending = diff.added + diff.changed + diff.refresh
                        plan = (f"would send {sending:,} of {items:,} items ({diff.added:,} "
                                f"new, {diff.changed:,} changed, {diff.refresh:,} to refresh) "
                                f"and delete {diff.removed:,}")
                    else:
                        plan = f"would send {upload.remote_name}"
                    report.outcomes.append(PushOutcome(
                        feed.name, destination.name, redact(destination.target(upload)),
                        DRY_RUN if reason is None else GUARD, items, reason or plan))
    finally:
        if store is not None:
            store.close()
    return report
