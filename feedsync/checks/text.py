"""Small text checks shared by canonical validation and channel rendering."""

from __future__ import annotations

import html
import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_HTML_TAG = re.compile(r"<\s*/?\s*[A-Za-z!][^<>]*>")
_HTML_ENTITY = re.compile(r"&(?:[A-Za-z]{2,8}|#\d{1,6}|#x[0-9A-Fa-f]{1,6});")
_BLOCK_TAG = re.compile(r"<\s*(?:br|/p|/div|/li|/h\d|/tr)\b[^>]*>", re.IGNORECASE)
_LIST_ITEM = re.compile(r"<\s*li\b[^>]*>", re.IGNORECASE)
_SCRIPT = re.compile(r"<\s*(script|style)\b.*?<\s*/\s*\1\s*>", re.IGNORECASE | re.DOTALL)
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\s*\n\s*")


# Anything that may need cleaning: control characters, runs of white space, HTML tags or
# entities. Most values match none of it, and one search is cheaper than three.
_NEEDS_CLEANING = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u00a0]|\s\s|<\s*/?\s*[A-Za-z!]|&(?:[A-Za-z]{2,8}|#\d{1,6}|#x[0-9A-Fa-f]{1,6});")


def needs_cleaning(text: str) -> bool:
    # Markup or an entity: the search settles it at once (it finds the tag), without
    # the printable test, which costs ~1 us on a 400-character description.
    if "<" in text or "&" in text:
        return (_NEEDS_CLEANING.search(text) is not None or has_invalid_characters(text)
                or has_entity_debris(text))
    # C-level string tests settle the usual case; isprintable() is False for control
    # characters, tabs, line breaks and non-breaking spaces.
    if (text.isprintable() and "  " not in text and "<" not in text and "&" not in text
            and ";" not in text and "\ufffd" not in text):
        return False
    return (_NEEDS_CLEANING.search(text) is not None or has_invalid_characters(text)
            or has_entity_debris(text))


# What channels call "invalid characters" (Google: "Invalid characters" item issue):
# the replacement character left by a broken encoding, private-use code points and
# non-characters. Control characters are handled on their own (above).
_INVALID = re.compile("[\ufffd\ue000-\uf8ff\ufdd0-\ufdef\ufffe\uffff]")
# An HTML entity whose `&` was lost to double escaping: `Black amp; Decker`, `line#xD;`.
_ENTITY_DEBRIS = re.compile(
    r"(?<![&\w])(amp|quot|apos|lt|gt|nbsp);|(?<![&\w])#(x[0-9A-Fa-f]{1,6}|\d{1,6});"
    r"|(?<=\w)#(x[dDaA9]|1[03]|9);")
_DEBRIS_TEXT = {"amp": "&", "quot": '"', "apos": "'", "lt": "<", "gt": ">", "nbsp": " "}


# Either of the two above, in one scan: most values that need cleaning (HTML) have neither.
_CONTROL_OR_INVALID = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd\ue000-\uf8ff\ufdd0-\ufdef\ufffe\uffff]")


# The ASCII characters _CONTROL matches (an ASCII text has no invalid characters).
_ASCII_CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def has_control_or_invalid_characters(text: str) -> bool:
    """`has_control_characters(text) or has_invalid_characters(text)`, in one search."""
    if text.isascii():  # a flag of the string: deleting bytes in C is 3x the regex's speed
        data = text.encode("ascii")
        return len(data.translate(None, _ASCII_CONTROL_BYTES)) != len(data)
    return _CONTROL_OR_INVALID.search(text) is not None


def has_invalid_characters(text: str) -> bool:
    return _INVALID.search(text) is not None


def remove_invalid_characters(text: str) -> str:
    return _INVALID.sub("", text)


# The longest piece of debris before its `;` (`#x10FFFF`): each `;` is checked in a window
# this wide, since a search of the whole pattern (it starts with a look-behind, so the
# regex engine tries it at every position) cost ~25 us per description.
_DEBRIS_WINDOW = 8


def has_entity_debris(text: str) -> bool:
    """`_ENTITY_DEBRIS.search(text) is not None`, looking only around each `;` (every piece
    of debris ends with one; a test checks both agree on many strings)."""
    end = text.find(";")
    while end != -1:
        # The look-behinds still see the characters before the window's start.
        if _ENTITY_DEBRIS.search(text, max(0, end - _DEBRIS_WINDOW), end + 1) is not None:
            return True
        end = text.find(";", end + 1)
    return False


def repair_entity_debris(text: str) -> str:
    """`amp;` -> `&`, `#xD;` -> a line break's space: what the lost entity meant."""

    def repair(match: re.Match[str]) -> str:
        if match[1]:
            return _DEBRIS_TEXT[match[1]]
        number = match[2] or match[3]
        code = int(number[1:], 16) if number[0] in "xX" else int(number)
        char = chr(code) if 0 < code < 0x110000 else ""
        return " " if not char.isprintable() else char

    return _ENTITY_DEBRIS.sub(repair, text)


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None


def remove_control_characters(text: str) -> str:
    """Drop C0/C1 control characters but keep tab and newlines."""
    return _CONTROL.sub("", text)


def has_html(text: str) -> bool:
    return _HTML_TAG.search(text) is not None or _HTML_ENTITY.search(text) is not None


# A tag written plainly (`<p>`, `</li>`, `<br/>`), and what strip_html's regexes below turn
# each such tag into: `<li>` opens a list item, block ends and `<br>` break the line, any
# other tag is a space. No script or style (their content goes too), no attributes, no
# upper case: anything else takes the regexes. (A test checks each entry against them.)
# (Any `<...>` is split out, the cheapest pattern to split by; names not in the table
# take the regexes.)
_SIMPLE_TAG = re.compile(r"<([^<>]*)>")
_SIMPLE_TAG_TEXT: dict[str, str] = {
    "li": "\n- ",
    **dict.fromkeys(("br", "br/", "br /", "/p", "/div", "/li", "/tr",
                     "/h1", "/h2", "/h3", "/h4", "/h5", "/h6"), "\n"),
    **dict.fromkeys(("p", "/br", "div", "ul", "/ul", "ol", "/ol", "b", "/b", "strong",
                     "/strong", "em", "/em", "i", "/i", "u", "/u", "span", "/span",
                     "small", "/small", "sup", "/sup", "sub", "/sub", "h1", "h2", "h3",
                     "h4", "h5", "h6", "table", "/table", "thead", "/thead", "tbody",
                     "/tbody", "tr", "td", "/td", "th", "/th", "dl", "/dl", "dt", "/dt",
                     "dd", "/dd", "hr", "hr/", "hr /", "blockquote", "/blockquote"), " "),
}


def strip_simple_html(text: str) -> str | None:
    """`strip_html(text)` when every `<` of the text opens a tag of `_SIMPLE_TAG_TEXT`
    and there is one at least (most shop descriptions), else None. Each such tag ends at
    its own `>`, and none is one `_SCRIPT` removes, so each regex of strip_html replaces
    exactly these tags and nothing else: one split and a join do what four
    substitutions did."""
    pieces = _SIMPLE_TAG.split(text)
    if len(pieces) == 1:
        return None
    try:
        pieces[1::2] = [_SIMPLE_TAG_TEXT[name] for name in pieces[1::2]]
    except KeyError:
        return None
    plain = "".join(pieces)
    if "<" in plain:  # a `<` that opens no such tag (the tags' texts hold none)
        return None
    if "&" in plain:
        plain = html.unescape(plain)
    return _collapse_keeping_newlines(plain)


def strip_html(text: str) -> str:
    """Plain text from an HTML fragment: block ends become line breaks, entities decoded."""
    simple = strip_simple_html(text)
    if simple is not None:
        return simple
    return strip_html_by_regex(text)


def strip_html_by_regex(text: str) -> str:
    """`strip_html`, the one definition of what it does, for any HTML (its test compares
    the shortcut with this)."""
    text = _SCRIPT.sub(" ", text)
    text = _LIST_ITEM.sub("\n- ", text)
    text = _BLOCK_TAG.sub("\n", text)
    text = _HTML_TAG.sub(" ", text)
    text = html.unescape(text)
    return collapse_whitespace(text, keep_newlines=True)


def collapse_whitespace(text: str, keep_newlines: bool = False) -> str:
    if keep_newlines:
        return _collapse_keeping_newlines(text)
    return " ".join(text.split())


# Runs of spaces, tabs and no-break spaces become one space. The regex sub over every
# single space cost ~20 us per description; this pattern only matches runs that change
# (not a lone space), and plain str tests skip it when there are none.
_SPACES_TO_COLLAPSE = re.compile(r" [ \t\u00a0]+|[\t\u00a0][ \t\u00a0]*")


# White space other than what the rule collapses (space, tab, no-break space) and line
# breaks: where none occurs, `str.split()` splits exactly at the runs the rule collapses.
# (Every character whose str.isspace() is true, less those four; a test checks the list.)
_OTHER_WHITESPACE = re.compile(
    "[\x0b\x0c\r\x1c-\x1f\x85\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")


def _collapse_keeping_newlines(text: str) -> str:
    """`collapse_by_regex(text)`, the one definition of the rule (a test checks both
    agree on many strings), at a fraction of its cost: every run
    of white space holding a line break becomes one line break, which is what stripping
    each line and dropping the empty ones gives."""
    if text.isascii():
        other = ("\r" in text or "\x0b" in text or "\x0c" in text or "\x1c" in text
                 or "\x1d" in text or "\x1e" in text or "\x1f" in text)
    else:
        other = _OTHER_WHITESPACE.search(text) is not None
    if not other:
        if "\t" not in text and "\u00a0" not in text:
            # Spaces are the only white space left: halving runs of them and stripping
            # each line is the rule without making a string of every word (2.2 -> 1.6 us).
            while "  " in text:
                text = text.replace("  ", " ")
            return "\n".join(filter(None, map(str.strip, text.split("\n"))))
        # Each line's words joined by one space: the rule, done by str.split in C (the
        # regex substitution below cost ~9 us on a 250-character description).
        return "\n".join(words for line in text.split("\n") if (words := " ".join(line.split())))
    if "\t" in text or "\u00a0" in text or "  " in text:
        text = _SPACES_TO_COLLAPSE.sub(" ", text)
    if "\n" not in text:
        return text.strip()
    return "\n".join(line for line in (part.strip() for part in text.split("\n")) if line)


def collapse_by_regex(text: str) -> str:
    """The rule `_collapse_keeping_newlines` implements, as plain regexes (for its test)."""
    return _BLANK_LINES.sub("\n", _SPACES.sub(" ", text)).strip()


def truncate_words(text: str, limit: int, ellipsis: str = "") -> str:
    """Cut at the last word boundary that keeps the text within `limit` characters."""
    if len(text) <= limit:
        return text
    room = limit - len(ellipsis)
    cut = text[:room]
    space = cut.rfind(" ")
    if space > room // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + ellipsis
