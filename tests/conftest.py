"""Shared fixtures: paths to the project, the example shop and the shared reference files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
GOLDEN = ROOT / "tests" / "golden"
EXAMPLES = ROOT / "examples"
SHARED_REFERENCE = ROOT.parent / "shared" / "reference"


# The moment channel checks compare dates with (sale windows, dates a year ahead), fixed so
# the golden files do not change with the calendar: inside the example shop's sales.
FIXED_NOW = "2026-11-28T12:00:00+01:00"


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDSYNC_NOW", FIXED_NOW)


@pytest.fixture
def reference() -> Path:
    """../shared/reference, or skip: a fresh clone without it still passes its own suite."""
    if not SHARED_REFERENCE.is_dir():
        pytest.skip("../shared/reference is not present")
    return SHARED_REFERENCE


@pytest.fixture
def tienda(tmp_path: Path) -> Path:
    """A private copy of examples/tienda, so builds never touch the repository."""
    target = tmp_path / "tienda"
    shutil.copytree(EXAMPLES / "tienda", target, ignore=shutil.ignore_patterns("feeds"))
    return target / "feedsync.yaml"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fuzz-long", action="store_true", default=False,
                     help="run the fuzz suite (tests/fuzz) with 20x the cases and new seeds, "
                          "and the crash tests (tests/crash) with 5x the kills")
