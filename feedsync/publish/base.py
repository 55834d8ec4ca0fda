"""The Destination protocol, what a publish returns, and the two kinds of failure.

A destination raises `RetriableError` for what may pass (connection lost, timeout, 5xx,
429) and `FatalError` for what will not (authentication, host key, TLS, permission). The
retry loop (`retry.py`) only ever retries the first kind.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from feedsync.channels.render import TypedItem
from feedsync.config import PublishConfig
from feedsync.errors import ConfigError, ExitCode, FeedsyncError

if TYPE_CHECKING:  # retry.py raises this module's errors; only the type is needed here
    from feedsync.publish.retry import RetryPolicy

TEMP_SUFFIX = ".partial"


class PublishError(FeedsyncError):
    """A publish failed; the message never contains a secret."""

    exit_code = ExitCode.REMOTE_FATAL


class RetriableError(PublishError):
    """May succeed if tried again later (network, timeout, 5xx, 429)."""

    exit_code = ExitCode.TEMPORARY_FAILURE

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FatalError(PublishError):
    """Will fail again however often it is tried (credentials, host key, TLS, permission)."""

    exit_code = ExitCode.REMOTE_FATAL


@dataclass
class Upload:
    """One built feed on its way to one destination."""

    channel: str
    path: Path
    remote_name: str
    media_type: str
    items: int
    sha256: str
    size: int
    # API destinations stream the build's typed items from its spool (see items.py).
    read_items: Callable[[], Iterator[TypedItem]] | None = None
    previous_ids: Callable[[], Iterator[str]] | None = None
    # A delta publish (the ledger's): `read_items` yields only what changed, these are the
    # ids to delete, and `confirm(sent, deleted)` is called with the ids the API confirmed,
    # batch by batch, so the ledger never claims what the destination did not take.
    delete_ids: Callable[[], Iterator[str]] | None = None
    confirm: Callable[[list[str], list[str]], None] | None = None


@dataclass
class PublishResult:
    target: str
    items: int = 0
    bytes: int = 0
    attempts: int = 1
    deleted: int = 0
    rejected: list[str] = field(default_factory=list)
    # Item ids now live at an API destination, recorded so the next run can delete the rest.
    ids: list[str] | None = None
    # Batch handles an API answered (Meta) with the item ids each carried, recorded so
    # `feedsync status` can read their per-item results again later.
    handles: list[tuple[str, list[str]]] = field(default_factory=list)


class Destination(Protocol):
    name: str
    config: PublishConfig

    def target(self, upload: Upload) -> str:
        """Where `upload` goes, as a person would write it, without credentials."""
        ...

    def publish(self, upload: Upload, retry: RetryPolicy) -> PublishResult:
        """Send `upload`, retrying what may pass; raise RetriableError or FatalError."""
        ...


def url_number(name: str, url: str, form: str) -> str:
    """The account or catalog number of an API destination URL such as
    google-merchant://1234567; a ConfigError showing `form` when it is not one."""
    parts = urlsplit(url)
    number = (parts.hostname or parts.netloc or "").strip("/")
    if not number.isdigit():
        raise ConfigError(f"publish.{name}.url: write {form}")
    return number


def remote_location(path: str, upload: Upload) -> tuple[str, str]:
    """(directory, file name) on a server: a path ending in `/` is a folder that keeps the
    feed's own name; any other path names the file."""
    if path.endswith("/"):
        return path.rstrip("/") or "/", upload.remote_name
    return posixpath.dirname(path) or "/", posixpath.basename(path)


def temp_name(name: str, token: str) -> str:
    return f".{name}.{token}{TEMP_SUFFIX}"


def is_temp_of(candidate: str, name: str) -> bool:
    """A temporary file this name's uploads create (left behind by a killed run)."""
    return candidate.startswith(f".{name}.") and candidate.endswith(TEMP_SUFFIX)
