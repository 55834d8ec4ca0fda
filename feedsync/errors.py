"""Exceptions for problems that stop a run, and the exit codes they map to.

Data problems in single products are never exceptions: they are `Issue` values
(see `feedsync.checks.issue`). These exceptions are for the run as a whole: a bad
config, an unreadable source, a failed write.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes are part of feedsync's interface; the README documents each one."""

    OK = 0
    DATA_ERRORS = 1
    USAGE = 2
    SOURCE_UNREADABLE = 3
    # feedsync push (feedsync/publish): see the README's "Publishing" section.
    TEMPORARY_FAILURE = 5  # network, timeout, 5xx or 429 still failing after the retries
    GUARD_TRIPPED = 6  # a feed was empty or shrank too much: nothing replaced, old feed kept
    REMOTE_FATAL = 7  # authentication, host key, TLS or permission: retrying will not help
    PARTIAL = 8  # some channels or destinations were published, some were not
    LOCK_HELD = 9  # another feedsync run holds this project's lock
    CHANGES_PLANNED = 10  # `plan --detailed-exitcode`: there are changes to send
    NEW_DISAPPROVALS = 11  # `status --fail-on new-disapprovals`: a channel newly refused items


class FeedsyncError(Exception):
    """A problem that ends the run, with a message a merchandiser can act on."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(FeedsyncError):
    """The configuration (feedsync.yaml, a channel spec, a rule) is wrong."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        return self.message + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class SourceError(FeedsyncError):
    """The product master cannot be read at all."""

    exit_code = ExitCode.SOURCE_UNREADABLE


class OutputError(FeedsyncError):
    """A feed could not be written to its target."""

    exit_code = ExitCode.USAGE


class StateError(FeedsyncError):
    """feedsync's own state folder (.feedsync/: lock, publish record) is unsafe or unusable,
    e.g. a planted symbolic link where a state file belongs."""

    exit_code = ExitCode.USAGE
