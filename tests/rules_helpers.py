"""Building compiled rules and products in memory for the rules tests."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from feedsync.channels.loader import load_spec
from feedsync.config import Config
from feedsync.products.product import Money, Product
from feedsync.rules.compile import CompiledRules, compile_rules

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
COLUMNS = ["SKU", "Coste", "FechaAlta", "Tipo", "Hijos"]


def make_config(tmp_path: Path, steps: list[Any],
                rulesets: dict[str, list[Any]] | None = None) -> Config:
    config = Config.model_validate({
        "source": {"path": "master.csv", "columns": {"id": "SKU"},
                   "defaults": {"currency": "EUR"}},
        "channels": {"g": {"spec": "google_merchant", "rules": steps}},
        "rulesets": rulesets or {},
    })
    config.file = tmp_path / "feedsync.yaml"
    return config


def rules(tmp_path: Path, steps: list[Any], rulesets: dict[str, list[Any]] | None = None,
          columns: list[str] | None = None) -> CompiledRules:
    return compile_rules(make_config(tmp_path, steps, rulesets), "g",
                         load_spec("google_merchant"), columns or COLUMNS, now=NOW)


def eur(amount: str) -> Money:
    return Money(Decimal(amount), "EUR")


def product(**values: Any) -> Product:
    defaults: dict[str, Any] = {"id": "A1", "row": 2, "title": "Camiseta", "brand": "Acme",
                                "price": eur("19.95"), "availability": "in_stock"}
    return Product(**(defaults | values))


def apply(compiled: CompiledRules, item: Product) -> Product | None:
    result, issues = compiled.apply(item)
    assert not issues, issues
    return result
