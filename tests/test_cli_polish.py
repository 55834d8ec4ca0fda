"""The command line's rough edges: help that shows flags as flags and an example for every
command, -h, completion, a FEEDSYNC_* variable for every option, JSON from `channels`, a
`--version` that imports nothing heavy, `push --dry-run` without secrets, the progress bar."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from typer.testing import CliRunner

from feedsync import api
from feedsync.cli.app import app
from feedsync.cli.output import Output

runner = CliRunner()
# Options that belong to the tool itself, not to a run.
NOT_RUN_OPTIONS = {"help", "version", "install_completion", "show_completion"}


def _commands() -> dict[str, Any]:
    """Every command and sub-command by its name on the command line. (Typer may carry its
    own copy of click, so groups are told by their `commands`, not by isinstance.)"""
    group: Any = typer.main.get_command(app)
    found: dict[str, Any] = {}
    for name, command in group.commands.items():
        found[name] = command
        if hasattr(command, "commands"):
            for sub_name, sub in command.commands.items():
                found[f"{name} {sub_name}"] = sub
    return found


def test_every_command_has_an_example_and_flags_show_as_flags() -> None:
    for name, _command in _commands().items():
        result = runner.invoke(app, [*name.split(), "--help"], terminal_width=120)
        assert result.exit_code == 0, name
        assert "Example" in result.stdout, f"`feedsync {name} --help` has no example"
        assert "<bool>" not in result.stdout and "<int>" not in result.stdout, name
        assert "INTEGER" not in result.stdout, name


def test_short_help_option() -> None:
    result = runner.invoke(app, ["validate", "-h"])
    assert result.exit_code == 0 and "Usage:" in result.stdout


def test_shell_completion_is_offered() -> None:
    result = runner.invoke(app, ["--help"], terminal_width=120)
    assert "--install-completion" in result.stdout


def test_every_option_has_a_feedsync_environment_variable() -> None:
    missing = [f"{name} --{param.name}" for name, command in _commands().items()
               for param in command.params
               if param.param_type_name == "option" and param.name not in NOT_RUN_OPTIONS
               and not (isinstance(param.envvar, str) and param.envvar.startswith("FEEDSYNC_"))]
    assert missing == []


def test_environment_variables_are_read(tienda: Path) -> None:
    result = runner.invoke(app, ["validate", "-c", str(tienda)],
                           env={"FEEDSYNC_FORMAT": "json", "FEEDSYNC_SEVERITY": "error"})
    data = json.loads(result.stdout)
    assert {p["severity"] for p in data["problems"]} == {"error"}


def test_channels_as_json() -> None:
    listing = json.loads(runner.invoke(app, ["channels", "--format", "json"]).stdout)
    google = next(s for s in listing if s["name"] == "google_merchant")
    assert "xml" in google["formats"] and google["fields"] > 10
    shown = json.loads(runner.invoke(app, ["channels", "show", "google_merchant",
                                           "-f", "json"]).stdout)
    assert shown["name"] == "google_merchant"
    assert any(f["name"] == "price" and f["status"] == "required" for f in shown["fields"])


def test_version_answers_without_loading_the_cli() -> None:
    code = ("import sys; sys.argv = ['feedsync', '--version']; "
            "from feedsync.cli.entry import main; main(); "
            "print(sorted(m for m in sys.modules if m.startswith(('feedsync.', 'pydantic', "
            "'lxml', 'typer'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert result.stdout.splitlines() == ["feedsync 0.1.0", "['feedsync.cli', "
                                          "'feedsync.cli.entry']"]


def test_push_dry_run_needs_no_secrets(tienda: Path) -> None:
    config = tienda.parent / "feedsync.publish.yaml"
    env = {name: "" for name in ("SFTP_PASSWORD", "WEB_TOKEN", "META_TOKEN", "FTP_PASSWORD")}
    clean = {k: v for k, v in os.environ.items() if k not in env}
    result = runner.invoke(app, ["push", "-c", str(config), "--dry-run", "-f", "json"],
                           env={**clean, **dict.fromkeys(env)})
    assert result.exit_code == 0, result.output
    assert "a real push needs this" in result.stderr and "SFTP_PASSWORD" in result.stderr
    assert json.loads(result.stdout)["dry_run"] is True


def test_progress_bar_shows_percent_rate_time_left_and_feed_counts() -> None:
    output = Output()
    buffer = io.StringIO()
    output.err = Console(file=buffer, force_terminal=True, width=200)
    with output.progress("Reading productos.csv", total=10_000, feeds=["google"]) as live:
        assert live is not None
        for number in range(6000):
            result = api.EXCLUDED if number % 10 == 0 else api.Written({"id": str(number)})
            live.observe(api.RowOutcome(number + 2, str(number), [], True, [result]))
            if (number + 1) % 1000 == 0:
                live(number + 1)
        output.err.print("", end="")
    text = buffer.getvalue()
    assert "%" in text and "rows/s" in text and "left" in text and "6,000 rows" in text
    assert "google 5,400 (-600 left out)" in text


def test_no_progress_bar_when_stderr_is_not_a_terminal() -> None:
    with Output().progress("Reading", total=10) as live:
        assert live is None


def test_progress_total_for_a_database_comes_from_the_database(tmp_path: Path) -> None:
    import sqlite3

    connection = sqlite3.connect(tmp_path / "c.db")
    connection.execute("CREATE TABLE products (id TEXT PRIMARY KEY, title TEXT, price TEXT)")
    connection.executemany("INSERT INTO products VALUES (?, ?, ?)",
                           [(f"A{i}", "t", "10 EUR") for i in range(7)])
    connection.commit()
    connection.close()
    channel = "channels: {google: {spec: google_merchant, output: g.xml}}\n"
    for source, expected in (("{url: 'sqlite:///c.db', table: products}", 7),
                             ("{url: 'sqlite:///c.db', query: \"SELECT * FROM products "
                              "WHERE id > 'A3'\"}", 3)):
        config = tmp_path / "feedsync.yaml"
        config.write_text(f"source: {source}\n{channel}", encoding="utf-8")
        assert api.load_project(config).estimated_rows() == expected
