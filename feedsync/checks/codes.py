"""Every issue code feedsync reports, in one registry: code, default severity, a title.

A code is part of feedsync's interface (users filter and silence by it, CI greps for it), so
each one is declared here once, as a constant, and code elsewhere refers to the constant:
`Issue(codes.DUPLICATE_ID, ...)`. `feedsync codes` lists the registry and the README's list
is checked against it by a test.

The severity here is the code's usual one; a call site may report the same code otherwise
where the same problem costs more or less (a bad `id` is an error, since no channel can list
the product; a bad GTIN, date or link is a warning: the value is left out and only a channel
that requires it leaves the product out). Codes that channel specs declare in their
`rules:` are data, not constants: see `spec_code` below and `ChannelSpec.issue_codes`.
"""

from __future__ import annotations

from dataclasses import dataclass

from feedsync.checks.issue import Severity


@dataclass(frozen=True, slots=True)
class IssueCode:
    """One registered code: what it is called, how bad it is by default, what it means.

    `spec` names the channel spec that declares the code in its `rules:`; it is None for
    the codes built into feedsync (which specs may reuse).
    """

    code: str
    severity: Severity
    title: str
    spec: str | None = None
    # What to do about it, in a merchandiser's words (set below, in HINTS).
    hint: str = ""


REGISTRY: dict[str, IssueCode] = {}


def register(code: str, severity: Severity, title: str) -> str:
    """Declare a code once; returns the code so modules can keep it as a constant."""
    known = REGISTRY.get(code)
    if known is not None and (known.severity, known.title) != (severity, title):
        raise ValueError(f"issue code {code!r} registered twice with different meanings")
    REGISTRY[code] = IssueCode(code, severity, title, hint=known.hint if known else "")
    return code


def all_codes() -> list[IssueCode]:
    """Every registered code, sorted by name."""
    return [REGISTRY[name] for name in sorted(REGISTRY)]


def spec_code(code: str, severity: Severity, title: str, spec: str) -> IssueCode:
    """The code a channel spec's rule reports: feedsync's own when it is built in (a spec
    reusing `missing-required` means the same thing), else a code the spec declares."""
    return REGISTRY.get(code) or IssueCode(code, severity, title, spec)


# -- pipeline (feedsync/pipeline.py) ---------------------------------------------------

DUPLICATE_ID = register("duplicate-id", Severity.ERROR,
                        "Two rows of the master share one product id")
EMPTY_SOURCE = register("empty-source", Severity.WARNING,
                        "The master has a header but no products")

# -- reading the master (sources/) ------------------------------------------------------

RAGGED_ROW = register(
    "ragged-row", Severity.ERROR,
    "A row has more cells than the header (a value probably holds an unquoted separator)")
UNCLOSED_QUOTE = register(
    "unclosed-quote", Severity.ERROR,
    "A quote in the master is never closed, so following lines were read into one cell")
FORMULA_WITHOUT_VALUE = register(
    "formula-without-value", Severity.WARNING,
    "A spreadsheet formula has no saved result, so its cell is read as empty")
BARCODE_NOT_GTIN = register(
    "barcode-not-gtin", Severity.WARNING,
    "A shop export's barcode is not a valid GTIN, so it is not sent as one")
DUPLICATE_JOIN_ID = register(
    "duplicate-join-id", Severity.WARNING,
    "A joined file repeats an id; its first row is used")
JOIN_UNMATCHED = register(
    "join-unmatched", Severity.WARNING,
    "A joined file has an id that matches no product of the master")

# -- local inventory (feedsync/local_inventory.py) ------------------------------------
UNKNOWN_STORE = register(
    "unknown-store-code", Severity.WARNING,
    "A local stock row names a store code the stores table does not have; the row is skipped")
NOT_IN_ANY_STORE = register(
    "item-in-no-store", Severity.INFO,
    "An item of the local inventory's channel has stock in no store")
BAD_LOCAL_STOCK = register(
    "bad-local-stock", Severity.WARNING,
    "A local stock row has no id or a quantity or price that is not a number; it is skipped")

# -- one product, checked once for every channel (products/parse.py) -------------------

MISSING_ID = register(
    "missing-id", Severity.ERROR, "A product has no id, so no channel can list it")
INVALID_ID = register(
    "invalid-id", Severity.ERROR, "An id contains control characters")
INVALID_URL = register(
    "invalid-url", Severity.WARNING,
    "A link is not an absolute http(s) address; it is left out, and only a channel that "
    "needs it drops the product")
INVALID_PRICE = register(
    "invalid-price", Severity.WARNING,
    "A price is not a number above 0; it is left out, and only a channel that needs a price "
    "drops the product")
INVALID_CURRENCY = register(
    "invalid-currency", Severity.WARNING,
    "A currency is not an ISO 4217 code such as EUR, so its price is left out")
MISSING_CURRENCY = register(
    "missing-currency", Severity.WARNING,
    "A price has no currency, in the cell or in source.defaults, so it is left out")
TOO_MANY_DECIMALS = register(
    "too-many-decimals", Severity.WARNING,
    "A price has more decimals than its currency allows, so it is left out")
CURRENCY_MISMATCH = register(
    "currency-mismatch", Severity.WARNING,
    "The sale price is in another currency than the price, so the sale is left out")
SALE_PRICE_NOT_LOWER = register(
    "sale-price-not-lower", Severity.WARNING,
    "The sale price is not lower than the price, so it is left out")
INCOMPLETE_SALE_WINDOW = register(
    "incomplete-sale-window", Severity.WARNING,
    "A sale has a start or an end date but not both, so the dates are left out")
INVALID_SALE_WINDOW = register(
    "invalid-sale-window", Severity.WARNING,
    "A sale ends before it starts, so the sale is left out")
INVALID_DATE = register(
    "invalid-date", Severity.WARNING,
    "A date cannot be read (or does not match date_format); it is left out, and only a "
    "channel that needs it drops the product")
INVALID_GTIN = register(
    "invalid-gtin", Severity.WARNING,
    "A GTIN (EAN, UPC, ISBN) is malformed, fails its check digit or is store-internal; it "
    "is left out, and only a channel that needs it drops the product")
ISBN10_CONVERTED = register(
    "isbn10-converted", Severity.WARNING, "An ISBN-10 was converted to its ISBN-13")
INVALID_VALUE = register(
    "invalid-value", Severity.WARNING,
    "A value is not one the field accepts (map it under source.values); it is left out, "
    "and only a channel that needs it drops the product")
INVALID_NUMBER = register(
    "invalid-number", Severity.WARNING,
    "A quantity is not a whole number; it is left out, and only a channel that needs it "
    "drops the product")
INVALID_WEIGHT = register(
    "invalid-weight", Severity.WARNING,
    "A weight cannot be read; it is left out, and only a channel that needs it drops the "
    "product")
INVALID_SHIPPING = register(
    "invalid-shipping", Severity.WARNING,
    "A shipping rule cannot be read (country:region:service:price, a price of 0 or more); "
    "the shipping is left out")
CONTROL_CHARACTERS = register(
    "control-characters", Severity.WARNING, "Invisible control characters were removed from a text")
HTML_IN_TEXT = register(
    "html-in-text", Severity.WARNING, "HTML markup was removed from a text")
ENTITY_DEBRIS = register(
    "entity-debris", Severity.WARNING,
    "Remains of a double-escaped HTML entity (amp;, #xD;) were repaired in a text")
INVALID_CHARACTERS = register(
    "invalid-characters", Severity.WARNING,
    "Characters channels reject (U+FFFD, private-use) were removed from a text")
THOUSANDS_SEPARATOR = register(
    "thousands-separator", Severity.WARNING,
    "A price's thousands separators were guessed (no source.locale); check how it was read")

# -- rules (feedsync/rules/): one product on one channel, which goes on unchanged ---------

RULE_FAILED = register(
    "rule-failed", Severity.WARNING,
    "A rule could not be applied to a product, which goes on unchanged")
UNKNOWN_CATEGORY = register(
    "unknown-category", Severity.WARNING,
    "A category value is not in Google's product taxonomy")

# -- per channel, from its spec (channels/) -------------------------------------------

MISSING_REQUIRED = register(
    "missing-required", Severity.ERROR, "A field the channel requires is empty")
MISSING_RECOMMENDED = register(
    "missing-recommended", Severity.INFO, "A field the channel recommends is empty")
UNSUPPORTED_VALUE = register(
    "unsupported-value", Severity.ERROR, "The channel does not accept this value")
TOO_LONG = register(
    "too-long", Severity.ERROR, "A value is longer than the channel allows")
TRUNCATED = register(
    "truncated", Severity.WARNING,
    "A text was longer than the channel allows and was cut at a word boundary")
TOO_MANY_VALUES = register(
    "too-many-values", Severity.WARNING,
    "More values than the channel takes; the rest are left out")
NO_EXCHANGE_RATE = register(
    "no-exchange-rate", Severity.ERROR,
    "No exchange rate converts the price into the market's currency")

# -- what the channel itself would reject (issue 11; channels/render.py, spec data) ------

VALUE_DROPPED = register(
    "value-dropped", Severity.WARNING,
    "An optional attribute breaks the channel's limit or format, so only it is left out")
INSECURE_URL = register(
    "insecure-url", Severity.WARNING,
    "The channel takes only https:// URLs; an http:// one is left out")
DATE_TOO_FAR = register(
    "date-too-far", Severity.ERROR,
    "A date is further ahead than the channel accepts (availability_date: one year)")
OUTSIDE_ITS_WINDOW = register(
    "outside-its-window", Severity.INFO,
    "A sale price is left out of a channel without sale dates: its window is over or to come")
SHIPPING_CURRENCY_MISMATCH = register(
    "shipping-currency-mismatch", Severity.WARNING,
    "A shipping rule is priced in another currency than the product, so it is left out")
SHIPPING_OTHER_COUNTRY = register(
    "shipping-other-country", Severity.INFO,
    "A shipping rule is for another country than the market's, so its feed leaves it out")
MISSING_IDENTIFIER = register(
    "missing-identifier", Severity.ERROR,
    "The channel needs a product identifier (GTIN, ASIN) or a declared exemption")
GTIN_NOT_ACCEPTED = register(
    "gtin-not-accepted", Severity.WARNING,
    "The channel has no field for this kind of GTIN (eBay: 14 digits), so it is left out")
NEGATIVE_QUANTITY = register(
    "negative-quantity", Severity.ERROR,
    "The stock quantity is below 0, which the channel rejects (Mercado Libre's "
    "available_quantity)")
MISSING_GTIN = register(
    "missing-gtin", Severity.WARNING,
    "The product has no GTIN, which the channel asks for (Mercado Libre: a GTIN, or an "
    "empty-GTIN reason where the category allows one)")
PRODUCT_TYPE_INVALID = register(
    "product-type-invalid", Severity.ERROR,
    "The message breaks its Amazon product type definition (a missing or invalid attribute)")
UNKNOWN_PRODUCT_TYPE = register(
    "unknown-product-type", Severity.ERROR,
    "Product type definitions are configured, but none for this product's type")
EMPTY_FEED = register(
    "empty-feed", Severity.WARNING,
    "No product could go to the channel: its feed is empty, or not written where the "
    "channel rejects an empty document")


# -- hostile input (issue 13) --------------------------------------------------------------

TEMPLATE_FAILED = register(
    "template-failed", Severity.ERROR,
    "A template failed on this product (an error, or over its output, loop or regex budget)")

# -- what to do about each code, shown beside every grouped problem ----------------------

HINTS = {
    DUPLICATE_ID: "Make each id unique; for variants build it from two columns, e.g. "
                  "`columns: {id: \"{{ SKU }}-{{ Size }}\"}`.",
    EMPTY_SOURCE: "Check that source.path points at the current export.",
    RAGGED_ROW: "Quote the value that holds the separator, or set source.delimiter.",
    UNCLOSED_QUOTE: "Close the quote in the master, or double a quote meant as text (\"\").",
    FORMULA_WITHOUT_VALUE: "Open and save the workbook in a spreadsheet app so results are "
                           "stored.",
    MISSING_ID: "Fill the id column, or map another column as id in source.columns.",
    INVALID_URL: "Write full addresses starting with https://; for several images in one "
                 "cell set source.list_separator.",
    INVALID_PRICE: "Write the price as a number above 0 (set source.locale for 1.249,00).",
    MISSING_CURRENCY: "Write the currency in the cell (10.00 EUR) or set "
                      "source.defaults.currency.",
    INVALID_CURRENCY: "Use a three-letter ISO code such as EUR or USD.",
    SALE_PRICE_NOT_LOWER: "Lower the sale price below the price, or clear it.",
    INVALID_DATE: "Write dates as 2026-12-31, or set source.date_format (e.g. %d/%m/%Y).",
    INVALID_GTIN: "Correct the barcode, or leave the cell empty (brand + mpn identify the "
                  "product instead).",
    INVALID_VALUE: "Map the master's word to an accepted one under source.values.FIELD.",
    INVALID_WEIGHT: "Write the unit with the number (1.2 kg), or set "
                    "source.defaults.weight_unit.",
    HTML_IN_TEXT: "Nothing to do if the text still reads well; to silence it set "
                  "`issues: {html-in-text: ignore}`.",
    MISSING_REQUIRED: "Map a master column to this field in source.columns, set a default in "
                      "source.defaults, or fill it in the master.",
    MISSING_RECOMMENDED: "Fill it where you can: complete items rank better.",
    UNSUPPORTED_VALUE: "Map the value to one the channel accepts (source.values, or a rule).",
    TOO_LONG: "Shorten the text in the master, or cut it with a rule.",
    TRUNCATED: "Shorten the text so its end is not cut.",
    NO_EXCHANGE_RATE: "Add the rate under the channel's `rates:` or `rates_file:`.",
    UNKNOWN_CATEGORY: "Use an id or a full path of Google's taxonomy (feedsync explain shows "
                      "the value), or map it with a map_category rule.",
    MISSING_IDENTIFIER: "Give the GTIN, an ASIN (column asin) or, when Amazon granted one, "
                        "the identifier_exemption setting.",
    NEGATIVE_QUANTITY: "Correct the stock in the master: 0 when nothing can be sold.",
    MISSING_GTIN: "Add the barcode, or for Mercado Libre a master column "
                  "ml_empty_gtin_reason saying why the product has none.",
    PRODUCT_TYPE_INVALID: "Add a master column named after the attribute, or map it under "
                          "the channel's `attributes:`.",
    INSECURE_URL: "Serve the images over https:// and write https:// in the master.",
    VALUE_DROPPED: "Shorten or correct the value in the master if the channel should show it.",
    EMPTY_FEED: "Look at the problems above: every product was left out of this channel.",
    TEMPLATE_FAILED: "Fix the template (a field the product lacks, a bad filter), or keep "
                     "it within its budget: no huge repeats, widths or nested loops.",
}
for _code, _hint in HINTS.items():
    REGISTRY[_code] = IssueCode(REGISTRY[_code].code, REGISTRY[_code].severity,
                                REGISTRY[_code].title, REGISTRY[_code].spec, _hint)
