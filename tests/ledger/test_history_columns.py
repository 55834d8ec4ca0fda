"""What `history` adds for a BI tool: per run the products left out (how many, and per
issue code) and how long it took, from build, push and sync; and the ledger schema (v2)
that keeps them, which a v1 ledger is migrated to in place (one newer than this feedsync
is still refused)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

import feedsync.cli.app as cli_app
from feedsync.api import load_project
from feedsync.cli.app import app
from feedsync.cli.plan_output import history_csv
from feedsync.errors import ExitCode
from feedsync.state.ledger import (
    FILE_DESTINATION,
    SCHEMA_VERSION,
    Ledger,
    LedgerError,
    RunRecord,
)
from tests.ledger.helpers import set_prices
from tests.publish.conftest import configure

# The v1 schema exactly as version-1 ledgers have it on disk (a frozen copy, so a change
# to the code's own v1 migration cannot make this test pass by accident).
V1_SCHEMA = """
CREATE TABLE items (
    feed TEXT NOT NULL, destination TEXT NOT NULL, item_id TEXT NOT NULL,
    hash BLOB NOT NULL, sent_at INTEGER NOT NULL, confirmed_at INTEGER NOT NULL,
    expires_at INTEGER, state INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (feed, destination, item_id)) WITHOUT ROWID;
CREATE TABLE contents (hash BLOB PRIMARY KEY, item TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE runs (
    id INTEGER PRIMARY KEY, feed TEXT NOT NULL, destination TEXT NOT NULL,
    kind TEXT NOT NULL, at INTEGER NOT NULL, items INTEGER NOT NULL,
    added INTEGER NOT NULL, changed INTEGER NOT NULL, removed INTEGER NOT NULL,
    refreshed INTEGER NOT NULL, sent INTEGER NOT NULL, deleted INTEGER NOT NULL,
    result TEXT NOT NULL, message TEXT NOT NULL DEFAULT '');
CREATE INDEX runs_by_feed ON runs (feed, destination, id);
"""
OLD_RUN = ("google_es", "file", "build", 1_764_000_000, 36, 36, 0, 0, 0, 36, 0, "published",
           "")


def run(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _v1_ledger(state: Path) -> Path:
    state.mkdir(parents=True, exist_ok=True)
    path = state / "ledger.db"
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
        db.execute("INSERT INTO runs (feed, destination, kind, at, items, added, changed, "
                   "removed, refreshed, sent, deleted, result, message) VALUES "
                   "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", OLD_RUN)
        db.execute("INSERT INTO items VALUES ('google_es', 'file', 'CAM-BAS-BLA-S', X'01', "
                   "1, 1, NULL, 0)")
        db.execute("PRAGMA user_version = 1")
    return path


def _columns(path: Path) -> dict[str, tuple[str, int, str | None]]:
    with sqlite3.connect(path) as db:
        return {r[1]: (r[2], r[3], r[4]) for r in db.execute("PRAGMA table_info(runs)")}


def test_a_v1_ledger_is_migrated_in_place_and_its_runs_read_back(tmp_path):
    path = _v1_ledger(tmp_path / ".feedsync")
    assert SCHEMA_VERSION == 2
    with Ledger.open(tmp_path / ".feedsync") as ledger:
        [old] = ledger.history()
        assert ledger.count("google_es", "file") == 1  # the items are still there
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    columns = _columns(path)
    assert columns["duration_ms"] == ("INTEGER", 1, "0")
    assert columns["excluded"] == ("INTEGER", 0, "0")
    assert columns["excluded_by_reason"] == ("TEXT", 0, "'{}'")
    assert (old.feed, old.kind, old.items, old.added, old.result) == (
        "google_es", "build", 36, 36, "published")
    assert (old.duration_ms, old.excluded, old.excluded_by_reason) == (0, 0, {})
    assert old.to_dict()["duration_s"] == 0 and "duration_ms" not in old.to_dict()
    [row] = csv.DictReader(io.StringIO(history_csv([old])))
    assert (row["excluded"], row["excluded_by_reason"], row["duration_s"]) == ("0", "", "0.000")


def test_a_ledger_newer_than_this_feedsync_is_still_refused_untouched(tmp_path):
    path = _v1_ledger(tmp_path / ".feedsync")
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(LedgerError, match=r"newer feedsync \(ledger version 3; this one "
                                          r"reads up to 2\)"):
        Ledger.open(tmp_path / ".feedsync")
    assert path.read_bytes() == before


def test_a_runs_reasons_are_kept_most_first_then_by_code(tmp_path):
    with Ledger.open(tmp_path) as ledger:
        ledger.stager().close()
        ledger.note_left_out("feed", 9, {"b-code": 2, "c-code": 5, "a-code": 2})
        ledger.apply_file("feed", FILE_DESTINATION, ledger.diff("feed", FILE_DESTINATION),
                          kind="build")
        ledger.apply_file("other", FILE_DESTINATION, ledger.diff("other", FILE_DESTINATION),
                          kind="build")
        records = {r.feed: r for r in ledger.history()}
    assert records["feed"].excluded == 9
    assert list(records["feed"].excluded_by_reason or {}) == ["c-code", "a-code", "b-code"]
    # A feed the run did not count: neither 0 nor {}, but unknown.
    assert (records["other"].excluded, records["other"].excluded_by_reason) == (None, None)
    rows = {r["channel"]: r for r in csv.DictReader(io.StringIO(history_csv(
        list(records.values()))))}
    assert rows["feed"]["excluded_by_reason"] == "c-code=5;a-code=2;b-code=2"
    assert (rows["other"]["excluded"], rows["other"]["excluded_by_reason"]) == ("", "")


def test_a_runs_duration_is_counted_from_its_start(tmp_path):
    with Ledger.open(tmp_path) as ledger:
        clock = iter([100.0, 101.25])
        ledger.monotonic = lambda: next(clock)
        ledger.started = ledger.monotonic()
        ledger.stager().close()
        record = ledger.apply_file("x", FILE_DESTINATION, ledger.diff("x", FILE_DESTINATION),
                                   kind="build")
        [again] = ledger.history()
    assert record.duration_ms == again.duration_ms == 1250
    assert again.duration_s == 1.25


def test_a_migrated_ledger_takes_new_runs_with_their_counts(tienda):
    _v1_ledger(tienda.parent / ".feedsync")
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.OK
    runs = json.loads(run("history", "-c", str(tienda), "--channel", "google_es",
                          "--format", "json").stdout)["runs"]
    assert [(r["kind"], r["excluded"], r["excluded_by_reason"]) for r in runs] == [
        ("build", 1, {"missing-required": 1}), ("build", 0, {})]
    assert runs[0]["duration_s"] > 0 and runs[1]["duration_s"] == 0


def _amazon_build(tienda: Path) -> tuple[Path, dict[str, object]]:
    """Build the example's Amazon feed, which leaves products out for two reasons: those
    without a GTIN (missing-identifier) and the one without a price (missing-required)."""
    config = tienda.parent / "feedsync.all-channels.yaml"
    result = run("build", "-c", str(config), "--channel", "amazon_listings", "--format",
                 "json")
    assert result.exit_code == ExitCode.OK, result.output
    return config, json.loads(result.stdout)["channels"]["amazon_listings"]


def test_history_gives_the_products_left_out_per_reason_and_the_duration(tienda):
    config, report = _amazon_build(tienda)
    assert (report["excluded"], report["left_out_by_code"]) == (
        28, {"missing-identifier": 28, "missing-required": 1})

    result = run("history", "-c", str(config), "--channel", "amazon_listings", "--format",
                 "csv")
    assert result.exit_code == ExitCode.OK, result.output
    [row] = csv.DictReader(io.StringIO(result.stdout))
    assert (row["command"], row["channel"], row["destination"]) == (
        "build", "amazon_listings", "file")
    assert row["excluded"] == "28"
    assert row["excluded_by_reason"] == "missing-identifier=28;missing-required=1"
    assert float(row["duration_s"]) > 0
    assert len(row["duration_s"].split(".")[1]) == 3

    result = run("history", "-c", str(config), "--channel", "amazon_listings", "--format",
                 "json")
    [entry] = json.loads(result.stdout)["runs"]
    assert entry["excluded"] == report["excluded"]
    assert entry["excluded_by_reason"] == report["left_out_by_code"]
    assert list(entry["excluded_by_reason"]) == ["missing-identifier", "missing-required"]
    assert entry["duration_s"] == float(row["duration_s"]) and "duration_ms" not in entry

    table = run("history", "-c", str(config), "--channel", "amazon_listings")
    assert "Left out" in table.stdout and "28" in table.stdout


def test_a_guard_that_held_a_feed_still_records_what_it_left_out(tienda):
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.OK
    master = tienda.parent / "productos.csv"
    lines = master.read_text(encoding="utf-8-sig").splitlines()
    master.write_text("\n".join(lines[:11]) + "\n", encoding="utf-8")  # 10 of 40 rows
    set_prices(tienda, {"CAM-BAS-BLA-S": "", "CAM-BAS-BLA-M": ""})
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.GUARD_TRIPPED
    [held, first] = load_project(tienda).history(["google_es_outlet"])
    assert held.result == "guard"
    assert (held.excluded, held.excluded_by_reason) == (2, {"missing-required": 2})
    assert (first.excluded, first.excluded_by_reason) == (1, {"missing-required": 1})


def test_the_duration_runs_from_the_commands_start(tienda):
    load_project(tienda).build(started=time.monotonic() - 2.5)
    [record] = load_project(tienda).history(["google_es"])
    assert 2.5 <= record.duration_s < 60


def test_the_cli_times_a_run_from_the_moment_the_command_began(tienda, monkeypatch):
    # The command "began" a minute ago: its history rows must count from then.
    began = time.monotonic() - 60
    monkeypatch.setattr(cli_app, "time", SimpleNamespace(monotonic=lambda: began))
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.OK
    monkeypatch.undo()
    [record] = load_project(tienda).history(["google_es"])
    assert 60 <= record.duration_s < 120


def test_a_push_records_the_left_out_products_on_every_destination(tienda):
    config = configure(tienda, {"public": {"url": "public_html/"}})
    set_prices(config, {"CAM-BAS-BLA-S": ""})  # a second product without a price
    began = time.monotonic() - 3  # the command began 3 s ago
    assert load_project(config).push(started=began).exit_code == ExitCode.OK
    records = load_project(config).history(["google_es"])
    assert sorted(r.destination for r in records) == ["file", "public"]
    for record in records:
        assert (record.kind, record.excluded, record.excluded_by_reason) == (
            "push", 2, {"missing-required": 2})
    public = next(r for r in records if r.destination == "public")
    file = next(r for r in records if r.destination == "file")
    assert 3000 <= public.duration_ms <= file.duration_ms  # the file is recorded last


def test_a_history_message_that_starts_like_a_formula_is_text_in_the_csv():
    """A guard's message names items by their ids, which come from the master."""
    record = RunRecord("google_es", "file", "build", 0, 1, 0, 0, 0, 0, 0, 0, "guard",
                       "=HYPERLINK(\"http://evil.example\") and 3 more would be deleted")
    [row] = csv.DictReader(io.StringIO(history_csv([record])))
    assert row["message"].startswith("'=HYPERLINK(")
