"""Meta catalog via the Graph API: `items_batch` (at most 5,000 requests per call), then poll
`check_batch_request_status` until each batch handle is finished.

Items are read back from the built feed (items.py) and sent as UPDATE requests with
`allow_upsert=true` (create or replace by `id`), in Meta's feed spellings (`in stock`,
`9.99 USD`, shipping as `COUNTRY:REGION:SERVICE:PRICE`; ../shared/reference/channel-specs.md
§2.2 and §2.4). Items published last time but absent now are deleted. The token goes in an
Authorization header, never in a URL.

`feedsync status` reads back, without changing anything, the per-item errors and warnings
of the batch handles `push` recorded, and the catalog's diagnostics (`/{catalog}/diagnostics`,
paged by its `after` cursor on our own base URL, so the token never follows a `next` link).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from feedsync.channels.render import TypedItem, text_value
from feedsync.config import PublishConfig
from feedsync.errors import ConfigError
from feedsync.products.product import Shipping
from feedsync.publish.base import FatalError, PublishResult, RetriableError, Upload, url_number
from feedsync.publish.channel_view import (
    DISAPPROVED,
    WARNED,
    CatalogDiagnostic,
    ChannelIssue,
    ItemView,
    attribute_name,
)
from feedsync.publish.retry import RetryPolicy, parse_retry_after

if TYPE_CHECKING:  # imported where used: a build without a push never needs requests
    import requests

DEFAULT_BASE_URL = "https://graph.facebook.com/v21.0"
MAX_BATCH = 5000
DEFAULT_BATCH_SIZE = 3000  # Meta recommends fewer than 3,000 per call
# Graph error codes: throttling (retry later) and token or permission problems (fatal).
_THROTTLED = {4, 17, 32, 341, 613, 80014}
_AUTH = {102, 190, 10, 200, 210, 270, 294}
_AVAILABILITY = {"in_stock": "in stock", "out_of_stock": "out of stock",
                 "backorder": "available for order", "limited_availability": "in stock"}
_FINISHED = {"finished"}
_FAILED = {"error", "canceled"}


def meta_item(item: TypedItem) -> dict[str, Any]:
    """One feed item (typed values from the spool, or feed text) -> the `data` of an
    items_batch request, in Meta's feed spellings: the same text the feed file holds."""
    data: dict[str, Any] = {}
    for name, value in item.items():
        if isinstance(value, list):
            if value and isinstance(value[0], Shipping):
                value = [_shipping_text(rule) for rule in value]
            if value and isinstance(value[0], dict):
                text = ",".join(":".join(g.get(k, "") for k in ("country", "region", "service",
                                                                 "price"))
                                for g in value)
            else:
                text = ",".join(str(v) for v in value)
        elif isinstance(value, str):
            text = value
        else:
            text = text_value(value)
        if name == "availability":
            text = _AVAILABILITY.get(text, text.replace("_", " "))
        data[name] = text
    return data


def _shipping_text(rule: Shipping) -> dict[str, str]:
    return {"country": rule.country, "region": rule.region or "",
            "service": rule.service or "", "price": text_value(rule.price)}


class MetaCatalogDestination:
    def __init__(self, name: str, config: PublishConfig, base_dir: Path) -> None:
        self.name = name
        self.config = config
        self.catalog = url_number(name, config.url, "meta-catalog://CATALOG_ID")
        if config.token is None:
            raise ConfigError(f"publish.{name}: the Graph API needs `token:` (from ${{VAR}})")
        self.base_url = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.batch_size = min(config.batch_size or DEFAULT_BATCH_SIZE, MAX_BATCH)
        self.sleep: Callable[[float], None] = time.sleep

    def target(self, upload: Upload) -> str:
        return f"meta-catalog://{self.catalog}"

    def publish(self, upload: Upload, retry: RetryPolicy) -> PublishResult:
        import requests

        if upload.read_items is None:
            raise FatalError(f"{self.name}: no items to send")
        session = requests.Session()
        session.trust_env = False
        assert self.config.token is not None
        session.headers["Authorization"] = f"Bearer {self.config.token.get_secret_value()}"
        result = PublishResult(self.target(upload), 0, upload.size, attempts=0)
        ids: list[str] = []
        delta = upload.delete_ids is not None
        try:
            batch: list[dict[str, Any]] = []
            for item in upload.read_items():
                if not delta:
                    ids.append(str(item.get("id", "")))
                batch.append({"method": "UPDATE", "data": meta_item(item)})
                if len(batch) >= self.batch_size:
                    self._send(session, batch, retry, result, upload)
                    batch = []
            if self.config.delete_missing and (delta or upload.previous_ids is not None):
                if upload.delete_ids is not None:
                    gone: Iterator[str] = upload.delete_ids()
                else:
                    assert upload.previous_ids is not None
                    current = set(ids)
                    gone = (i for i in upload.previous_ids() if i not in current)
                for old in gone:
                    batch.append({"method": "DELETE", "data": {"id": old}})
                    if len(batch) >= self.batch_size:
                        self._send(session, batch, retry, result, upload)
                        batch = []
            if batch:
                self._send(session, batch, retry, result, upload)
        finally:
            session.close()
        result.ids = None if delta else ids
        return result

    def update_fields(self, items: Iterator[TypedItem], fields: list[str],
                      retry: RetryPolicy, confirm: Callable[[list[str]], None]) -> PublishResult:
        """`feedsync sync`: UPDATE requests carrying only `fields` (a field absent from the
        item is sent empty, which clears it), with `allow_upsert=false`, so an item Meta
        does not hold is refused, never created. `confirm` gets the ids Meta took."""
        import requests

        session = requests.Session()
        session.trust_env = False
        assert self.config.token is not None
        session.headers["Authorization"] = f"Bearer {self.config.token.get_secret_value()}"
        result = PublishResult(f"meta-catalog://{self.catalog}", 0, 0, attempts=0)
        upload = Upload("sync", Path("-"), "-", "", 0, "", 0,
                        confirm=lambda sent, deleted: confirm(sent))
        try:
            batch: list[dict[str, Any]] = []
            for item in items:
                data = {name: "" for name in fields} | meta_item(item)
                batch.append({"method": "UPDATE", "data": data})
                if len(batch) >= self.batch_size:
                    self._send(session, batch, retry, result, upload, upsert=False)
                    batch = []
            if batch:
                self._send(session, batch, retry, result, upload, upsert=False)
        finally:
            session.close()
        return result

    def _send(self, session: requests.Session, batch: list[dict[str, Any]], retry: RetryPolicy,
              result: PublishResult, upload: Upload | None = None, upsert: bool = True) -> None:
        form = {"item_type": "PRODUCT_ITEM", "allow_upsert": "true" if upsert else "false",
                "requests": json.dumps(batch, ensure_ascii=False)}
        url = f"{self.base_url}/{self.catalog}/items_batch"
        answer, attempts = retry.call(lambda: self._call(session, "POST", url, data=form))
        result.attempts = max(result.attempts, attempts)
        refused: set[str] = set()
        for status in answer.get("validation_status") or []:
            for error in status.get("errors") or []:
                refused.add(str(status.get("retailer_id")))
                result.rejected.append(f"{status.get('retailer_id')}: {error.get('message')}")
        rejected_before = len(result.rejected)
        for handle in answer.get("handles") or []:
            result.handles.append((str(handle), [str(r["data"].get("id")) for r in batch]))
            self._wait(session, handle, retry, result)
        # Errors the finished batch reports name the item (id) or its line in the batch.
        for entry in result.rejected[rejected_before:]:
            where = entry.split(":", 1)[0]
            refused.add(where)
            if where.isdecimal() and int(where) < len(batch):
                refused.add(str(batch[int(where)]["data"].get("id")))
        deletes = sum(1 for r in batch if r["method"] == "DELETE")
        result.deleted += deletes
        result.items += len(batch) - deletes
        if upload is not None and upload.confirm is not None:
            upload.confirm(
                [str(r["data"].get("id")) for r in batch
                 if r["method"] == "UPDATE" and str(r["data"].get("id")) not in refused],
                [str(r["data"].get("id")) for r in batch if r["method"] == "DELETE"])

    def _wait(self, session: requests.Session, handle: str, retry: RetryPolicy,
              result: PublishResult) -> None:
        url = f"{self.base_url}/{self.catalog}/check_batch_request_status"
        params = {"handle": handle, "load_ids_of_invalid_requests": "true"}
        deadline = time.monotonic() + self.config.poll_timeout
        while True:
            answer, _ = retry.call(lambda: self._call(session, "GET", url, params=params))
            entries = answer.get("data") if isinstance(answer.get("data"), list) else [answer]
            state = entries[0] if entries else {}
            status = str(state.get("status", "")).lower()
            if status in _FINISHED or status in _FAILED:
                break
            if time.monotonic() >= deadline:
                raise RetriableError(f"{self.name}: batch {handle} still {status or 'pending'} "
                                     f"after {self.config.poll_timeout:g}s")
            self.sleep(self.config.poll_interval)
        for error in state.get("errors") or []:
            where = error.get("id") or error.get("line") or "?"
            result.rejected.append(f"{where}: {error.get('message')}")
        if status in _FAILED:
            raise FatalError(f"{self.name}: Meta reports batch {handle} as {status}")

    # -- reading back, for `feedsync status` -------------------------------------------------

    def _reader(self) -> requests.Session:
        import requests

        session = requests.Session()
        session.trust_env = False
        assert self.config.token is not None
        session.headers["Authorization"] = f"Bearer {self.config.token.get_secret_value()}"
        return session

    def batch_views(self, handles: list[str], retry: RetryPolicy, notes: list[str],
                    current: Callable[[str, str], bool]) -> list[ItemView]:
        """The items the recorded batches reported errors or warnings for; an item counts
        only from the batch that last carried it (`current(item_id, handle)`), so an item
        fixed and sent again since is clean. A handle Meta no longer knows is noted in
        `notes` and skipped."""
        url = f"{self.base_url}/{self.catalog}/check_batch_request_status"
        views: dict[str, ItemView] = {}
        session = self._reader()
        try:
            for handle in handles:
                params = {"handle": handle, "load_ids_of_invalid_requests": "true"}
                try:
                    answer, _ = retry.call(partial(self._call, session, "GET", url,
                                                   params=params))
                except FatalError as exc:
                    notes.append(f"batch {handle}: not readable any more ({exc.message})")
                    continue
                data = answer.get("data")
                entries: list[dict[str, Any]] = data if isinstance(data, list) else [answer]
                for state in entries:
                    found: dict[str, list[ChannelIssue]] = {}
                    for kind in ("errors", "warnings"):
                        for raw in state.get(kind) or []:
                            where = str(raw.get("id") or f"line {raw.get('line', '?')}")
                            found.setdefault(where, []).append(_batch_issue(raw, kind, handle))
                    for item_id, issues in found.items():
                        if not current(item_id, handle):
                            continue
                        rejected = any(i.severity == "error" for i in issues)
                        views[item_id] = ItemView(item_id, DISAPPROVED if rejected else WARNED,
                                                  issues, [f"batch {handle}"])
        finally:
            session.close()
        return sorted(views.values(), key=lambda v: v.item_id)

    def diagnostics(self, retry: RetryPolicy) -> list[CatalogDiagnostic]:
        """The catalog's diagnostic groups (`GET /{catalog}/diagnostics`), every page."""
        url = f"{self.base_url}/{self.catalog}/diagnostics"
        found: list[CatalogDiagnostic] = []
        session = self._reader()
        after: str | None = None
        try:
            while True:
                params = {"after": after} if after else {}
                page, _ = retry.call(partial(self._call, session, "GET", url, params=params))
                for group in page.get("data") or []:
                    found += _diagnostics(group)
                paging = page.get("paging") or {}
                after = (paging.get("cursors") or {}).get("after") if paging.get("next") \
                    else None
                if not after:
                    return found
        finally:
            session.close()

    def _call(self, session: requests.Session, method: str, url: str,
              **kwargs: Any) -> dict[str, Any]:
        import requests

        try:
            response = session.request(method, url, timeout=self.config.timeout,
                                       allow_redirects=False, **kwargs)
        except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
            raise RetriableError(f"{self.name}: {method} {urlsplit(url).path} failed "
                                 f"({type(exc).__name__})") from None
        with response:
            try:
                data = response.json()
            except ValueError:
                data = {}
            status = response.status_code
            if 200 <= status < 300 and "error" not in data:
                return dict(data)
            error = data.get("error") if isinstance(data.get("error"), dict) else {}
            code = error.get("code")
            summary = (f"{self.name}: Graph API answered {status} "
                       f"(code {code}: {str(error.get('message', response.reason))[:300]})")
            if code in _THROTTLED or status in (429, 500, 502, 503, 504):
                raise RetriableError(summary, parse_retry_after(response.headers.get(
                    "Retry-After")))
            if code in _AUTH or status in (401, 403):
                raise FatalError(summary)
            raise FatalError(summary)


def _batch_issue(raw: dict[str, Any], kind: str, handle: str) -> ChannelIssue:
    """One error or warning of a finished batch (`check_batch_request_status`)."""
    message = str(raw.get("message", ""))
    code = str(raw.get("error_code") or raw.get("code") or raw.get("type")
               or ("batch-error" if kind == "errors" else "batch-warning"))
    attribute = raw.get("field") or raw.get("attribute")
    return ChannelIssue(code, message, attribute_name(attribute) if attribute else None,
                        "error" if kind == "errors" else "warning", where=(f"batch {handle}",))


def _diagnostics(group: dict[str, Any]) -> list[CatalogDiagnostic]:
    """A ProductCatalogDiagnosticGroup -> one finding per diagnostic it lists (or the group
    itself when it lists none), with the affected count and sample item ids."""
    severity = str(group.get("severity", ""))
    entries = group.get("diagnostics") or [{}]
    found = []
    for entry in entries:
        code = str(entry.get("type") or group.get("type") or group.get("error_code") or "?")
        words = entry.get("description") or group.get("title") or ""
        detail = entry.get("details") or group.get("subtitle")
        samples = [str(s.get("retailer_id") or s.get("id")) for s in
                   entry.get("sample_affected_items") or [] if isinstance(s, dict)]
        count = int(entry.get("number_of_affected_items")
                    or group.get("number_of_affected_items") or len(samples))
        issue = ChannelIssue(code, str(words), None, severity,
                             resolution=entry.get("call_to_action"), detail=detail,
                             documentation=entry.get("action_uri") or entry.get("action_url"),
                             where=(str(group.get("type", "")),) if group.get("type") else ())
        found.append(CatalogDiagnostic(issue, count, samples))
    return found
