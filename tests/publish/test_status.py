"""`feedsync status`: what the channels did with the items, against the fake APIs.

The fakes (tests/publish/servers.py) serve the documented response shapes, not recordings:
the Merchant API's `products.list` (processed Products with `productStatus`: destination
statuses, item-level issues, expiration dates; paged by `pageToken`; a 429 with
Retry-After), Meta's `check_batch_request_status` (per-item errors and warnings of each
batch) and the catalog `diagnostics` edge (cursor-paged). A push fills the fakes first, so
the ledger and the channel agree the way they do after a real push.
"""

from __future__ import annotations

import datetime as dt
import json

from feedsync.config import load_config
from feedsync.errors import ExitCode
from feedsync.publish.status import run_status
from tests.publish.conftest import configure, invoke
from tests.publish.test_channel_apis import META_TOKEN, _google, _meta


def _when(days: float) -> str:
    moment = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(days=days)
    return moment.isoformat().replace("+00:00", "Z")


def _disapproved(*issues: dict[str, object], expires_in: float = 30) -> dict[str, object]:
    """A ProductStatus as the Merchant API documents it, disapproved for Shopping ads."""
    return {"destinationStatuses": [
                {"reportingContext": "SHOPPING_ADS", "disapprovedCountries": ["ES"]},
                {"reportingContext": "FREE_LISTINGS", "approvedCountries": ["ES"]}],
            "itemLevelIssues": list(issues), "creationDate": _when(-3),
            "lastUpdateDate": _when(-1), "googleExpirationDate": _when(expires_in)}


IMAGE_ISSUE = {"code": "image_link_broken", "severity": "DISAPPROVED",
               "resolution": "merchant_action", "attribute": "image link",
               "reportingContext": "SHOPPING_ADS", "description": "Invalid image [image link]",
               "detail": "Ensure the image is accessible and uses an accepted format",
               "documentation": "https://support.google.com/merchants/answer/6098289",
               "applicableCountries": ["ES"]}
DESCRIPTION_ISSUE = {"code": "description_markup", "severity": "DEMOTED",
                     "resolution": "merchant_action", "attribute": "description",
                     "reportingContext": "SHOPPING_ADS",
                     "description": "Text formatting in description",
                     "applicableCountries": ["ES"]}


def _google_with_statuses(merchant, tienda, cli):
    """Push the example to the fake, then give some items documented statuses."""
    base, account_file, state = merchant
    config = configure(tienda, {"google": _google(base, account_file)})
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    state.statuses = {
        "CAM-BAS-BLA-S": _disapproved(IMAGE_ISSUE),
        "CAM-BAS-BLA-M": _disapproved(IMAGE_ISSUE),
        "VES-LIN-ROJ-36": {**_disapproved(DESCRIPTION_ISSUE), "destinationStatuses": [
            {"reportingContext": "SHOPPING_ADS", "approvedCountries": ["ES"]}]},
        "CAM-BAS-BLA-L": {"destinationStatuses": [
            {"reportingContext": "SHOPPING_ADS", "approvedCountries": ["ES"]}],
            "itemLevelIssues": [], "googleExpirationDate": _when(-1)},
    }
    state.unlisted = {"CAM-BAS-NEG-S"}  # sent and confirmed, not (yet) listed
    state.foreign = [{"name": "accounts/123456/products/es~ES~OLD-1", "offerId": "OLD-1",
                      "contentLanguage": "es", "feedLabel": "ES",
                      "dataSource": "accounts/123456/dataSources/987",
                      "productAttributes": {"title": "Old"},
                      "productStatus": {"destinationStatuses": [
                          {"reportingContext": "SHOPPING_ADS", "approvedCountries": ["ES"]}]}},
                     {"name": "accounts/123456/products/en~US~X", "offerId": "X",
                      "contentLanguage": "en", "feedLabel": "US", "productStatus": {}}]
    return config, state


def test_google_status_pages_retries_and_joins_with_the_ledger(merchant, tienda, cli):
    config, state = _google_with_statuses(merchant, tienda, cli)
    state.list_page_size = 10
    state.list_throttle, state.list_retry_after = 1, "2"
    waits: list[float] = []

    def record_waits(policy):
        policy.sleep = waits.append  # the Retry-After wait, without waiting
        return policy

    sent_before, products_before = list(state.received), dict(state.products)
    report = run_status(load_config(config), retry=record_waits)
    assert state.errors == []
    assert state.received == sent_before and state.products == products_before  # read only
    assert waits == [2.0]  # the 429's Retry-After, honoured
    tokens = [call.get("pageToken") for call in state.list_calls]
    # The 429, the first page again, then three more pages by token (39 listed, 10 a page).
    assert tokens[:2] == [None, None] and len(tokens) == 5
    assert len({token[0] for token in tokens[2:]}) == 3
    assert all(call["pageSize"] == ["1000"] for call in state.list_calls)

    [google] = report.destinations
    assert google.kind == "merchant-api" and google.error is None
    assert google.items == 39  # 38 of ours + OLD-1; the en~US product is another feed's
    assert google.statuses["disapproved"] == 2 and google.statuses["warned"] == 1
    assert google.new_disapprovals == 2
    assert sorted(google.sample_new_disapprovals) == ["CAM-BAS-BLA-M", "CAM-BAS-BLA-S"]
    assert google.expired == 1 and google.sample_expired == ["CAM-BAS-BLA-L"]
    assert google.ledger_items == 39
    assert (google.not_listed, google.sample_not_listed) == (1, ["CAM-BAS-NEG-S"])
    assert (google.unknown_to_ledger, google.sample_unknown) == (1, ["OLD-1"])

    image, description = google.groups
    assert (image.code, image.attribute, image.count, image.new) == (
        "image_link_broken", "image_link", 2, 2)
    assert image.description == "Invalid image [image link]"
    assert image.resolution == "merchant_action" and image.severity == "DISAPPROVED"
    assert sorted(image.sample_ids) == ["CAM-BAS-BLA-M", "CAM-BAS-BLA-S"]
    assert image.feedsync_codes == set()  # feedsync saw nothing wrong with these images
    # ... though it checks that field: a URL, required, a length limit (Google's spec).
    assert image.checked_by == ["invalid-url", "missing-required", "too-long"]
    assert (description.code, description.attribute, description.count) == (
        "description_markup", "description", 1)
    assert description.feedsync_codes == {"html-in-text"}  # feedsync's own check, same field

    joined = {item.view.item_id: item for item in google.problem_items}
    assert joined["VES-LIN-ROJ-36"].ledger == "live"
    assert joined["VES-LIN-ROJ-36"].feedsync == ["html-in-text"]


def test_status_table_groups_by_the_channels_issue(merchant, tienda, cli):
    config, _state = _google_with_statuses(merchant, tienda, cli)
    result = invoke(cli, "status", "-c", str(config))
    assert result.exit_code == ExitCode.OK, result.output
    out = result.stdout
    assert "google_es -> google (google-merchant://123456" in out
    assert "39 items (36 approved, 1 warned, 2 disapproved)" in out
    assert "2 newly disapproved: CAM-BAS-BLA-M, CAM-BAS-BLA-S" in out
    assert "1 expired" in out
    assert "1 sent but not listed (CAM-BAS-NEG-S)" in out
    rows = [line for line in out.splitlines() if "image_link_broken" in line]
    assert len(rows) == 1
    row = rows[0]
    for cell in ("[DISAPPROVED]", " 2 ", "image_link", "Invalid image [image link]",
                 "(merchant_action)", "checks invalid-url, missing-required, too-long",
                 "CAM-BAS-BLA-M, CAM-BAS-BLA-S"):
        assert cell in row, (cell, row)
    [markup] = [line for line in out.splitlines() if "description_markup" in line]
    assert "found html-in-text" in markup and "VES-LIN-ROJ-36" in markup


def test_status_json_and_new_since_last_time(merchant, tienda, cli):
    config, state = _google_with_statuses(merchant, tienda, cli)
    first = invoke(cli, "status", "-c", str(config), "--format", "json",
                   "--fail-on", "new-disapprovals")
    assert first.exit_code == ExitCode.NEW_DISAPPROVALS == 11, first.output
    data = json.loads(first.stdout)
    assert data["new_disapprovals"] == 2
    [google] = data["destinations"]
    assert google["groups"][0]["feedsync_codes"] == []
    assert "invalid-url" in google["groups"][0]["checked_by"]
    assert google["groups"][1]["feedsync_codes"] == ["html-in-text"]
    items = {i["id"]: i for i in google["problem_items"]}
    assert items["CAM-BAS-BLA-S"]["status"] == "disapproved" and items["CAM-BAS-BLA-S"]["new"]
    assert items["CAM-BAS-BLA-S"]["issues"][0]["where"] == ["SHOPPING_ADS", "ES"]
    assert items["CAM-BAS-BLA-S"]["ledger"] == "live"
    assert "newly disapproved" in first.stderr

    second = invoke(cli, "status", "-c", str(config), "--format", "json",
                    "--fail-on", "new-disapprovals")
    assert second.exit_code == ExitCode.OK, second.output  # the same two: nothing new
    assert json.loads(second.stdout)["new_disapprovals"] == 0
    assert json.loads(second.stdout)["destinations"][0]["groups"][0]["new"] == 0

    state.statuses["CAM-BAS-NEG-M"] = _disapproved(IMAGE_ISSUE)
    third = invoke(cli, "status", "-c", str(config), "--format", "json",
                   "--fail-on", "new-disapprovals")
    assert third.exit_code == ExitCode.NEW_DISAPPROVALS, third.output
    google = json.loads(third.stdout)["destinations"][0]
    assert google["sample_new_disapprovals"] == ["CAM-BAS-NEG-M"]
    assert google["groups"][0]["count"] == 3 and google["groups"][0]["new"] == 1

    # Without --fail-on, new disapprovals are reported but do not fail the run.
    state.statuses["CAM-BAS-NEG-L"] = _disapproved(IMAGE_ISSUE)
    assert invoke(cli, "status", "-c", str(config)).exit_code == ExitCode.OK


def test_a_channel_that_cannot_be_read_keeps_the_last_snapshot(merchant, tienda, cli):
    config, state = _google_with_statuses(merchant, tienda, cli)
    assert invoke(cli, "status", "-c", str(config)).exit_code == ExitCode.OK
    state.statuses["CAM-BAS-NEG-M"] = _disapproved(IMAGE_ISSUE)
    state.list_throttle = 100  # every attempt answered 429
    failed = invoke(cli, "status", "-c", str(config), "--fail-on", "new-disapprovals")
    assert failed.exit_code == ExitCode.TEMPORARY_FAILURE, failed.output
    assert "429" in failed.stderr and "Traceback" not in failed.output
    state.list_throttle = 0
    again = invoke(cli, "status", "-c", str(config), "--format", "json",
                   "--fail-on", "new-disapprovals")
    assert again.exit_code == ExitCode.NEW_DISAPPROVALS  # still new: the failed read
    assert json.loads(again.stdout)["destinations"][0]["sample_new_disapprovals"] == [
        "CAM-BAS-NEG-M"]


def test_explain_shows_what_the_channel_last_said(merchant, tienda, cli):
    config, _state = _google_with_statuses(merchant, tienda, cli)
    before = invoke(cli, "explain", "CAM-BAS-BLA-S", "--channel", "google_es", "-c",
                    str(config))
    assert "What the channel last said" not in before.stdout  # status never ran
    assert invoke(cli, "status", "-c", str(config)).exit_code == ExitCode.OK
    text = invoke(cli, "explain", "CAM-BAS-BLA-S", "--channel", "google_es", "-c",
                  str(config))
    assert text.exit_code == ExitCode.OK, text.output
    section = text.stdout.split("What the channel last said (feedsync status):")[1]
    assert "google at " in section and ": disapproved, expires " in section
    assert "SHOPPING_ADS: disapproved ES" in section
    assert ("DISAPPROVED image_link_broken (image_link): Invalid image [image link]; "
            "merchant_action") in section
    # The rules and the rendered item come first, the channel's word after them.
    assert text.stdout.index("Channel item") < text.stdout.index("What the channel last")

    as_json = invoke(cli, "explain", "CAM-BAS-NEG-S", "--channel", "google_es", "-c",
                     str(config), "--format", "json")
    [word] = json.loads(as_json.stdout)["channel_says"]
    assert word["destination"] == "google" and word["view"] is None  # not listed


def test_meta_status_reads_recorded_batches_and_diagnostics(graph, tienda, cli):
    base, state = graph
    config = configure(tienda, {"meta": _meta(base, batch_size=20)})
    state.batch_errors = {"CAM-BAS-BLA-S": "The image could not be downloaded"}
    state.batch_warnings = {"CAM-BAS-BLA-M": "Missing recommended field: gtin"}
    state.diagnostics = [
        {"type": "IMAGE_QUALITY", "severity": "MUST_FIX", "title": "Images need fixing",
         "error_code": 3379001, "number_of_affected_items": 4,
         "diagnostics": [{"type": "IMAGE_RESOLUTION_LOW", "description": "4 items need "
                          "a larger image", "call_to_action": "Upload larger images",
                          "number_of_affected_items": 4,
                          "sample_affected_items": [
                              {"id": "9", "retailer_id": "VES-LIN-ROJ-36"}]}]},
        {"type": "ATTRIBUTES_MISSING", "severity": "OPPORTUNITY",
         "title": "Add missing attributes", "number_of_affected_items": 12}]
    pushed = invoke(cli, "push", "-c", str(config), "--format", "json")
    assert pushed.exit_code == ExitCode.OK, pushed.output
    assert len(state.results) == 2  # two batches, two handles recorded

    batches_before = list(state.batches)
    result = invoke(cli, "status", "-c", str(config), "--format", "json",
                    "--fail-on", "new-disapprovals")
    assert result.exit_code == ExitCode.NEW_DISAPPROVALS, result.output
    assert state.batches == batches_before  # nothing sent to the catalog
    assert all(META_TOKEN not in q for q in state.queries)
    [meta] = json.loads(result.stdout)["destinations"]
    assert meta["kind"] == "meta-catalog" and meta["error"] is None
    assert meta["statuses"]["disapproved"] == 1 and meta["statuses"]["warned"] == 1
    groups = {(g["scope"], g["code"]): g for g in meta["groups"]}
    refused = groups[("item", "batch-error")]
    assert refused["description"] == "The image could not be downloaded"
    assert refused["sample_ids"] == ["CAM-BAS-BLA-S"] and refused["severity"] == "error"
    assert groups[("item", "batch-warning")]["sample_ids"] == ["CAM-BAS-BLA-M"]
    low = groups[("catalog", "IMAGE_RESOLUTION_LOW")]
    assert low["count"] == 4 and low["sample_ids"] == ["VES-LIN-ROJ-36"]
    assert low["severity"] == "MUST_FIX" and low["resolution"] == "Upload larger images"
    assert groups[("catalog", "ATTRIBUTES_MISSING")]["count"] == 12  # from the second page
    items = {i["id"]: i for i in meta["problem_items"]}
    assert items["CAM-BAS-BLA-S"]["ledger"] == "sending"  # refused: never confirmed

    # Fixed at Meta: the next push re-sends the refused item, which is confirmed; its old
    # batch error no longer counts.
    state.batch_errors = {}
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    again = invoke(cli, "status", "-c", str(config), "--format", "json")
    [meta] = json.loads(again.stdout)["destinations"]
    assert meta["statuses"]["disapproved"] == 0
    assert ("item", "batch-error") not in {(g["scope"], g["code"]) for g in meta["groups"]}


def test_meta_without_recorded_batches_says_so(graph, tienda, cli):
    base, _state = graph
    config = configure(tienda, {"meta": _meta(base)})
    result = invoke(cli, "status", "-c", str(config), "--no-checks")
    assert result.exit_code == ExitCode.OK, result.output
    assert "no batch handles recorded yet" in result.stdout
    assert "feedsync's own checks: skipped" in result.stdout


def test_file_destinations_show_what_was_published_and_when(tienda, cli):
    config = configure(tienda, {"public": {"url": "public_html/"}})
    result = invoke(cli, "status", "-c", str(config))
    assert result.exit_code == ExitCode.OK, result.output
    assert "google_es -> public" in result.stdout and "nothing published yet" in result.stdout
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    data = json.loads(invoke(cli, "status", "-c", str(config), "--format", "json").stdout)
    [public] = data["destinations"]
    assert public["kind"] == "file" and public["items"] == 39
    assert public["last_published"]["result"] == "published"
    assert public["last_published"]["at"].endswith("Z")
    assert public["target"].endswith("public_html/google_es.xml")
    table = invoke(cli, "status", "-c", str(config)).stdout
    assert f"39 items published at {public['last_published']['at']}" in table
    assert "no API feedsync reads" in table


def test_a_handle_meta_forgot_is_noted_not_fatal(graph, tienda, cli):
    base, state = graph
    config = configure(tienda, {"meta": _meta(base)})
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    state.handles.clear()  # Meta answers "unknown handle" (code 100) from now on
    result = invoke(cli, "status", "-c", str(config), "--no-checks")
    assert result.exit_code == ExitCode.OK, result.output
    assert "not readable any more" in result.stdout and "code 100" in result.stdout


def test_status_needs_credentials_only_for_the_apis_it_reads(tienda, cli, monkeypatch):
    monkeypatch.delenv("SFTP_PASSWORD", raising=False)
    monkeypatch.delenv("META_TOKEN", raising=False)
    files_only = configure(tienda, {"upload": {"url": "sftp://127.0.0.1:9/feeds/",
                                               "username": "shop",
                                               "password": "${SFTP_PASSWORD}"}})
    result = invoke(cli, "status", "-c", str(files_only))
    assert result.exit_code == ExitCode.OK, result.output  # only the ledger is read
    assert "google_es -> upload" in result.stdout
    with_meta = configure(tienda, {"meta": _meta("http://127.0.0.1:9/v21.0")})
    refused = invoke(cli, "status", "-c", str(with_meta))
    assert refused.exit_code == ExitCode.USAGE
    assert "META_TOKEN is not set" in refused.stderr


def test_the_html_report_shows_what_the_channels_said(merchant, tienda, cli, tmp_path):
    config, _state = _google_with_statuses(merchant, tienda, cli)
    page = tmp_path / "report.html"
    invoke(cli, "report", "-c", str(config), "-o", str(page))
    assert "No channel status yet" in page.read_text(encoding="utf-8")
    assert invoke(cli, "status", "-c", str(config)).exit_code == ExitCode.OK
    result = invoke(cli, "report", "-c", str(config), "-o", str(page))
    assert result.exit_code in (ExitCode.OK, ExitCode.DATA_ERRORS), result.output
    html = page.read_text(encoding="utf-8")
    section = html.split("id='channel-status'")[1].split("</section>")[0]
    assert "google_es → google" in section
    assert "39 items (36 approved, 2 disapproved, 1 warned)" in section
    assert ("<td>image_link_broken</td><td>DISAPPROVED</td><td>image_link</td><td>2</td>"
            "<td>Invalid image [image link]</td><td>CAM-BAS-BLA-M, CAM-BAS-BLA-S</td>"
            ) in section
