"""The ledger as a merchant meets it: `build` refuses to replace a good feed with an empty
or shrunken one, `plan` shows what would change (golden table, JSON and markdown), and
`history` lists the runs; a ledger from a newer feedsync or a damaged one is refused."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedsync.api import load_project
from feedsync.cli.app import app
from feedsync.errors import ExitCode
from tests.conftest import GOLDEN
from tests.ledger.helpers import remove_products, set_prices

UPDATE = os.environ.get("FEEDSYNC_UPDATE_GOLDEN") == "1"
PLAN_GOLDEN = GOLDEN / "plan"


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), catch_exceptions=False, env=env)


def _feeds(config: Path) -> Path:
    return config.parent / "feeds"


def test_build_refuses_to_replace_a_feed_with_an_empty_one(tienda):
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.OK
    before = (_feeds(tienda) / "google_es.xml").read_bytes()
    master = tienda.parent / "productos.csv"
    master.write_text(master.read_text(encoding="utf-8-sig").splitlines()[0] + "\n",
                      encoding="utf-8")
    result = run("build", "-c", str(tienda))
    assert result.exit_code == ExitCode.GUARD_TRIPPED, result.output
    assert "google_es: not written" in result.output and "--allow-empty" in result.output
    assert (_feeds(tienda) / "google_es.xml").read_bytes() == before
    result = run("build", "-c", str(tienda), "-q", "--allow-empty")
    assert result.exit_code == ExitCode.OK, result.output
    assert b"<item>" not in (_feeds(tienda) / "google_es.xml").read_bytes()


def test_build_refuses_a_feed_that_shrank_past_the_guard(tienda):
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.OK
    before = (_feeds(tienda) / "google_es_outlet.xml").read_bytes()
    master = tienda.parent / "productos.csv"
    lines = master.read_text(encoding="utf-8-sig").splitlines()
    master.write_text("\n".join(lines[:11]) + "\n", encoding="utf-8")  # 10 of 40 rows
    result = run("build", "-c", str(tienda))
    assert result.exit_code == ExitCode.GUARD_TRIPPED, result.output
    assert "fewer than the 39 live now" in result.output
    assert "--allow shrink" in result.output
    assert (_feeds(tienda) / "google_es_outlet.xml").read_bytes() == before
    assert run("build", "-c", str(tienda), "-q", "--force").exit_code == ExitCode.OK
    assert (_feeds(tienda) / "google_es_outlet.xml").read_bytes() != before


def test_first_build_over_an_existing_feed_without_a_ledger_keeps_it(tienda):
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.OK
    shutil.rmtree(tienda.parent / ".feedsync")  # a feed written by an older feedsync
    remove_products(tienda, set())
    master = tienda.parent / "productos.csv"
    master.write_text(master.read_text(encoding="utf-8").splitlines()[0] + "\n",
                      encoding="utf-8")
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.GUARD_TRIPPED


def test_a_price_jump_is_caught_and_names_the_item(tienda):
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.OK
    set_prices(tienda, {"CAM-BAS-BLA-S": "1995"})  # "19,95" read without its comma
    result = run("build", "-c", str(tienda), "-q")
    assert result.exit_code == ExitCode.GUARD_TRIPPED
    assert "changed price by more than 50% (CAM-BAS-BLA-S)" in result.output
    assert "--allow price-change" in result.output
    result = run("build", "-c", str(tienda), "-q", "--allow", "price-change")
    assert result.exit_code == ExitCode.OK, result.output


def test_unknown_guard_name_is_a_usage_error(tienda):
    result = run("build", "-c", str(tienda), "--allow", "everything")
    assert result.exit_code == ExitCode.USAGE
    assert "unknown guard everything" in result.output


def _normalised_plan_json(text: str) -> str:
    data = json.loads(text)
    for key in ("project", "config_sha256", "master_sha256", "created_at"):
        data[key] = f"<{key}>"
    for feed in data["feeds"]:
        feed["items_digest"] = "<digest>"
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def _check_golden(name: str, text: str) -> None:
    path = PLAN_GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"plan output differs from {path}; if intended, rerun with FEEDSYNC_UPDATE_GOLDEN=1")


def _changed_shop(tienda: Path) -> None:
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.OK
    set_prices(tienda, {"CAM-BAS-BLA-S": "18,95", "CAM-BAS-BLA-M": "21,95"})
    remove_products(tienda, {"CAM-BAS-AZU-L"})


def test_plan_table_json_and_markdown_match_golden(tienda, tmp_path):
    _changed_shop(tienda)
    table = run("plan", "-c", str(tienda))
    assert table.exit_code == ExitCode.OK, table.output
    _check_golden("plan.txt", table.stdout)
    as_json = run("plan", "-c", str(tienda), "--format", "json")
    _check_golden("plan.json", _normalised_plan_json(as_json.stdout))
    summary = tmp_path / "summary.md"
    markdown = run("plan", "-c", str(tienda), "--format", "markdown",
                   env={"GITHUB_STEP_SUMMARY": str(summary)})
    _check_golden("plan.md", markdown.stdout)
    assert summary.read_text(encoding="utf-8") == markdown.stdout
    # The plan changed nothing: the feeds and the ledger are as the build left them.
    again = run("plan", "-c", str(tienda), "--format", "json")
    assert _normalised_plan_json(again.stdout) == _normalised_plan_json(as_json.stdout)


def test_plan_detailed_exit_code(tienda):
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.OK
    assert run("plan", "-c", str(tienda), "-q", "--detailed-exitcode").exit_code == 0
    set_prices(tienda, {"CAM-BAS-BLA-S": "18,95"})
    assert run("plan", "-c", str(tienda), "-q").exit_code == 0  # opt-in only
    result = run("plan", "-c", str(tienda), "-q", "--detailed-exitcode")
    assert result.exit_code == ExitCode.CHANGES_PLANNED == 10


def test_plan_without_a_ledger_shows_everything_as_new_and_writes_nothing(tienda):
    plan = load_project(tienda).plan()
    assert {(f.diff.feed, f.diff.added, f.diff.known) for f in plan.feeds} == {
        ("google_es", 36, False), ("google_es_outlet", 39, False)}
    assert not (tienda.parent / ".feedsync").exists()
    assert not (tienda.parent / "feeds").exists()


def test_changes_since_last_publish_names_old_and_new_values(tienda):
    _changed_shop(tienda)
    plan = load_project(tienda).changes_since_last_publish(["google_es"])
    [entry] = [f.to_dict() for f in plan.feeds]
    change = entry["examples"]["changed"][0]
    assert change["id"] == "CAM-BAS-BLA-M"
    assert change["values"]["price"] == {"old": "19.95 EUR", "new": "21.95 EUR"}
    assert entry["examples"]["removed"] == ["CAM-BAS-AZU-L"]


def test_history_lists_the_runs(tienda):
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.OK
    set_prices(tienda, {"CAM-BAS-BLA-S": "18,95"})
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.OK
    result = run("history", "-c", str(tienda), "--channel", "google_es", "--format", "json")
    assert result.exit_code == ExitCode.OK, result.output
    runs = json.loads(result.stdout)["runs"]
    assert [(r["kind"], r["items"], r["added"], r["changed"], r["result"]) for r in runs] == [
        ("build", 36, 0, 1, "published"), ("build", 36, 36, 0, "published")]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", runs[0]["at"])
    table = run("history", "-c", str(tienda))
    assert "google_es_outlet" in table.stdout and "published" in table.stdout


def test_history_csv_has_one_row_per_run_with_the_documented_columns(tienda):
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.OK
    set_prices(tienda, {"CAM-BAS-BLA-S": "18,95"})
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.OK
    result = run("history", "-c", str(tienda), "--channel", "google_es", "--format", "csv")
    assert result.exit_code == ExitCode.OK, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    documented = readme.split("<!-- history-csv-columns -->", 2)[1]
    assert list(rows[0]) == [c.strip(" `") for c in documented.strip().split(",")]
    assert [(r["command"], r["channel"], r["items"], r["changed"]) for r in rows] == [
        ("build", "google_es", "36", "1"), ("build", "google_es", "36", "0")]


def test_ledger_file_is_private_and_versioned(tienda):
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.OK
    ledger = tienda.parent / ".feedsync" / "ledger.db"
    assert stat.S_IMODE(ledger.stat().st_mode) == 0o600
    with sqlite3.connect(ledger) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_ledger_from_a_newer_feedsync_is_refused_untouched(tienda):
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.OK
    ledger = tienda.parent / ".feedsync" / "ledger.db"
    with sqlite3.connect(ledger) as db:
        db.execute("PRAGMA user_version = 99")
    before = ledger.read_bytes()
    set_prices(tienda, {"CAM-BAS-BLA-S": "18,95"})
    for command in ("build", "plan", "history"):
        result = run(command, "-c", str(tienda))
        assert result.exit_code == ExitCode.USAGE, result.output
        assert "newer feedsync" in result.output and "Traceback" not in result.output
    assert ledger.read_bytes() == before


def test_a_damaged_ledger_is_named_with_how_to_rebuild_it(tienda):
    assert run("build", "-c", str(tienda), "-q").exit_code == ExitCode.OK
    ledger = tienda.parent / ".feedsync" / "ledger.db"
    for extra in ("-wal", "-shm"):
        Path(f"{ledger}{extra}").unlink(missing_ok=True)
    ledger.write_bytes(b"this is not a database" * 100)
    before = ledger.read_bytes()
    result = run("plan", "-c", str(tienda))
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "ledger.db is damaged" in result.output and "--full" in result.output
    assert ledger.read_bytes() == before


@pytest.mark.parametrize("tables", [["CREATE TABLE t (x)"]])
def test_a_foreign_database_is_not_taken_for_a_ledger(tienda, tables):
    state = tienda.parent / ".feedsync"
    state.mkdir()
    with sqlite3.connect(state / "ledger.db") as db:
        for statement in tables:
            db.execute(statement)
    result = run("build", "-c", str(tienda), "-q")
    assert result.exit_code == ExitCode.USAGE
    assert "not a feedsync ledger" in result.output


def test_a_parallel_build_records_the_same_items(tienda):
    assert run("build", "-c", str(tienda), "-q", "--jobs", "2").exit_code == ExitCode.OK
    assert run("plan", "-c", str(tienda), "-q", "--detailed-exitcode").exit_code == 0
    set_prices(tienda, {"CAM-BAS-BLA-S": "18,95"})
    plan = load_project(tienda).plan(jobs=2)
    assert {(f.diff.feed, f.diff.changed) for f in plan.feeds} == {
        ("google_es", 1), ("google_es_outlet", 1)}


def _orphan_contents(config: Path) -> int:
    with sqlite3.connect(config.parent / ".feedsync" / "ledger.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM contents WHERE hash NOT IN "
                              "(SELECT hash FROM items)").fetchone()[0])


def test_contents_no_item_refers_to_are_dropped_by_a_build_that_changes(tienda):
    """An unchanged rebuild skips the search for unreferenced contents (it can leave
    none); a build that changes or removes items still drops the old contents, also
    those a killed run left."""
    assert run("build", "-q", "-c", str(tienda)).exit_code == 0
    with sqlite3.connect(tienda.parent / ".feedsync" / "ledger.db") as db:
        db.execute("INSERT INTO contents VALUES (X'00', '{\"left\":\"by a killed run\"}')")
    assert run("build", "-q", "-c", str(tienda)).exit_code == 0  # nothing changed
    assert _orphan_contents(tienda) == 1
    set_prices(tienda, {"CAM-BAS-BLA-S": "21,50"})
    assert run("build", "-q", "-c", str(tienda)).exit_code == 0
    assert _orphan_contents(tienda) == 0
    remove_products(tienda, {"CAM-BAS-BLA-M"})
    with sqlite3.connect(tienda.parent / ".feedsync" / "ledger.db") as db:
        db.execute("INSERT INTO contents VALUES (X'01', '{}')")
    assert run("build", "-q", "-c", str(tienda), "--allow", "shrink").exit_code == 0
    assert _orphan_contents(tienda) == 0
