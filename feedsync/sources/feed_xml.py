"""An existing Google feed (RSS 2.0 or Atom with the `g:` namespace) as the product master.

A merchant who already has a Google feed gets every other channel from it. The file is
parsed streaming (lxml `iterparse`, each item cleared once read) with entity resolution,
DTD loading and network access off; a DOCTYPE that declares entities (the "billion laughs"
bomb and its relatives) is refused before parsing. Each `<item>` / `<entry>` becomes a
SourceRow keyed by Google attribute names (`g:price` -> `price`), numbered by the line the
item starts on. Repeated attributes (`additional_image_link`) are joined with `|`; a
structured `g:shipping` becomes Google's own text form `US::Standard:14.95 USD`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from feedsync.errors import SourceError
from feedsync.sources.base import SourceRow, columns_seen
from feedsync.sources.csv import check_readable_file

GOOGLE_NS = "http://base.google.com/ns/1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"
_ITEM_TAGS = ("item", f"{{{ATOM_NS}}}entry")
_PLAIN = {"title": "title", "link": "link", "description": "description",
          "summary": "description", "content": "description", "id": "atom_id"}
_SHIPPING_PARTS = ("country", "region", "service", "price")
_PROLOG_BYTES = 1 << 16
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)


class GoogleFeedSource:
    """Items of a Google RSS 2.0 / Atom feed, streamed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        check_readable_file(path)
        self._refuse_entities()
        self._columns: list[str] | None = None

    def _refuse_entities(self) -> None:
        with self.path.open("rb") as fh:
            prolog = fh.read(_PROLOG_BYTES)
        doctype = _DOCTYPE.search(prolog)
        if doctype and _ENTITY_DECLARATION.search(prolog, doctype.start()):
            raise SourceError(
                f"{self.name} declares XML entities in its DOCTYPE, which feedsync refuses "
                "to expand (an entity bomb can exhaust memory); remove the DOCTYPE")

    @property
    def columns(self) -> list[str]:
        if self._columns is None:
            self._columns = columns_seen(self.rows())
        return self._columns

    def rows(self) -> Iterator[SourceRow]:
        parser_args = {"events": ("end",), "tag": _ITEM_TAGS, "resolve_entities": False,
                       "no_network": True, "load_dtd": False, "huge_tree": False,
                       "remove_comments": True}
        try:
            for _, element in etree.iterparse(str(self.path), **parser_args):
                yield SourceRow(element.sourceline or 0, _item_values(element))
                element.clear(keep_tail=False)
                parent = element.getparent()
                if parent is not None:
                    while element.getprevious() is not None:
                        del parent[0]
        except _UndeclaredPrefix as exc:
            raise SourceError(
                f"{self.name}: line {exc.line} uses the prefix {exc.prefix!r} without declaring "
                f"it; add xmlns:{exc.prefix}=\"{GOOGLE_NS}\" (or the right namespace) to the "
                "root element") from exc
        except etree.XMLSyntaxError as exc:
            line = exc.lineno if exc.lineno else "?"
            message = exc.msg.split(",")[0] if exc.msg else "syntax error"
            raise SourceError(f"{self.name}: line {line} is not well-formed XML "
                              f"({message})") from exc
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror or exc}") from exc


class _UndeclaredPrefix(Exception):
    """A tag such as `g:id` whose prefix no xmlns declares (libxml2 only warns)."""

    def __init__(self, prefix: str, line: int) -> None:
        super().__init__(prefix)
        self.prefix, self.line = prefix, line


def _item_values(item: etree._Element) -> dict[str, str | None]:
    values: dict[str, list[str]] = {}
    for child in item:
        if not isinstance(child.tag, str):
            continue
        if ":" in child.tag and not child.tag.startswith("{"):
            line = child.sourceline
            raise _UndeclaredPrefix(child.tag.split(":", 1)[0], line if isinstance(line, int)
                                    else 0)
        qname = etree.QName(child)
        if qname.namespace == GOOGLE_NS:
            name = qname.localname
            text = _shipping(child) if name in ("shipping", "tax") and len(child) else (
                _text(child))
        elif qname.namespace in (None, ATOM_NS) and qname.localname in _PLAIN:
            name = _PLAIN[qname.localname]
            text = child.get("href") or "" if qname.localname == "link" and child.get("href") \
                else _text(child)
        else:
            continue
        if text:
            values.setdefault(name, []).append(text)
    # Shipping groups are comma-separated in Google's text form; other lists use `|`.
    return {name: ("," if name in ("shipping", "tax") else "|").join(texts)
            for name, texts in values.items()}


def _text(element: etree._Element) -> str:
    return "".join(str(t) for t in element.itertext()).strip()


def _shipping(element: etree._Element) -> str:
    parts = {etree.QName(c).localname: _text(c) for c in element if isinstance(c.tag, str)}
    region = parts.get("region") or parts.get("postal_code") or ""
    return ":".join([parts.get("country", ""), region, parts.get("service", ""),
                     parts.get("price", parts.get("rate", ""))])
