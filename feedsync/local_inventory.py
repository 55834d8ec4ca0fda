"""Local inventory: what each physical store has, for Google's "in store" listings.

`stores:` is the table of stores (store code, name; CSV, xlsx or a database table), and
`local_inventory:` the per-store stock (store code, id, quantity; optionally price,
sale price, availability, pickup method and SLA), read by the same plain readers as the
master, streamed row by row. A run (part of `feedsync sync`):

- writes Google's local product inventory feed (`output:`, tab-separated, the columns
  of the local product inventory file format), atomically;
- sends, through the Merchant Inventories API (`publish:`, google-merchant destinations),
  `localInventories.insert` for each store x item that is new or changed since the
  ledger's record (feed `local-inventory`, one ledger item per store~id), so a run every
  few minutes sends only what moved;
- reports stock rows naming a store code the stores table lacks (skipped), and items of
  `channel:` that are stocked in no store.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from feedsync.checks import codes
from feedsync.checks.issue import Issue, Severity, warning
from feedsync.config import Config, SourceConfig, TableConfig
from feedsync.errors import ConfigError, ExitCode
from feedsync.pipeline import plan_channels
from feedsync.publish.base import Destination, PublishError
from feedsync.publish.google_api import MerchantApiDestination
from feedsync.publish.retry import RetryPolicy
from feedsync.sources import open_plain_source
from feedsync.state.ledger import FILE_DESTINATION, Ledger
from feedsync.writers.atomic import AtomicFile

LOCAL_FEED = "local-inventory"  # the ledger's feed name for store x item entries
FEED_COLUMNS = ("store_code", "id", "quantity", "price", "sale_price", "availability",
                "pickup_method", "pickup_sla")
AVAILABILITY = {"in_stock", "out_of_stock", "limited_availability", "on_display_to_order"}
PICKUP_METHODS = {"buy", "reserve", "ship to store", "not supported"}
PICKUP_SLAS = {"same day", "next day", "2-day", "3-day", "4-day", "5-day", "6-day", "7-day",
               "multi-week"}
MAX_LISTED = 20
MAX_ISSUES = 100


@dataclass
class LocalOutcome:
    """How the local inventory went at one destination (the feed file, or an API)."""

    destination: str
    status: str  # published, temporary, fatal
    sent: int = 0
    message: str = ""


@dataclass
class LocalReport:
    """What a local inventory run read, wrote and sent, and what it found wrong."""

    stores: int = 0
    rows: int = 0
    entries: int = 0  # store x item entries written
    unknown_stores: int = 0
    sample_unknown_stores: list[str] = field(default_factory=list)
    skipped: int = 0
    in_no_store: int = 0
    sample_in_no_store: list[str] = field(default_factory=list)
    output: str | None = None
    outcomes: list[LocalOutcome] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)  # the first MAX_ISSUES

    @property
    def exit_code(self) -> ExitCode:
        if any(o.status == "fatal" for o in self.outcomes):
            return ExitCode.REMOTE_FATAL
        if any(o.status == "temporary" for o in self.outcomes):
            return ExitCode.TEMPORARY_FAILURE
        return ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k not in ("issues", "outcomes")}
        data["outcomes"] = [vars(o) for o in self.outcomes]
        data["issues"] = [{"code": i.code, "severity": i.severity.value, "message": i.message}
                          for i in self.issues]
        return data

    def add(self, issue: Issue) -> None:
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(issue)


def _table_source(table: TableConfig, where: str) -> SourceConfig:
    fields = {k: getattr(table, k) for k in ("path", "url", "format", "table", "query",
                                             "sheet", "header_row", "encoding", "delimiter")}
    try:
        return SourceConfig.model_validate({k: v for k, v in fields.items() if v is not None})
    except Exception as exc:
        raise ConfigError(f"{where}: {str(exc).splitlines()[-1].strip()}") from exc


def read_stores(config: Config) -> dict[str, str]:
    """Store code -> name (the stores table is small: kept in memory)."""
    if config.stores is None:
        raise ConfigError(f"{config.file.name}: local_inventory: needs a `stores:` table")
    source = open_plain_source(_table_source(config.stores, "stores"), config.base_dir)
    code = config.stores.columns.get("code", "code")
    name = config.stores.columns.get("name", "name")
    if code not in source.columns:
        raise ConfigError(f"stores: {source.name} has no column {code!r} (set "
                          f"stores.columns.code); its columns are: {', '.join(source.columns)}")
    stores: dict[str, str] = {}
    for row in source.rows():
        value = (row.data.get(code) or "").strip()
        if value:
            stores[value] = (row.data.get(name) or "").strip()
    return stores


def _number(text: str) -> Decimal:
    cleaned = text.strip().replace(" ", "")
    if "," in cleaned and "." in cleaned:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    return Decimal(cleaned.replace(",", "."))


def local_entries(config: Config, stores: dict[str, str],
                  report: LocalReport) -> Iterator[dict[str, str]]:
    """Each valid stock row as a local inventory entry (feed spellings), in source order."""
    local = config.local_inventory
    assert local is not None
    source = open_plain_source(_table_source(local, "local_inventory"), config.base_dir)
    columns = {name: local.columns.get(name, name) for name in FEED_COLUMNS}
    missing = [f"{n} ({columns[n]!r})" for n in ("store_code", "id", "quantity")
               if columns[n] not in source.columns]
    if missing:
        raise ConfigError(f"local_inventory: {source.name} has no column for "
                          f"{', '.join(missing)}; set local_inventory.columns")
    currency = (local.currency or str(config.source.defaults.get("currency") or "")).upper()
    for row in source.rows():
        report.rows += 1
        data = {name: (row.data.get(column) or "").strip() for name, column in columns.items()}
        store, item_id = data["store_code"], data["id"]
        if store not in stores:
            report.unknown_stores += 1
            if store not in report.sample_unknown_stores and \
                    len(report.sample_unknown_stores) < MAX_LISTED:
                report.sample_unknown_stores.append(store)
            report.add(warning(codes.UNKNOWN_STORE,
                               f"{source.name} row {row.row}: store code {store!r} is not in "
                               "the stores table; the row is skipped", product_id=item_id))
            continue
        try:
            if not item_id:
                raise ValueError("no id")
            quantity = int(_number(data["quantity"] or "0"))
            entry = {"store_code": store, "id": item_id, "quantity": str(max(quantity, 0))}
            for name in ("price", "sale_price"):
                if data[name]:
                    entry[name] = f"{_number(data[name]):.2f} {currency}".strip()
        except (ValueError, InvalidOperation):
            report.skipped += 1
            report.add(warning(codes.BAD_LOCAL_STOCK,
                               f"{source.name} row {row.row}: id, quantity or price is not "
                               "usable; the row is skipped", product_id=item_id or None))
            continue
        availability = data["availability"].lower().replace(" ", "_")
        entry["availability"] = availability if availability in AVAILABILITY else (
            "in_stock" if quantity > 0 else "out_of_stock")
        if data["pickup_method"].lower() in PICKUP_METHODS:
            entry["pickup_method"] = data["pickup_method"].lower()
        if data["pickup_sla"].lower() in PICKUP_SLAS:
            entry["pickup_sla"] = data["pickup_sla"].lower()
        yield entry


def run_local_inventory(config: Config, ledger: Ledger, destinations: list[Destination],
                        say: Callable[[str], None],
                        retry_hook: Callable[[RetryPolicy], RetryPolicy] | None = None,
                        ) -> LocalReport:
    """Read stores and stock, write the feed, send what changed; see the module docstring.
    Runs inside the caller's run lock, on its open ledger."""
    local = config.local_inventory
    assert local is not None
    report = LocalReport()
    stores = read_stores(config)
    report.stores = len(stores)
    db = ledger.db
    db.execute("CREATE TEMP TABLE IF NOT EXISTS local_ids (item_id TEXT PRIMARY KEY) "
                "WITHOUT ROWID")
    db.execute("DELETE FROM local_ids")
    stager = ledger.stager()
    output = config.resolve(local.output) if local.output else None
    out = AtomicFile(output) if output is not None else None
    try:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
        writer.writerow(FEED_COLUMNS)
        ids: list[tuple[str]] = []
        for entry in local_entries(config, stores, report):
            report.entries += 1
            writer.writerow([entry.get(c, "") for c in FEED_COLUMNS])
            stager.add(LOCAL_FEED, f"{entry['store_code']}~{entry['id']}", entry)
            ids.append((entry["id"],))
            if len(ids) >= 5000 or buffer.tell() > 1 << 20:
                db.executemany("INSERT OR IGNORE INTO local_ids VALUES (?)", ids)
                ids = []
                if out is not None:
                    out.stream.write(buffer.getvalue().encode("utf-8"))
                buffer.seek(0)
                buffer.truncate()
        db.executemany("INSERT OR IGNORE INTO local_ids VALUES (?)", ids)
        stager.close()
        if out is not None:
            out.stream.write(buffer.getvalue().encode("utf-8"))
            out.commit()
            report.output = str(output)
            report.outcomes.append(LocalOutcome(str(output), "published", report.entries))
    except BaseException:
        if out is not None:
            out.abort()
        raise
    _items_in_no_store(config, ledger, report)
    for destination in destinations:
        report.outcomes.append(_send(ledger, destination, say, retry_hook))
    if output is not None:
        ledger.apply_file(LOCAL_FEED, FILE_DESTINATION,
                          ledger.diff(LOCAL_FEED, FILE_DESTINATION, sample=0), kind="sync")
    say(f"local inventory: {report.entries:,} store x item entries from {report.stores} "
        f"store(s); {report.unknown_stores:,} row(s) with an unknown store code, "
        f"{report.in_no_store:,} item(s) in no store")
    return report


def _items_in_no_store(config: Config, ledger: Ledger, report: LocalReport) -> None:
    channel = config.local_inventory.channel if config.local_inventory else None
    if channel is None:
        return
    if channel not in config.channels:
        raise ConfigError(f"local_inventory.channel: no channel {channel!r}")
    feed = plan_channels(config, [channel])[0].name
    query = ("FROM (SELECT DISTINCT item_id FROM items WHERE feed = ? AND state != 1 AND "
             "hash != X'') i WHERE i.item_id NOT IN (SELECT item_id FROM local_ids)")
    report.in_no_store = ledger.db.execute(f"SELECT COUNT(*) {query}", (feed,)).fetchone()[0]
    report.sample_in_no_store = [r[0] for r in ledger.db.execute(
        f"SELECT i.item_id {query} ORDER BY 1 LIMIT ?", (feed, MAX_LISTED))]
    for item_id in report.sample_in_no_store:
        report.add(Issue(codes.NOT_IN_ANY_STORE, Severity.INFO,
                         f"{item_id} ({feed}) has stock in no store", product_id=item_id))


def _send(ledger: Ledger, destination: Destination, say: Callable[[str], None],
          retry_hook: Callable[[RetryPolicy], RetryPolicy] | None) -> LocalOutcome:
    if not isinstance(destination, MerchantApiDestination):
        raise ConfigError(f"local_inventory.publish: {destination.name} is not a "
                          "google-merchant:// destination")
    diff = ledger.diff(LOCAL_FEED, destination.name, sample=0)
    rows = ledger.db.execute(
        "SELECT COALESCE(s.item, (SELECT c.item FROM contents c WHERE c.hash = s.hash)) "
        "FROM staged s LEFT JOIN items i ON i.feed = s.feed AND "
        "i.destination = ? AND i.item_id = s.item_id WHERE s.feed = ? AND "
        "(i.item_id IS NULL OR i.hash != s.hash OR i.state != 0) ORDER BY s.item_id",
        (destination.name, LOCAL_FEED))
    policy = RetryPolicy.from_config(destination.config.retry)
    if retry_hook is not None:
        policy = retry_hook(policy)
    entries = (json.loads(text) for (text,) in rows)

    def confirm(keys: list[str]) -> None:
        ledger.confirm(LOCAL_FEED, destination.name, keys)

    try:
        result = destination.insert_local_inventories(entries, policy, confirm)
    except PublishError as exc:
        status = "temporary" if exc.exit_code is ExitCode.TEMPORARY_FAILURE else "fatal"
        ledger.apply_api(LOCAL_FEED, destination.name, diff, lifetime=None,
                         attempted_deletes=False, result=status, message=exc.message)
        say(f"local inventory -> {destination.name}: {exc.message}")
        return LocalOutcome(destination.name, status, message=exc.message)
    ledger.apply_api(LOCAL_FEED, destination.name, diff, lifetime=None,
                     attempted_deletes=False, result="published")
    say(f"local inventory -> {destination.name}: {result.items:,} local inventories sent "
        f"({diff.added:,} new, {diff.changed:,} changed)")
    message = (f"{len(result.rejected):,} rejected, e.g. {result.rejected[0]}"
               if result.rejected else "")
    return LocalOutcome(destination.name, "published", result.items, message)


def local_feed_path(config: Config) -> Path | None:
    """Where the local product inventory feed goes, or None."""
    local = config.local_inventory
    return config.resolve(local.output) if local and local.output else None
