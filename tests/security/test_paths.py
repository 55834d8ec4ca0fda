"""Names from the config cannot place files outside their folders: market codes (which
fill {country}/{language} in output names) and channel names (staging during push)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedsync.cli.app import app
from tests.security.masters import csv_bytes, good_row, project


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("market", [
    {"country": "../../../tmp/evil", "language": "es", "currency": "EUR"},
    {"country": "ES", "language": "../../x", "currency": "EUR"},
    {"country": "/E", "language": "es", "currency": "EUR"},
])
def test_market_codes_are_validated(tmp_path: Path, market: dict[str, str]) -> None:
    project_dir = tmp_path / "shop"
    config = project(project_dir, "m.csv", csv_bytes(good_row()), channels={
        "meta": {"spec": "meta_catalog", "output": "feeds/meta_{country}_{language}.csv",
                 "markets": [market, {"country": "MX", "language": "es", "currency": "EUR"}]}})
    before = _files_under(tmp_path)
    result = CliRunner().invoke(app, ["build", "-c", str(config)])
    assert result.exit_code == 2, result.output
    assert "code" in result.output and "Traceback" not in result.output
    assert _files_under(tmp_path) == before


def test_channel_names_cannot_escape_staging(tmp_path: Path) -> None:
    project_dir = tmp_path / "shop"
    config = project(project_dir, "m.csv", csv_bytes(good_row()), channels={
        "../../../escaped": {"spec": "google_merchant", "outputs": ["feeds/google.xml"],
                             "publish": ["folder"]}},
        extra={"publish": {"folder": {"url": f"file://{project_dir / 'served'}"}}})
    result = CliRunner().invoke(app, ["push", "-c", str(config)])
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "escaped").exists()
    assert not (project_dir / ".feedsync" / "staging").exists()  # nothing left behind
    assert not any(p.name == "escaped" for p in tmp_path.rglob("*"))
