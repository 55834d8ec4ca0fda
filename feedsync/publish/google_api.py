"""Google Merchant API v1: `productInputs` insert and delete, sent in HTTP batches.

Items come from the push's item spool (items.py: the build's typed values, Money, datetime,
Measure, shipping rules) and are mapped to `ProductInput` JSON
(../shared/reference/channel-specs.md §1.6): money as `amountMicros` + `currencyCode`,
enums upper-case, lists for gtins and product types, attributes the API does not name as
`customAttributes`. Requests go in `multipart/mixed` batches to `{base}/batch/products/v1`;
parts that fail with 429/5xx are sent again (with backoff) and only they. Items published
last time but absent now are deleted. Authentication is a service account through
google-auth; `base_url` is configurable, so tests aim it at a local fake server.

`feedsync status` reads the processed products back (`products.list`, paged, read-only):
each one's `productStatus` becomes an ItemView (feedsync.publish.channel_view).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from feedsync.channels.render import TypedItem
from feedsync.config import PublishConfig
from feedsync.errors import ConfigError
from feedsync.products.product import DateWindow, Measure, Money, Shipping
from feedsync.publish.base import FatalError, PublishResult, RetriableError, Upload, url_number
from feedsync.publish.channel_view import (
    APPROVED,
    DISAPPROVED,
    PENDING,
    UNKNOWN,
    WARNED,
    ChannelIssue,
    ItemView,
    attribute_name,
)
from feedsync.publish.retry import RetryPolicy, parse_retry_after

if TYPE_CHECKING:  # imported where used: a build without a push never needs requests
    import requests

SCOPE = "https://www.googleapis.com/auth/content"
DEFAULT_BASE_URL = "https://merchantapi.googleapis.com"
DEFAULT_BATCH_SIZE = 100  # Google's guidance for batch requests (§1.6, soft)
LIST_PAGE_SIZE = 1000  # products.list's maximum page
RETRY_STATUSES = {408, 429, 500, 502, 503, 504}

_MONEY = {"price", "sale_price", "cost_of_goods_sold", "auto_pricing_min_price",
          "maximum_retail_price"}
_ENUMS = {"availability", "condition", "gender", "age_group", "size_system",
          "energy_efficiency_class", "min_energy_efficiency_class",
          "max_energy_efficiency_class", "pause"}
_BOOLEANS = {"identifier_exists", "adult", "is_bundle"}
_DATES = {"availability_date", "expiration_date", "disclosure_date"}
_LISTS = {"additional_image_link": "additionalImageLinks", "gtin": "gtins",
          "product_type": "productTypes", "product_highlight": "productHighlights",
          "lifestyle_image_link": "lifestyleImageLinks", "size_type": "sizeTypes",
          "included_destination": "includedDestinations",
          "excluded_destination": "excludedDestinations", "promotion_id": "promotionIds",
          "shopping_ads_excluded_country": "shoppingAdsExcludedCountries",
          "video_link": "videoLinks"}
_TEXT = {"title", "description", "link", "mobile_link", "canonical_link", "image_link",
         "brand", "color", "size", "material", "pattern", "mpn", "google_product_category",
         "item_group_id", "custom_label_0", "custom_label_1", "custom_label_2",
         "custom_label_3", "custom_label_4", "ads_redirect", "ads_grouping", "short_title",
         "multipack", "sell_on_google_quantity", "shipping_label", "return_policy_label",
         "transit_time_label", "external_seller_id", "link_template", "mobile_link_template",
         "item_group_title", "max_handling_time", "min_handling_time"}
_SHIPPING_KEYS = ("country", "region", "service", "price")
_NEEDS_ENCODING = re.compile(r"[/%~]")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _money(value: Money | str) -> dict[str, str]:
    """A price as the API's Price: micros of the currency unit, and the currency code."""
    if isinstance(value, Money):
        amount, currency = value.amount, value.currency
    else:  # an item given as feed text (hand-made items; the spool gives Money)
        text, _, currency = value.strip().partition(" ")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not a price: {value!r}") from None
    micros = int((amount * 1_000_000).to_integral_value())
    return {"amountMicros": str(micros), "currencyCode": currency.strip().upper()}


def _minutes(value: datetime) -> str:
    """RFC 3339 at the feed's minute precision, so the API gets what the feed says."""
    return value.replace(second=0, microsecond=0).isoformat()


def _timestamp(value: datetime | str) -> str:
    """A datetime, or `2026-02-24T11:07+0100` (the feed's minute precision), as RFC 3339."""
    if isinstance(value, datetime):
        return _minutes(value)
    text = value
    for pattern in ("%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), pattern).isoformat()
        except ValueError:
            continue
    return text


def _group_from_text(text: str, keys: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k, v in zip(keys, text.split(":"), strict=False) if v}


def _shipping_rule(rule: Shipping) -> dict[str, Any]:
    result: dict[str, Any] = {"country": rule.country}
    for name in ("region", "postal_code", "service"):
        if getattr(rule, name):
            result[camel(name)] = getattr(rule, name)
    result["price"] = _money(rule.price)
    for name in ("min_handling_time", "max_handling_time", "min_transit_time",
                 "max_transit_time"):
        if getattr(rule, name) is not None:
            result[camel(name)] = str(getattr(rule, name))
    return result


def _shipping(value: Any) -> list[dict[str, Any]]:
    groups = value if isinstance(value, list) else [value]
    result = []
    for group in groups:
        if isinstance(group, Shipping):
            result.append(_shipping_rule(group))
            continue
        if isinstance(group, str):
            group = _group_from_text(group, _SHIPPING_KEYS)
        rule: dict[str, Any] = {}
        for key, text in group.items():
            rule[camel(key)] = _money(text) if key == "price" else text
        result.append(rule)
    return result


def _json_number(value: Decimal) -> int | float:
    """A JSON number: an int when whole; else the float whose shortest repr is the
    Decimal's own digits (true for every weight with fewer than 16 significant digits)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _listify(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def product_input(item: TypedItem, content_language: str,
                  feed_label: str) -> dict[str, Any]:
    """One feed item (Google attribute names, typed values) -> a Merchant API v1
    ProductInput."""
    attributes: dict[str, Any] = {}
    custom: list[dict[str, str]] = []
    for name, value in item.items():
        if name == "id":
            continue
        if name in _MONEY:
            attributes[camel(name)] = _money(value if isinstance(value, Money) else str(value))
        elif name in _ENUMS:
            attributes[camel(name)] = str(value).strip().upper().replace(" ", "_")
        elif name in _BOOLEANS:
            attributes[camel(name)] = str(value).strip().lower() in ("yes", "true", "1")
        elif name in _DATES:
            attributes[camel(name)] = _timestamp(
                value if isinstance(value, datetime) else str(value))
        elif name == "sale_price_effective_date":
            if isinstance(value, DateWindow):
                start_time, end_time = _minutes(value.start), _minutes(value.end)
            else:
                start, _, end = str(value).partition("/")
                start_time, end_time = _timestamp(start), _timestamp(end)
            attributes["salePriceEffectiveDate"] = {"startTime": start_time,
                                                    "endTime": end_time}
        elif name == "shipping_weight":
            if isinstance(value, Measure):
                number, unit = value.value, value.unit
            else:
                text, _, unit = str(value).strip().partition(" ")
                number = Decimal(text)
            attributes["shippingWeight"] = {"value": _json_number(number), "unit": unit}
        elif name == "shipping":
            attributes["shipping"] = _shipping(value)
        elif name in _LISTS:
            attributes[_LISTS[name]] = _listify(value)
        elif name in _TEXT:
            attributes[camel(name)] = value if isinstance(value, str) else ",".join(
                v for v in value if isinstance(v, str))
        else:
            text = value if isinstance(value, str) else ",".join(
                v if isinstance(v, str) else ":".join(v.values()) for v in value)
            custom.append({"name": name, "value": text})
    result: dict[str, Any] = {"offerId": str(item["id"]), "contentLanguage": content_language,
                              "feedLabel": feed_label, "productAttributes": attributes}
    if custom:
        result["customAttributes"] = custom
    return result


def product_input_name(account: str, content_language: str, feed_label: str,
                       offer_id: str) -> str:
    """`accounts/1/productInputs/es~ES~SKU`, base64url-encoded when it needs to be (§1.6)."""
    part = f"{content_language}~{feed_label}~{offer_id}"
    if _NEEDS_ENCODING.search(offer_id):
        part = base64.urlsafe_b64encode(part.encode()).decode().rstrip("=")
    return f"accounts/{account}/productInputs/{part}"


def update_mask(fields: list[str]) -> list[str]:
    """The `updateMask` of a patch of these feed fields: top-level attributes by their
    name, others (sent as customAttributes) with the `custom_attribute.` prefix."""
    known = _MONEY | _ENUMS | _BOOLEANS | _DATES | _TEXT | set(_LISTS) | {
        "sale_price_effective_date", "shipping_weight", "shipping"}
    return [name if name in known else f"custom_attribute.{name}" for name in fields]


def local_inventory(entry: dict[str, str]) -> dict[str, Any]:
    """One local inventory entry (feed spellings) -> an Inventories API LocalInventory."""
    attributes: dict[str, Any] = {}
    for name in ("price", "sale_price"):
        if entry.get(name):
            attributes[camel(name)] = _money(entry[name])
    if entry.get("quantity") not in (None, ""):
        attributes["quantity"] = str(int(entry["quantity"]))
    for name in ("availability", "pickup_method", "pickup_sla"):
        if entry.get(name):
            text = entry[name].upper().replace(" ", "_").replace("-", "_")
            attributes[camel(name)] = {"2_DAY": "TWO_DAY", "3_DAY": "THREE_DAY",
                                       "4_DAY": "FOUR_DAY", "5_DAY": "FIVE_DAY",
                                       "6_DAY": "SIX_DAY", "7_DAY": "SEVEN_DAY"}.get(text, text)
    return {"storeCode": entry["store_code"], "localInventoryAttributes": attributes}


# -- multipart/mixed batches ----------------------------------------------------------------

BatchPart = tuple[str, str, dict[str, Any] | None]  # method, path with query, JSON body


def encode_batch(parts: dict[str, BatchPart], boundary: str) -> bytes:
    chunks = []
    for content_id, (method, path, body) in parts.items():
        lines = [f"--{boundary}", "Content-Type: application/http",
                 f"Content-ID: <{content_id}>", "", f"{method} {path} HTTP/1.1"]
        if body is not None:
            payload = json.dumps(body, ensure_ascii=False)
            lines += ["Content-Type: application/json; charset=UTF-8", "", payload]
        else:
            lines += [""]
        chunks.append("\r\n".join(lines))
    return ("\r\n".join(chunks) + f"\r\n--{boundary}--\r\n").encode("utf-8")


def decode_batch_response(content_type: str,
                          body: bytes) -> dict[str, tuple[int, dict[str, str], Any]]:
    """Parts of a multipart/mixed batch response: content id -> (status, headers, JSON)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ValueError("the batch response is not multipart")
    delimiter = b"--" + match.group(1).encode()
    results: dict[str, tuple[int, dict[str, str], Any]] = {}
    for chunk in body.split(delimiter)[1:]:
        text = chunk.decode("utf-8").replace("\r\n", "\n")
        if text.startswith("--"):
            break
        part_head, _, http = text.strip("\n").partition("\n\n")
        part_headers = _headers(part_head)
        status_line, _, rest = http.partition("\n")
        response_head, _, payload = rest.partition("\n\n")
        status = int(status_line.split()[1])
        content_id = part_headers.get("content-id", "").strip("<>").removeprefix("response-")
        data = json.loads(payload) if payload.strip() else {}
        results[content_id] = (status, _headers(response_head), data)
    return results


def _headers(block: str) -> dict[str, str]:
    headers = {}
    for line in block.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    return headers


# -- processed products' status, for `feedsync status` ----------------------------------------

def product_view(product: dict[str, Any]) -> ItemView:
    """One processed Product (products.list) -> the channel's view of that item: disapproved
    when any destination disapproves it in any country or an issue disapproves it."""
    status = product.get("productStatus") or {}
    destinations = []
    approved = pending = disapproved = False
    for entry in status.get("destinationStatuses") or []:
        context = str(entry.get("reportingContext", "?"))
        words = []
        for key, word in (("approvedCountries", APPROVED), ("pendingCountries", PENDING),
                          ("disapprovedCountries", DISAPPROVED)):
            countries = entry.get(key) or []
            if countries:
                words.append(f"{word} {' '.join(countries)}")
        approved = approved or bool(entry.get("approvedCountries"))
        pending = pending or bool(entry.get("pendingCountries"))
        disapproved = disapproved or bool(entry.get("disapprovedCountries"))
        destinations.append(f"{context}: {'; '.join(words) or 'no countries'}")
    issues = []
    demoted = False
    for raw in status.get("itemLevelIssues") or []:
        severity = str(raw.get("severity", ""))
        disapproved = disapproved or severity == "DISAPPROVED"
        demoted = demoted or severity == "DEMOTED"
        where = tuple(x for x in [raw.get("reportingContext"), *(
            raw.get("applicableCountries") or [])] if x)
        issues.append(ChannelIssue(
            code=str(raw.get("code", "")), description=str(raw.get("description", "")),
            attribute=attribute_name(raw.get("attribute")), severity=severity,
            resolution=raw.get("resolution"), detail=raw.get("detail"),
            documentation=raw.get("documentation"), where=where))
    word = (DISAPPROVED if disapproved else WARNED if demoted else APPROVED if approved
            else PENDING if pending else UNKNOWN)
    return ItemView(str(product.get("offerId", "")), word, issues, destinations,
                    status.get("googleExpirationDate"), status.get("lastUpdateDate"))



@contextmanager
def _request_errors(name: str, what: str) -> Iterator[None]:
    """One request's failures as the publish errors: refused credentials are fatal; a
    transport error, timeout or lost connection may pass later ("WHAT failed")."""
    import requests
    from google.auth.exceptions import RefreshError, TransportError

    try:
        yield
    except RefreshError:
        raise FatalError(f"{name}: Google refused the service account's "
                         "credentials") from None
    except (TransportError, requests.exceptions.Timeout,
            requests.exceptions.ConnectionError) as exc:
        raise RetriableError(f"{name}: {what} failed ({type(exc).__name__})") from None

class MerchantApiDestination:
    def __init__(self, name: str, config: PublishConfig, base_dir: Path) -> None:
        self.name = name
        self.config = config
        self.account = url_number(name, config.url, "google-merchant://ACCOUNT_ID (the "
                                  "Merchant Center account number)")
        problems = [k for k in ("data_source", "content_language", "feed_label")
                    if getattr(config, k) is None]
        if problems:
            raise ConfigError(f"publish.{name}: the Merchant API needs "
                              + ", ".join(f"`{k}:`" for k in problems))
        self.data_source = f"accounts/{self.account}/dataSources/{config.data_source}"
        self.base_url = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.batch_size = min(config.batch_size or DEFAULT_BATCH_SIZE, 1000)
        self.credentials = config.credentials
        self.base_dir = base_dir

    def target(self, upload: Upload) -> str:
        return f"google-merchant://{self.account} ({self.data_source})"

    def _session(self) -> requests.Session:
        import os

        from google.auth.exceptions import GoogleAuthError
        from google.auth.transport.requests import AuthorizedSession
        from google.oauth2 import service_account

        path = self.credentials or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        if not path:
            raise FatalError(f"{self.name}: no service account: set `credentials:` or "
                             "GOOGLE_APPLICATION_CREDENTIALS")
        try:
            credentials = service_account.Credentials.from_service_account_file(
                str(self.base_dir / Path(path).expanduser()), scopes=[SCOPE])
        except (OSError, ValueError, KeyError, GoogleAuthError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else type(exc).__name__
            raise FatalError(f"{self.name}: cannot load the service account file "
                             f"{Path(path).name} ({reason})") from None
        session = AuthorizedSession(credentials, refresh_timeout=self.config.timeout)
        session.trust_env = False
        return session

    def publish(self, upload: Upload, retry: RetryPolicy) -> PublishResult:
        if upload.read_items is None:
            raise FatalError(f"{self.name}: no items to send")
        session = self._session()
        result = PublishResult(self.target(upload), 0, upload.size, attempts=0)
        config = self.config
        path = f"/products/v1/accounts/{self.account}/productInputs:insert" \
               f"?dataSource={quote(self.data_source, safe='')}"
        ids: list[str] = []
        delta = upload.delete_ids is not None
        labels: dict[str, str] = {}  # content id -> the item id it sends or deletes
        try:
            batch: dict[str, BatchPart] = {}
            for item in upload.read_items():
                offer_id = str(item.get("id", ""))
                if not delta:
                    ids.append(offer_id)
                body = product_input(item, config.content_language or "",
                                     config.feed_label or "")
                content_id = f"insert-{len(labels) + 1}"
                batch[content_id] = ("POST", path, body)
                labels[content_id] = offer_id
                if len(batch) >= self.batch_size:
                    self._send(session, batch, retry, result, labels, upload)
                    batch = {}
            if config.delete_missing and (delta or upload.previous_ids is not None):
                if upload.delete_ids is not None:
                    gone: Iterator[str] = upload.delete_ids()
                else:
                    assert upload.previous_ids is not None
                    current = set(ids)
                    gone = (i for i in upload.previous_ids() if i not in current)
                for n, old in enumerate(gone):
                    name = product_input_name(self.account, config.content_language or "",
                                              config.feed_label or "", old)
                    batch[f"delete-{n}"] = (
                        "DELETE", f"/products/v1/{name}?dataSource="
                                  f"{quote(self.data_source, safe='')}", None)
                    labels[f"delete-{n}"] = old
                    if len(batch) >= self.batch_size:
                        self._send(session, batch, retry, result, labels, upload)
                        batch = {}
            if batch:
                self._send(session, batch, retry, result, labels, upload)
        finally:
            session.close()
        result.ids = None if delta else ids
        return result

    def statuses(self, retry: RetryPolicy) -> Iterator[ItemView]:
        """Every processed product of this destination's data source (its content language
        and feed label), page by page through `products.list`; each page is retried by
        `retry` (429 and 5xx, `Retry-After` honoured). Sends nothing that changes data."""
        session = self._session()
        url = f"{self.base_url}/products/v1/accounts/{self.account}/products"
        token: str | None = None
        try:
            while True:
                params = {"pageSize": str(LIST_PAGE_SIZE)}
                if token:
                    params["pageToken"] = token
                page, _ = retry.call(partial(self._get, session, url, params))
                for product in page.get("products") or []:
                    if self._is_ours(product):
                        yield product_view(product)
                token = page.get("nextPageToken") or None
                if not token:
                    return
        finally:
            session.close()

    def _is_ours(self, product: dict[str, Any]) -> bool:
        """The account may hold other feeds' products: keep this destination's only."""
        source = product.get("dataSource")
        return (product.get("contentLanguage") == self.config.content_language
                and product.get("feedLabel") == self.config.feed_label
                and (source is None or source == self.data_source))

    def _get(self, session: requests.Session, url: str,
             params: dict[str, str]) -> dict[str, Any]:
        with _request_errors(self.name, "listing the products"):
            response = session.get(url, params=params, timeout=self.config.timeout,
                                   allow_redirects=False)
        with response:
            _raise_for_status(self.name, response.status_code, response.headers, response.text)
            try:
                data = response.json()
            except ValueError:
                raise RetriableError(f"{self.name}: unreadable products.list answer") from None
        return data if isinstance(data, dict) else {}

    def patch(self, items: Iterator[TypedItem], fields: list[str], retry: RetryPolicy,
              confirm: Callable[[list[str]], None]) -> PublishResult:
        """`feedsync sync`: `productInputs.patch` each item with only `fields` (an
        `updateMask` naming them; a field in the mask and absent from the item is cleared,
        as the API documents), never inserting: a product the API does not hold answers
        404 and is reported. `confirm` gets the ids the API took, batch by batch."""
        session = self._session()
        result = PublishResult(f"google-merchant://{self.account} ({self.data_source})", 0, 0,
                               attempts=0)
        config = self.config
        language, label = config.content_language or "", config.feed_label or ""
        query = (f"updateMask={quote(','.join(update_mask(fields)), safe='')}"
                 f"&dataSource={quote(self.data_source, safe='')}")
        labels: dict[str, str] = {}
        try:
            batch: dict[str, BatchPart] = {}
            for n, item in enumerate(items):
                offer_id = str(item["id"])
                name = product_input_name(self.account, language, label, offer_id)
                body = {"name": name, **product_input(item, language, label)}
                batch[f"patch-{n}"] = ("PATCH", f"/products/v1/{name}?{query}", body)
                labels[f"patch-{n}"] = offer_id
                if len(batch) >= self.batch_size:
                    self._send_patches(session, batch, retry, result, labels, confirm)
                    batch = {}
            if batch:
                self._send_patches(session, batch, retry, result, labels, confirm)
        finally:
            session.close()
        return result

    def insert_local_inventories(self, entries: Iterator[dict[str, str]], retry: RetryPolicy,
                                 confirm: Callable[[list[str]], None]) -> PublishResult:
        """Inventories API: `localInventories.insert` for each local inventory entry
        (feed spellings: store_code, id, quantity, price...), in batches; `confirm` gets
        the `store~id` keys the API took."""
        session = self._session()
        result = PublishResult(f"google-merchant://{self.account} (local inventories)", 0, 0,
                               attempts=0)
        language, label = self.config.content_language or "", self.config.feed_label or ""
        labels: dict[str, str] = {}
        try:
            batch: dict[str, BatchPart] = {}
            for n, entry in enumerate(entries):
                product = product_input_name(self.account, language, label, entry["id"])
                product = product.replace("/productInputs/", "/products/")
                batch[f"local-{n}"] = ("POST", f"/inventories/v1/{product}/localInventories"
                                       ":insert", local_inventory(entry))
                labels[f"local-{n}"] = f"{entry['store_code']}~{entry['id']}"
                if len(batch) >= self.batch_size:
                    self._send_patches(session, batch, retry, result, labels, confirm,
                                       "inventories")
                    batch = {}
            if batch:
                self._send_patches(session, batch, retry, result, labels, confirm,
                                   "inventories")
        finally:
            session.close()
        return result

    def _send_patches(self, session: requests.Session, batch: dict[str, BatchPart],
                      retry: RetryPolicy, result: PublishResult, labels: dict[str, str],
                      confirm: Callable[[list[str]], None], api: str = "products") -> None:
        pending = dict(batch)
        settled: list[str] = []
        try:
            _, attempts = retry.call(lambda: self._post_batch(session, pending, result,
                                                              settled, api))
            result.attempts = max(result.attempts, attempts)
        finally:
            confirm([labels.pop(c) for c in settled])

    def _send(self, session: requests.Session, batch: dict[str, BatchPart], retry: RetryPolicy,
              result: PublishResult, labels: dict[str, str], upload: Upload) -> None:
        pending = dict(batch)
        settled: list[str] = []  # content ids the API confirmed

        def attempt() -> None:
            self._post_batch(session, pending, result, settled)

        try:
            _, attempts = retry.call(attempt)
            result.attempts = max(result.attempts, attempts)
        finally:
            if upload.confirm is not None:
                upload.confirm([labels[c] for c in settled if batch[c][0] == "POST"],
                               [labels[c] for c in settled if batch[c][0] == "DELETE"])
            for content_id in batch:
                labels.pop(content_id, None)

    def _post_batch(self, session: requests.Session, pending: dict[str, BatchPart],
                    result: PublishResult, settled: list[str] | None = None,
                    api: str = "products") -> None:
        """Send the parts still pending (to the `api` sub-API's batch endpoint); drop each
        from `pending` once it is settled."""
        boundary = "batch_" + secrets.token_hex(12)
        url = f"{self.base_url}/batch/{api}/v1"
        with _request_errors(self.name, "the Merchant API batch"):
            response = session.post(
                url, data=encode_batch(pending, boundary), timeout=self.config.timeout,
                headers={"Content-Type": f"multipart/mixed; boundary={boundary}"},
                allow_redirects=False)
        with response:
            _raise_for_status(self.name, response.status_code, response.headers, response.text)
            try:
                answers = decode_batch_response(response.headers.get("Content-Type", ""),
                                                response.content)
            except (ValueError, IndexError) as exc:
                raise RetriableError(f"{self.name}: unreadable batch response ({exc})") \
                    from None
        retry_after: float | None = None
        for content_id in list(pending):
            answer = answers.get(content_id)
            if answer is None:
                continue  # not answered: send it again
            status, headers, data = answer
            method = pending[content_id][0]
            if 200 <= status < 300 or (method == "DELETE" and status == 404):
                if method == "DELETE":
                    result.deleted += 1
                else:
                    result.items += 1
                if settled is not None:
                    settled.append(content_id)
                del pending[content_id]
            elif status in RETRY_STATUSES:
                wait = parse_retry_after(headers.get("retry-after"))
                retry_after = max(retry_after or 0, wait) if wait is not None else retry_after
            elif status in (401, 403):
                raise FatalError(f"{self.name}: the Merchant API refused access ({status}: "
                                 f"{_message(data)})")
            else:
                offer = (pending[content_id][2] or {}).get("offerId", content_id)
                result.rejected.append(f"{offer}: {status} {_message(data)}")
                del pending[content_id]
        if pending:
            raise RetriableError(f"{self.name}: {len(pending)} request(s) in the batch failed "
                                 "for now", retry_after)


def _raise_for_status(name: str, status: int, headers: Any, text: str) -> None:
    if 200 <= status < 300:
        return
    try:
        message = _message(json.loads(text))
    except ValueError:
        message = text[:200]
    summary = f"{name}: the Merchant API answered {status} ({message})"
    if status in RETRY_STATUSES:
        raise RetriableError(summary, parse_retry_after(headers.get("Retry-After")))
    raise FatalError(summary)


def _message(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return str(data["error"].get("message", ""))[:300]
    return ""

