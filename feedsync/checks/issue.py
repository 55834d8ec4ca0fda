"""Issues: data problems as values, with a stable code, a row, a field and a channel."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any


class Severity(str, Enum):
    """How bad a finding is. Errors leave the product out; warnings and infos do not."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


MAX_MESSAGE = 600
MAX_VALUE = 200


def _clipped(text: str, limit: int) -> str:
    cut = len(text) - limit
    return f"{text[:limit * 2 // 3]}[... {cut:,} characters ...]{text[-(limit // 3):]}"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem with one product (or the master), in words a merchandiser understands.

    `channel` is None for findings of the canonical validation, which apply to every
    channel; channel checks set it to the channel's name from the config.
    """

    code: str
    severity: Severity
    message: str
    row: int | None = None
    product_id: str | None = None
    field: str | None = None
    value: str | None = None
    channel: str | None = None
    column: str | None = None

    def __post_init__(self) -> None:
        # A message may quote a value, and a master cell can hold megabytes: every report
        # (table, JSON, JUnit) would then carry it, and rich takes minutes to lay it out.
        if len(self.message) > MAX_MESSAGE:
            object.__setattr__(self, "message", _clipped(self.message, MAX_MESSAGE))
        if self.value is not None and len(self.value) > MAX_VALUE:
            object.__setattr__(self, "value", _clipped(self.value, MAX_VALUE))

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def __reduce__(self) -> tuple[type[Issue], tuple[Any, ...]]:
        # --jobs sends every row's issues between processes: as a plain tuple of fields
        # they pickle in about half the time of the dataclass's default state.
        return Issue, (self.code, self.severity, self.message, self.row, self.product_id,
                       self.field, self.value, self.channel, self.column)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data


def error(code: str, message: str, **where: Any) -> Issue:
    return Issue(code, Severity.ERROR, message, **where)


def warning(code: str, message: str, **where: Any) -> Issue:
    return Issue(code, Severity.WARNING, message, **where)

