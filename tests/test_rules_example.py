"""The example shop uses rules (examples/tienda/feedsync.yaml): golden feeds, counts,
and `feedsync explain` through the CLI.

Regenerate the golden files deliberately with FEEDSYNC_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedsync.cli.app import app
from tests.conftest import GOLDEN

RULES_GOLDEN = GOLDEN / "google_merchant"
FEEDS = ("google_es.xml", "google_es.tsv", "google_es_outlet.xml")


@pytest.fixture
def rules_config(tienda: Path) -> Path:
    return tienda


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


def test_build_matches_the_golden_feeds(rules_config: Path) -> None:
    code, _ = invoke("build", "-c", str(rules_config), "-q")
    assert code == 0
    for name in FEEDS:
        built = (rules_config.parent / "feeds" / name).read_text(encoding="utf-8")
        golden = RULES_GOLDEN / name
        if os.environ.get("FEEDSYNC_UPDATE_GOLDEN"):
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(built, encoding="utf-8")
        assert built == golden.read_text(encoding="utf-8"), name


def test_golden_feeds_show_the_rules(rules_config: Path) -> None:
    google = (RULES_GOLDEN / "google_es.xml").read_text(encoding="utf-8")
    outlet = (RULES_GOLDEN / "google_es_outlet.xml").read_text(encoding="utf-8")
    assert "TAZ-CER-4" not in google and "TAZ-CER-4" in outlet  # out of stock: one channel
    assert "<g:title>Auriculares inalámbricos" in google and " - Sonara</g:title>" in google
    assert "<g:custom_label_1>top_ventas</g:custom_label_1>" in google
    assert "<g:price>17.99 EUR</g:price>" in outlet  # 19.95 - 10% = 17.96, nearest .99
    assert "<g:google_product_category>662</g:google_product_category>" in outlet


def test_build_json_reports_counts_per_rule(rules_config: Path) -> None:
    code, out = invoke("build", "-c", str(rules_config), "--format", "json")
    assert code == 0
    channels = json.loads(out)["channels"]
    google = channels["google_es"]
    assert google["filtered_by_rules"] == 3
    first = google["rules"][0]
    assert first["rule"] == "filter drop availability == 'out_of_stock'"
    assert (first["changed"], first["dropped"]) == (0, 3)
    assert first["where"].startswith("feedsync.yaml:")
    assert channels["google_es_outlet"]["filtered_by_rules"] == 0


def test_validate_table_lists_rules(rules_config: Path) -> None:
    code, out = invoke("validate", "-c", str(rules_config))
    assert code == 1  # the example master has deliberate errors
    assert "Rules" in out and "best_sellers" in out and "Filtered by rules" in out


def test_explain_a_dropped_product(rules_config: Path) -> None:
    code, out = invoke("explain", "TAZ-CER-4", "-c", str(rules_config), "--channel",
                       "google_es")
    assert code == 0
    assert "TAZ-CER-4: row 28 of productos.csv, channel google_es" in out
    assert "Stock" in out and "Agotado" in out  # the master row
    assert "dropped - `availability == 'out_of_stock'` is true" in out
    assert "Result: dropped by a rule" in out


def test_explain_shows_before_and_after_and_the_item(rules_config: Path) -> None:
    code, out = invoke("explain", "SAR-HIE-24", "-c", str(rules_config), "--channel",
                       "google_es_outlet")
    assert code == 0, out
    assert "price: '42.00 EUR' -> '37.80 EUR'" in out
    assert "price: '37.80 EUR' -> '37.99 EUR'" in out
    assert "`not google_product_category` is true: then" in out
    assert "google_product_category: (empty) -> '662'" in out
    assert "best_sellers mas_vendidos.txt -> custom_label_1" in out
    assert "Channel item (google_merchant):" in out
    assert "custom_label_1           top_ventas" in out


def test_explain_rules_that_did_not_apply_say_why(rules_config: Path) -> None:
    code, out = invoke("explain", "ALT-MINI", "-c", str(rules_config), "--channel",
                       "google_es")
    assert code == 0
    assert "is false: nothing to do" in out  # it has a Google category already
    assert "unchanged - title is within 150 characters" in out


def test_explain_json(rules_config: Path) -> None:
    code, out = invoke("explain", "CAM-BAS-NEG-M", "-c", str(rules_config), "--channel",
                       "google_es", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["row"] == 6 and data["master"]["SKU"] == "CAM-BAS-NEG-M"
    title = data["rules"][1]
    assert title["outcome"] == "changed"
    assert title["changes"] == [{"field": "title",
                                 "before": "Camiseta básica de algodón orgánico Negro M",
                                 "after": "Camiseta básica de algodón orgánico Negro M - "
                                          "Algodonera"}]
    assert data["item"]["custom_label_1"] == "top_ventas"
    assert data["outcome"] == "in the google_es feed"


def test_explain_unknown_id_and_channel(rules_config: Path) -> None:
    result = CliRunner().invoke(app, ["explain", "NOPE", "-c", str(rules_config), "--channel",
                                      "google_es"])
    assert result.exit_code == 2
    assert "no product with id 'NOPE' in productos.csv (column SKU)" in result.output
    result = CliRunner().invoke(app, ["explain", "TAZ-CER-4", "-c", str(rules_config),
                                      "--channel", "amazon"])
    assert result.exit_code == 2 and "unknown channel" in result.output


def test_explain_works_without_rules(tmp_path: Path) -> None:
    from tests.helpers import write_config

    config = write_config(tmp_path, "utf8_bom.csv")
    code, out = invoke("explain", "SKU-1", "-c", str(config), "--channel", "google")
    assert code == 0
    assert "Rules: (none for this channel)" in out and "Channel item" in out
