"""Delta publishing through the item ledger, against the fake Merchant and Graph APIs.

The fakes (tests/publish/servers.py) speak the documented request and response shapes and
record every nested request they receive, so these tests assert exactly which items were
sent and which deletes: the first push sends all, a second with 3 changed prices sends 3, a
removed item is deleted, a delete answered 500 is sent again next run (a tombstone), an item
28 days old is refreshed before Google expires it, and `--full` re-sends everything.
"""

from __future__ import annotations

import json

from feedsync.errors import ExitCode
from tests.ledger.helpers import age_ledger, remove_products, set_prices
from tests.publish.conftest import configure, invoke
from tests.publish.test_channel_apis import _google, _meta

CHANGED = {"CAM-BAS-BLA-S": "18,95", "CAM-BAS-BLA-M": "18,95", "CAM-BAS-BLA-L": "21,95"}




def _push(cli, config, *args):
    result = invoke(cli, "push", "-c", str(config), "--format", "json", *args)
    return result, json.loads(result.stdout) if result.stdout.startswith("{") else None


def test_google_gets_everything_once_then_only_the_changes(merchant, tienda, cli):
    base, account_file, state = merchant
    config = configure(tienda, {"google": _google(base, account_file)})
    result, data = _push(cli, config)
    assert result.exit_code == ExitCode.OK, result.output
    assert len(state.received) == 39 and {m for m, _ in state.received} == {"insert"}

    state.received.clear()
    result, data = _push(cli, config)
    assert result.exit_code == ExitCode.OK, result.output
    assert state.received == []  # nothing changed: nothing sent
    assert data["publish"][0]["sent"] == 0

    set_prices(config, CHANGED)
    result, data = _push(cli, config)
    assert result.exit_code == ExitCode.OK, result.output
    assert sorted(state.received) == sorted(("insert", sku) for sku in CHANGED)
    assert state.products["es~ES~CAM-BAS-BLA-L"]["productAttributes"]["price"][
        "amountMicros"] == "21950000"
    assert data["publish"][0]["changes"]["changed"] == 3

    state.received.clear()
    remove_products(config, {"CAM-BAS-BLA-S"})
    result, data = _push(cli, config)
    assert result.exit_code == ExitCode.OK, result.output
    assert state.received == [("delete", "CAM-BAS-BLA-S")]
    assert "es~ES~CAM-BAS-BLA-S" not in state.products


def test_a_failed_delete_is_sent_again_until_confirmed(merchant, tienda, cli):
    base, account_file, state = merchant
    config = configure(tienda, {"google": _google(base, account_file)})
    assert _push(cli, config)[0].exit_code == ExitCode.OK
    remove_products(config, {"CAM-BAS-BLA-S"})
    set_prices(config, {"CAM-BAS-BLA-M": "18,95"})
    state.fail_deletes = {"CAM-BAS-BLA-S"}
    state.received.clear()
    result, _ = _push(cli, config)
    assert result.exit_code == ExitCode.TEMPORARY_FAILURE, result.output
    assert ("delete", "CAM-BAS-BLA-S") in state.received
    assert ("insert", "CAM-BAS-BLA-M") in state.received

    # Next run, the API is well again: the delete is retried, the confirmed change is not.
    state.fail_deletes = set()
    state.received.clear()
    result, _ = _push(cli, config)
    assert result.exit_code == ExitCode.OK, result.output
    assert state.received == [("delete", "CAM-BAS-BLA-S")]
    state.received.clear()
    assert _push(cli, config)[0].exit_code == ExitCode.OK
    assert state.received == []  # converged: the tombstone is gone


def test_items_near_googles_expiry_are_refreshed(merchant, tienda, cli):
    base, account_file, state = merchant
    config = configure(tienda, {"google": _google(base, account_file)})
    assert _push(cli, config)[0].exit_code == ExitCode.OK
    age_ledger(config, "google", days=20)
    state.received.clear()
    assert _push(cli, config)[0].exit_code == ExitCode.OK
    assert state.received == []  # 20 days old: not yet due
    age_ledger(config, "google", days=8)  # 28 days since the last update
    result, data = _push(cli, config)
    assert result.exit_code == ExitCode.OK, result.output
    assert len(state.received) == 39
    assert data["publish"][0]["changes"]["refresh"] == 39
    state.received.clear()
    assert _push(cli, config)[0].exit_code == ExitCode.OK
    assert state.received == []  # refreshed items start a new 30 days


def test_full_resends_everything(merchant, tienda, cli):
    base, account_file, state = merchant
    config = configure(tienda, {"google": _google(base, account_file)})
    assert _push(cli, config)[0].exit_code == ExitCode.OK
    state.received.clear()
    assert _push(cli, config, "--full")[0].exit_code == ExitCode.OK
    assert len(state.received) == 39


def test_a_rejected_item_is_not_claimed_and_is_sent_again(merchant, tienda, cli):
    base, account_file, state = merchant
    state.reject_offers = {"CAM-BAS-BLA-M"}
    config = configure(tienda, {"google": _google(base, account_file)})
    assert _push(cli, config)[0].exit_code == ExitCode.OK
    state.received.clear()
    state.reject_offers = set()
    assert _push(cli, config)[0].exit_code == ExitCode.OK
    assert state.received == [("insert", "CAM-BAS-BLA-M")]


def test_meta_gets_only_the_changes_and_the_deletes(graph, tienda, cli):
    base, state = graph
    config = configure(tienda, {"meta": _meta(base)})
    assert _push(cli, config)[0].exit_code == ExitCode.OK
    assert len(state.received) == 39
    state.received.clear()
    set_prices(config, CHANGED)
    remove_products(config, {"CAM-BAS-AZU-L"})
    result, _ = _push(cli, config)
    assert result.exit_code == ExitCode.OK, result.output
    assert sorted(state.received) == sorted(
        [("UPDATE", sku) for sku in CHANGED] + [("DELETE", "CAM-BAS-AZU-L")])
    assert state.errors == []
    state.received.clear()
    assert _push(cli, config)[0].exit_code == ExitCode.OK
    assert state.received == []


def test_push_applies_a_saved_plan_and_refuses_a_stale_one(merchant, tienda, cli, tmp_path):
    base, account_file, state = merchant
    config = configure(tienda, {"google": _google(base, account_file)})
    assert _push(cli, config)[0].exit_code == ExitCode.OK
    set_prices(config, CHANGED)
    plan = tmp_path / "plan.json"
    result = invoke(cli, "plan", "-c", str(config), "--out", str(plan), "-q")
    assert result.exit_code == ExitCode.OK, result.output
    saved = json.loads(plan.read_text())
    google = next(f for f in saved["feeds"] if f["destination"] == "google")
    assert google["changed"] == 3

    set_prices(config, {"CAM-BAS-BLA-S": "17,95"})  # the master moved on
    state.received.clear()
    result = invoke(cli, "push", "-c", str(config), "--plan", str(plan))
    assert result.exit_code == ExitCode.USAGE
    assert "master changed" in result.output
    assert state.received == []

    result = invoke(cli, "plan", "-c", str(config), "--out", str(plan), "-q")
    result = invoke(cli, "push", "-c", str(config), "--plan", str(plan))
    assert result.exit_code == ExitCode.OK, result.output
    assert sorted(sku for _, sku in state.received) == sorted(CHANGED)
    # Applied once; the ledger moved on, so the same plan is refused now.
    result = invoke(cli, "push", "-c", str(config), "--plan", str(plan))
    assert result.exit_code == ExitCode.USAGE
    assert "ran since the plan" in result.output


def test_a_plan_from_another_project_is_refused(merchant, tienda, cli, tmp_path):
    base, account_file, _state = merchant
    config = configure(tienda, {"google": _google(base, account_file)})
    plan = tmp_path / "plan.json"
    assert invoke(cli, "plan", "-c", str(config), "--out", str(plan), "-q").exit_code == 0
    data = json.loads(plan.read_text())
    data["project"] = "/elsewhere/feedsync.yaml"
    plan.write_text(json.dumps(data))
    result = invoke(cli, "push", "-c", str(config), "--plan", str(plan))
    assert result.exit_code == ExitCode.USAGE
    assert "another project" in result.output


def test_the_push_table_says_how_many_items_went(merchant, tienda, cli):
    base, account_file, _state = merchant
    config = configure(tienda, {"google": _google(base, account_file)})
    assert _push(cli, config)[0].exit_code == ExitCode.OK
    set_prices(config, CHANGED)
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.OK, result.output
    assert "3 sent (0 new, 3 changed, 0 refreshed)" in result.stdout


def test_dry_run_says_what_the_delta_would_send_and_sends_nothing(merchant, tienda, cli):
    base, account_file, state = merchant
    config = configure(tienda, {"google": _google(base, account_file)})
    assert _push(cli, config)[0].exit_code == ExitCode.OK
    set_prices(config, CHANGED)
    remove_products(config, {"CAM-BAS-AZU-L"})
    state.received.clear()
    result, data = _push(cli, config, "--dry-run")
    assert result.exit_code == ExitCode.OK, result.output
    assert data["publish"][0]["message"] == (
        "would send 3 of 38 items (0 new, 3 changed, 0 to refresh) and delete 1")
    assert state.received == []
