"""RSS 2.0 feeds with a channel namespace (Google's `g:`), streamed item by item.

Items are serialised by hand rather than through lxml: element names come from a
validated spec, text goes through one escaping function that also drops characters XML
forbids, and the namespace prefix is declared exactly once on the root — so the output is
well-formed by construction and avoids lxml's per-element namespace redeclarations
(reference §3.3). Tests parse every feed back with a safe parser and the RSS XSD.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from feedsync.channels.render import Item, scalar_text
from feedsync.writers.base import FeedWriter

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_NEEDS_ESCAPE = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


# The control characters XML 1.0 forbids (all but tab, line feed and carriage return).
_FORBIDDEN_BYTES = bytes(code for code in range(0x20) if code not in (0x09, 0x0A, 0x0D))


def _escape_markup(text: str) -> str:
    """&, < and > escaped (the forbidden characters are dealt with per item)."""
    if "&" in text or "<" in text or ">" in text:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def forbids(text: str) -> bool:
    """Whether `text` holds a character XML 1.0 forbids (a control character other than
    tab, line feed and carriage return, U+FFFE, U+FFFF or a lone surrogate)."""
    if text.isprintable():  # every such character is unprintable (a C scan, the cheapest)
        return False
    if not text.isascii() and ("\ufffe" in text or "\uffff" in text):
        return True
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return True
    # UTF-8 never uses bytes below 0x80 inside a multi-byte character, so deleting the
    # forbidden control bytes finds exactly the forbidden control characters.
    return len(data.translate(None, _FORBIDDEN_BYTES)) != len(data)


def escape_text(text: str) -> str:
    """Text for an XML element: &, < and > escaped, characters XML forbids dropped."""
    # Every character XML forbids is unprintable, so a printable text without &, < and >
    # needs nothing (string tests in C, about half the cost of the search on long texts).
    if text.isprintable() and "&" not in text and "<" not in text and ">" not in text:
        return text
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return _escape_markup(_ILLEGAL.sub("", text))


class RssWriter(FeedWriter):
    def begin(self) -> None:
        fmt = self.fmt
        self.prefix = f"{fmt.namespace_prefix}:" if fmt.namespace_prefix else ""
        ns = f' xmlns:{fmt.namespace_prefix}="{fmt.namespace_uri}"' if fmt.namespace_uri else ""
        self.item_open = f"<{fmt.item_element}>\n"
        self.item_close = f"</{fmt.item_element}>\n"
        self.stream.write(
            (f'<?xml version="1.0" encoding="UTF-8"?>\n<rss{ns} version="2.0">\n<channel>\n'
             f"<title>{escape_text(self.feed.title)}</title>\n"
             f"<link>{escape_text(self.feed.link)}</link>\n"
             f"<description>{escape_text(self.feed.description)}</description>\n"
             ).encode())
        self._tags: dict[str, tuple[str, str]] = {}
        # Per set of item keys (in order): the encoder generated for it (ItemEncoder), or
        # None where the general path is the only one (see `encode`).
        self._encoders: dict[tuple[str, ...], Callable[[Item], bytes | None] | None] = {}
        self._kinds = {field.name: _KINDS.get(field.format, _SCALAR)
                       for field in self.spec.fields}

    def _tag(self, name: str) -> tuple[str, str]:
        tags = self._tags.get(name)
        if tags is None:
            tags = self._tags[name] = (f"<{self.prefix}{name}>", f"</{self.prefix}{name}>")
        return tags

    position_independent = True

    def write(self, item: Item) -> None:
        self.stream.write(self.encode(item))
        self.count += 1

    # At most this many key sets get an encoder of their own (a feed has a few: the
    # optional fields an item has or lacks); items of others take the general path.
    MAX_ENCODERS = 256

    def encode(self, item: Item) -> bytes:
        """One item's bytes: by the encoder generated for the item's keys (`ItemEncoder`),
        which gives what `encode_general` gives or None (then that does it)."""
        keys = tuple(item)
        try:
            encoder = self._encoders[keys]
        except KeyError:
            encoder = self._encoder_for(keys)
        if encoder is not None:
            data = encoder(item)
            if data is not None:
                return data
        return self.encode_general(item)

    def _encoder_for(self, keys: tuple[str, ...]) -> Callable[[Item], bytes | None] | None:
        encoder: Callable[[Item], bytes | None] | None = None
        if len(self._encoders) < self.MAX_ENCODERS:
            kinds = [self._kinds.get(name, _SCALAR) for name in keys]
            encoder = ItemEncoder(self, keys, kinds).encode
            self._encoders[keys] = encoder
        return encoder

    def encode_general(self, item: Item) -> bytes:
        """One item's bytes, the general way (the definition `ItemEncoder` follows). Values
        are escaped for markup only; the characters XML forbids are looked for once, in
        the item's UTF-8 bytes: when there are any, the item is written again with each
        value through `escape_text`, which drops them."""
        text = self._item_text(item, _escape_markup)
        # U+FFFE and U+FFFF, searched in the text as single characters (a 3-byte search
        # in the UTF-8 cost ~1 us each); an ASCII text (a flag of the string) has neither.
        if not text.isascii() and ("\ufffe" in text or "\uffff" in text):
            return self._encode_dropping(item)
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, which XML forbids
            return self._encode_dropping(item)
        # UTF-8 never uses bytes below 0x80 inside a multi-byte character, so deleting the
        # forbidden control bytes finds exactly the forbidden control characters.
        if len(data.translate(None, _FORBIDDEN_BYTES)) != len(data):
            return self._encode_dropping(item)
        return data

    def _encode_dropping(self, item: Item) -> bytes:
        """`encode` for an item holding characters XML forbids."""
        return self._item_text(item, escape_text).encode("utf-8", "surrogatepass")

    def _item_text(self, item: Item, escape: Callable[[str], str]) -> str:
        """The item element, each text value through `escape`."""
        parts = [self.item_open]
        append = parts.append
        tags = self._tags
        for name, value in item.items():
            open_tag, close_tag = tags.get(name) or self._tag(name)
            if value.__class__ is not str:
                if not isinstance(value, (str, list)):
                    value = scalar_text(value)
                if not isinstance(value, str):
                    for entry in value:
                        if isinstance(entry, str):
                            append(f"{open_tag}{escape(entry)}{close_tag}\n")
                        else:
                            inner = "".join(f"{self._tag(k)[0]}{escape(v)}{self._tag(k)[1]}"
                                            for k, v in entry.items())
                            append(f"{open_tag}{inner}{close_tag}\n")
                    continue
            append(f"{open_tag}{escape(value)}{close_tag}\n")
        append(self.item_close)
        return "".join(parts)

    def end(self) -> None:
        self.stream.write(b"</channel>\n</rss>\n")


# How an item value is laid out: one element, one element per entry of a list of texts,
# or one element per group of a list of groups (shipping) holding an element per key.
_SCALAR, _TEXTS, _GROUPS = 0, 1, 2
_KINDS = {"list": _TEXTS, "shipping": _GROUPS}


class ItemEncoder:
    """`RssWriter.encode_general` for the items with one set of keys, in one order,
    generated once. Per item, the texts are gathered into one list in document order
    (C-level list building; a short loop per shipping group), checked once on their
    concatenation for characters XML forbids and for markup, and put between the tags of
    the item's *shape* (how many entries each list holds, which keys each group has) by
    one slice assignment and one join. Markup is escaped in the item's bytes in one pass:
    the shape's tags are then written with \x01 and \x02 for < and >, characters no
    checked text holds (XML forbids them), restored after the escaping.

    It gives None, leaving the item to the general path, for anything else: a value that
    is not text where text is expected (a number, a list in a text's place), a list or a
    group of another class, a forbidden character, more shapes than MAX_SHAPES. Per item
    this costs a fraction of the general path, which makes one f-string, one escaping
    call and one tag look-up per value and deletes the forbidden bytes of the whole item
    (str.replace and per-byte scans cost ~10 instructions a character; bytes.replace and
    str.isprintable a fraction of that)."""

    MAX_SHAPES = 256

    def __init__(self, writer: RssWriter, keys: tuple[str, ...], kinds: list[int]) -> None:
        self.writer = writer
        self.keys = keys
        self.kinds = kinds
        # Per shape: the tags around each text, as a list with a slot after each but the
        # last (odd positions), as written and with markers for < and > (see _template).
        self.templates: dict[tuple[Any, ...], tuple[list[str], list[str]] | None] = {}
        # The single values (by position) seen to be other than text and lists (Meta's
        # quantity_to_sell_on_facebook, a number in every item): from then on written as
        # the general path writes them, through scalar_text, not handed to it (`_learn`).
        self.converted: set[int] = set()
        self.encode = self._generate()

    def _generate(self) -> Callable[[Item], bytes | None]:
        names = [f"v{n}" for n in range(len(self.keys))]
        lines = ["def encode(item):",
                 f"    {', '.join(names)}{',' if len(names) == 1 else ''} = item.values()"]
        lists = [name for name, kind in zip(names, self.kinds, strict=True) if kind != _SCALAR]
        if lists:
            lines.append("    if " + " or ".join(f"{n}.__class__ is not list" for n in lists)
                         + ":")
            lines.append("        return None")
        for index in sorted(self.converted):
            name = names[index]
            lines += [f"    if {name}.__class__ is not str:",
                      f"        if isinstance({name}, (str, list)):",
                      "            return None",
                      f"        {name} = scalar_text({name})"]
        lines.append("    flat = []")
        lines.append("    shape = []")
        scalars: list[str] = []

        def flush_scalars() -> None:
            if scalars:
                lines.append(f"    flat += ({', '.join(scalars)},)")
                scalars.clear()

        for name, kind in zip(names, self.kinds, strict=True):
            if kind == _SCALAR:
                scalars.append(name)
                continue
            flush_scalars()
            lines.append(f"    shape.append(len({name}))")
            if kind == _TEXTS:
                lines.append(f"    flat += {name}")
            else:
                lines.append(f"    for group in {name}:")
                lines.append("        if group.__class__ is not dict:")
                lines.append("            return None")
                lines.append("        flat += group.values()")
                lines.append("        shape.append(tuple(group))")
        flush_scalars()
        lines += [
            "    key = tuple(shape)",
            "    tags = templates.get(key, MISSING)",
            "    if tags is MISSING:",
            "        tags = make_template(key)",
            "    if tags is None:",
            "        return None",
            "    try:",
            "        text = ''.join(flat)",
            "    except TypeError:  # a value that is not text: see _learn",
            "        return learn(item)",
            "    if not text.isprintable() and forbids(text):",
            "        return None",
            "    if '&' in text or '<' in text or '>' in text:",
            "        marked = tags[1]",
            "        marked[1::2] = flat",
            "        return ''.join(marked).encode('utf-8').replace(b'&', b'&amp;')"
            ".replace(b'<', b'&lt;').replace(b'>', b'&gt;').replace(b'\\x01', b'<')"
            ".replace(b'\\x02', b'>')",
            "    plain = tags[0]",
            "    plain[1::2] = flat",
            "    return ''.join(plain).encode('utf-8')",
        ]
        namespace: dict[str, Any] = {"templates": self.templates, "MISSING": _MISSING,
                                     "make_template": self._template, "forbids": forbids,
                     "scalar_text": scalar_text, "learn": self._learn}
        exec("\n".join(lines), namespace)
        return namespace["encode"]  # type: ignore[no-any-return]

    def _learn(self, item: Item) -> bytes | None:
        """An item with a value that is not text: None (the general path) unless some are
        single values of a new position that are neither text nor lists (numbers,
        booleans, None), which the code, generated again, converts from then on as the
        general path does. Positions are only added, so this regenerates at most once
        per key."""
        new = {index for index, (value, kind) in enumerate(
            zip(item.values(), self.kinds, strict=True))
            if kind == _SCALAR and not isinstance(value, (str, list))}
        if new <= self.converted:
            return None
        self.converted |= new
        self.encode = self._generate()
        self.writer._encoders[self.keys] = self.encode
        return self.encode(item)

    def _template(self, shape: tuple[Any, ...]) -> tuple[list[str], list[str]] | None:
        """The item element's tags for one shape, around a slot per text (None past
        MAX_SHAPES, or where the tags hold a character XML forbids, or & or a marker:
        the general path deals with those)."""
        if len(self.templates) >= self.MAX_SHAPES:
            return None
        tag = self.writer._tag
        sizes: Iterator[Any] = iter(shape)
        pieces = [self.writer.item_open]  # the text before the first slot, then after each
        for name, kind in zip(self.keys, self.kinds, strict=True):
            open_tag, close_tag = tag(name)
            if kind == _SCALAR:
                pieces[-1] += open_tag
                pieces.append(f"{close_tag}\n")
                continue
            for _ in range(next(sizes)):
                if kind == _TEXTS:
                    pieces[-1] += open_tag
                    pieces.append(f"{close_tag}\n")
                    continue
                pieces[-1] += open_tag
                for sub in next(sizes):
                    pieces[-1] += tag(sub)[0]
                    pieces.append(tag(sub)[1])
                pieces[-1] += f"{close_tag}\n"
        pieces[-1] += self.writer.item_close
        whole = "".join(pieces)
        template = None
        if not (forbids(whole) or "&" in whole or "\x01" in whole or "\x02" in whole):
            plain: list[str] = []
            for piece in pieces:
                plain += (piece, "")
            plain.pop()
            marked = [p.replace("<", "\x01").replace(">", "\x02") for p in plain]
            template = (plain, marked)
        self.templates[shape] = template
        return template


_MISSING: Any = object()
