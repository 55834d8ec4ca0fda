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
    """The start and end of `text` around a note of what was cut, `limit` characters at
    most: so clipping again (an issue rebuilt from its fields, as --jobs N does when it
    sends issues between processes) changes nothing."""
    room = limit - len(f"[... {len(text):,} characters ...]")  # the note's longest form
    head = room * 2 // 3
    tail = room - head
    return f"{text[:head]}[... {len(text) - head - tail:,} characters ...]{text[-tail:]}"


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

    # __init__ is replaced below (_fast_init): the same signature and meaning.

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


def _fast_init_for(cls: type[Issue]) -> Any:
    """An `__init__` for Issue that sets each slot through its descriptor: the dataclass's
    own one calls `object.__setattr__` per field (the class is frozen), 1.5 us an issue
    where builds make one or more per product; this one takes 0.7 us. Also where a long
    message or value is clipped: a message may quote a value, and a master cell can hold
    megabytes; every report (table, JSON, JUnit) would carry it, and rich takes minutes to
    lay it out. (A test compares it with the dataclass's own __init__.)"""
    set_code, set_severity, set_message, set_row, set_product_id, set_field, set_value, \
        set_channel, set_column = (vars(cls)[name].__set__ for name in (
            "code", "severity", "message", "row", "product_id", "field", "value",
            "channel", "column"))

    def __init__(self: Issue, code: str, severity: Severity, message: str,
                 row: int | None = None, product_id: str | None = None,
                 field: str | None = None, value: str | None = None,
                 channel: str | None = None, column: str | None = None) -> None:
        if len(message) > MAX_MESSAGE:
            message = _clipped(message, MAX_MESSAGE)
        if value is not None and len(value) > MAX_VALUE:
            value = _clipped(value, MAX_VALUE)
        set_code(self, code)
        set_severity(self, severity)
        set_message(self, message)
        set_row(self, row)
        set_product_id(self, product_id)
        set_field(self, field)
        set_value(self, value)
        set_channel(self, channel)
        set_column(self, column)

    return __init__


_dataclass_init = Issue.__init__
setattr(Issue, "__init__", _fast_init_for(Issue))  # noqa: B010 (mypy keeps the dataclass's)


class _IssueDraft:
    """An Issue's slots without its frozen `__setattr__` (see `row_issue`)."""

    __slots__ = Issue.__slots__
    code: str
    severity: Severity
    message: str
    row: int | None
    product_id: str | None
    field: str | None
    value: str | None
    channel: str | None
    column: str | None


_new_draft = object.__new__


def row_issue(code: str, severity: Severity, message: str, row: int | None = None,
              product_id: str | None = None, field: str | None = None,
              value: str | None = None, channel: str | None = None,
              column: str | None = None) -> Issue:
    """`Issue(...)` with positional fields, for the row path (the parser's warnings: one
    or more per product): the same value, in about 7K instructions instead of 12K.

    The frozen dataclass's slots can only be set through their descriptors, a call each;
    a draft of a class with the same slots takes plain attribute stores, then becomes the
    Issue (CPython lets `__class__` change between classes of the same layout: one base,
    the same slots). A test compares both on many values."""
    if len(message) > MAX_MESSAGE:
        message = _clipped(message, MAX_MESSAGE)
    if value is not None and len(value) > MAX_VALUE:
        value = _clipped(value, MAX_VALUE)
    draft = _new_draft(_IssueDraft)
    draft.code = code
    draft.severity = severity
    draft.message = message
    draft.row = row
    draft.product_id = product_id
    draft.field = field
    draft.value = value
    draft.channel = channel
    draft.column = column
    draft.__class__ = Issue  # type: ignore[assignment]
    return draft  # type: ignore[return-value]


def error(code: str, message: str, **where: Any) -> Issue:
    return Issue(code, Severity.ERROR, message, **where)


def warning(code: str, message: str, **where: Any) -> Issue:
    return Issue(code, Severity.WARNING, message, **where)

