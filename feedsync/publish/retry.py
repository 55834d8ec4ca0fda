"""Bounded retries: exponential backoff with jitter, `Retry-After` honoured.

Only `RetriableError` is retried. Attempts and total time are both bounded, so a hung
network never eats the next cron slot; when the budget runs out the last error is raised
again (exit code 5, "temporary failure").
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, TypeVar

from feedsync.publish.base import RetriableError

if TYPE_CHECKING:
    from feedsync.config import RetryConfig

T = TypeVar("T")


@dataclass
class RetryPolicy:
    attempts: int = 5
    delay: float = 1.0
    max_delay: float = 60.0
    max_time: float = 300.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    on_retry: Callable[[int, float, Exception], None] | None = None

    @classmethod
    def from_config(cls, config: RetryConfig) -> RetryPolicy:
        return cls(config.attempts, config.delay, config.max_delay, config.max_time)

    def backoff(self, attempt: int) -> float:
        """Wait before try `attempt + 1`: doubling, capped, with 'equal jitter'."""
        ceiling = min(self.max_delay, self.delay * (2 ** (attempt - 1)))
        return float(ceiling / 2 + random.uniform(0, ceiling / 2))

    def call(self, operation: Callable[[], T]) -> tuple[T, int]:
        """Run `operation` until it succeeds; return its result and the attempts used."""
        started = self.clock()
        attempt = 1
        while True:
            try:
                return operation(), attempt
            except RetriableError as exc:
                if attempt >= self.attempts:
                    exc.message = f"{exc.message} (gave up after {attempt} attempts)"
                    exc.args = (exc.message,)
                    raise
                wait = exc.retry_after if exc.retry_after is not None else self.backoff(attempt)
                if self.clock() - started + wait > self.max_time:
                    exc.message = (f"{exc.message} (gave up after {attempt} attempts: "
                                   f"the next wait of {wait:.1f}s would pass the "
                                   f"{self.max_time:.0f}s limit)")
                    exc.args = (exc.message,)
                    raise
                if self.on_retry is not None:
                    self.on_retry(attempt, wait, exc)
                self.sleep(wait)
                attempt += 1


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdecimal():  # not isdigit: float() refuses '²'
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
