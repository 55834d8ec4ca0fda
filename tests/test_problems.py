"""Problems a merchandiser can act on: grouped by code x channel x field with a count, a
title, what to do and sample rows; why products were left out, per channel, first; the
config's `issues:` section; `--severity`; timing and version in every report.

Golden files: tests/golden/problems/ (FEEDSYNC_UPDATE_GOLDEN=1 rewrites them on purpose).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml
from lxml import etree
from typer.testing import CliRunner

from feedsync.cli.app import app
from tests.conftest import GOLDEN

UPDATE = os.environ.get("FEEDSYNC_UPDATE_GOLDEN") == "1"
TIMING = re.compile(r"in [\d.,]+ s( \([\d,]+ rows/s\))?, feedsync \S+")
runner = CliRunner()


def _run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def _golden(name: str, text: str) -> None:
    path = GOLDEN / "problems" / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path} (FEEDSYNC_UPDATE_GOLDEN=1 makes it)"
    assert text == path.read_text(encoding="utf-8")


def _shape(value: Any) -> Any:
    """The JSON's structure: keys, and value types instead of values."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _edit(config: Path, change: dict[str, Any]) -> None:
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    for key, value in change.items():
        target = data
        *parents, last = key.split(".")
        for parent in parents:
            target = target[parent]
        target[last] = value
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                      encoding="utf-8")


def test_grouped_problem_table_golden(tienda: Path) -> None:
    result = _run("validate", "-c", str(tienda))
    assert result.exit_code == 1
    _golden("validate_table.txt", TIMING.sub("in TIME", result.stdout))


def test_left_out_reasons_lead_the_report(tienda: Path) -> None:
    lines = _run("validate", "-c", str(tienda)).stdout.splitlines()
    assert lines[0] == "Why products were left out"
    # AUR-IN-EAR's bad GTIN leaves only its GTIN out (no channel here needs one).
    assert lines[1] == "  google_es: 1 left out: 1 missing-required (price)"
    assert lines[2] == "  google_es_outlet: 1 left out: 1 missing-required (price)"


def test_json_shape_golden_and_counts(tienda: Path) -> None:
    data = json.loads(_run("validate", "-c", str(tienda), "-f", "json").stdout)
    _golden("validate_json_shape.json",
            json.dumps(_shape(data), indent=2, sort_keys=True) + "\n")
    html = next(p for p in data["problems"] if p["code"] == "html-in-text")
    assert (html["count"], html["channel"], html["field"]) == (6, None, "description")
    assert len(html["samples"]) == 3 and html["samples"][0]["row"] == 11
    assert html["what_to_do"].startswith("Nothing to do if the text still reads well")
    assert data["left_out"]["google_es"] == [{
        "code": "missing-required", "field": "price", "products": 1,
        "title": "A field the channel requires is empty"}]
    assert data["feedsync_version"] and data["duration_seconds"] >= 0
    assert sum(p["count"] for p in data["problems"]) == sum(data["summary"]["by_code"].values())


def test_issues_section_ignores_and_downgrades_and_says_so(tienda: Path) -> None:
    _edit(tienda, {"issues": {"html-in-text": "ignore"}})
    result = _run("validate", "-c", str(tienda), "-f", "json")
    data = json.loads(result.stdout)
    assert "html-in-text" not in data["summary"]["by_code"]
    assert data["ignored_by_config"] == {"html-in-text": 6}
    assert data["summary"]["warnings"] == 1  # the bad GTIN, left out
    table = _run("validate", "-c", str(tienda)).stdout
    assert "Ignored by the config's `issues:` section: 6 html-in-text" in table


def test_issues_section_per_channel(tienda: Path) -> None:
    config = tienda.parent / "feedsync.all-channels.yaml"
    before = json.loads(_run("validate", "-c", str(config), "-f", "json").stdout)
    assert any(p["code"] == "not-offered" and p["channel"] == "idealo"
               for p in before["problems"])
    _edit(config, {"channels.idealo.issues": {"not-offered": "ignore"},
                   "channels.google.issues": {"html-in-text": "info"}})
    data = json.loads(_run("validate", "-c", str(config), "-f", "json").stdout)
    assert not any(p["code"] == "not-offered" for p in data["problems"])
    assert data["ignored_by_config"] == {"not-offered": 4}
    # a channel's section reaches its own checks only: the master's html-in-text is shared
    html = next(p for p in data["problems"] if p["code"] == "html-in-text")
    assert html["severity"] == "warning"


def test_issues_section_downgrades_a_warning_to_info(tienda: Path) -> None:
    _edit(tienda, {"issues": {"html-in-text": "info"}})
    data = json.loads(_run("validate", "-c", str(tienda), "-f", "json").stdout)
    html = next(p for p in data["problems"] if p["code"] == "html-in-text")
    assert html["severity"] == "info" and data["summary"]["warnings"] == 1


def test_issues_section_refuses_unknown_codes_and_errors(tienda: Path) -> None:
    _edit(tienda, {"issues": {"html-in-txt": "ignore", "missing-required": "warning"}})
    result = _run("validate", "-c", str(tienda))
    assert result.exit_code == 2
    assert "issues.html-in-txt: unknown issue code (did you mean 'html-in-text'?)" \
        in result.output
    assert "issues.missing-required: missing-required is an error, which leaves products out" \
        in result.output


def test_severity_filters_the_listing_not_the_counts(tienda: Path) -> None:
    data = json.loads(_run("validate", "-c", str(tienda), "-f", "json",
                           "--severity", "error").stdout)
    assert {p["severity"] for p in data["problems"]} == {"error"}
    assert {i["severity"] for i in data["issues"]} == {"error"}
    assert data["summary"]["warnings"] == 7
    table = _run("validate", "-c", str(tienda), "--severity", "error").stdout
    assert "missing-required" in table and "html-in-text │" not in table


def test_validate_quiet_prints_one_summary_line_on_errors(tienda: Path) -> None:
    result = _run("validate", "-c", str(tienda), "-q")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("40 rows read,") and "2 errors" in lines[0]


def test_junit_has_one_case_per_grouped_problem(tienda: Path) -> None:
    root = etree.fromstring(_run("validate", "-c", str(tienda), "-f", "junit").stdout.encode())
    master = next(s for s in root.findall("testsuite") if s.get("name") == "master")
    names = [case.get("name") for case in master.findall("testcase")]
    assert names == ["html-in-text description (6 rows)", "invalid-gtin gtin (1 rows)"]
    # Warnings are no failures: the master's suite has none; the channel's has one.
    assert master.find("testcase/failure") is None
    gtin = master.findall("testcase")[1].findtext("system-out") or ""
    assert "Correct the barcode" in gtin and "row 41 AUR-IN-EAR" in gtin
    google = next(s for s in root.findall("testsuite") if s.get("name") == "google_es")
    failure = google.find("testcase/failure")
    assert failure is not None and "row 40 GOR-LAN" in (failure.text or "")
