"""A channel entry with markets and rules: rules run per market feed, explain names a market."""

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from feedsync.cli.app import app

runner = CliRunner()


def _markets_config(tienda: Path) -> Path:
    config = yaml.safe_load(tienda.read_text(encoding="utf-8"))
    config["channels"] = {"google": {
        "spec": "google_merchant",
        "markets": [{"country": "ES", "language": "es", "currency": "EUR"},
                    {"country": "MX", "language": "es", "currency": "MXN"}],
        "rates": {"MXN": 20.5},
        "outputs": ["feeds/google_{country}.xml"],
        "rules": [{"filter": "availability != 'out_of_stock'"},
                  {"set": {"title": "{{ brand }} {{ title }}"}}],
    }}
    tienda.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return tienda


def test_each_market_counts_its_own_rules(tienda: Path):
    config = _markets_config(tienda)
    result = runner.invoke(app, ["build", "-c", str(config), "-f", "json"])
    assert result.exit_code == 0, result.output
    channels = json.loads(result.stdout)["channels"]
    assert set(channels) == {"google.ES", "google.MX"}
    for channel in channels.values():
        assert [r["dropped"] for r in channel["rules"]] == [3, 0]
        assert channel["filtered_by_rules"] == 3


def test_explain_a_market_shows_its_converted_item(tienda: Path):
    config = _markets_config(tienda)
    result = runner.invoke(app, ["explain", "CAM-BAS-BLA-S", "--channel", "google.MX", "-c",
                                 str(config), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["item"]["price"] == "408.98 MXN"  # 19.95 EUR x 20.5
    assert data["item"]["title"].startswith("Algodonera ")
    ambiguous = runner.invoke(app, ["explain", "CAM-BAS-BLA-S", "--channel", "google", "-c",
                                    str(config)])
    assert ambiguous.exit_code == 2
    assert "google.ES, google.MX" in ambiguous.stderr


def test_channel_option_selects_one_market(tienda: Path):
    config = _markets_config(tienda)
    result = runner.invoke(app, ["build", "-c", str(config), "--channel", "google.MX",
                                 "-f", "json"])
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["channels"]) == {"google.MX"}
    assert (tienda.parent / "feeds" / "google_MX.xml").exists()
    assert not (tienda.parent / "feeds" / "google_ES.xml").exists()
    unknown = runner.invoke(app, ["build", "-c", str(config), "--channel", "google.FR"])
    assert unknown.exit_code == 2
    assert "unknown channel(s) google.FR" in unknown.stderr
