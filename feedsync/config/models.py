"""The models of `feedsync.yaml`: plain pydantic data, no I/O and nothing compiled.

Loading (YAML with positions, `${VAR}` expansion) is in `feedsync.config.loading`; turning
pydantic errors into `file:line: key: message` is in `feedsync.config.diagnostics`; checking
rules against the master is a project-loading step in `feedsync.api`, not done here.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from feedsync.errors import ConfigError
from feedsync.products.product import CANONICAL_FIELDS, ENUMS
from feedsync.yamlpos import PositionedYaml

DEFAULT_CONFIG_NAME = "feedsync.yaml"

# Mapping targets that are not canonical fields but feed one.
VIRTUAL_TARGETS = {
    "images": "first URL -> image_link, the rest -> additional_image_link",
    "sale_price_start": "start of sale_price_effective_date",
    "sale_price_end": "end of sale_price_effective_date",
    "currency": "currency of price and sale_price when their cells have none",
}
SOURCE_DEFAULT_KEYS = {"currency", "weight_unit"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TranslateConfig(_Model):
    """How one master column's values are rewritten while reading (see sources/translate.py)."""

    map: dict[str, str] = Field(
        default_factory=dict, description="{master value: value} (case-insensitive keys)")
    date_format: str | None = Field(
        None, description="strptime format of the cells, rewritten as ISO 8601 (%d/%m/%Y)")
    zero_pad: int | None = Field(None, ge=1, description="Left-pad numeric codes with zeros")
    upper: bool = Field(False, description="Upper-case the value")
    lower: bool = Field(False, description="Lower-case the value")
    strip: bool = Field(True, description="Remove surrounding whitespace")


class JoinConfig(_Model):
    """An extra source joined to the master on the product id, held in memory keyed by id."""

    path: str | None = Field(None, description="File of the joined source")
    url: str | None = Field(None, description="Database URL (SQLAlchemy), e.g. sqlite:///stock.db")
    format: str | None = None
    table: str | None = None
    query: str | None = None
    sheet: str | int | None = None
    header_row: int | None = Field(None, ge=1)
    encoding: str | None = None
    delimiter: str | None = None
    key: str = Field(description="The joined source's column holding the product id")
    columns: list[str] | dict[str, str] | None = Field(
        None, description="Columns taken from it (a list, or {its column: name in the master}); "
        "all but the key when unset")
    override: bool = Field(True, description="Its non-empty values replace the master's")


class SourceConfig(_Model):
    path: str | None = Field(None, description="The product master, relative to this file")
    format: Literal["csv", "tsv", "xlsx", "json", "jsonl", "sql", "sqlite", "google_xml",
                    "rss", "atom"] | None = Field(
        None, description="Source kind; by default guessed from the file extension or url")
    encoding: str | None = Field(None, description="Text encoding; detected when unset")
    delimiter: str | None = Field(None, description="Field separator; sniffed when unset")
    locale: str | None = Field(None, description="How the master writes numbers and dates")
    timezone: str = Field("UTC", description="Time zone of dates written without one")
    date_format: str | None = Field(None, description="strptime format, e.g. %d/%m/%Y")
    list_separator: str | None = Field(
        None, description="Separator of multi-valued cells (images); default `,` `|` or newline")
    columns: dict[str, str | list[str]] = Field(
        default_factory=dict, description="canonical field -> master column (or list of columns)")
    defaults: dict[str, str] = Field(
        default_factory=dict, description="canonical field -> value used when the cell is empty")
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="canonical field -> {master value: canonical value}")
    # Workbooks (sources/excel.py)
    sheet: str | int | None = Field(
        None, description="Worksheet name, or its 1-based position; the first when unset")
    header_row: int | None = Field(
        None, ge=1, description="Row holding the headers; the first non-empty row when unset")
    reader: Literal["auto", "openpyxl", "calamine"] = Field(
        "auto", description="xlsx reader; `auto` picks by file size (see README, Sources)")
    # Databases (sources/sql.py)
    url: str | None = Field(None, description="SQLAlchemy database URL; ${VAR} for passwords")
    table: str | None = Field(None, description="Table (or view) to read")
    query: str | None = Field(None, description="SELECT statement to read instead of a table")
    # JSON (sources/json_source.py)
    records: str | None = Field(
        None, description="Dotted path to the array of records inside a JSON document")
    # Shop exports (sources/presets.py)
    preset: Literal["shopify", "woocommerce", "magento2", "meta"] | None = Field(
        None, description="A shop export's column mapping and quirks")
    shop_url: str | None = Field(
        None, description="The shop's base URL, for presets whose exports hold no product links")
    # Joins (sources/join.py) and read-time value translation (sources/translate.py)
    join: list[JoinConfig] = Field(
        default_factory=list, description="Extra sources joined on the product id")
    translate: dict[str, TranslateConfig] = Field(
        default_factory=dict, description="master column -> how its values are rewritten")

    @model_validator(mode="after")
    def _one_location(self) -> SourceConfig:
        if not self.path and not self.url:
            raise ValueError("give the master's `path` (a file) or `url` (a database)")
        if self.url and not (self.table or self.query):
            raise ValueError("a database source needs `table` or `query`")
        return self

    @field_validator("columns")
    @classmethod
    def _known_targets(cls, columns: dict[str, Any]) -> dict[str, Any]:
        unknown = [k for k in columns if k not in CANONICAL_FIELDS and k not in VIRTUAL_TARGETS]
        if unknown:
            raise ValueError(
                f"unknown canonical field(s) {', '.join(unknown)}; extra columns need no mapping "
                "(they are kept under their own header)")
        return columns

    @field_validator("defaults", mode="before")
    @classmethod
    def _known_defaults(cls, defaults: Any) -> Any:
        if not isinstance(defaults, dict):
            return defaults  # pydantic reports the type
        known = set(CANONICAL_FIELDS) | SOURCE_DEFAULT_KEYS
        unknown = [k for k in defaults if k not in known]
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}")
        return {k: str(v) for k, v in defaults.items()}

    @field_validator("values")
    @classmethod
    def _mappable(cls, values: dict[str, Any]) -> dict[str, Any]:
        for name, mapping in values.items():
            if name not in CANONICAL_FIELDS:
                raise ValueError(f"unknown field {name}")
            allowed = ENUMS.get(name)
            if allowed:
                bad = sorted({v for v in mapping.values() if v not in allowed})
                if bad:
                    raise ValueError(
                        f"{name} values must map to one of {', '.join(allowed)}; "
                        f"got {', '.join(bad)}")
        return values


class OutputConfig(_Model):
    path: str
    format: str | None = Field(None, description="Feed format; guessed from the extension")


class FeedInfo(_Model):
    """What a feed says about itself (the RSS <channel> title, link and description)."""

    title: str = "Product feed"
    link: str = "https://example.com/"
    description: str = "Product feed generated by feedsync"


class MarketConfig(_Model):
    """One market a channel entry targets; see feedsync/channels/markets.py."""

    country: str = Field(description="ISO 3166-1 alpha-2 country, e.g. ES; `{country}` in paths")
    language: str = Field(description="ISO 639-1 language, e.g. es; `{language}` in paths")
    currency: str = Field(description="ISO 4217 currency prices are converted to")
    settings: dict[str, str] = Field(default_factory=dict,
                                     description="Channel settings for this market only")
    shipping: str | None = Field(
        None, description="Shipping for products with no rule for this country, in the "
                          "master's syntax: `MX::Estándar:99 MXN`")

    @field_validator("country", "currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class GuardConfig(_Model):
    """Sanity gates on what a run would change (feedsync/state/guards.py); each has an
    override flag, and `--force` overrides them all."""

    max_drop: float = Field(0.3, ge=0, le=1, description="Largest share the item count may fall "
                                                         "by (--allow shrink)")
    max_delete_share: float = Field(0.5, ge=0, le=1, description="Largest share of the items a "
                                    "destination holds that one run may delete (--allow deletes)")
    max_deletes: int | None = Field(None, ge=0, description="Most items one run may delete "
                                                            "(--allow deletes)")
    max_price_change: float | None = Field(0.5, ge=0, description="Largest relative price change "
                                           "of one item, 0.5 = 50% (--allow price-change)")
    min_items: int = Field(0, ge=0, description="Fewest items a feed may have (--allow min-items)")


IssueSetting = Literal["warning", "info", "ignore"]
ISSUES_DESCRIPTION = ("issue code -> `warning`, `info` or `ignore`: report a code more mildly, "
                      "or not at all (errors leave products out and cannot be downgraded)")


class TableConfig(_Model):
    """A side table read by the plain readers (CSV, xlsx, a database table or query)."""

    path: str | None = Field(None, description="File of the table")
    url: str | None = Field(None, description="Database URL (SQLAlchemy), e.g. sqlite:///tienda.db")
    format: str | None = None
    table: str | None = None
    query: str | None = None
    sheet: str | int | None = None
    header_row: int | None = Field(None, ge=1)
    encoding: str | None = None
    delimiter: str | None = None
    columns: dict[str, str] = Field(default_factory=dict,
                                    description="field -> the table's column (default: same)")


class StoresConfig(TableConfig):
    """`stores:`: the physical stores, by the store code Google knows them by."""


class LocalInventoryConfig(TableConfig):
    """`local_inventory:`: per-store stock (store_code, id, quantity; optional price,
    sale_price, availability, pickup_method, pickup_sla), rendered as Google's local
    product inventory feed and sent through the Merchant Inventories API."""

    output: str | None = Field(None, description="The local product inventory feed (TSV)")
    publish: list[str] = Field(default_factory=list,
                               description="google-merchant destinations taking local "
                                           "inventories (Inventories API)")
    channel: str | None = Field(None, description="The channel whose items should be in a "
                                                  "store (reported when in none)")
    currency: str | None = Field(None, description="Currency of its prices; default: "
                                                   "source.defaults.currency")


class SyncConfig(_Model):
    """`feedsync sync`: which fields the fast stock-and-price sync compares and sends
    (feedsync/publish/sync.py), and its guard."""

    fields: list[str] = Field(default_factory=lambda: ["price", "availability", "quantity"],
                              description="Fields a sync compares and sends (canonical names: "
                                          "a channel field named so, or fed from it)")
    max_out_of_stock_share: float = Field(
        0.2, ge=0, le=1, description="Largest share of live items one sync may take out of "
                                     "stock (a broken stock export reads as sold out; --force)")


class ChannelConfig(_Model):
    spec: str = Field(description="Built-in channel spec name, or one in ./channel_specs/")
    format: str | None = Field(None, description="Feed format when `output` is given")
    output: str | None = Field(None, description="Where the feed is written (.gz compresses)")
    outputs: list[str | OutputConfig] = Field(default_factory=list)
    feed: FeedInfo = Field(default_factory=FeedInfo)
    enabled: bool = True
    # Markets and settings (feedsync/channels/markets.py)
    settings: dict[str, str] = Field(
        default_factory=dict, description="Values the channel spec asks for (seller id...)")
    markets: list[MarketConfig] = Field(
        default_factory=list, description="One feed per market: country, language, currency")
    rates: dict[str, float | str] = Field(
        default_factory=dict,
        description="Exchange rates: `MXN: 20.5` (from the base currency) or `EUR/MXN: 20.5`")
    rates_file: str | None = Field(
        None, description="CSV of rates: columns currency,rate or from,to,rate")
    base_currency: str | None = Field(
        None, description="Currency of the master's prices; default: source.defaults.currency")
    localized_columns: dict[str, str] = Field(
        default_factory=dict,
        description="field -> master column per market, e.g. title: title_{language}")
    attributes: dict[str, str] = Field(
        default_factory=dict,
        description="Channel attribute -> a value or template over product fields and "
                    "columns, for attributes the spec does not map (Amazon product type "
                    "definitions: `country_of_origin: ES`, `bullet_point: '{{ Puntos }}'`)")
    rules: list[Any] = Field(
        default_factory=list,
        description="Ordered rule steps for this channel (see feedsync.rules); `- use: NAME` "
                    "includes a rule set")
    publish: list[str] = Field(
        default_factory=list, description="Destinations (names under top-level `publish:`)")
    issues: dict[str, IssueSetting] = Field(
        default_factory=dict, description=ISSUES_DESCRIPTION + "; for this channel only")
    guards: GuardConfig = Field(default_factory=GuardConfig,
                                description="Change-set guards for builds and pushes")
    sync_output: str | None = Field(
        None, description="Where `feedsync sync` writes this file channel's stock and price "
                          "overrides since the last build (Google supplemental TSV; Amazon "
                          "PATCH messages; eBay bulkUpdatePriceQuantity bodies)")
    changes_only: str | None = Field(
        None, description="Also write a file of only the changed items (Meta supplemental "
                          "feeds), e.g. feeds/meta_changes.csv")
    csv_formula_guard: bool | None = Field(
        None, description="CSV/TSV feeds: prefix ' to text starting with = + - @ so Excel "
                          "shows it as text; default: the channel spec's formula_guard")

    @field_validator("publish", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def resolved_outputs(self) -> list[OutputConfig]:
        result = [OutputConfig(path=self.output, format=self.format)] if self.output else []
        result += [o if isinstance(o, OutputConfig) else OutputConfig(path=o) for o in self.outputs]
        return result


PUBLISH_SCHEMES = ("file", "sftp", "ftp", "ftps", "http", "https", "google-merchant",
                   "meta-catalog")


class RetryConfig(_Model):
    """Exponential backoff with jitter; `Retry-After` is honoured within `max_time`."""

    attempts: int = Field(5, ge=1, le=100, description="Tries per operation, the first included")
    delay: float = Field(1.0, ge=0, description="First wait in seconds; doubles each time")
    max_delay: float = Field(60.0, ge=0, description="Longest single wait")
    max_time: float = Field(300.0, ge=0, description="Give up once this many seconds are spent")


class PublishConfig(_Model):
    """One destination a channel's feed is pushed to (feedsync/publish/)."""

    url: str = Field(description="file:///dir/ (or a dir), sftp://, ftp://, ftps://, http(s)://, "
                                 "google-merchant://ACCOUNT_ID or meta-catalog://CATALOG_ID")
    file: str | None = Field(None, description="Which of the channel's outputs to send (file name "
                                                "or format); default: the first")
    username: str | None = None
    password: SecretStr | None = Field(None, description="Use ${VAR}; never written anywhere")
    private_key: str | None = Field(None, description="SFTP: private key file")
    private_key_passphrase: SecretStr | None = None
    known_hosts: str | None = Field(None, description="SFTP: known_hosts file to trust")
    host_key: str | None = Field(None, description="SFTP: pinned host key, SHA256:... fingerprint")
    ca_file: str | None = Field(None, description="FTPS/HTTPS: CA bundle instead of the system's")
    method: Literal["PUT", "POST"] = Field("PUT", description="HTTP: how the file is sent")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="HTTP: extra headers")
    token: SecretStr | None = Field(None, description="HTTP/Meta: bearer token")
    credentials: str | None = Field(
        None, description="Google: service-account JSON file "
                          "(default: $GOOGLE_APPLICATION_CREDENTIALS)")
    data_source: str | None = Field(None, description="Google: the API data source id")
    content_language: str | None = Field(None, description="Google: e.g. es")
    feed_label: str | None = Field(None, description="Google: e.g. ES")
    base_url: str | None = Field(None, description="API root; tests point it at a local fake")
    batch_size: int | None = Field(None, ge=1, le=5000, description="API requests per call")
    delete_missing: bool = Field(True, description="APIs: delete items no longer in the feed")
    poll_interval: float = Field(5.0, ge=0, description="Meta: seconds between status checks")
    poll_timeout: float = Field(600.0, ge=0, description="Meta: give up waiting after this")
    timeout: float = Field(30.0, gt=0, description="Seconds for every network operation")
    retry: RetryConfig = Field(default_factory=RetryConfig)
    max_drop: float = Field(0.3, ge=0, le=1, description="Refuse a feed whose item count fell by "
                                                         "more than this share (--force overrides)")
    refresh_days: float | None = Field(
        None, ge=0, le=29, description="Google API: re-send unchanged items this many days "
                                       "before Google expires them (default 3)")
    guards: GuardConfig | None = Field(None, description="Change-set guards for this destination "
                                                         "(default: the channel's)")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        scheme, sep, rest = url.partition("://")
        if not sep:
            return url  # a local directory
        if scheme.lower() not in PUBLISH_SCHEMES:
            raise ValueError(f"unsupported scheme {scheme!r}; use one of "
                             + ", ".join(PUBLISH_SCHEMES))
        userinfo = rest.split("/", 1)[0].rpartition("@")[0]
        if ":" in userinfo:
            # The value itself is never echoed: it is a password.
            raise ValueError("put the password in `password:` (from ${VAR}), not in the URL")
        return url

    def secrets(self) -> list[str]:
        values = [self.password, self.private_key_passphrase, self.token,
                  *self.headers.values()]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]


def _short_retry() -> RetryConfig:
    # A webhook is a courtesy to the people watching the run: a few quick tries, never
    # minutes of waiting that would hold up the next cron slot.
    return RetryConfig(attempts=3, delay=0.5, max_delay=2.0, max_time=15.0)


class NotifyConfig(_Model):
    """A URL told how a run ended (feedsync/notify.py): Slack, Zapier, n8n, a chat bot."""

    url: str = Field(description="http(s):// URL the summary is POSTed to; use ${VAR}, "
                                 "since a webhook URL is itself a secret")
    on: Literal["success", "failure", "always"] = Field(
        "always", description="When to call it: exit code 0, any other, or both")
    format: Literal["json", "slack"] = Field(
        "json", description="json: feedsync's run summary; slack: {text, blocks}")
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="Extra headers (a token); values only from ${VAR}")
    timeout: float = Field(5.0, gt=0, le=60, description="Seconds per attempt")
    retry: RetryConfig = Field(default_factory=_short_retry)

    @model_validator(mode="before")
    @classmethod
    def _on_key(cls, data: Any) -> Any:
        # YAML 1.1 reads a bare `on:` key as the boolean true.
        if isinstance(data, dict) and True in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in ("http", "https") or not rest.split("/")[0]:
            raise ValueError("a webhook is an http:// or https:// URL with a host")
        if "@" in rest.split("/", 1)[0]:
            raise ValueError("give credentials in `headers:` (from ${VAR}), not in the URL")
        return url

    def secrets(self) -> list[str]:
        """Values no message may show: the header values and the URL's path and query
        (a Slack or Zapier hook URL is its own credential)."""
        values = [v.get_secret_value() for v in self.headers.values() if v.get_secret_value()]
        host_end = self.url.find("/", self.url.find("://") + 3)
        if host_end != -1 and len(self.url) - host_end > 1:
            values.append(self.url[host_end:])
        return values


class Config(_Model):
    """A whole feedsync.yaml: the master, the channels, rule sets and destinations."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True,
                              arbitrary_types_allowed=True)

    source: SourceConfig
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    rulesets: dict[str, list[Any]] = Field(
        default_factory=dict, description="Named lists of rule steps shared by channels")
    publish: dict[str, PublishConfig] = Field(
        default_factory=dict, description="Destinations channels publish to")
    state_dir: str = Field(".feedsync", description="Publish record and run lock, beside this file")
    notify: list[NotifyConfig] = Field(
        default_factory=list, description="Webhooks told how each build or push ended")
    issues: dict[str, IssueSetting] = Field(default_factory=dict, description=ISSUES_DESCRIPTION)
    stores: StoresConfig | None = Field(None, description="Physical stores (local inventory)")
    local_inventory: LocalInventoryConfig | None = Field(
        None, description="Per-store stock: Google local inventory feed and API")
    sync: SyncConfig = Field(default_factory=SyncConfig,
                             description="`feedsync sync`: fields and guard")

    # Set by `load_config`, not read from YAML.
    file: Path = Field(default=Path(DEFAULT_CONFIG_NAME), exclude=True)
    # Where each key was in the YAML, so problems found later (rules) can say `file:line`.
    positions: PositionedYaml | None = Field(default=None, exclude=True)
    # destination name -> the problems with its unset ${VAR} (raised by push only)
    unset_publish_variables: dict[str, list[str]] = Field(default_factory=dict, exclude=True)
    # webhook position under `notify:` -> the problems with its unset ${VAR} (it is skipped)
    unset_notify_variables: dict[int, list[str]] = Field(default_factory=dict, exclude=True)

    def check_publish_variables(self, destinations: Iterable[str]) -> None:
        """Raise ConfigError when a destination about to be used has an unset ${VAR}."""
        problems = [problem for name in sorted(destinations)
                    for problem in self.unset_publish_variables.get(name, [])]
        if problems:
            raise ConfigError(f"{self.file.name}: {len(problems)} problem(s) with publishing:",
                              problems)

    @property
    def base_dir(self) -> Path:
        return self.file.parent

    def resolve(self, path: str | Path) -> Path:
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate


