"""Google Merchant API v1 and Meta Graph API items_batch.

Google and Meta cannot run here, so these tests talk to local fake servers
(tests/publish/servers.py) that follow the documented request and response shapes:
../shared/reference/channel-specs.md §1.6 (ProductInput, multipart batches, delete names)
and §2.4 (items_batch, check_batch_request_status), and, when ../shared is present, the
Merchant API discovery document's list of product attributes. The Google fake also runs
the real google-auth service-account flow: it verifies the signed JWT grant.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feedsync.config import load_config
from feedsync.errors import ExitCode
from feedsync.publish.google_api import (
    decode_batch_response,
    encode_batch,
    product_input,
    product_input_name,
)
from feedsync.publish.meta_api import meta_item
from feedsync.publish.run import run_push
from tests.conftest import SHARED_REFERENCE
from tests.publish import servers
from tests.publish.conftest import configure, invoke, truncate_master

DISCOVERY = SHARED_REFERENCE / "google" / "merchantapi.products_v1.discovery.json"
META_TOKEN = "EAAB-meta-token-0123456789"


@pytest.fixture
def merchant(tmp_path, monkeypatch):
    # After each token refresh google-auth looks up the service account's "regional access
    # boundary" at iamcredentials.googleapis.com in a background thread; offline that only
    # logs warnings, and a test must not reach the internet at all.
    from google.oauth2 import service_account

    monkeypatch.setattr(service_account.Credentials,
                        "_is_regional_access_boundary_lookup_required", lambda self: False)
    with servers.start_merchant_api(tmp_path, DISCOVERY) as fake:
        yield fake


@pytest.fixture
def graph():
    with servers.start_graph_api(META_TOKEN) as fake:
        yield fake


def _google(base: str, account_file: Path, **extra: object) -> dict[str, object]:
    return {"url": "google-merchant://123456", "data_source": "987",
            "content_language": "es", "feed_label": "ES", "credentials": str(account_file),
            "base_url": base, **extra}


def _meta(base: str, **extra: object) -> dict[str, object]:
    return {"url": "meta-catalog://1234567890", "token": "${META_TOKEN}", "base_url": base,
            "poll_interval": 0.01, **extra}


# -- mapping ----------------------------------------------------------------------------------

def test_product_input_follows_the_v1_shape():
    item = {"id": "SKU-1", "title": "Camiseta", "price": "15.00 EUR",
            "sale_price": "12.50 EUR", "availability": "in_stock", "condition": "new",
            "gtin": "4006381333931", "additional_image_link": ["https://a/1.jpg", "https://a/2.jpg"],
            "product_type": "Ropa > Camisetas", "shipping_weight": "0.2 kg",
            "sale_price_effective_date": "2026-12-01T00:00+0100/2026-12-24T23:59+0100",
            "shipping": [{"country": "ES", "service": "Estándar", "price": "3.95 EUR"}],
            "identifier_exists": "yes", "gender": "unisex", "age_group": "adult",
            "quantity": "20"}
    body = product_input(item, "es", "ES")
    attributes = body["productAttributes"]
    assert body["offerId"] == "SKU-1" and body["feedLabel"] == "ES"
    assert attributes["price"] == {"amountMicros": "15000000", "currencyCode": "EUR"}
    assert attributes["salePrice"]["amountMicros"] == "12500000"
    assert attributes["availability"] == "IN_STOCK" and attributes["condition"] == "NEW"
    assert attributes["gtins"] == ["4006381333931"]
    assert attributes["additionalImageLinks"] == ["https://a/1.jpg", "https://a/2.jpg"]
    assert attributes["productTypes"] == ["Ropa > Camisetas"]
    assert attributes["shippingWeight"] == {"value": 0.2, "unit": "kg"}
    assert attributes["salePriceEffectiveDate"] == {"startTime": "2026-12-01T00:00:00+01:00",
                                                    "endTime": "2026-12-24T23:59:00+01:00"}
    assert attributes["shipping"] == [{"country": "ES", "service": "Estándar", "price": {
        "amountMicros": "3950000", "currencyCode": "EUR"}}]
    assert attributes["identifierExists"] is True
    assert body["customAttributes"] == [{"name": "quantity", "value": "20"}]


def test_product_attributes_are_named_as_in_the_discovery_document(reference):
    doc = json.loads((reference / "google" / "merchantapi.products_v1.discovery.json")
                     .read_text())
    known = set(doc["schemas"]["ProductAttributes"]["properties"])
    from feedsync.publish import google_api

    names = {google_api.camel(n) for n in google_api._TEXT | google_api._MONEY
             | google_api._ENUMS | google_api._BOOLEANS | google_api._DATES}
    names |= set(google_api._LISTS.values()) | {"shipping", "shippingWeight",
                                                "salePriceEffectiveDate"}
    assert names - known == set()


def test_delete_names_are_encoded_when_the_offer_id_needs_it():
    assert product_input_name("1", "es", "ES", "SKU-1") == "accounts/1/productInputs/es~ES~SKU-1"
    encoded = product_input_name("1", "es", "ES", "a/b~c")
    assert encoded == "accounts/1/productInputs/ZXN-RVN-YS9ifmM"


def test_batch_round_trip():
    body = encode_batch({"a": ("POST", "/x?y=1", {"k": "é"}), "b": ("DELETE", "/z", None)},
                        "BOUND")
    assert b"Content-Type: application/http" in body and body.endswith(b"--BOUND--\r\n")
    response = (b"--R\r\nContent-Type: application/http\r\nContent-ID: <response-a>\r\n\r\n"
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ok\": 1}\r\n"
                b"--R\r\nContent-Type: application/http\r\nContent-ID: <response-b>\r\n\r\n"
                b"HTTP/1.1 503 Unavailable\r\nRetry-After: 0\r\n\r\n{}\r\n--R--\r\n")
    parts = decode_batch_response("multipart/mixed; boundary=R", response)
    assert parts["a"][0] == 200 and parts["a"][2] == {"ok": 1}
    assert parts["b"][0] == 503 and parts["b"][1]["retry-after"] == "0"


def test_meta_item_uses_meta_spellings():
    data = meta_item({"id": "1", "availability": "in_stock", "price": "9.99 EUR",
                      "additional_image_link": ["u1", "u2"],
                      "shipping": [{"country": "ES", "service": "Std", "price": "3.95 EUR"}]})
    assert data == {"id": "1", "availability": "in stock", "price": "9.99 EUR",
                    "additional_image_link": "u1,u2", "shipping": "ES::Std:3.95 EUR"}


# -- against the fakes ------------------------------------------------------------------------

def test_google_receives_well_formed_batches_and_deletes_what_left(merchant, tienda, cli):
    base, account_file, state = merchant
    config = configure(tienda, {"google": _google(base, account_file, batch_size=10)})
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.OK, result.output
    assert state.errors == []
    assert len(state.products) == 39
    assert state.batches == [10, 10, 10, 9]
    shirt = state.products["es~ES~CAM-BAS-BLA-S"]
    assert shirt["productAttributes"]["price"] == {"amountMicros": "19950000",
                                                   "currencyCode": "EUR"}
    # A smaller catalogue (within the guard): the products that left are deleted.
    truncate_master(config, 0.8)
    result = invoke(cli, "push", "-c", str(config), "--format", "json")
    assert result.exit_code == ExitCode.OK, result.output
    assert state.errors == []
    [outcome] = json.loads(result.stdout)["publish"]
    assert outcome["items"] == 32 and outcome["deleted"] == 7
    assert len(state.products) == 32


def test_google_retries_a_busy_batch_and_only_the_failed_parts(merchant, tienda):
    base, account_file, state = merchant
    state.fail_batches = 1
    state.flaky_offers = {"CAM-BAS-BLA-M"}
    config = load_config(configure(tienda, {"google": _google(base, account_file)}))
    report = run_push(config)
    assert report.exit_code == ExitCode.OK, report.outcomes
    assert state.batches == [39, 1]  # the whole batch once more, then the one flaky part
    assert len(state.products) == 39


def test_google_item_rejections_are_reported(merchant, tienda):
    base, account_file, state = merchant
    state.reject_offers = {"CAM-BAS-BLA-M"}
    report = run_push(load_config(configure(tienda, {"google": _google(base, account_file)})))
    assert report.exit_code == ExitCode.OK
    assert report.outcomes[0].rejected == ["CAM-BAS-BLA-M: 400 CAM-BAS-BLA-M is not allowed"]


def test_google_bad_service_account_is_fatal(merchant, tienda, tmp_path, cli):
    base, account_file, state = merchant
    wrong = tmp_path / "other.json"
    data = json.loads(account_file.read_text())
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    data["private_key"] = rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    wrong.write_text(json.dumps(data))
    result = invoke(cli, "push", "-c", str(configure(tienda, {"google": _google(base, wrong)})))
    assert result.exit_code == ExitCode.REMOTE_FATAL, result.output
    assert "refused the service account" in result.output
    assert state.products == {}


def test_meta_receives_items_batch_and_polls_the_handle(graph, tienda, cli, monkeypatch):
    base, state = graph
    monkeypatch.setenv("META_TOKEN", META_TOKEN)
    config = configure(tienda, {"meta": _meta(base, batch_size=25)})
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.OK, result.output
    assert state.errors == []
    assert state.batches == [25, 14]
    assert len(state.items) == 39
    assert state.items["CAM-BAS-BLA-S"]["availability"] == "in stock"
    assert state.handles and all(v == 0 for v in state.handles.values())  # polled to the end
    assert all(META_TOKEN not in q for q in state.queries)  # never in a URL
    truncate_master(config, 0.8)
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    assert len(state.items) == 32


def test_meta_rate_limit_is_retried(graph, tienda, monkeypatch):
    base, state = graph
    monkeypatch.setenv("META_TOKEN", META_TOKEN)
    state.throttle = 1
    report = run_push(load_config(configure(tienda, {"meta": _meta(base)})))
    assert report.exit_code == ExitCode.OK, report.outcomes
    assert report.outcomes[0].attempts == 2


def test_meta_bad_token_is_fatal(graph, tienda, cli, monkeypatch):
    base, _state = graph
    monkeypatch.setenv("META_TOKEN", "EAAB-wrong-token-999")
    result = invoke(cli, "push", "-c", str(configure(tienda, {"meta": _meta(base)})))
    assert result.exit_code == ExitCode.REMOTE_FATAL, result.output
    assert "code 190" in result.output
    assert "EAAB-wrong-token-999" not in result.output


def test_meta_batch_size_is_capped_at_5000(tienda):
    from feedsync.errors import ConfigError

    configure(tienda, {"meta": _meta("http://127.0.0.1:9", batch_size=6000)})
    with pytest.raises(ConfigError, match="batch_size"):
        load_config(tienda)


def test_meta_batch_that_never_finishes_is_a_temporary_failure(graph, tienda, monkeypatch):
    base, state = graph
    monkeypatch.setenv("META_TOKEN", META_TOKEN)
    state.polls_before_finish = 10**6
    report = run_push(load_config(configure(tienda, {"meta": _meta(base, poll_timeout=0.3)})))
    assert report.exit_code == ExitCode.TEMPORARY_FAILURE
    assert "still started after 0.3s" in report.outcomes[0].message
