"""Runs one generated case through validate and build, and checks what a user would see.

Each case, in-process (the typer CliRunner and the API, no subprocess per case):

- `validate --format json` exits 0, 1, 2 or 3 with no traceback and no "unexpected" error
  (exit 70 is an internal error);
- every product left out is named: as many rows carry a canonical error issue as the report
  counts invalid products;
- `build` either writes feeds or stops with a FeedsyncError (one sentence, exit 2/3):
  any other exception is a failure;
- every written output parses back (XML, CSV/TSV with one record per item, JSON, JSON Lines);
- the case ends within CASE_SECONDS (a hang guard, not a timing assertion).

Figures (cases per format, worst time, memory) are gathered in FIGURES and printed at the
end of the session by tests/fuzz/conftest.py.
"""

from __future__ import annotations

import csv
import io
import json
import resource
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lxml import etree
from typer.testing import CliRunner

from feedsync.api import run_build
from feedsync.config import load_config
from feedsync.errors import FeedsyncError
from tests.security.masters import project

CASE_SECONDS = 30


class Figures:
    """What the fuzz run saw, for the report."""

    def __init__(self) -> None:
        self.cases: dict[str, int] = defaultdict(int)
        self.outcomes: dict[str, int] = defaultdict(int)
        self.worst_seconds = 0.0
        self.worst_case = ""
        self.start_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def summary(self) -> list[str]:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        lines = [f"fuzz: {sum(self.cases.values())} cases: " + ", ".join(
            f"{kind} {count}" for kind, count in sorted(self.cases.items()))]
        lines.append("fuzz: outcomes: " + ", ".join(
            f"{kind} {count}" for kind, count in sorted(self.outcomes.items())))
        lines.append(f"fuzz: worst case {self.worst_seconds:.2f} s ({self.worst_case}); "
                     f"peak RSS of the test process {peak / 1024:.0f} MiB "
                     f"(started at {self.start_rss_kb / 1024:.0f} MiB)")
        return lines


FIGURES = Figures()


class CaseHung(Exception):
    pass


@contextmanager
def hang_guard(seconds: int = CASE_SECONDS) -> Iterator[None]:
    def expired(signum: int, frame: Any) -> None:
        raise CaseHung(f"the case ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_case(folder: Path, kind: str, master_name: str, master: bytes, *,
             source: dict[str, Any] | None = None, channels: dict[str, Any] | None = None,
             raw_config: str | None = None) -> None:
    """One case end to end; raises AssertionError with the reason when feedsync misbehaves."""
    from feedsync.cli.app import app

    FIGURES.cases[kind] += 1
    config = project(folder, master_name, master, source=source, channels=channels)
    if raw_config is not None:
        config.write_text(raw_config, encoding="utf-8")
    started = time.perf_counter()
    with hang_guard():
        result = CliRunner().invoke(app, ["validate", "-c", str(config), "--format", "json"])
        output = result.output
        assert result.exit_code in (0, 1, 2, 3), f"exit {result.exit_code}: {output[-2000:]}"
        assert "Traceback" not in output, output[-2000:]
        assert "please report it" not in output, output[-2000:]  # the internal-error line
        if result.exit_code in (2, 3):
            lines = [line for line in output.splitlines() if line.strip()]
            assert lines and lines[0].startswith("error:"), output[-2000:]
            FIGURES.outcomes[f"validate exit {result.exit_code}"] += 1
        else:
            FIGURES.outcomes[f"validate exit {result.exit_code}"] += 1
            # JSON documents and XML feeds number a product by the line it starts on, so
            # products sharing a line (minified files) share a row number.
            _check_every_bad_row_named(json.loads(result.stdout),
                                       unique_rows=master_name.endswith((".csv", ".tsv",
                                                                         ".xlsx", ".jsonl")))
        _build_and_parse_back(config, folder)
    elapsed = time.perf_counter() - started
    if elapsed > FIGURES.worst_seconds:
        FIGURES.worst_seconds, FIGURES.worst_case = elapsed, f"{kind} {len(master):,} bytes"


def _check_every_bad_row_named(report: dict[str, Any], *, unique_rows: bool) -> None:
    rows = {issue["row"] for issue in report["issues"]
            if issue["severity"] == "error" and issue["channel"] is None
            and issue["row"] is not None}
    invalid = report["invalid_products"]
    if unique_rows:
        assert len(rows) == invalid, f"{invalid} invalid products but errors name {sorted(rows)}"
    else:
        assert len(rows) <= invalid and bool(rows) == bool(invalid), (
            f"{invalid} invalid products but errors name rows {sorted(rows)}")


def _build_and_parse_back(config_path: Path, folder: Path) -> None:
    try:
        config = load_config(config_path)
        report = run_build(config)
    except FeedsyncError as exc:
        assert str(exc).strip(), "a FeedsyncError without a message"
        FIGURES.outcomes["build stopped (FeedsyncError)"] += 1
        return
    FIGURES.outcomes["build wrote feeds"] += 1
    for channel in report.channels.values():
        for output in channel.outputs:
            path = Path(output.path)
            if output.parts == 1:
                _parse_back(path, output.items)
    leftovers = [p.name for p in folder.rglob("*.tmp")]
    assert not leftovers, f"temporary files left behind: {leftovers}"


def _parse_back(path: Path, items: int) -> None:
    data = path.read_bytes()
    text = data.decode("utf-8")  # strict: every feed is valid UTF-8
    suffix = path.suffix
    if suffix == ".xml":
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, huge_tree=True))
        found = len(root.findall(".//item")) + len(
            root.findall(".//{http://www.w3.org/2005/Atom}entry"))
        assert found == items or items == 0 or found == 0, f"{path.name}: {found} != {items}"
    elif suffix in (".csv", ".tsv", ".txt"):
        delimiter = "\t" if suffix in (".tsv", ".txt") else ","
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                                  quoting=csv.QUOTE_NONE if delimiter == "\t"
                                  else csv.QUOTE_MINIMAL))
        assert len(records) == items + 1, f"{path.name}: {len(records)} records, {items} items"
        widths = {len(record) for record in records}
        assert len(widths) == 1, f"{path.name}: records of widths {sorted(widths)}"
    elif suffix == ".jsonl":
        lines = [line for line in text.split("\n") if line]
        for line in lines:
            json.loads(line)
    elif suffix == ".json":
        json.loads(text)
