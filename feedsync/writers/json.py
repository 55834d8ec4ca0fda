"""JSON feeds: one document per file (`json`) or one JSON value per line (`jsonl`).

An item becomes JSON through the format's `item_shape` (declared data, see
feedsync/channels/shape.py), or its `item_template` (a Jinja2 template under templates/,
rendered in a sandbox and checked to be JSON), or, with neither, a flat object of the
item's fields. A `document` envelope (Amazon's header + messages, eBay's `requests`)
wraps the items; `$items` marks where they go. Everything is streamed: the envelope is
written around the items, never built in memory.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import TemplateError

from feedsync.channels.render import Item
from feedsync.channels.shape import (
    ITEMS,
    MISSING,
    compile_item_shape,
    resolve_constants,
    uses_position,
)
from feedsync.errors import ConfigError, OutputError
from feedsync.resources import builtin_templates_dir
from feedsync.templating import fast_renderer, json_default, template_environment
from feedsync.writers.base import FeedWriter


def _c_encoder() -> Callable[[Any, int], list[str]] | None:
    """The C encoder json.dumps(ensure_ascii=False, default=json_default) runs, or None on
    a Python without the accelerator.

    Without circular-reference markers (check_circular=False), so the encoder keeps no
    state between calls and is safe to share across threads and to reuse after an error:
    items and envelopes are trees built from YAML, CSV and shapes, which cannot hold a
    cycle (compile_shape and resolve_constants would recurse forever on one first)."""
    make: Any = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    encoder: Callable[[Any, int], list[str]] = make(
        None, json_default, json.encoder.encode_basestring, None, ": ", ", ", False, False,
        True)
    return encoder


_C_ENCODER = _c_encoder()


def _dumps(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, default=json_default)`: the same text.

    json.dumps with a `default` builds a JSONEncoder, and that a C encoder, for every call
    (about a quarter of the cost of encoding a feed item); this runs one C encoder built
    once, the one json.dumps would build (same separators, escaping and number text)."""
    if _C_ENCODER is None:
        return json.dumps(value, ensure_ascii=False, default=json_default)
    return "".join(_C_ENCODER(value, 0))


def _template_env(project_dirs: tuple[Path, ...]) -> Any:
    """The shared environment, searching the project's templates/ before the built-in ones."""
    # JSON item templates write values through `tojson` (None -> null): no blanking.
    return template_environment([d for d in project_dirs if d.is_dir()]
                                + [builtin_templates_dir()], blank_none=False)


class _ItemEncoder:
    """Item -> JSON text, compiled once per output from the format and the run context."""

    def __init__(self, writer: FeedWriter) -> None:
        fmt = writer.fmt
        self.context = writer.context
        self.where = f"channel spec {writer.spec.name}"
        self.template = None
        self.shape = None
        if fmt.item_template:
            try:
                self.template = fast_renderer(
                    _template_env(tuple(writer.template_dirs)).get_template(
                        fmt.item_template))
            except TemplateError as exc:
                raise ConfigError(f"{self.where}: item_template {fmt.item_template}: {exc}"
                                  ) from exc
        elif fmt.item_shape is not None:
            self.shape, _ = compile_item_shape(fmt.item_shape, writer.context, self.where)
        # An item's text is the same wherever it goes unless the shape numbers the items
        # (Amazon's messageId); a template is handed `position`, and may use it.
        self.position_independent = self.template is None and not (
            fmt.item_shape is not None and uses_position(fmt.item_shape))

    def encode(self, item: Item, position: int) -> str:
        if self.template is not None:
            try:
                text = self.template(self.context | {"item": item, "position": position})
                return _dumps(json.loads(text))
            except (TemplateError, ValueError) as exc:
                raise OutputError(f"{self.where}: item_template gave no valid JSON for item "
                                  f"{item.get('id') or position}: {exc}") from exc
        if self.shape is not None:
            value = self.shape(item, position, None)
            return _dumps({} if value is MISSING else value)
        return _dumps(item)


def _envelope(writer: FeedWriter) -> tuple[str, str] | None:
    """The document's text before and after its items, or None without a document."""
    document = writer.fmt.document
    if document is None:
        return None
    resolved = resolve_constants(document, writer.context, f"channel spec {writer.spec.name}")
    text = _dumps(resolved)
    marker = _dumps(ITEMS)
    if text.count(marker) != 1:
        raise ConfigError(f"channel spec {writer.spec.name}: a document needs `$items` "
                          "exactly once")
    before, after = text.split(marker)
    return before, after


def _compiled(writer: FeedWriter) -> tuple[_ItemEncoder, tuple[str, str] | None]:
    """The output's item encoder and envelope, compiled by its first part only."""
    compiled: tuple[_ItemEncoder, tuple[str, str] | None] | None = writer.shared.get("json")
    if compiled is None:
        compiled = writer.shared["json"] = (_ItemEncoder(writer), _envelope(writer))
    return compiled


class JsonDocumentWriter(FeedWriter):
    """`writer: json`: a JSON array of items, or one document envelope around them."""

    item_separator = b",\n"

    def begin(self) -> None:
        self.encoder, envelope = _compiled(self)
        before, after = envelope if envelope else ("", "")
        self.stream.write(f"{before}[\n".encode())
        self.suffix = f"\n]{after}\n".encode()
        self.separator = b""
        # Items that do not depend on their place can be encoded by another process
        # (feedsync.parallel, feedsync.batch); the separators between them are written
        # here (write_encoded).
        self.position_independent = self.encoder.position_independent

    def encode(self, item: Item) -> bytes:
        """One item's JSON, without separator (only when `position_independent`)."""
        return self.encoder.encode(item, 1).encode("utf-8", "surrogatepass")

    def write(self, item: Item) -> None:
        text = self.encoder.encode(item, self.count + 1)  # its position, for $@position
        self.write_encoded(text.encode("utf-8", "surrogatepass"))

    def write_encoded(self, data: bytes, items: int = 1) -> None:
        """Write what `encode` gave for one item, or for `items` items joined by
        `item_separator`, after the separator from the item before."""
        self.stream.write(self.separator + data)
        self.separator = self.item_separator
        self.count += items

    def end(self) -> None:
        self.stream.write(self.suffix)


class JsonLinesWriter(FeedWriter):
    """`writer: jsonl`: one item per line, or one document of up to N items per line."""

    def begin(self) -> None:
        self.encoder, self.envelope = _compiled(self)
        self.batch_size = self.fmt.max_items_per_document or 1
        self.batch: list[bytes] = []  # the current document's items, encoded
        self.documents = 0
        # Without an envelope each line is one item, encoded alone (always position 1);
        # within documents an item's text is the same wherever it goes unless the shape
        # numbers them. Either way another process can encode it (feedsync.parallel).
        self.position_independent = self.envelope is None or self.encoder.position_independent
        # Several items' bytes joined are whole lines only without documents: where they
        # are grouped, this writer must see each item (feedsync.batch refuses it).
        self.joinable = self.envelope is None

    def encode(self, item: Item) -> bytes:
        """One item's line, or (with a document envelope) its JSON for the current
        document (only when `position_independent`)."""
        text = self.encoder.encode(item, 1)
        return (text + "\n" if self.envelope is None else text).encode("utf-8",
                                                                       "surrogatepass")

    def write(self, item: Item) -> None:
        if self.envelope is None:
            self.stream.write(self.encode(item))
            self.count += 1
            return
        self.write_encoded(self.encoder.encode(item, len(self.batch) + 1).encode(
            "utf-8", "surrogatepass"))

    def write_encoded(self, data: bytes, items: int = 1) -> None:
        """Write what `encode` gave: one item's, or without documents (`joinable`)
        several items' lines."""
        if self.envelope is None:
            self.stream.write(data)
            self.count += items
            return
        assert items == 1, "items grouped into documents are written one by one"
        self.count += 1
        self.batch.append(data)
        if len(self.batch) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        if not self.batch or self.envelope is None:
            return
        before, after = self.envelope
        self.stream.write(b"".join([f"{before}[".encode("utf-8", "surrogatepass"),
                                    b", ".join(self.batch),
                                    f"]{after}\n".encode("utf-8", "surrogatepass")]))
        self.documents += 1
        self.batch = []

    def end(self) -> None:
        self._flush()
