"""The fuzz suite: hostile masters of every format, configs and rule templates, each run
through validate and build (tests/fuzz/harness.py says what every case must satisfy).

CI runs FUZZ_CASES cases with a fixed seed (derandomized hypothesis); `--fuzz-long` runs
20x as many with fresh seeds.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz import strategies as fs
from tests.fuzz.harness import run_case
from tests.security.masters import csv_bytes, good_row

# Cases per CI run, by kind: 1,250 in all.
FUZZ_CASES = {"csv": 300, "xlsx": 200, "json": 250, "xml": 200, "config": 150,
              "rule-template": 150}

_counter = itertools.count()


def _fresh(tmp_path: Path) -> Path:
    return tmp_path / f"case{next(_counter)}"


def _run(kind: str, strategy: st.SearchStrategy[Any], tmp_path: Path, scale: int) -> None:
    @settings(max_examples=FUZZ_CASES[kind] * scale)
    @given(strategy)
    def case(master: tuple[str, bytes, dict[str, Any]]) -> None:
        name, data, source = master
        run_case(_fresh(tmp_path), kind, name, data, source=source)

    case()


@pytest.mark.parametrize("kind", ["csv", "xlsx", "json", "xml"])
def test_hostile_masters(kind: str, tmp_path: Path, fuzz_scale: int) -> None:
    strategy = {"csv": fs.csv_masters(), "xlsx": fs.xlsx_masters(), "json": fs.json_masters(),
                "xml": fs.xml_masters()}[kind]
    _run(kind, strategy, tmp_path, fuzz_scale)


def test_hostile_configs(tmp_path: Path, fuzz_scale: int) -> None:
    @settings(max_examples=FUZZ_CASES["config"] * fuzz_scale)
    @given(fs.configs())
    def case(config: tuple[dict[str, Any], dict[str, Any]]) -> None:
        source, channels = config
        run_case(_fresh(tmp_path), "config", "m.csv", csv_bytes(good_row(), good_row("A2")),
                 source=source, channels=channels)

    case()


def test_hostile_rule_templates(tmp_path: Path, fuzz_scale: int) -> None:
    @settings(max_examples=FUZZ_CASES["rule-template"] * fuzz_scale)
    @given(fs.rule_templates(), fs.product_rows())
    def case(rules: list[dict[str, Any]], rows: list[list[str]]) -> None:
        channels = {"google": {"spec": "google_merchant",
                               "outputs": ["feeds/google.xml", "feeds/google.tsv"],
                               "rules": rules},
                    "meta": {"spec": "meta_catalog", "outputs": ["feeds/meta.csv"],
                             "rules": rules}}
        run_case(_fresh(tmp_path), "rule-template", "m.csv", csv_bytes(*rows),
                 channels=channels)

    case()
