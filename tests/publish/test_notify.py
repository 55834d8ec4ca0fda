"""Run webhooks (`notify:`) against a loopback HTTP server that records what it got: the
summary a push, a build and a sync post (with what each changed), Slack's message shape,
failures that never change the exit code, and secrets that never reach the output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from feedsync.config import load_config
from feedsync.errors import ConfigError, ExitCode
from tests.ledger.helpers import remove_products, set_prices
from tests.publish.conftest import configure, invoke, truncate_master
from tests.publish.servers import free_port
from tests.publish.test_sync import _google_config, set_stock

FAST = {"attempts": 2, "delay": 0.01, "max_delay": 0.02, "max_time": 5}
TOKEN = "hook-token-5f9a1c"
SECRET_PATH = "T000/B000/s3cr3tp4th"


def _with_hooks(config: Path, *hooks: dict[str, Any]) -> Path:
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["notify"] = [{"retry": FAST, "timeout": 2, **hook} for hook in hooks]
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                      encoding="utf-8")
    return config


def _local_push(tienda: Path) -> Path:
    return configure(tienda, {"public": {"url": "public_html/"}})


def _posted(state) -> list[dict[str, Any]]:
    assert all(r.method == "POST" for r in state.received)
    return [json.loads(r.body) for r in state.received]


def test_a_push_posts_its_summary(tienda, cli, http_server, monkeypatch):
    url, state = http_server
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    config = _with_hooks(_local_push(tienda), {
        "url": f"{url}/hooks/feeds", "headers": {"Authorization": "Bearer ${HOOK_TOKEN}"}})
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.OK, result.output
    [request] = state.received
    assert request.path == "/hooks/feeds"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"].startswith("application/json")
    [summary] = _posted(state)
    assert (summary["project"], summary["command"], summary["result"],
            summary["exit_code"]) == ("tienda", "push", "success", 0)
    assert summary["duration_seconds"] > 0
    channel = summary["channels"]["google_es"]
    assert (channel["items"], channel["excluded"]) == (39, 1)
    assert channel["left_out_by_code"] == [{"code": "missing-required", "products": 1}]
    assert {"channel": "google_es", "code": "missing-required",
            "products": 1} in summary["top_reasons"]
    assert summary["guards"] == []
    [published] = summary["publish"]
    assert (published["destination"], published["status"], published["items"]) == (
        "public", "published", 39)


def test_a_build_posts_its_summary_with_reasons_per_channel(tienda, cli, http_server):
    url, state = http_server
    config = _with_hooks(tienda.parent / "feedsync.all-channels.yaml", {"url": f"{url}/h"})
    result = invoke(cli, "build", "-c", str(config), "--format", "json")
    assert result.exit_code == ExitCode.OK, result.output
    [summary] = _posted(state)
    report = json.loads(result.stdout)
    assert summary["command"] == "build" and "publish" not in summary
    # No product is invalid everywhere: AUR-IN-EAR's bad GTIN leaves it out of Amazon only.
    assert summary["invalid_products"] == report["invalid_products"] == 0
    # The reasons are complete counts, the same the build's JSON report gives.
    for name, channel in report["channels"].items():
        assert summary["channels"][name]["excluded"] == channel["excluded"]
        assert sum(channel["left_out_by_code"].values()) >= channel["excluded"]
    idealo = {r["code"]: r["products"] for r in summary["channels"]["idealo"]
              ["left_out_by_code"]}
    assert idealo["not-offered"] == 4
    assert not [r for r in summary["top_reasons"] if r["channel"] is None]
    amazon = {r["code"]: r["products"] for r in summary["channels"]["amazon_listings"]
              ["left_out_by_code"]}
    assert amazon["missing-identifier"] >= 1
    assert report["notify"] == [{"target": f"{url}/…", "sent": True, "attempts": 1,
                                 "status": 201, "message": ""}]


def test_guards_that_tripped_are_in_the_summary(tienda, cli, http_server):
    url, state = http_server
    config = _with_hooks(_local_push(tienda), {"url": f"{url}/h", "on": "failure"})
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    assert state.received == []  # on: failure, and the first push succeeded
    truncate_master(config, 0.5)
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.GUARD_TRIPPED
    [summary] = _posted(state)
    assert summary["result"] == "failure" and summary["exit_code"] == ExitCode.GUARD_TRIPPED
    [guard] = summary["guards"]
    assert guard["channel"] == "google_es" and "fewer than" in guard["message"]


def test_on_success_is_not_called_for_a_failing_run(tienda, cli, http_server):
    url, state = http_server
    config = _with_hooks(tienda, {"url": f"{url}/ok", "on": "success"},
                         {"url": f"{url}/always"})
    result = invoke(cli, "build", "-c", str(config), "--strict")
    assert result.exit_code == ExitCode.DATA_ERRORS
    assert [r.path for r in state.received] == ["/always"]


def test_a_webhook_answering_500_does_not_change_the_exit_code(tienda, cli, http_server):
    url, state = http_server
    state.faults = ["500"] * 10
    config = _with_hooks(_local_push(tienda), {"url": f"{url}/h"})
    result = invoke(cli, "push", "-c", str(config), "--format", "json")
    assert result.exit_code == ExitCode.OK, result.output
    assert state.requests == FAST["attempts"]  # retried with the policy, then given up
    [line] = [x for x in result.stderr.splitlines() if x.startswith("warning: webhook")]
    assert f"webhook {url}/… not reached" in line and "500" in line
    [notified] = json.loads(result.stdout)["notify"]
    assert notified["sent"] is False and notified["status"] == 500
    assert notified["attempts"] == FAST["attempts"]
    assert (tienda.parent / "public_html" / "google_es.xml").exists()


def test_a_refused_connection_does_not_change_the_exit_code(tienda, cli):
    nobody = f"http://127.0.0.1:{free_port()}/h"
    config = _with_hooks(tienda, {"url": nobody})
    result = invoke(cli, "build", "-c", str(config), "--strict")
    assert result.exit_code == ExitCode.DATA_ERRORS  # the build's own outcome
    assert "not reached: cannot connect" in result.stderr
    result = invoke(cli, "build", "-c", str(config))
    assert result.exit_code == ExitCode.OK


def test_a_run_that_stops_still_notifies_with_its_error(tienda, cli, http_server):
    url, state = http_server
    config = _with_hooks(tienda, {"url": f"{url}/h"})
    (tienda.parent / "productos.csv").unlink()
    result = invoke(cli, "build", "-c", str(config))
    assert result.exit_code == ExitCode.SOURCE_UNREADABLE
    [summary] = _posted(state)
    assert summary["exit_code"] == ExitCode.SOURCE_UNREADABLE
    assert "productos.csv" in summary["error"] and "channels" not in summary


def test_slack_format_is_a_slack_message(tienda, cli, http_server):
    url, state = http_server
    config = _with_hooks(tienda.parent / "feedsync.all-channels.yaml",
                         {"url": f"{url}/services/x", "format": "slack"})
    assert invoke(cli, "build", "-c", str(config)).exit_code == ExitCode.OK
    [message] = _posted(state)
    assert set(message) == {"text", "blocks"}
    assert "feedsync build tienda: success" in message["text"]
    blocks = message["blocks"]
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["type"] == "plain_text"
    assert len(blocks[0]["text"]["text"]) <= 150
    assert all(b["type"] in ("header", "section", "context") for b in blocks)
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(len(text) <= 3000 for text in sections)
    text = "\n".join(sections)
    assert "*klaviyo*:" in text and "`not-offered` idealo: 4" in text


def test_secrets_never_reach_the_output(tienda, cli, http_server, monkeypatch):
    url, state = http_server
    state.faults = ["500"] * 10
    monkeypatch.setenv("HOOK_URL", f"{url}/{SECRET_PATH}")
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    config = _with_hooks(_local_push(tienda), {
        "url": "${HOOK_URL}", "headers": {"X-Token": "${HOOK_TOKEN}"}},
        {"url": "${HOOK_URL}", "format": "slack"})
    for fmt in ("json", "table"):
        result = invoke(cli, "push", "-c", str(config), "--format", fmt, "-v")
        assert result.exit_code == ExitCode.OK
        for stream in (result.stdout, result.stderr):
            assert TOKEN not in stream and SECRET_PATH not in stream
            assert "s3cr3t" not in stream
    assert state.requests > 0


def test_an_unset_variable_skips_the_webhook_and_not_the_run(tienda, cli, http_server,
                                                             monkeypatch):
    url, state = http_server
    monkeypatch.delenv("NO_SUCH_HOOK_TOKEN", raising=False)
    config = _with_hooks(tienda, {"url": f"{url}/h",
                                  "headers": {"X-Token": "${NO_SUCH_HOOK_TOKEN}"}})
    result = invoke(cli, "build", "-c", str(config))
    assert result.exit_code == ExitCode.OK
    assert state.requests == 0
    assert "not sent" in result.stderr and "NO_SUCH_HOOK_TOKEN is not set" in result.stderr


@pytest.mark.parametrize(("hook", "problem"), [
    ({"url": "https://hooks.example.com/x", "headers": {"X-Token": "written-here"}},
     "notify[0].headers.X-Token: give the value as ${VAR}"),
    ({"url": "ftp://hooks.example.com/x"}, "http:// or https://"),
    ({"url": "https://user:pw@hooks.example.com/x"}, "not in the URL"),
    ({"url": "https://hooks.example.com/x", "on": "sometimes"}, "notify"),
])
def test_config_problems_are_reported(tienda, hook: dict[str, Any], problem: str):
    data = yaml.safe_load(tienda.read_text(encoding="utf-8"))
    data["notify"] = [hook]
    tienda.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(tienda)
    assert problem in str(raised.value) + " ".join(raised.value.problems)
    assert "written-here" not in str(raised.value) + " ".join(raised.value.problems)


def test_a_bare_on_key_in_yaml_means_on(tienda):
    text = tienda.read_text(encoding="utf-8")
    tienda.write_text(text + "\nnotify:\n  - url: https://hooks.example.com/x\n"
                             "    on: failure\n    format: slack\n", encoding="utf-8")
    [hook] = load_config(tienda).notify
    assert (hook.on, hook.format, hook.timeout) == ("failure", "slack", 5.0)


def _by_path(state) -> dict[str, dict[str, Any]]:
    return {r.path: json.loads(r.body) for r in state.received}


def test_a_second_build_posts_what_it_added_changed_and_removed(tienda, cli, http_server):
    url, state = http_server
    config = _with_hooks(tienda, {"url": f"{url}/json"},
                         {"url": f"{url}/slack", "format": "slack"})
    master = tienda.parent / "productos.csv"
    original = master.read_text(encoding="utf-8-sig")
    remove_products(config, {"CAM-BAS-NEG-S"})
    assert invoke(cli, "build", "-c", str(config)).exit_code == ExitCode.OK
    first = _by_path(state)["/json"]["channels"]["google_es"]
    assert first["changes"] == {"added": first["items"], "changed": 0, "removed": 0,
                                "deleted": 0}

    state.received.clear()
    master.write_text(original, encoding="utf-8")  # CAM-BAS-NEG-S is back: added
    set_prices(config, {"CAM-BAS-BLA-S": "18,95"})  # changed
    remove_products(config, {"CAM-BAS-BLA-L"})  # removed, and gone from the files
    assert invoke(cli, "build", "-c", str(config)).exit_code == ExitCode.OK
    posted = _by_path(state)
    changes = posted["/json"]["channels"]["google_es"]["changes"]
    assert changes == {"added": 1, "changed": 1, "removed": 1, "deleted": 1}
    history = json.loads(invoke(cli, "history", "-c", str(config), "--channel", "google_es",
                                "--format", "json").stdout)["runs"][0]
    assert (history["added"], history["changed"], history["removed"]) == (1, 1, 1)
    text = "\n".join(b["text"]["text"] for b in posted["/slack"]["blocks"]
                     if b["type"] == "section")
    [line] = [x for x in text.splitlines() if x.startswith("*google_es*:")]
    assert line.endswith("· +1 ~1 -1, 1 deleted")


def test_a_push_posts_the_changes_of_each_destination(tienda, cli, http_server):
    url, state = http_server
    config = _with_hooks(configure(tienda, {"public": {"url": "public_html/"},
                                            "mirror": {"url": "mirror_html/"}}),
                         {"url": f"{url}/h"})
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    state.received.clear()
    set_prices(config, {"CAM-BAS-BLA-S": "18,95"})
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    [summary] = _posted(state)
    one = {"added": 0, "changed": 1, "removed": 0, "deleted": 0}
    assert [(p["destination"], p["changes"]) for p in summary["publish"]] == [
        ("public", one), ("mirror", one)]
    assert summary["channels"]["google_es"]["changes"] == {**one, "changed": 2}


def test_a_dry_run_does_not_pretend_to_know_the_changes(tienda, cli, http_server):
    url, state = http_server
    config = _with_hooks(_local_push(tienda), {"url": f"{url}/h"})
    assert invoke(cli, "push", "-c", str(config), "--dry-run").exit_code == ExitCode.OK
    [summary] = _posted(state)
    assert summary["dry_run"] is True
    assert summary["channels"]["google_es"]["changes"] is None
    assert [p["changes"] for p in summary["publish"]] == [None]


def test_a_sync_posts_the_items_it_changed(merchant, tienda, cli, http_server):
    url, state = http_server
    config = _with_hooks(_google_config(tienda, merchant), {"url": f"{url}/h"})
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    state.received.clear()
    set_stock(config, {"CAM-BAS-BLA-S": "Agotado"})
    assert invoke(cli, "sync", "-c", str(config)).exit_code == ExitCode.OK
    [summary] = _posted(state)
    assert summary["command"] == "sync"
    one = {"added": 0, "changed": 1, "removed": 0, "deleted": 0}
    assert summary["channels"]["google_es"]["changes"] == one
    assert [p["changes"] for p in summary["publish"]] == [one]
