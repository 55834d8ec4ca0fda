"""run_push: build every channel into a staging area, guard it, publish it, then record it.

    lock -> build (staged) -> per channel: guards -> each destination (retried) -> record
         -> promote the staged feeds to the channel's own outputs

The channel's configured outputs are replaced only when its guards pass, so an empty or
truncated master leaves every copy of the old feed where it was: the local file, the
remote file and the API catalog. The publish record is written only after a destination
confirmed the publish.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feedsync import api
from feedsync.channels.loader import load_spec
from feedsync.channels.render import Item
from feedsync.channels.spec import ChannelSpec
from feedsync.checks.issue import Issue
from feedsync.config import ChannelConfig, Config, OutputConfig
from feedsync.errors import ConfigError, ExitCode
from feedsync.publish import open_destination
from feedsync.publish.base import Destination, PublishError, Upload
from feedsync.publish.items import read_items
from feedsync.publish.redact import Redactor
from feedsync.publish.retry import RetryPolicy
from feedsync.report import RunReport
from feedsync.state.guards import check_guards
from feedsync.state.lock import RunLock
from feedsync.state.store import STATE_NAME, StateStore
from feedsync.writers.parts import existing_parts, remove_stale_parts

PUBLISHED = "published"
GUARD = "guard"
TEMPORARY = "temporary"
FATAL = "fatal"
DRY_RUN = "dry-run"
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
    status: str
    items: int
    message: str = ""
    attempts: int = 0
    deleted: int = 0
    rejected: list[str] = field(default_factory=list)  # the first MAX_REJECTED_LISTED
    rejected_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return vars(self).copy()


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
    final: Path | None  # None: built only for API destinations to read items from
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


def state_dir(config: Config) -> Path:
    return config.resolve(config.state_dir)


def run_push(config: Config, channels: Iterable[str] | None = None, *, dry_run: bool = False,
             allow_empty: bool = False, force: bool = False,
             log: Callable[[str], None] | None = None,
             progress: api.Progress | None = None, sink: Callable[[Issue], None] | None = None,
             max_issues: int | None = None,
             retry: Callable[[RetryPolicy], RetryPolicy] | None = None,
             jobs: int = 1) -> PushReport:
    """Build, guard and publish the selected channels; see the module docstring."""
    redact = Redactor.for_config(config)
    say = (lambda text: log(redact(text))) if log else (lambda text: None)
    wanted = list(channels or [])
    destinations = _open_destinations(config, wanted)
    if dry_run:
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
        try:
            staged_config, staged = _stage(config, wanted, destinations, staging)
            build = api.run_build(staged_config, wanted or None, progress=progress, sink=sink,
                                  max_issues=max_issues, jobs=jobs)
            report = PushReport(build)
            store = StateStore(directory / STATE_NAME)
            try:
                for channel in staged:
                    _push_channel(channel, report, store, allow_empty, force, say, redact,
                                  retry)
            finally:
                store.close()
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return report


def _open_destinations(config: Config, wanted: list[str]) -> dict[str, list[Destination]]:
    entries = api.selected_entries(config, wanted)
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
           staging: Path) -> tuple[Config, list[_Staged]]:
    """A copy of the config whose channels write into `staging` instead of their outputs.

    Staged names keep their `{country}`-style placeholders, so a channel with markets
    expands into one staged feed per market exactly as its real outputs do."""
    staged_config = config.model_copy(deep=True)
    staged_config.file = config.file
    staged: list[_Staged] = []
    for name, channel in staged_config.channels.items():
        if name not in destinations:
            continue
        original = config.channels[name]
        spec = load_spec(original.spec, config.base_dir)
        outputs: list[str | OutputConfig] = [
            OutputConfig(path=str(staging / name / str(index) / Path(output.path).name),
                         format=output.format)
            for index, output in enumerate(original.resolved_outputs())]
        if not outputs and destinations[name]:
            # An API-only channel: stage a feed in the spec's XML (else first) format to read
            # items from.
            fmt_name = next((n for n, f in spec.formats.items() if f.writer == "xml"),
                            next(iter(spec.formats)))
            market = "_{country}" if original.markets else ""
            outputs.append(OutputConfig(
                path=str(staging / name / "api" / f"{name}{market}"
                         f"{spec.formats[fmt_name].extension}"), format=fmt_name))
        channel.output = None
        channel.format = None
        channel.outputs = outputs
        finals = api.plan_channels(config, [name])
        for final_feed, staged_feed in zip(finals, api.plan_channels(staged_config, [name]),
                                           strict=True):
            if wanted and name not in wanted and staged_feed.name not in wanted:
                continue  # another market of this entry, not asked for
            files = [_StagedOutput(output.path,
                                   final_feed.outputs[index].path
                                   if index < len(final_feed.outputs) else None,
                                   output.format)
                     for index, output in enumerate(staged_feed.outputs)]
            feed = _Staged(staged_feed.name, original, files, destinations[name], spec)
            for destination in feed.destinations:
                _choose_file(feed, destination)  # a wrong `file:` fails before building
            staged.append(feed)
    return staged_config, staged


def _push_channel(channel: _Staged, report: PushReport, store: StateStore, allow_empty: bool,
                  force: bool, say: Callable[[str], None], redact: Redactor,
                  retry_hook: Callable[[RetryPolicy], RetryPolicy] | None) -> None:
    channel_report = report.build.channels[channel.name]
    items = channel_report.items
    tripped = False
    for destination in channel.destinations:
        uploads = _uploads(channel, destination, items, store)
        upload = uploads[0]
        target = redact(destination.target(upload))
        last = store.last(channel.name, destination.name)
        reason = check_guards(items, last, max_drop=destination.config.max_drop,
                              allow_empty=allow_empty, force=force)
        if reason is not None:
            tripped = True
            say(f"{channel.name} -> {destination.name}: guard tripped, nothing sent: {reason}")
            report.outcomes.append(PushOutcome(channel.name, destination.name, target, GUARD,
                                               items, reason))
            continue
        policy = RetryPolicy.from_config(destination.config.retry)
        policy.on_retry = lambda attempt, wait, exc, d=destination: say(
            f"{channel.name} -> {d.name}: attempt {attempt} failed ({exc}); "
            f"retrying in {wait:.1f}s")
        if retry_hook is not None:
            policy = retry_hook(policy)
        say(f"{channel.name} -> {destination.name}: sending {items:,} items to {target}")
        try:
            results = [destination.publish(part, policy) for part in uploads]
        except PublishError as exc:
            status = TEMPORARY if exc.exit_code is ExitCode.TEMPORARY_FAILURE else FATAL
            message = redact(exc.message)
            say(f"{channel.name} -> {destination.name}: {message}")
            report.outcomes.append(PushOutcome(channel.name, destination.name, target, status,
                                               items, message))
            continue
        result = results[0]
        for later in results[1:]:  # the other numbered parts of the same feed
            result.attempts = max(result.attempts, later.attempts)
            result.rejected += later.rejected
        sha256 = (upload.sha256 if len(uploads) == 1 else
                  hashlib.sha256("".join(u.sha256 for u in uploads).encode()).hexdigest())
        store.record(channel.name, destination.name, items=items, sha256=sha256,
                     size=sum(u.size for u in uploads), target=result.target, ids=result.ids)
        report.outcomes.append(PushOutcome(
            channel.name, destination.name, redact(result.target), PUBLISHED, items,
            attempts=result.attempts, deleted=result.deleted,
            rejected=[redact(r) for r in result.rejected[:MAX_REJECTED_LISTED]],
            rejected_count=len(result.rejected)))
    if not tripped:
        _promote(channel, channel_report)
        return
    for staged_output, output in zip(channel.files, channel_report.outputs, strict=False):
        final = staged_output.final
        output.path = f"{final} (not replaced: guard tripped)" if final else "-"


def _choose_file(channel: _Staged, destination: Destination) -> _StagedOutput:
    """The staged output this destination receives: `file:` (a name or a format) or the
    first. API destinations read items back, so they take the XML (else delimited) one."""
    wanted = destination.config.file
    files = channel.files
    if wanted is not None:
        for output in files:
            if wanted in (output.staged.name, output.format):
                return output
        raise ConfigError(f"publish.{destination.name}.file: channel {channel.name} has no "
                          f"output {wanted!r} (it has "
                          + ", ".join(o.staged.name for o in files) + ")")
    if _is_api(destination):
        for writer in ("xml", "delimited"):
            for output in files:
                if channel.spec.formats[output.format].writer == writer:
                    return output
        raise ConfigError(f"publish.{destination.name}: channel {channel.name} needs an XML "
                          "or CSV/TSV output for the API to read its items from")
    return files[0]


def _is_api(destination: Destination) -> bool:
    return destination.config.url.split("://")[0].lower() in API_SCHEMES


def _uploads(channel: _Staged, destination: Destination, items: int,
             store: StateStore) -> list[Upload]:
    """The files this destination receives: one, or each numbered part of a split feed
    (an API destination reads the items of every part)."""
    output = _choose_file(channel, destination)
    fmt = channel.spec.formats[output.format]
    files = output.files() or [(output.staged, output.final)]
    media_type = fmt.media_type or _MEDIA_TYPES.get(output.staged.suffix,
                                                    "application/octet-stream")

    def every_item() -> Iterator[Item]:
        for staged, _ in files:
            yield from read_items(staged, channel.spec, fmt)

    return [Upload(
        channel=channel.name, path=staged, remote_name=(final or staged).name,
        media_type=media_type, items=items,
        sha256=_sha256(staged) if staged.exists() else "",
        size=staged.stat().st_size if staged.exists() else 0,
        read_items=every_item,
        previous_ids=lambda: store.published_ids(channel.name, destination.name))
        for staged, final in files]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _promote(channel: _Staged, channel_report: Any) -> None:
    """Copy the staged feeds over the channel's outputs (temporary name, fsync, rename)."""
    for index, output in enumerate(channel.files):
        report = channel_report.outputs[index] if index < len(channel_report.outputs) else None
        if output.final is None:
            if report is not None:
                report.path = "- (sent to APIs only)"
            continue
        files = output.files()
        for staged, final in files:
            assert final is not None
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_name(f".{final.name}.promote.partial")
            shutil.copyfile(staged, tmp)
            with tmp.open("rb") as fh:
                os.fsync(fh.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, final)
        if files and files[0][0] != output.staged:  # numbered parts
            remove_stale_parts(output.final, len(files))
        if report is not None and files:
            report.path = str(files[0][1])


def _dry_run(config: Config, wanted: list[str], destinations: dict[str, list[Destination]],
             allow_empty: bool, force: bool, progress: api.Progress | None,
             sink: Callable[[Issue], None] | None, max_issues: int | None,
             jobs: int = 1) -> PushReport:
    """Read and check everything, then say what would be sent where; send and write nothing."""
    build = api.run_validate(config, wanted or None, progress=progress, sink=sink,
                             max_issues=max_issues, jobs=jobs)
    report = PushReport(build, dry_run=True)
    redact = Redactor.for_config(config)
    db = state_dir(config) / STATE_NAME
    store = StateStore(db) if db.exists() else None
    try:
        for name, channel_destinations in destinations.items():
            spec = load_spec(config.channels[name].spec, config.base_dir)
            for feed in api.plan_channels(config, [name]):
                if wanted and name not in wanted and feed.name not in wanted:
                    continue
                items = build.channels[feed.name].items
                staged = _Staged(feed.name, config.channels[name],
                                 [_StagedOutput(o.path, o.path, o.format) for o in feed.outputs],
                                 channel_destinations, spec)
                if not staged.files:
                    fmt_name = next((n for n, f in spec.formats.items() if f.writer == "xml"),
                                    next(iter(spec.formats)))
                    path = Path(f"{feed.name}{spec.formats[fmt_name].extension}")
                    staged.files.append(_StagedOutput(path, None, fmt_name))
                for destination in channel_destinations:
                    output = _choose_file(staged, destination)
                    upload = Upload(feed.name, output.staged,
                                    (output.final or output.staged).name, "", items, "", 0)
                    last = store.last(feed.name, destination.name) if store else None
                    reason = check_guards(items, last, max_drop=destination.config.max_drop,
                                          allow_empty=allow_empty, force=force)
                    plan = (f"would send {items:,} items and delete those no longer in the "
                            "feed" if _is_api(destination) else
                            f"would send {upload.remote_name}")
                    report.outcomes.append(PushOutcome(
                        feed.name, destination.name, redact(destination.target(upload)),
                        DRY_RUN if reason is None else GUARD, items, reason or plan))
    finally:
        if store is not None:
            store.close()
    return report
