"""Hypothesis settings for the fuzz suite: a fixed seed in CI, more cases with --fuzz-long."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, settings

from tests.fuzz.harness import FIGURES

settings.register_profile(
    "fuzz-ci", derandomize=True, deadline=None, database=None, print_blob=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate, Phase.shrink])
settings.register_profile(
    "fuzz-long", derandomize=False, deadline=None, database=None, print_blob=True,
    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="session")
def fuzz_scale(request: pytest.FixtureRequest) -> int:
    """How many times the CI number of cases to run."""
    return 20 if request.config.getoption("--fuzz-long") else 1


@pytest.fixture(autouse=True)
def _fuzz_profile(request: pytest.FixtureRequest) -> Iterator[None]:
    settings.load_profile("fuzz-long" if request.config.getoption("--fuzz-long")
                          else "fuzz-ci")
    yield
    settings.load_profile("default")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if sum(FIGURES.cases.values()):
        for line in FIGURES.summary():
            terminalreporter.write_line(line)
