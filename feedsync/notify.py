"""Run webhooks: tell a chat room or an automation (Slack, Zapier, n8n) how a run ended.

A `notify:` entry in feedsync.yaml names a URL; when a `build`, `push` or `sync` finishes,
the URL gets the run's summary: the project, the command, its exit code and duration, per
feed the items written and left out and the changes (added, changed, removed by the
ledger's diff, and the confirmed deletes), the top reasons products were left out, and the
publish guards that tripped. `format: slack` sends the same as a Slack message (`text` plus
`blocks`).

A webhook is a courtesy, not part of the run: it is sent with the publish retry policy
(a short one by default) and a short timeout, its failure is reported as a value
(`NotifyResult`) that the CLI prints on one line, and the run's exit code never changes.
Secrets stay in: a hook URL is shown as its scheme and host only, and every text that
leaves (the summary, the messages) passes through the publish redactor, which also knows
the webhooks' header values and URL paths.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from feedsync import __version__
from feedsync.config import Config, NotifyConfig
from feedsync.publish.base import FatalError, PublishError, RetriableError
from feedsync.publish.http import RETRY_STATUSES
from feedsync.publish.redact import Redactor
from feedsync.publish.retry import RetryPolicy, parse_retry_after
from feedsync.publish.run import PublishStatus, PushOutcome, PushReport
from feedsync.report import ChannelReport, FeedChanges, RunReport

TOP_REASONS = 10  # reasons listed in a summary, most products first
CHANNEL_REASONS = 5  # reasons listed per channel
_SLACK_TEXT_LIMIT = 2900  # Slack cuts a section's text at 3,000 characters
_SLACK_CHANNEL_LINES = 20


@dataclass
class NotifyResult:
    """One webhook call: where (scheme and host only), whether it arrived, and why not."""

    target: str
    sent: bool
    attempts: int = 0
    status: int | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return asdict(self)


def wanted(hook: NotifyConfig, exit_code: int) -> bool:
    """Whether `hook` is called for a run that ended with `exit_code`."""
    return hook.on == "always" or (hook.on == "success") == (exit_code == 0)


def run_summary(config: Config, command: str, report: RunReport | PushReport | None,
                exit_code: int, duration: float, error: str | None = None,
                ) -> dict[str, Any]:
    """What every webhook is told about one run, as plain JSON-ready data.

    `report` is None when the run stopped before it had one; `error` then says why."""
    build = report.build if isinstance(report, PushReport) else report
    outcomes = report.outcomes if isinstance(report, PushReport) else []
    summary: dict[str, Any] = {
        "project": config.base_dir.resolve().name,
        "config": config.file.name,
        "command": command,
        "result": "success" if exit_code == 0 else "failure",
        "exit_code": exit_code,
        "duration_seconds": round(duration, 3),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "feedsync": __version__,
    }
    if error is not None:
        summary["error"] = error
    if isinstance(report, PushReport):
        summary["dry_run"] = report.dry_run
    if build is not None:
        summary.update({
            "source": build.source, "rows": build.rows, "products": build.products,
            "invalid_products": build.invalid,
            "errors": build.errors, "warnings": build.warnings,
            "channels": {name: _channel_summary(channel, outcomes)
                         for name, channel in build.channels.items()},
            "top_reasons": _top_reasons(build),
        })
    if isinstance(report, PushReport):
        summary["guards"] = [{"channel": o.channel, "destination": o.destination,
                              "message": o.message}
                             for o in outcomes if o.status is PublishStatus.GUARD]
        summary["publish"] = [{"channel": o.channel, "destination": o.destination,
                               "status": o.status.value, "items": o.items,
                               "attempts": o.attempts, "deleted": o.deleted,
                               "changes": _changes([o]), "message": o.message}
                              for o in outcomes]
    return summary


def _channel_summary(channel: ChannelReport, outcomes: list[PushOutcome]) -> dict[str, Any]:
    # A push or sync tells per destination; a build (or a push's feed without one), what
    # changed in the feed's own files.
    mine = [o for o in outcomes if o.channel == channel.name]
    changes = _changes(mine) if mine else (
        channel.changes.to_dict() if channel.changes is not None else None)
    return {
        "spec": channel.spec,
        "items": channel.items,
        "excluded": channel.excluded,
        "filtered": channel.filtered,
        "changes": changes,
        "left_out_by_code": [{"code": code, "products": count} for code, count
                             in channel.excluded_by_reason(CHANNEL_REASONS).items()],
    }


def _changes(outcomes: list[PushOutcome]) -> dict[str, int] | None:
    """Added, changed, removed (the ledger's diff) and deleted (confirmed), summed over
    these destinations of a feed; None when the run has no diff for any (a dry run)."""
    known = [c for c in (o.changes() for o in outcomes) if c is not None]
    return sum(known, FeedChanges()).to_dict() if known else None


def _top_reasons(build: RunReport) -> list[dict[str, Any]]:
    """The reasons that left out the most products; channel None = every channel."""
    reasons: list[tuple[int, str | None, str]] = [
        (count, None, code) for code, count in build.invalid_by_code.items()]
    for name, channel in build.channels.items():
        reasons += [(count, name, code) for code, count in channel.left_out_by_code.items()]
    reasons.sort(key=lambda r: (-r[0], r[1] or "", r[2]))
    return [{"channel": name, "code": code, "products": count}
            for count, name, code in reasons[:TOP_REASONS]]


def slack_message(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary as a Slack message: `text` (notifications, fallbacks) and `blocks`."""
    ok = summary["result"] == "success"
    headline = (f"{'✅' if ok else '❌'} feedsync {summary['command']} {summary['project']}: "
                f"{summary['result']} (exit {summary['exit_code']}, "
                f"{summary['duration_seconds']:.1f}s)")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150]}}]
    if "error" in summary:
        blocks.append(_section(f"*Stopped:* {summary['error']}"))
    channels = summary.get("channels") or {}
    if channels:
        lines = [f"*{name}*: {c['items']:,} items, {c['excluded']:,} left out"
                 + (f", {c['filtered']:,} filtered" if c["filtered"] else "")
                 + _slack_changes(c["changes"])
                 for name, c in list(channels.items())[:_SLACK_CHANNEL_LINES]]
        if len(channels) > _SLACK_CHANNEL_LINES:
            lines.append(f"… and {len(channels) - _SLACK_CHANNEL_LINES} more feeds")
        blocks.append(_section("\n".join(lines)))
    reasons = summary.get("top_reasons") or []
    if reasons:
        blocks.append(_section("*Top reasons products were left out*\n" + "\n".join(
            f"• `{r['code']}` {r['channel'] or 'every channel'}: {r['products']:,}"
            for r in reasons)))
    guards = summary.get("guards") or []
    if guards:
        blocks.append(_section("*Guards tripped (old feed kept)*\n" + "\n".join(
            f"• {g['channel']} → {g['destination']}: {g['message']}" for g in guards)))
    failed = [p for p in summary.get("publish") or []
              if p["status"] in ("temporary", "fatal")]
    if failed:
        blocks.append(_section("*Publish failures*\n" + "\n".join(
            f"• {p['channel']} → {p['destination']}: {p['message']}" for p in failed)))
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
        f"{summary['config']} · feedsync {summary['feedsync']} · {summary['finished_at']}")}]})
    return {"text": headline, "blocks": blocks}


def _slack_changes(changes: dict[str, int] | None) -> str:
    """A feed's changes in a few characters: `· +3 ~1 -2` (added, changed, removed), and
    the confirmed deletes when there were any."""
    if changes is None:
        return ""
    if not any(changes.values()):
        return " · no changes"
    text = f" · +{changes['added']:,} ~{changes['changed']:,} -{changes['removed']:,}"
    return text + (f", {changes['deleted']:,} deleted" if changes["deleted"] else "")


def _section(text: str) -> dict[str, Any]:
    if len(text) > _SLACK_TEXT_LIMIT:
        text = text[:_SLACK_TEXT_LIMIT] + " …"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def shown_url(url: str) -> str:
    """A webhook URL as messages show it: scheme and host only (its path is a secret)."""
    parts = urlsplit(url)
    hidden = "…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{parts.netloc}/{hidden}"


def redactor(config: Config) -> Redactor:
    """The publish redactor, also masking every webhook's header values and URL path."""
    publish = [s for destination in config.publish.values() for s in destination.secrets()]
    return Redactor(publish + [s for hook in config.notify for s in hook.secrets()])


def send_notifications(config: Config, command: str, report: RunReport | PushReport | None,
                       exit_code: int, duration: float, error: str | None = None, *,
                       retry: Callable[[RetryPolicy], RetryPolicy] | None = None,
                       ) -> list[NotifyResult]:
    """Call every `notify:` webhook that wants a run ending with `exit_code`.

    Never raises for a webhook's failure: each call's result says whether it arrived.
    `retry` may adjust each policy (tests make the waits instant)."""
    hooks = [(i, hook) for i, hook in enumerate(config.notify) if wanted(hook, exit_code)]
    if not hooks:
        return []
    redact = redactor(config)
    summary = _redacted(run_summary(config, command, report, exit_code, duration, error),
                        redact)
    results = []
    for index, hook in hooks:
        target = shown_url(hook.url)
        unset = config.unset_notify_variables.get(index)
        if unset:
            results.append(NotifyResult(target, False, message=redact(
                "not sent: " + "; ".join(unset))))
            continue
        body = slack_message(summary) if hook.format == "slack" else summary
        policy = RetryPolicy.from_config(hook.retry)
        if retry is not None:
            policy = retry(policy)
        results.append(_send(hook, target, body, policy, redact))
    return results


def _redacted(value: Any, redact: Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, redact) for v in value]
    return value


def _send(hook: NotifyConfig, target: str, body: dict[str, Any], policy: RetryPolicy,
          redact: Redactor) -> NotifyResult:
    import requests

    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8",
               "User-Agent": f"feedsync/{__version__}"}
    headers.update({k: v.get_secret_value() for k, v in hook.headers.items()})
    statuses: list[int] = []
    tries = [0]

    def attempt() -> None:
        tries[0] += 1
        try:
            response = session.post(hook.url, data=data, headers=headers,
                                    timeout=(hook.timeout, hook.timeout),
                                    allow_redirects=False)
        except requests.exceptions.SSLError:
            raise FatalError(f"the TLS certificate of {target} is not trusted") from None
        except requests.exceptions.Timeout:
            raise RetriableError(f"no answer within {hook.timeout:g}s") from None
        except requests.exceptions.RequestException as exc:
            raise RetriableError(
                f"cannot connect ({type(exc.__context__ or exc).__name__})") from None
        with response:
            statuses.append(response.status_code)
            if 200 <= response.status_code < 300:
                return
            summary = f"answered {response.status_code} {response.reason}"
            if response.status_code in RETRY_STATUSES:
                raise RetriableError(summary, parse_retry_after(
                    response.headers.get("Retry-After")))
            raise FatalError(summary)

    session = requests.Session()
    session.trust_env = False  # no proxies or .netrc credentials from the environment
    try:
        policy.call(attempt)
    except PublishError as exc:
        return NotifyResult(target, False, tries[0], statuses[-1] if statuses else None,
                            redact(exc.message))
    finally:
        session.close()
    return NotifyResult(target, True, tries[0], statuses[-1] if statuses else None)
