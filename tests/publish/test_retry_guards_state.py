"""Unit tests: backoff, Retry-After, guards, the publish record, redaction, exit codes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from feedsync.errors import ExitCode, StateError
from feedsync.publish.base import FatalError, RetriableError
from feedsync.publish.redact import Redactor
from feedsync.publish.retry import RetryPolicy, parse_retry_after
from feedsync.publish.run import FATAL, GUARD, PUBLISHED, TEMPORARY, PushOutcome, PushReport
from feedsync.report import RunReport
from feedsync.state.guards import check_guards
from feedsync.state.lock import LockHeldError, RunLock
from feedsync.state.store import PublishRecord, StateStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def _policy(clock: Clock, **kwargs: float) -> RetryPolicy:
    return RetryPolicy(**kwargs, sleep=clock.sleep, clock=lambda: clock.now)  # type: ignore[arg-type]


def test_backoff_doubles_with_jitter_and_is_capped():
    policy = RetryPolicy(delay=1.0, max_delay=5.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        waits = {policy.backoff(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(waits) > 1  # jittered


def test_retriable_errors_are_retried_until_attempts_run_out():
    clock = Clock()
    calls = []

    def flaky() -> str:
        calls.append(1)
        raise RetriableError("connection reset")

    with pytest.raises(RetriableError, match="gave up after 4 attempts"):
        _policy(clock, attempts=4, delay=0.1).call(flaky)
    assert len(calls) == 4 and len(clock.waits) == 3


def test_success_after_failures_reports_the_attempts():
    clock = Clock()
    outcomes = [RetriableError("busy", retry_after=7), RetriableError("busy"), "done"]

    def op() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert _policy(clock, attempts=5, delay=1).call(op) == ("done", 3)
    assert clock.waits[0] == 7  # Retry-After wins over the backoff


def test_fatal_errors_are_never_retried():
    clock = Clock()
    calls = []

    def op() -> None:
        calls.append(1)
        raise FatalError("bad password")

    with pytest.raises(FatalError):
        _policy(clock, attempts=5).call(op)
    assert len(calls) == 1 and clock.waits == []


def test_total_time_is_bounded():
    clock = Clock()

    def op() -> None:
        raise RetriableError("timeout", retry_after=40)

    with pytest.raises(RetriableError, match="100s limit"):
        _policy(clock, attempts=10, max_time=100).call(op)
    assert clock.waits == [40, 40]


def test_parse_retry_after():
    assert parse_retry_after("120") == 120
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 <= parse_retry_after(later) <= 30  # type: ignore[operator]
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    # A hostile server: isdigit() passes "\u00b2", which float() refuses (a crash once).
    assert parse_retry_after("\u00b2") is None


def _record(items: int) -> PublishRecord:
    return PublishRecord("c", "d", items, "x", 1, "t", "2026-01-01T00:00:00+00:00")


@pytest.mark.parametrize(("items", "last", "flags", "trips"), [
    (0, None, {}, True),
    (0, None, {"allow_empty": True}, False),
    (100, None, {}, False),
    (70, _record(100), {}, False),  # exactly 30% fewer
    (69, _record(100), {}, True),
    (69, _record(100), {"force": True}, False),
    (500, _record(100), {}, False),  # growth is fine
    (0, _record(100), {"allow_empty": True}, True),  # empty is also a 100% drop
    (0, _record(100), {"allow_empty": True, "force": True}, False),
])
def test_guards(items, last, flags, trips):
    options = {"allow_empty": False, "force": False, **flags}
    assert (check_guards(items, last, max_drop=0.3, **options) is not None) is trips


def test_store_records_and_replaces(tmp_path):
    store = StateStore(tmp_path / "state.db")
    assert store.last("c", "d") is None
    store.record("c", "d", items=3, sha256="a" * 64, size=10, target="t", ids=["1", "2", "3"])
    store.record("c", "d", items=2, sha256="b" * 64, size=9, target="t", ids=["1", "3"])
    last = store.last("c", "d")
    assert last is not None and last.items == 2 and last.sha256 == "b" * 64
    assert list(store.published_ids("c", "d")) == ["1", "3"]
    assert store.last("c", "other") is None
    store.close()


def test_lock_is_exclusive_and_released(tmp_path):
    first = RunLock(tmp_path)
    first.acquire()
    with pytest.raises(LockHeldError) as held:
        RunLock(tmp_path).acquire()
    assert held.value.exit_code == ExitCode.LOCK_HELD
    first.release()
    with RunLock(tmp_path):
        pass


def test_lock_file_symlink_is_not_followed(tmp_path):
    target = tmp_path / "precious"
    target.write_text("keep me")
    (tmp_path / "run.lock").symlink_to(target)
    # A run-stopping error with one sentence (exit 2), not a bare OSError (exit 70).
    with pytest.raises(StateError, match="symbolic link"):
        RunLock(tmp_path).acquire()
    assert target.read_text() == "keep me"


def test_redactor_masks_secrets_and_url_passwords():
    redact = Redactor(["hunter22", "ab"])
    assert redact("login hunter22 failed") == "login *** failed"
    assert redact("sftp://user:pw@host/x") == "sftp://***@host/x"
    assert redact("ab stays: too short to mask safely") == "ab stays: too short to mask safely"


@pytest.mark.parametrize(("statuses", "code"), [
    ([], ExitCode.OK),
    ([PUBLISHED, PUBLISHED], ExitCode.OK),
    ([GUARD], ExitCode.GUARD_TRIPPED),
    ([TEMPORARY], ExitCode.TEMPORARY_FAILURE),
    ([FATAL, TEMPORARY, GUARD], ExitCode.REMOTE_FATAL),
    ([TEMPORARY, GUARD], ExitCode.TEMPORARY_FAILURE),
    ([PUBLISHED, FATAL], ExitCode.PARTIAL),
    ([PUBLISHED, GUARD], ExitCode.PARTIAL),
])
def test_exit_codes(statuses, code):
    report = PushReport(RunReport(), [PushOutcome("c", "d", "t", s, 1) for s in statuses])
    assert report.exit_code == code


def test_exit_code_numbers_are_stable():
    assert [int(c) for c in (ExitCode.TEMPORARY_FAILURE, ExitCode.GUARD_TRIPPED,
                             ExitCode.REMOTE_FATAL, ExitCode.PARTIAL, ExitCode.LOCK_HELD)] \
        == [5, 6, 7, 8, 9]
