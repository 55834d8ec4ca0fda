"""`feedsync init MASTER`: a first config that builds, from real exports nobody here made
(../shared/reference/masters, skipped when absent) and from headers in shop languages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from feedsync.cli.app import app
from feedsync.project_init import normalise_header
from tests.conftest import SHARED_REFERENCE

MASTERS = SHARED_REFERENCE / "masters"
REAL_EXPORTS = ["ikas-tr/source_products_lamaisonviolet.csv",
                "magento2/configurable_products.csv", "magento2/products_gear_bags.csv",
                "shopify/product_template.csv", "woocommerce/sample_products.csv",
                "woocommerce/sample_products.xml", "saleor/populatedb_data.json"]
runner = CliRunner()


def _init_and_build(master: Path, folder: Path, *extra: str) -> tuple[dict, dict]:
    config = folder / "feedsync.yaml"
    result = runner.invoke(app, ["init", str(master), "-c", str(config), "--yes", *extra])
    assert result.exit_code == 0, result.output
    built = runner.invoke(app, ["build", "-c", str(config), "-f", "json"])
    assert built.exit_code == 0, built.output
    assert "Traceback" not in built.output
    return yaml.safe_load(config.read_text(encoding="utf-8")), json.loads(built.stdout)


@pytest.mark.parametrize("export", REAL_EXPORTS)
def test_init_on_real_exports_writes_a_config_that_builds(export: str, tmp_path: Path) -> None:
    master = MASTERS / export
    if not master.exists():
        pytest.skip(f"{master} is not here")
    _, report = _init_and_build(master, tmp_path)
    assert report["rows"] > 0 and "google" in report["channels"]
    assert (tmp_path / "feedsync.schema.json").exists()


def test_init_on_the_turkish_shop_export(tmp_path: Path) -> None:
    master = MASTERS / "ikas-tr" / "source_products_lamaisonviolet.csv"
    if not master.exists():
        pytest.skip(f"{master} is not here")
    config, report = _init_and_build(master, tmp_path, "--shop-url", "https://lmv.com.tr")
    source = config["source"]
    assert source["list_separator"] == ";"  # four image URLs glued with `;`
    assert source["columns"]["id"] == "Varyant ID" and source["columns"]["title"] == "İsim"
    assert source["columns"]["price"] == "Satış Fiyatı"
    assert source["defaults"]["currency"] == "TRY"
    assert source["columns"]["link"] == "https://lmv.com.tr/{{ row['Slug'] }}"
    assert "gtin" not in source["columns"]  # its barcodes are store codes, not GTINs
    assert report["channels"]["google"]["items"] > 350
    text = (tmp_path / "feedsync.yaml").read_text(encoding="utf-8")
    assert "#   Alış Fiyatı" in text  # what it could not map is listed


def test_init_recognises_a_shop_preset(tmp_path: Path) -> None:
    master = MASTERS / "shopify" / "product_template.csv"
    if not master.exists():
        pytest.skip(f"{master} is not here")
    config, _ = _init_and_build(master, tmp_path, "--currency", "usd")
    assert config["source"]["preset"] == "shopify"
    assert config["source"]["defaults"]["currency"] == "USD"


def test_spanish_headers_and_decimal_commas(tmp_path: Path) -> None:
    master = tmp_path / "productos.csv"
    master.write_text(
        "Referencia;Nombre;Descripción;PVP;Imagen;Marca;Enlace;Disponibilidad\n"
        "A1;Camiseta;Algodón;1.249,50;https://x.es/a.jpg|https://x.es/b.jpg;X;https://x.es/a;"
        "in_stock\n"
        "A2;Pantalón;Lino;19,95;https://x.es/c.jpg;X;https://x.es/b;in_stock\n",
        encoding="cp1252")
    config, report = _init_and_build(master, tmp_path)
    source = config["source"]
    assert source["encoding"] == "cp1252" and source["delimiter"] == ";"
    assert source["locale"] == "es_ES" and source["list_separator"] == "|"
    assert source["columns"] == {"id": "Referencia", "title": "Nombre",
                                 "description": "Descripción", "price": "PVP",
                                 "link": "Enlace", "image_link": "Imagen", "brand": "Marca",
                                 "availability": "Disponibilidad"}
    assert source["defaults"]["currency"] == "EUR"
    assert report["channels"]["google"]["items"] == 2


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    master = tmp_path / "p.csv"
    master.write_text("id,title,price\nA1,a,10\n", encoding="utf-8")
    config = tmp_path / "feedsync.yaml"
    config.write_text("# mine\n", encoding="utf-8")
    result = runner.invoke(app, ["init", str(master), "-c", str(config), "--yes"])
    assert result.exit_code == 2 and "already exists; use --force" in result.output
    assert config.read_text(encoding="utf-8") == "# mine\n"
    forced = runner.invoke(app, ["init", str(master), "-c", str(config), "--yes", "--force"])
    assert forced.exit_code == 0 and "id: \"id\"" in config.read_text(encoding="utf-8")


def test_header_names_are_compared_without_case_or_accents() -> None:
    assert normalise_header("Satış Fiyatı") == "satis fiyati"
    assert normalise_header("İsim") == "isim"
    assert normalise_header("Größe") == "grosse"
    assert normalise_header("Stok:Ana Depo") == "stok ana depo"


def test_init_asks_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from feedsync.cli import app as cli_app

    monkeypatch.setattr(cli_app, "_interactive", lambda: True)
    master = tmp_path / "p.csv"
    master.write_text("sku,name,price,slug\nA1,Camiseta,10,camiseta\n", encoding="utf-8")
    config = tmp_path / "feedsync.yaml"
    result = runner.invoke(app, ["init", str(master), "-c", str(config)],
                           input="https://tienda.example.es\nEUR\n")
    assert result.exit_code == 0, result.output
    source = yaml.safe_load(config.read_text(encoding="utf-8"))["source"]
    assert source["columns"]["link"] == "https://tienda.example.es/{{ row['slug'] }}"
    assert source["defaults"]["currency"] == "EUR"
