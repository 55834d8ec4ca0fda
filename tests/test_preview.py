"""`feedsync preview`: rows as one channel renders them, with their issues; nothing written."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from feedsync.cli.app import app

runner = CliRunner()


def test_preview_first_rows_as_items(tienda: Path) -> None:
    result = runner.invoke(app, ["preview", "-c", str(tienda), "--channel", "google_es",
                                 "-n", "2", "-f", "json"])
    assert result.exit_code == 0, result.output
    previews = json.loads(result.stdout)
    assert [p["id"] for p in previews] == ["CAM-BAS-BLA-S", "CAM-BAS-BLA-M"]
    assert previews[0]["outcome"] == "written"
    assert previews[0]["item"]["price"] == "19.95 EUR"
    assert not (tienda.parent / "feeds").exists()


def test_preview_by_id_shows_why_an_item_is_missing(tienda: Path) -> None:
    result = runner.invoke(app, ["preview", "-c", str(tienda), "--channel", "google_es",
                                 "--id", "GOR-LAN", "--id", "AUR-IN-EAR", "-f", "json"])
    previews = {p["id"]: p for p in json.loads(result.stdout)}
    assert previews["GOR-LAN"]["outcome"] == "excluded"
    assert previews["GOR-LAN"]["issues"][0]["code"] == "missing-required"
    # Its bad GTIN is left out with a warning; Google lists it on brand + mpn.
    assert previews["AUR-IN-EAR"]["outcome"] == "written"
    assert previews["AUR-IN-EAR"]["issues"][0]["code"] == "invalid-gtin"


def test_preview_table_and_unknown_id(tienda: Path) -> None:
    table = runner.invoke(app, ["preview", "-c", str(tienda), "--channel", "google_es",
                                "--id", "GOR-LAN"])
    assert "row 40 GOR-LAN: excluded (google_es)" in table.stdout
    assert "missing-required (price): price is required" in table.stdout
    missing = runner.invoke(app, ["preview", "-c", str(tienda), "--channel", "google_es",
                                  "--id", "NOPE"])
    assert missing.exit_code == 2 and "no product with id 'NOPE'" in missing.output
